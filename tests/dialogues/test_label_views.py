"""Label views: IEMOCAP-4 from any 6-way IEMOCAP source."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from dialogues import Corpus, DataError, Dialogue, load_corpus
from dialogues.views import LABEL_VIEWS, LabelView, apply_label_view

SIX = ("hap", "sad", "neu", "ang", "exc", "fru")


def corpus_of(labels_per_dialogue, names=SIX):
    dialogues = []
    for k, labels in enumerate(labels_per_dialogue):
        T = len(labels)
        dialogues.append(Dialogue(
            f"d{k}", [["M", "F"][t % 2] for t in range(T)], torch.tensor(labels),
            {"text": torch.arange(T, dtype=torch.float32)[:, None]}, list(range(10, 10 + T)),
            texts=[f"{k}.{t}" for t in range(T)]))
    return Corpus("iemocap", names, {"text": 1}, {"train": dialogues}, {"source": "x"})


def test_iemocap_4_merges_exc_and_drops_fru_exactly():
    corpus = corpus_of([[5, 0, 4, 5, 3, -1, 1], [5, 5], [2]])
    four = apply_label_view(corpus, "iemocap_4")
    assert four.name == "iemocap_4"
    assert four.labels == ("hap", "sad", "neu", "ang")
    assert four.metadata == {"source": "x", "label_view": "iemocap_4"}
    assert [d.id for d in four.split("train")] == ["d0", "d2"]   # d1 was all fru
    d0 = four.split("train")[0]
    assert d0.labels.tolist() == [0, 0, 3, -1, 1]
    assert d0.turns == [11, 12, 14, 15, 16]
    assert d0.speakers == ["F", "M", "M", "F", "M"]
    assert d0.speaker_ids.tolist() == [0, 1, 1, 0, 1]
    assert d0.texts == ["0.1", "0.2", "0.4", "0.5", "0.6"]
    assert d0.features["text"].flatten().tolist() == [1, 2, 4, 5, 6]
    assert corpus.split("train")[0].labels.tolist() == [5, 0, 4, 5, 3, -1, 1]  # source untouched


@given(st.lists(st.lists(st.integers(-1, 5), min_size=1, max_size=12), min_size=1, max_size=5))
def test_iemocap_4_matches_a_per_utterance_rule(label_lists):
    to_four = {-1: -1, 0: 0, 1: 1, 2: 2, 3: 3, 4: 0}
    four = apply_label_view(corpus_of(label_lists), "iemocap_4")
    expected = [[to_four[y] for y in labels if y != 5] for labels in label_lists]
    assert [d.labels.tolist() for d in four.splits["train"]] == [e for e in expected if e]


def test_label_order_of_the_source_does_not_matter():
    shuffled = ("fru", "exc", "ang", "neu", "sad", "hap")
    four = apply_label_view(corpus_of([[0, 1, 2, 3, 4, 5]], names=shuffled), "iemocap_4")
    assert four.split("train")[0].labels.tolist() == [0, 3, 2, 1, 0]


def test_corpus_lacking_the_labels():
    corpus = corpus_of([[0, 1]], names=("hap", "sad", "neu", "ang"))
    with pytest.raises(DataError, match=r"label view 'iemocap_4' needs labels .* but corpus "
                                        r"'iemocap' lacks \['exc', 'fru'\]"):
        apply_label_view(corpus, "iemocap_4")


def test_corpus_with_labels_the_view_ignores():
    corpus = corpus_of([[0, 1]], names=SIX + ("oth",))
    with pytest.raises(DataError, match=r"does not say what to do with labels \['oth'\]"):
        apply_label_view(corpus, "iemocap_4")


def test_unknown_view():
    with pytest.raises(DataError, match="unknown label view 'iemocap_5'; known views: iemocap_4"):
        apply_label_view(corpus_of([[0]]), "iemocap_5")


def test_custom_view_object():
    view = LabelView("valence", ("neg", "pos"), {"hap": "pos", "exc": "pos", "sad": "neg",
                                                 "ang": "neg", "fru": "neg", "neu": None},
                     suffix="_valence")
    out = apply_label_view(corpus_of([[0, 1, 2, 4]]), view)
    assert out.name == "iemocap_valence"
    assert out.split("train")[0].labels.tolist() == [1, 0, 1]
    assert "iemocap_4" in LABEL_VIEWS


def test_view_through_load_corpus_from_open_format(write_open):
    rows = [("a", "0", "M", "exc", "train", ""), ("a", "1", "F", "fru", "train", ""),
            ("a", "2", "M", "ang", "train", ""), ("b", "0", "M", "fru", "test", "")]
    spec = {"name": "iemocap", "labels": list(SIX), "modalities": {"text": 2, "audio": 3}}
    four = load_corpus(write_open(rows=rows, spec=spec), label_view="iemocap_4")
    assert four.split("train")[0].labels.tolist() == [0, 3]
    assert four.split("train")[0].features["text"].tolist() == [[0, 0.5], [2, 2.5]]
    assert four.splits["test"] == []
    with pytest.raises(DataError, match="no dialogues in split 'test'"):
        four.split("test")


def test_view_through_load_corpus_from_pickle(tmp_path):
    record = {"vid": "v", "speakers": ["M", "F", "M"], "labels": [4, 5, 1],
              "text": np.eye(3, dtype=np.float32)}
    path = tmp_path / "data_iemocap.pkl"
    path.write_bytes(pickle.dumps({"train": [record]}))
    four = load_corpus(path, label_view="iemocap_4")
    assert four.split("train")[0].labels.tolist() == [0, 1]
    assert four.split("train")[0].features["text"].tolist() == [[1, 0, 0], [0, 0, 1]]
