"""The open format: exact loading, round trips and one test per bad input."""
from __future__ import annotations

import re

import numpy as np
import pytest

from dialogues import DataError, load_corpus
from dialogues.open_format import save_corpus

from .tiny import TINY_LABELS, TINY_ROWS, tiny_features


def test_loads_tiny_corpus_exactly(write_open):
    folder = write_open()
    corpus = load_corpus(folder)
    assert corpus.name == "tiny"
    assert corpus.labels == ("hap", "sad", "neu", "ang")
    assert list(corpus.modalities.items()) == [("text", 2), ("audio", 3)]
    assert list(corpus.splits) == ["train", "test"]
    assert corpus.metadata == {"source": "tests", "licence": "CC0",
                               "format": "open", "path": str(folder)}
    d1, = corpus.split("train")
    d2, = corpus.split("test")
    assert d1.id == "d1" and d2.id == "d2"
    assert d1.speakers == ["Ann", "Bob", "Ann"]
    assert d1.speaker_ids.tolist() == [0, 1, 0]
    assert d1.labels.tolist() == [0, 1, -1]
    assert d1.turns == [0, 1, 2]
    assert d1.texts == ["hello", "oh, no", "well"]
    assert d1.features["text"].tolist() == [[0, 0.5], [1, 1.5], [2, 2.5]]
    assert d2.speaker_ids.tolist() == [0, 1, 2, 0]
    assert d2.labels.tolist() == [2, 3, 0, 2]
    assert d2.turns == [5, 7, 8, 9]
    assert d2.features["audio"].tolist() == [[-3] * 3, [-4] * 3, [-5] * 3, [-6] * 3]
    assert d2.features["audio"].dtype.is_floating_point
    assert corpus.max_speakers == 3


def test_modalities_subset_keeps_requested_order(write_open):
    corpus = load_corpus(write_open(), modalities=["audio", "text"])
    assert list(corpus.modalities) == ["audio", "text"]
    assert list(corpus.split("test")[0].features) == ["audio", "text"]
    only = load_corpus(write_open(), modalities=["audio"])
    assert only.modalities == {"audio": 3}
    assert list(only.split("train")[0].features) == ["audio"]


def test_text_column_is_optional(write_open):
    rows = [r[:5] for r in TINY_ROWS]
    corpus = load_corpus(write_open(rows=rows, header=("dialogue_id", "turn",
                                                       "speaker", "label", "split")))
    assert corpus.split("train")[0].texts is None


def test_path_to_one_of_the_files_reads_its_folder(write_open):
    folder = write_open()
    assert load_corpus(folder / "utterances.csv").metadata["path"] == str(folder)


def test_name_argument_overrides_yaml(write_open):
    assert load_corpus(write_open(), name="other").name == "other"


def test_save_corpus_round_trips(write_open, tmp_path):
    corpus = load_corpus(write_open())
    out = save_corpus(corpus, tmp_path / "copy")
    again = load_corpus(out)
    assert again.labels == corpus.labels and again.modalities == corpus.modalities
    assert again.metadata["licence"] == "CC0"
    for split in corpus.splits:
        for a, b in zip(corpus.split(split), again.split(split)):
            assert (a.id, a.speakers, a.turns, a.texts) == (b.id, b.speakers, b.turns, b.texts)
            assert a.labels.tolist() == b.labels.tolist()
            for m in corpus.modalities:
                assert a.features[m].tolist() == b.features[m].tolist()


def test_save_corpus_refuses_to_overwrite(write_open, tmp_path):
    corpus = load_corpus(write_open())
    target = tmp_path / "exists"
    target.mkdir()
    with pytest.raises(DataError, match="already exists"):
        save_corpus(corpus, target)
    assert list(target.iterdir()) == []


def test_save_corpus_leaves_nothing_when_writing_fails(write_open, tmp_path, monkeypatch):
    corpus = load_corpus(write_open())

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        save_corpus(corpus, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()
                  if not p.name.startswith("corpus")) == []


def test_multiline_text_keeps_line_numbers(write_open):
    rows = [("d1", "0", "A", "hap", "train", "line one\nline two"),
            ("d1", "1", "B", "nope", "train", "x")]
    with pytest.raises(DataError, match=r"line 4: label 'nope'"):
        load_corpus(write_open(rows=rows))


# -- one test per bad input ----------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'nowhere'}: no such file")):
        load_corpus(tmp_path / "nowhere")


@pytest.mark.parametrize("missing", ["utterances.csv", "features.npz", "dataset.yaml"])
def test_missing_file(write_open, missing):
    folder = write_open()
    (folder / missing).unlink()
    with pytest.raises(DataError, match=f"missing file {missing}"):
        load_corpus(folder)


def test_csv_without_required_column(write_open):
    rows = [(r[0], r[1], r[3], r[4], r[5]) for r in TINY_ROWS]
    folder = write_open(rows=rows, header=("dialogue_id", "turn", "label", "split", "text"))
    with pytest.raises(DataError, match=r"utterances.csv, line 1 \(header\): "
                                        r"missing column\(s\) speaker"):
        load_corpus(folder)


def test_feature_rows_disagree_with_csv(write_open):
    folder = write_open(features=tiny_features(len(TINY_ROWS) - 1))
    with pytest.raises(DataError, match=r"features.npz: array 'text' has 6 rows "
                                        r"but .*utterances.csv has 7 utterances"):
        load_corpus(folder)


def test_feature_dim_disagrees_with_yaml(write_open):
    features = tiny_features()
    features["text"] = np.zeros((7, 4), np.float32)
    with pytest.raises(DataError, match=r"array 'text' has shape \[7, 4\], expected \[7, 2\]"):
        load_corpus(write_open(features=features))


def test_label_not_in_yaml(write_open):
    rows = list(TINY_ROWS)
    rows[4] = ("d2", "7", "Ann", "fear", "test", "go away")
    with pytest.raises(DataError, match=r"utterances.csv, line 6: label 'fear' is "
                                        r"not in .*dataset.yaml labels"):
        load_corpus(write_open(rows=rows))


def test_duplicate_turn(write_open):
    rows = list(TINY_ROWS)
    rows[2] = ("d1", "1", "Ann", "", "train", "well")
    with pytest.raises(DataError, match=r"line 4: dialogue 'd1': turn 1 repeats the "
                                        r"previous turn 1 \(line 3\)"):
        load_corpus(write_open(rows=rows))


def test_decreasing_turn(write_open):
    rows = list(TINY_ROWS)
    rows[5] = ("d2", "6", "Bob", "hap", "test", "ha")
    with pytest.raises(DataError, match=r"line 7: dialogue 'd2': turn 6 is lower than "
                                        r"the previous turn 7 \(line 6\)"):
        load_corpus(write_open(rows=rows))


def test_non_integer_turn(write_open):
    rows = list(TINY_ROWS)
    rows[3] = ("d2", "five", "Cid", "neu", "test", "hi")
    with pytest.raises(DataError, match=r"line 5: turn 'five' is not an integer"):
        load_corpus(write_open(rows=rows))


def test_dialogue_rows_not_contiguous(write_open):
    rows = list(TINY_ROWS) + [("d1", "3", "Bob", "hap", "train", "again")]
    with pytest.raises(DataError, match=r"line 9: dialogue 'd1' appears again; its "
                                        r"rows must be contiguous \(first block at line 2\)"):
        load_corpus(write_open(rows=rows))


def test_split_changes_within_dialogue(write_open):
    rows = list(TINY_ROWS)
    rows[1] = ("d1", "1", "Bob", "sad", "dev", "oh, no")
    with pytest.raises(DataError, match=r"line 3: dialogue 'd1' is in split 'dev' here "
                                        r"but 'train' on its first row"):
        load_corpus(write_open(rows=rows))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features(write_open, bad):
    features = tiny_features()
    features["audio"][4, 1] = bad
    with pytest.raises(DataError, match=re.escape(
            "array 'audio', row 4 (") + r".*utterances.csv line 6, dialogue 'd2' turn 7\): "
            + re.escape(f"{bad} in 'audio' features")):
        load_corpus(write_open(features=features))


def test_empty_split(write_open):
    corpus = load_corpus(write_open())
    with pytest.raises(DataError, match=r"corpus 'tiny' has no split 'dev'; "
                                        r"splits: train \(1 dialogues\), test \(1 dialogues\)"):
        corpus.split("dev")
    corpus.splits["dev"] = []
    with pytest.raises(DataError, match=r"corpus 'tiny' has no dialogues in split 'dev'"):
        corpus.split("dev")


def test_missing_modality(write_open):
    with pytest.raises(DataError, match=r"no modality 'visual'; available: text, audio"):
        load_corpus(write_open(), modalities=["text", "visual"])


def test_yaml_modality_absent_from_npz(write_open):
    features = tiny_features()
    del features["audio"]
    with pytest.raises(DataError, match=r"features.npz: no array 'audio' \(it has text\)"):
        load_corpus(write_open(features=features))


@pytest.mark.parametrize("key", ["name", "labels", "modalities"])
def test_yaml_missing_key(write_open, key):
    spec = {"name": "tiny", "labels": TINY_LABELS, "modalities": {"text": 2, "audio": 3}}
    del spec[key]
    with pytest.raises(DataError, match=f"dataset.yaml: missing key '{key}'"):
        load_corpus(write_open(spec=spec))


@pytest.mark.parametrize("raw, message", [
    ("name: [unclosed", "is not valid YAML"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("name: t\nlabels: hap\nmodalities: {text: 2, audio: 3}\n",
     "key 'labels' must be a non-empty list"),
    ("name: t\nlabels: [a, a]\nmodalities: {text: 2, audio: 3}\n", r"key 'labels' repeats \['a'\]"),
    ("name: t\nlabels: [a]\nmodalities: {text: -2}\n", "key 'modalities' must map"),
])
def test_yaml_malformed(write_open, raw, message):
    with pytest.raises(DataError, match=message):
        load_corpus(write_open(raw_yaml=raw))


def test_ragged_csv_row(write_open):
    rows = list(TINY_ROWS)
    rows[2] = ("d1", "2", "Ann", "", "train")
    with pytest.raises(DataError, match=r"line 4: 5 fields, the header has 6"):
        load_corpus(write_open(rows=rows))


def test_empty_speaker(write_open):
    rows = list(TINY_ROWS)
    rows[0] = ("d1", "0", "", "hap", "train", "hello")
    with pytest.raises(DataError, match=r"line 2: empty speaker"):
        load_corpus(write_open(rows=rows))


def test_integer_features_refused(write_open):
    features = tiny_features()
    features["text"] = features["text"].astype(np.int64)
    with pytest.raises(DataError, match="dtype int64; features must be floats"):
        load_corpus(write_open(features=features))


@pytest.mark.parametrize("modalities", [[], ["text", "text"]])
def test_no_or_repeated_modalities_are_refused(write_open, modalities):
    with pytest.raises(DataError, match=r"dataset.yaml: corpus .*: no modality \(none or "
                                        r"repeated\); available: text, audio"):
        load_corpus(write_open(), modalities=modalities)
