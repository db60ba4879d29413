import csv
import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dialogues.open_format import save_corpus
from dialogues.synthetic import SyntheticConfig, synthetic_corpus
from runner.config import compose
from experiments.run import main
from runner.experiment import corpus_from_config, run_experiment
from models import load_checkpoint

from .conftest import TINY

TIMING_KEYS = {"latency", "train_seconds"}


def test_end_to_end_run_writes_every_file_and_key(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*tiny, "graph=causal", "graph.past=2", f"out={out}"]) == 0
    printed = capsys.readouterr().out
    assert "graph:\n  name: causal\n  past: 2" in printed  # resolved config first
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt", "config.yaml", "confusion.png", "curves.png", "history.csv",
        "metrics.json", "predictions.csv", "train.log"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no lock or staging
    assert yaml.safe_load((out / "config.yaml").read_text())["graph"]["past"] == 2

    metrics = json.loads((out / "metrics.json").read_text())
    labels = ["c0", "c1", "c2", "c3", "c4", "c5"]
    test = metrics["test"]
    for key in ("accuracy", "weighted_f1", "macro_f1"):
        assert 0 <= test[key] <= 100
    assert list(test["per_class_f1"]) == labels
    assert len(test["confusion"]) == 6 and all(len(r) == 6 for r in test["confusion"])
    assert 0 <= metrics["dev"]["weighted_f1"] <= 100
    assert 1 <= metrics["best_epoch"] <= 2
    assert metrics["graph"]["name"] == "causal" and metrics["graph"]["causal"] is True
    assert metrics["graph"]["num_relations"] == 2  # text:past, audio:past
    assert 0 < metrics["graph"]["edges_per_utterance"] <= 2 * 2
    for key in ("graph_ms_per_dialogue", "forward_ms_per_dialogue", "ms_per_utterance"):
        assert metrics["latency"][key] > 0
    # The conditions the timings were taken under, beside them.
    assert metrics["latency"]["threads"] == torch.get_num_threads()
    assert metrics["latency"]["cores"] == os.cpu_count()
    assert metrics["latency"]["load_start"] >= 0 and metrics["latency"]["load_end"] >= 0
    assert metrics["params"] > 0 and metrics["train_seconds"] > 0
    assert metrics["threads"] == torch.get_num_threads()

    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dialogue_id", "turn", "speaker", "label", "prediction",
                             "probability"]
    assert sum(map(sum, test["confusion"])) == len(rows)
    assert {r["prediction"] for r in rows} <= set(labels)

    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint.graph["name"] == "causal" and checkpoint.labels == labels
    assert checkpoint.model.modalities == {"text": 12, "audio": 6}
    assert checkpoint.build().causal


def test_same_command_twice_gives_identical_metrics(tiny, tmp_path):
    first = run_experiment(compose([*tiny, "graph=speaker", f"out={tmp_path / 'a'}"]))
    second = run_experiment(compose([*tiny, "graph=speaker", f"out={tmp_path / 'b'}"]))
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (first, second))
    for metrics in (a, b):  # epochs' wall times differ; their results must not
        assert all(row.pop("seconds") > 0 for row in metrics["history"])
    assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == \
           {k: v for k, v in b.items() if k not in TIMING_KEYS}
    assert (first / "predictions.csv").read_text() == (second / "predictions.csv").read_text()


def test_existing_run_is_never_overwritten(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main([*tiny, f"out={out}"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_failed_run_leaves_nothing_behind(tiny, tmp_path):
    # Pairwise speaker relations sized for one speaker cannot hold two.
    config = compose([*tiny, "graph=speaker", "graph.pairwise=true",
                      "graph.num_speakers=1", f"out={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match="num_speakers=1"):
        run_experiment(config)
    assert list(tmp_path.iterdir()) == []


def test_a_real_dataset_without_a_path_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["dataset=iemocap", "dataset.path=", f"out={out}"]) == 2
    assert "dataset 'iemocap' needs dataset.path=DIR" in capsys.readouterr().err
    assert not out.exists()


def corpus_folder(tmp_path, splits_and_labels):
    """An open-format corpus with one four-turn dialogue per (split, label)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    rows = ["dialogue_id,turn,speaker,label,split"]
    for d, (split, label) in enumerate(splits_and_labels):
        rows += [f"d{d},{t},{'ab'[t % 2]},{label},{split}" for t in range(4)]
    (folder / "utterances.csv").write_text("\n".join(rows) + "\n")
    np.savez(folder / "features.npz",
             text=np.ones((4 * len(splits_and_labels), 3), dtype=np.float32))
    (folder / "dataset.yaml").write_text(yaml.safe_dump(
        {"name": "small", "labels": ["x", "y"], "modalities": {"text": 3}}))
    return folder


@pytest.mark.parametrize("splits, message", [
    ([("train", "x"), ("dev", "x")], "corpus 'small' has no split 'test'; splits: train (1 "
                                     "dialogues), dev (1 dialogues)"),
    ([("train", "x"), ("dev", "x"), ("test", "")],
     "the test split has no labelled utterance, but a run scores it"),
    ([("train", "x"), ("dev", ""), ("test", "y")],
     "the dev split has no labelled utterance, but a run selects the epoch on it"),
])
def test_a_meaningless_corpus_is_refused_before_training(tmp_path, capsys, splits, message):
    folder = corpus_folder(tmp_path, splits)
    out = tmp_path / "run"
    assert main([f"dataset.path={folder}", "graph=causal", "device=cpu", f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run.py: error: ") and message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["train.epochs=0"], "train.epochs=0 is out of range: expected a number ≥ 1"),
    (["train.batch_size=-1"], "train.batch_size=-1 is out of range: expected a number ≥ 1"),
    (["train.lr_schedule=step"], "train.lr_schedule='step': expected one of constant, cosine"),
    (["graph=causal", "graph.past=-2"], "graph 'causal': past must be a non-negative int"),
    (["device=cuda"] if not torch.cuda.is_available() else ["device=nope"], "device="),
])
def test_bad_settings_are_refused_in_one_line(tiny, tmp_path, capsys, args, message):
    out = tmp_path / "run"
    settings = [a for a in tiny if not a.startswith("device=")]
    assert main([*settings, *args, f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run.py: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_run_can_be_watched_and_pictured(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*tiny, "graph=causal", "train.epochs=3", "train.patience=5",
                 f"out={out}"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"writing {out}; until it completes: tail -f {tmp_path}/.run.")
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["dev_weighted_f1"]) for r in rows] == pytest.approx(
        [h["dev_weighted_f1"] for h in metrics["history"]])
    log = (out / "train.log").read_text()
    assert [line.split("  ", 1)[1].split()[1] for line in log.splitlines()
            if "  epoch " in line] == ["1/3", "2/3", "3/3"]
    assert f"selected epoch {metrics['best_epoch']} " in log
    for picture in ("curves.png", "confusion.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_log_tensorboard_writes_events_of_every_epoch(tiny, tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    out = tmp_path / "run"
    assert main([*tiny, "graph=causal", "log=tensorboard", f"out={out}"]) == 0
    events = event_accumulator.EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [(e.step, e.value) for e in events.Scalars("dev/weighted_f1")] == [
        (h["epoch"], pytest.approx(h["dev_weighted_f1"])) for h in history]
    assert events.Tags()["images"] == ["test/confusion"]


def test_cross_validation_tests_every_dialogue_once_in_one_run(tiny, tmp_path):
    out = tmp_path / "run"
    assert main([*tiny, "graph=causal", "cv=3", f"out={out}"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    corpus = corpus_from_config(compose(tiny)["dataset"])
    every = [d for split in corpus.splits.values() for d in split]
    assert metrics["cv"] == 3 and [f["fold"] for f in metrics["folds"]] == [1, 2, 3]
    tested = [i for f in metrics["folds"] for i in f["test_dialogues"]]
    assert sorted(tested) == sorted(d.id for d in every)
    assert metrics["test"]["support"] == sum(int((d.labels >= 0).sum()) for d in every)
    assert metrics["test"]["support"] == sum(f["test"]["support"] for f in metrics["folds"])
    with (out / "predictions.csv").open() as f:
        assert len(list(csv.DictReader(f))) == sum(len(d) for d in every)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "fold-1.pt", "fold-2.pt", "fold-3.pt"]
    with (out / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted({r["fold"] for r in rows}) == ["1", "2", "3"]
    assert len(rows) == metrics["epochs_run"]


def test_session_folds_need_session_ids(tiny, tmp_path, capsys):
    assert main([*tiny, "graph=causal", "cv=sessions", f"out={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("run.py: error: cv=sessions holds out IEMOCAP sessions, read "
                          "from dialogue ids like 'Ses01F_impro01'; ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    # Refused by the grammar, from the declared ranges, before the libraries see them.
    (["train.lr=-1"], "train.lr=-1.0 is out of range: expected a number > 0"),
    (["train.lr=nan"], "train.lr=nan is out of range: expected a number > 0"),
    (["model.hidden=0"], "model.hidden=0 is out of range: expected a number ≥ 1"),
    (["dataset.synthetic.num_classes=1"], "dataset.synthetic.num_classes=1 is out of range"),
])
def test_settings_the_libraries_would_refuse_with_a_traceback_are_one_line(
        tiny, tmp_path, capsys, args, message):
    assert main([*tiny, *args, f"out={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"run.py: error: {message}") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_run_records_what_its_features_are(tmp_path):
    corpus = synthetic_corpus(SyntheticConfig(num_train=6, num_dev=2, num_test=2,
                                              min_length=2, max_length=5,
                                              modalities={"text": 12}))
    corpus.metadata.update(features={"text": "tuned encoder (12-d)"},
                           finetune={"base": "fake/encoder", "seed": 3})
    data = save_corpus(corpus, tmp_path / "tuned")
    tiny_model = [a for a in TINY if not a.startswith("dataset.")]
    assert main([f"dataset.path={data}", *tiny_model, f"out={tmp_path / 'run'}"]) == 0
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())["dataset"]
    assert recorded["features"] == {"text": "tuned encoder (12-d)"}
    assert recorded["finetune"] == {"base": "fake/encoder", "seed": 3}


def readme_union_parts() -> list[str]:
    """The ``graph.parts=`` values the README's Edge builders section gives
    for ``graph=union``, as a shell would pass them."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Edge builders", 1)[1].split("\n## ", 1)[0]
    found = [shlex.split(arg)[0] for arg in re.findall(r"`(graph\.parts=[^`]+)`", section)]
    assert found, "the README documents no graph.parts= for graph=union"
    return list(dict.fromkeys(found))  # the table and the text give the list form


@pytest.mark.parametrize("parts", readme_union_parts())
def test_the_readme_union_forms_run_from_the_command_line(parts, tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*tiny, "train.epochs=1", "graph=union", parts, f"out={run}"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    listed = yaml.safe_load(parts.split("=", 1)[1])
    names = listed.split(",") if isinstance(listed, str) else list(listed)
    assert list(load_checkpoint(run / "checkpoint.pt").build().builder.parts) == names
    assert metrics["graph"]["name"] == "union"


def test_the_union_list_form_is_typed_and_its_mistakes_are_one_line(tiny, tmp_path, capsys):
    assert compose(["graph=union", "graph.parts=causal,modality"])["graph"] == {
        "name": "union", "parts": ["causal", "modality"]}
    for parts, message in [
            ("causal,nope", "union part 'nope': unknown edge builder 'nope'"),
            ("causal,causal", "union parts ['causal'] are listed more than once")]:
        assert main([*tiny, "graph=union", f"graph.parts={parts}",
                     f"out={tmp_path / 'run'}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("run.py: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
