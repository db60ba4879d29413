import csv

import numpy as np
import yaml

from experiments.predict import main as predict_main
from experiments.run import main as run_main


def write_unlabelled_corpus(folder, labels, dims):
    folder.mkdir()
    (folder / "dataset.yaml").write_text(yaml.safe_dump(
        {"name": "live", "labels": labels, "modalities": dims}))
    rows = [("d1", 0, "ann"), ("d1", 1, "bob"), ("d1", 2, "ann"), ("d2", 0, "cy")]
    with (folder / "utterances.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dialogue_id", "turn", "speaker", "label", "split", "text"])
        for dialogue, turn, speaker in rows:
            writer.writerow([dialogue, turn, speaker, "", "test", ""])
    rng = np.random.default_rng(0)
    np.savez(folder / "features.npz", **{m: rng.standard_normal((len(rows), d))
                                          .astype(np.float32) for m, d in dims.items()})


def test_predict_on_an_unlabelled_corpus(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main([*tiny, "graph=causal", f"out={run}"]) == 0
    corpus = tmp_path / "live"
    write_unlabelled_corpus(corpus, [f"c{i}" for i in range(6)], {"text": 12, "audio": 6})
    out = tmp_path / "pred.csv"
    assert predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"dataset.path={corpus}",
                         "split=test", f"out={out}"]) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["dialogue_id"], r["turn"], r["speaker"], r["label"]) for r in rows] == [
        ("d1", "0", "ann", ""), ("d1", "1", "bob", ""), ("d1", "2", "ann", ""),
        ("d2", "0", "cy", "")]
    assert all(r["prediction"].startswith("c") for r in rows)


def test_predict_refuses_a_corpus_with_other_labels(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main([*tiny, f"out={run}"]) == 0
    corpus = tmp_path / "live"
    write_unlabelled_corpus(corpus, ["a", "b"], {"text": 12, "audio": 6})
    out = tmp_path / "pred.csv"
    assert predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"dataset.path={corpus}",
                         f"out={out}"]) == 2
    assert (f"predict.py: error: {corpus}: labels ['a', 'b'] differ from those of checkpoint "
            f"{run / 'checkpoint.pt'}, ['c0', ") in capsys.readouterr().err
    assert not out.exists()


def test_predict_defaults_to_the_corpus_the_checkpoint_was_trained_on(tiny, tmp_path):
    run = tmp_path / "run"
    assert run_main([*tiny, "graph=causal", f"out={run}"]) == 0  # a small synthetic corpus
    out = tmp_path / "pred.csv"
    assert predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"out={out}"]) == 0
    with out.open() as f:
        predicted = [(r["dialogue_id"], r["turn"], r["label"]) for r in csv.DictReader(f)]
    with (run / "predictions.csv").open() as f:
        assert predicted == [(r["dialogue_id"], r["turn"], r["label"])
                             for r in csv.DictReader(f)]


def test_dialogues_a_checkpoint_trained_on_are_refused_unless_allowed(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main([*tiny, "graph=causal", "cv=2", f"out={run}"]) == 0
    capsys.readouterr()
    # Each dialogue is held out by one fold and trains (or selects) the other,
    # so one fold's checkpoint has seen some of the standard test split.
    refused = []
    for fold in (1, 2):
        checkpoint = run / "checkpoints" / f"fold-{fold}.pt"
        out = tmp_path / f"fold-{fold}.csv"
        code = predict_main([f"checkpoint={checkpoint}", f"out={out}"])
        err = capsys.readouterr().err
        if code == 2:
            refused.append(fold)
            assert err.startswith(f"predict.py: error: the synthetic corpus the checkpoint "
                                  f"trained on: checkpoint {checkpoint} trained or chose its "
                                  "epoch on ")
            assert err.endswith("pass allow_seen=true to score them anyway\n")
            assert not out.exists()
            assert predict_main([f"checkpoint={checkpoint}", f"out={out}",
                                 "allow_seen=true"]) == 0
    assert refused
    plain = tmp_path / "plain"
    assert run_main([*tiny, "graph=causal", f"out={plain}"]) == 0
    capsys.readouterr()
    assert predict_main([f"checkpoint={plain / 'checkpoint.pt'}", "split=train",
                         f"out={tmp_path / 'train.csv'}"]) == 2
    assert "trained or chose its epoch on 6 of these 6 dialogues" in capsys.readouterr().err
