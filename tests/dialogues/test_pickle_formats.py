"""CORECT and DialogueRNN/COGMEN pickles, written here in their layouts."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import yaml

from dialogues import DataError, load_corpus

from .helpers import corect_dialogue, write_corect


@pytest.fixture
def corect_file(tmp_path):
    data = {"train": [corect_dialogue("Ses01F_a", ["M", "F", "M"], [4, 5, 0]),
                      corect_dialogue("Ses01F_b", ["F", "F"], [1, 3], offset=10)],
            "dev": [corect_dialogue("Ses02M_c", ["M", "F"], [2, 2])],
            "test": [corect_dialogue("Ses05F_d", ["F", "M", "F", "M"], [0, 1, 2, 3])]}
    return write_corect(tmp_path / "data_iemocap.pkl", data)


def test_corect_pickle_exact(corect_file):
    corpus = load_corpus(corect_file)
    assert corpus.name == "iemocap"
    assert corpus.labels == ("hap", "sad", "neu", "ang", "exc", "fru")
    assert list(corpus.modalities.items()) == [("text", 4), ("audio", 2), ("visual", 3)]
    assert {k: [d.id for d in v] for k, v in corpus.splits.items()} == {
        "train": ["Ses01F_a", "Ses01F_b"], "dev": ["Ses02M_c"], "test": ["Ses05F_d"]}
    a = corpus.split("train")[0]
    assert a.speakers == ["M", "F", "M"] and a.speaker_ids.tolist() == [0, 1, 0]
    assert a.labels.tolist() == [4, 5, 0]
    assert a.turns == [0, 1, 2]
    assert a.texts == ["Ses01F_a-0", "Ses01F_a-1", "Ses01F_a-2"]
    assert a.features["text"][:, 0].tolist() == [0, 1, 2]
    assert corpus.split("train")[1].features["audio"].tolist() == [[100, 100], [110, 110]]
    assert corpus.split("train")[1].features["visual"].tolist() == [[10] * 3, [11] * 3]
    assert corpus.metadata["format"] == "corect_pickle"
    assert "encoder" not in corpus.metadata   # text is not CORECT's 768-d SBERT


def test_corect_label_names_from_file_name(tmp_path):
    data = {"train": [corect_dialogue("a", ["M"], [3])]}
    assert load_corpus(write_corect(tmp_path / "data_iemocap_4.pkl", data)).labels == (
        "hap", "sad", "neu", "ang")
    assert load_corpus(write_corect(tmp_path / "data_meld.pkl", data)).labels[:4] == (
        "neutral", "surprise", "fear", "sadness")
    other = load_corpus(write_corect(tmp_path / "mine.pkl", data))
    assert other.name == "mine" and other.labels == ("0", "1", "2", "3")
    named = load_corpus(tmp_path / "mine.pkl", name="iemocap_4")
    assert named.name == "iemocap_4" and named.labels == ("hap", "sad", "neu", "ang")


def test_corect_label_names_from_sidecar(tmp_path):
    data = {"train": [corect_dialogue("a", ["M", "F"], [0, 1])]}
    path = write_corect(tmp_path / "data_iemocap.pkl", data)
    (tmp_path / "data_iemocap.yaml").write_text(yaml.safe_dump(
        {"name": "custom", "labels": ["calm", "upset"], "licence": "mine"}))
    corpus = load_corpus(path)
    assert corpus.name == "custom" and corpus.labels == ("calm", "upset")
    assert corpus.metadata["licence"] == "mine"


def test_corect_label_beyond_known_set(tmp_path):
    data = {"train": [corect_dialogue("a", ["M"], [0])],
            "test": [corect_dialogue("b", ["M", "F"], [0, 5])]}
    with pytest.raises(DataError, match=r"test dialogue 'b' has label 5, but the "
                                        r"'iemocap_4' label set names only 4 labels"):
        load_corpus(write_corect(tmp_path / "data_iemocap_4.pkl", data))


def test_corect_records_sbert_encoder_for_768d_text(tmp_path):
    d = corect_dialogue("a", ["M"], [0])
    d["text"] = np.zeros((1, 768), np.float32)
    corpus = load_corpus(write_corect(tmp_path / "data_iemocap.pkl", {"train": [d]}))
    assert corpus.metadata["encoder"] == "sentence-transformers/paraphrase-distilroberta-base-v1"


def test_corect_modality_subset(corect_file):
    corpus = load_corpus(corect_file, modalities=["visual", "text"])
    assert list(corpus.modalities) == ["visual", "text"]
    assert list(corpus.split("dev")[0].features) == ["visual", "text"]
    with pytest.raises(DataError, match=r"no modality 'face'; available: text, audio, visual"):
        load_corpus(corect_file, modalities=["face"])


def test_corect_dialogue_with_zero_utterances(tmp_path):
    empty = {"vid": "Ses01F_x", "speakers": [], "labels": [], "text": [],
             "audio": [], "visual": [], "sentence": []}
    path = write_corect(tmp_path / "data_iemocap.pkl",
                        {"train": [corect_dialogue("a", ["M"], [0]), empty]})
    with pytest.raises(DataError, match=r"data_iemocap.pkl: train\[1\] \(dialogue "
                                        r"'Ses01F_x'\) has no utterances"):
        load_corpus(path)


def test_corect_missing_key(tmp_path):
    d = corect_dialogue("a", ["M"], [0])
    del d["labels"]
    with pytest.raises(DataError, match=r"train\[0\] \(dialogue 'a'\): missing key 'labels'"):
        load_corpus(write_corect(tmp_path / "data_iemocap.pkl", {"train": [d]}))


def test_corect_feature_length_mismatch(tmp_path):
    d = corect_dialogue("a", ["M", "F"], [0, 1])
    d["audio"] = d["audio"][:1]
    with pytest.raises(DataError, match=r"train\[0\] \(dialogue 'a'\): 'audio' features "
                                        r"have shape \[1, 2\], expected \[2, dim\]"):
        load_corpus(write_corect(tmp_path / "data_iemocap.pkl", {"train": [d]}))


def test_corect_non_finite_features(tmp_path):
    d = corect_dialogue("a", ["M", "F"], [0, 1])
    d["audio"][1, 0] = np.nan
    with pytest.raises(DataError, match=r"non-finite 'audio' features at utterance 1"):
        load_corpus(write_corect(tmp_path / "data_iemocap.pkl", {"train": [d]}))


def test_not_a_corpus_pickle(tmp_path):
    path = write_corect(tmp_path / "x.pkl", {"weights": [1, 2]})
    with pytest.raises(DataError, match=r"a CORECT pickle is a dict with keys train, "
                                        r"dev, test; this one has \['weights'\]"):
        load_corpus(path)
    path = write_corect(tmp_path / "y.pkl", 42)
    with pytest.raises(DataError, match="holds a int: neither a CORECT pickle"):
        load_corpus(path)
    (tmp_path / "z.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(DataError, match="z.pkl is not a readable pickle"):
        load_corpus(tmp_path / "z.pkl")


# -- DialogueRNN / COGMEN ------------------------------------------------

def dialoguernn_tuple(train_ids, test_ids, text_dim=3):
    ids = list(train_ids) + list(test_ids)
    lengths = {vid: 2 + k % 3 for k, vid in enumerate(ids)}
    video_ids = {v: [f"{v}_{i:03d}" for i in range(n)] for v, n in lengths.items()}
    speakers = {v: ["M" if i % 2 else "F" for i in range(n)] for v, n in lengths.items()}
    labels = {v: [(k + i) % 6 for i in range(n)]
              for k, (v, n) in enumerate(lengths.items())}
    text = {v: [np.full(text_dim, k + i / 4) for i in range(n)]
            for k, (v, n) in enumerate(lengths.items())}
    audio = {v: np.ones((n, 2)) for v, n in lengths.items()}
    visual = {v: np.zeros((n, 5)) for v, n in lengths.items()}
    sentence = {v: [f"utterance {i} of {v}" for i in range(n)] for v, n in lengths.items()}
    return (video_ids, speakers, labels, text, audio, visual, sentence,
            list(train_ids), list(test_ids))


def write_py2(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return path


def test_dialoguernn_pickle_dev_is_first_tenth_of_train(tmp_path):
    train = [f"Ses0{1 + k // 10}F_{k:02d}" for k in range(25)]
    test = ["Ses05F_x", "Ses05M_y"]
    path = write_py2(tmp_path / "IEMOCAP_features.pkl", dialoguernn_tuple(train, test))
    corpus = load_corpus(path)
    assert corpus.name == "iemocap"
    assert corpus.metadata["format"] == "dialoguernn_pickle"
    assert [d.id for d in corpus.split("dev")] == train[:2]   # int(0.1 * 25) = 2
    assert [d.id for d in corpus.split("train")] == train[2:]
    assert [d.id for d in corpus.split("test")] == test
    assert list(corpus.modalities.items()) == [("text", 3), ("audio", 2), ("visual", 5)]
    first = corpus.split("dev")[0]
    assert first.speakers == ["F", "M"] and first.labels.tolist() == [0, 1]
    assert first.features["text"].tolist() == [[0, 0, 0], [0.25, 0.25, 0.25]]
    assert first.texts == [f"utterance 0 of {train[0]}", f"utterance 1 of {train[0]}"]
    assert first.turns == [0, 1]


def test_dialoguernn_train_set_is_sorted(tmp_path):
    data = list(dialoguernn_tuple([f"v{k:02d}" for k in range(20)], ["t"]))
    data[7] = set(data[7])
    corpus = load_corpus(write_py2(tmp_path / "IEMOCAP_features.pkl", tuple(data)))
    assert [d.id for d in corpus.split("dev")] == ["v00", "v01"]


def test_dialoguernn_wrong_tuple_length(tmp_path):
    data = dialoguernn_tuple(["a"], ["b"])
    path = write_py2(tmp_path / "IEMOCAP_features.pkl", data[:3] + data[6:])
    with pytest.raises(DataError, match=r"a DialogueRNN/COGMEN feature pickle is a "
                                        r"9-tuple \(videoIDs, .*testVid\); this one has 6 elements"):
        load_corpus(path)


def test_dialoguernn_missing_entry(tmp_path):
    data = dialoguernn_tuple(["a", "b"], ["c"])
    del data[2]["b"]
    with pytest.raises(DataError, match=r"videoLabels has no entry for dialogue 'b'"):
        load_corpus(write_py2(tmp_path / "IEMOCAP_features.pkl", data))


def test_dialoguernn_one_hot_speakers(tmp_path):
    data = dialoguernn_tuple(["a"], ["b"])
    data[1]["a"] = [[0, 1, 0], [1, 0, 0]]
    corpus = load_corpus(write_py2(tmp_path / "IEMOCAP_features.pkl", data))
    assert corpus.split("train")[0].speakers == ["1", "0"]
