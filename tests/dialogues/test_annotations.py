"""Annotation columns: per-utterance values that edge builders may read."""
from __future__ import annotations

import math

import pytest
import torch

from dialogues import DataError, Dialogue, collate, load_corpus
from dialogues.open_format import save_corpus

from .helpers import corect_dialogue, write_corect
from .tiny import TINY_ROWS

HEADER = ("dialogue_id", "turn", "speaker", "label", "split", "text",
          "reply_to", "timestamp", "note")
EXTRA = [("", "0.5", "a"), ("0", "1.25", "b"), ("1", "", "c"),
         ("", "7", "d"), ("5", "8", "e"), ("7", "9.5", "f"), ("5", "12", "g")]


def nan_list(values):
    return [None if math.isnan(v) else v for v in values]


def test_numeric_columns_are_annotations_and_others_are_listed(write_open):
    folder = write_open(rows=[r + e for r, e in zip(TINY_ROWS, EXTRA)], header=HEADER)
    corpus = load_corpus(folder)
    d1, d2 = corpus.split("train")[0], corpus.split("test")[0]
    assert sorted(d1.annotations) == ["reply_to", "timestamp"]
    assert nan_list(d1.annotations["reply_to"].tolist()) == [None, 0.0, 1.0]
    assert nan_list(d1.annotations["timestamp"].tolist()) == [0.5, 1.25, None]
    assert d2.annotations["reply_to"].dtype == torch.float64
    assert corpus.metadata["non_numeric_columns"] == {"note": "row 1: 'a' is not a number"}


def test_a_batch_carries_turns_and_annotations(write_open):
    corpus = load_corpus(write_open(rows=[r + e for r, e in zip(TINY_ROWS, EXTRA)],
                                    header=HEADER))
    batch = collate(corpus.split("train") + corpus.split("test"), ["text"])
    annotations = batch.annotations
    assert sorted(annotations) == ["reply_to", "timestamp", "turn"]
    assert annotations["turn"].tolist() == [0, 1, 2, 5, 7, 8, 9]
    assert nan_list(annotations["reply_to"].tolist()) == [None, 0, 1, None, 5, 7, 5]


def test_annotations_round_trip_through_the_open_format(write_open, tmp_path):
    corpus = load_corpus(write_open(rows=[r + e for r, e in zip(TINY_ROWS, EXTRA)],
                                    header=HEADER))
    again = load_corpus(save_corpus(corpus, tmp_path / "copy"))
    for a, b in zip(corpus.split("test"), again.split("test")):
        assert nan_list(a.annotations["timestamp"].tolist()) == nan_list(
            b.annotations["timestamp"].tolist())
        assert nan_list(a.annotations["reply_to"].tolist()) == nan_list(
            b.annotations["reply_to"].tolist())
    assert "non_numeric_columns" not in again.metadata


def test_a_selection_keeps_its_annotations():
    d = Dialogue("x", ["a", "b", "a"], [0, 1, 0], {"text": torch.zeros(3, 2)}, [0, 1, 2],
                 annotations={"reply_to": [float("nan"), 0, 1]})
    kept = d.select(torch.tensor([False, True, True]))
    assert kept.annotations["reply_to"].tolist() == [0.0, 1.0]


def test_bad_annotations_are_refused():
    with pytest.raises(DataError, match=r"dialogue 'x': annotation 'r' has shape \[2\], "
                                        r"expected \[3\]"):
        Dialogue("x", ["a", "b", "a"], [0, 1, 0], {}, [0, 1, 2], annotations={"r": [1, 2]})
    with pytest.raises(DataError, match="'turn' is reserved"):
        Dialogue("x", ["a"], [0], {}, [0], annotations={"turn": [1]})


def test_corect_pickle_records_carry_annotations(tmp_path):
    record = corect_dialogue("Ses01F_a", ["M", "F", "M"], [4, 5, 0])
    record["reply_to"] = [-1, 0, 1]
    record["comment"] = "not per utterance"
    path = write_corect(tmp_path / "data_iemocap.pkl", {"train": [record], "test": [
        corect_dialogue("Ses05F_d", ["F", "M"], [0, 1])]})
    corpus = load_corpus(path)
    train, = corpus.split("train")
    assert train.annotations["reply_to"].tolist() == [-1.0, 0.0, 1.0]
    assert "comment" not in train.annotations
    assert corpus.split("test")[0].annotations == {}


def test_one_utterances_annotations_for_a_push():
    d = Dialogue("x", ["a", "b"], [0, 1], {}, [3, 7], annotations={"reply_to": [-1, 3]})
    assert d.annotations_at(1) == {"turn": 7.0, "reply_to": 3.0}
    assert d.turn_numbers.tolist() == [3.0, 7.0]
