"""Transcript tables into open-format corpora (dialogues/transcripts.py and
experiments/prepare.py) with a fake encoder: table in, open format out."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dialogues import DataError, load_corpus
from dialogues.transcripts import prepare_corpus
from runner.config import ConfigError

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "prepare.py"


@pytest.fixture(scope="module")
def prepare():
    from experiments import prepare
    return prepare


def fake_encode(texts):
    """[len(text), number of spaces, 1] per text: checkable by hand."""
    return np.array([[len(t), t.count(" "), 1.0] for t in texts])


def write_table(path, rows, header=("dialogue_id", "turn", "speaker", "text", "label", "split")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ROWS = [
    ("b", "2", "Kim", "see you", "joy", "test"),
    ("a", "1", "Lee", "hello there you", "anger", "train"),
    ("a", "0", "Kim", "hi", "", "train"),
    ("b", "1", "Lee", "bye", "anger", "test"),
]


def test_round_trip_through_load_corpus(prepare, tmp_path):
    table = write_table(tmp_path / "talk.csv", ROWS)
    out = prepare_corpus(table, tmp_path / "out", fake_encode, batch_size=3,
                         encoder="fake/encoder", progress=False)
    corpus = load_corpus(out)
    assert corpus.name == "out"
    assert corpus.labels == ("anger", "joy")          # sorted distinct labels
    assert corpus.modalities == {"text": 3}
    assert corpus.metadata["encoder"] == "fake/encoder"
    assert corpus.metadata["source"] == "prepared from talk.csv"
    b, = corpus.split("test")
    a, = corpus.split("train")
    assert (b.id, b.turns, b.speakers, b.labels.tolist()) == ("b", [1, 2], ["Lee", "Kim"], [0, 1])
    assert (a.id, a.turns, a.texts, a.labels.tolist()) == ("a", [0, 1], ["hi", "hello there you"], [-1, 0])
    assert a.features["text"].tolist() == [[2, 0, 1], [15, 2, 1]]
    assert b.features["text"].tolist() == [[3, 0, 1], [7, 1, 1]]
    spec = yaml.safe_load((out / "dataset.yaml").read_text())
    assert spec["features"] == {"text": "fake/encoder embedding of the utterance text (3-d, float32)"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_labels_argument_and_known_name(prepare, tmp_path):
    table = write_table(tmp_path / "t.csv", ROWS)
    fixed = prepare_corpus(table, tmp_path / "o1", fake_encode, labels=["joy", "anger", "fear"],
                           progress=False)
    assert load_corpus(fixed).labels == ("joy", "anger", "fear")
    meld = prepare_corpus(table, tmp_path / "o2", fake_encode, name="meld", progress=False)
    corpus = load_corpus(meld)
    assert corpus.name == "meld" and corpus.labels[-1] == "anger"
    with pytest.raises(DataError, match=r"t.csv, line 2: label 'joy' is not one of \['anger'\]"):
        prepare_corpus(table, tmp_path / "o3", fake_encode, labels=["anger"], progress=False)


def test_without_split_column_uses_default_split(prepare, tmp_path):
    table = write_table(tmp_path / "t.csv", [r[:4] for r in ROWS],
                        header=("dialogue_id", "turn", "speaker", "text"))
    with pytest.raises(DataError, match="has no labels; pass labels="):
        prepare_corpus(table, tmp_path / "o", fake_encode, progress=False)
    out = prepare_corpus(table, tmp_path / "o", fake_encode, labels=["x"], split="predict",
                         progress=False)
    corpus = load_corpus(out)
    assert [d.id for d in corpus.split("predict")] == ["b", "a"]
    assert all(d.labels.tolist() == [-1, -1] for d in corpus.split("predict"))


def test_refuses_existing_out_before_embedding(prepare, tmp_path):
    table = write_table(tmp_path / "t.csv", ROWS)
    (tmp_path / "out").mkdir()
    calls = []
    with pytest.raises(DataError, match="already exists; refusing to overwrite"):
        prepare_corpus(table, tmp_path / "out", lambda t: calls.append(t), progress=False)
    assert calls == []


def test_failed_encoder_leaves_nothing(prepare, tmp_path):
    table = write_table(tmp_path / "t.csv", ROWS)

    def broken(texts):
        return np.full((len(texts), 2), np.nan)
    with pytest.raises(DataError, match="non-finite"):
        prepare_corpus(table, tmp_path / "out", broken, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.mark.parametrize("rows, message", [
    ([("a", "0", "K", "x", "", "train"), ("a", "0", "L", "y", "", "train")],
     r"line 3: dialogue 'a' repeats turn 0 \(line 2\)"),
    ([("a", "zero", "K", "x", "", "train")], r"line 2: turn 'zero' is not an integer"),
    ([("a", "0", "K", "x", "joy", "train"), ("a", "1", "L", "y", "joy", "test")],
     r"line 2: dialogue 'a' needs one non-empty split, has \['test', 'train'\]"),
    ([("a", "0", "", "x", "joy", "train")], r"line 2: empty speaker"),
])
def test_bad_tables(prepare, tmp_path, rows, message):
    table = write_table(tmp_path / "t.csv", rows)
    with pytest.raises(DataError, match=message):
        prepare_corpus(table, tmp_path / "o", fake_encode, progress=False)


def test_missing_column(prepare, tmp_path):
    table = write_table(tmp_path / "t.csv", [("a", "0", "K")], header=("dialogue_id", "turn", "speaker"))
    with pytest.raises(DataError, match=r"line 1 \(header\): missing column\(s\) text"):
        prepare_corpus(table, tmp_path / "o", fake_encode, progress=False)


def test_folder_input_finds_the_table(prepare, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_table(folder / "whatever.csv", ROWS)
    out = prepare_corpus(folder, tmp_path / "o", fake_encode, progress=False)
    assert load_corpus(out).metadata["source"] == "prepared from whatever.csv"


def test_main_with_injected_encoder(prepare, tmp_path, capsys):
    table = write_table(tmp_path / "t.csv", ROWS)
    models = []

    def make_encoder(model):
        models.append(model)
        return fake_encode
    code = prepare.main([f"input={table}", f"out={tmp_path / 'o'}", "batch_size=1",
                         "labels=joy,anger", "licence=CC0"], make_encoder)
    assert code == 0 and models == ["all-MiniLM-L6-v2"]
    corpus = load_corpus(tmp_path / "o")
    assert corpus.labels == ("joy", "anger")
    assert corpus.metadata["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert corpus.metadata["licence"] == "CC0"
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'o'}"
    assert prepare.main([f"input={table}", f"out={tmp_path / 'o'}"], make_encoder) == 2
    assert "already exists" in capsys.readouterr().err
    assert prepare.main([f"input={table}", "oops"], make_encoder) == 2
    assert "'oops' is not of the form key=value" in capsys.readouterr().err


def test_missing_sentence_transformers_says_how_to_install(prepare, monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(ConfigError, match=r"pip install 'ergraph\[text\]'"):
        prepare.sentence_encoder("all-MiniLM-L6-v2")


def test_off_a_terminal_progress_is_whole_lines_per_phase_and_tenth(prepare, tmp_path, capsys):
    rows = [("d1", t, "A", f"line {t}", "joy", "train") for t in range(20)]
    table = write_table(tmp_path / "t.csv", rows)
    assert prepare.main([f"input={table}", f"out={tmp_path / 'o'}", "batch_size=1"],
                        lambda model: fake_encode) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "embedding: 20 batches"
    assert [line.split(" (")[0] for line in lines[1:-1]] == [
        f"embedding: {tenth}0%" for tenth in range(1, 10)]
    assert lines[-1].startswith("embedding: done, 20/20 in ")
