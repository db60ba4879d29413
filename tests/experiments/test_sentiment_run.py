"""A run on a sentiment pickle: classes, or the score and classes derived
from it, with the sentiment metrics."""
import csv
import json

import pytest
import torch
import yaml

from dialogues import load_corpus
from dialogues.open_format import save_corpus
from runner.predictions import predict_file
from experiments.run import main
from experiments.stream import main as stream_main
from models import load_checkpoint

from ..dialogues import sentiment_files as files

SMALL_MODEL = ["model.hidden=8", "model.gnn_heads=2", "model.sequence_heads=2",
               "model.self_attention_layers=1", "model.crossmodal_layers=1",
               "train.batch_size=4", "latency.repeats=1", "device=cpu"]


@pytest.fixture(scope="module")
def mosei_like(tmp_path_factory):
    clips = files.draw_clips(seed=1, videos={"train": 40, "valid": 8, "test": 20})
    path = tmp_path_factory.mktemp("data") / "unaligned_50.pkl"
    return files.write(path, files.mmsa_layout(clips))


def run(path, out, *args):
    return main([f"dataset.path={path}", "dataset.label_view=sentiment_2", "graph=causal",
                 *SMALL_MODEL, f"out={out}", *args])


def read(out):
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "predictions.csv").open() as f:
        return metrics, list(csv.DictReader(f))


@pytest.mark.slow  # six epochs to learn the planted sentiment
def test_a_classification_run_beats_chance_and_reports_no_mae(mosei_like, tmp_path):
    out = tmp_path / "run"
    assert run(mosei_like, out, "train.epochs=6") == 0
    metrics, rows = read(out)
    test = metrics["test"]
    assert metrics["dataset"]["labels"] == ["negative", "non-negative"]
    assert "mae" not in test and "pearson" not in test
    assert list(rows[0]) == ["dialogue_id", "turn", "speaker", "label", "prediction",
                             "probability"]
    majority = max(sum(r["label"] == name for r in rows) for name in
                   ("negative", "non-negative")) / len(rows)
    assert test["accuracy"] > 100 * majority + 10
    assert metrics["graph"]["causal"] and "stream_ms" in metrics["latency"]


def test_a_regression_run_reports_mae_and_pearson_of_its_scores(mosei_like, tmp_path,
                                                                   capsys):
    out = tmp_path / "run"
    assert run(mosei_like, out, "model.head=regression", "train.epochs=12",
               "train.lr=3e-3") == 0
    metrics, rows = read(out)
    test = metrics["test"]
    assert list(rows[0]) == ["dialogue_id", "turn", "speaker", "label", "prediction",
                             "score", "predicted_score"]
    scores = torch.tensor([float(r["score"]) for r in rows])
    predicted = torch.tensor([float(r["predicted_score"]) for r in rows])
    assert test["scored"] == len(rows)
    assert test["mae"] == pytest.approx(float((scores - predicted).abs().mean()), abs=1e-3)
    assert test["mae"] < float(scores.abs().mean())  # better than predicting 0
    assert test["pearson"] > 0.3
    # The classes are the view's of the predicted score.
    assert [r["prediction"] for r in rows] == [
        "non-negative" if p >= 0 else "negative" for p in predicted.tolist()]
    assert test["accuracy"] == pytest.approx(
        100 * sum(r["prediction"] == r["label"] for r in rows) / len(rows))
    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert (checkpoint.model.head, checkpoint.model.score_view) == ("regression",
                                                                   "sentiment_2")

    # Streamed live, each line gives the predicted score, as offline.
    corpus = load_corpus(mosei_like, label_view="sentiment_2")
    video = rows[0]["dialogue_id"]
    folder = save_corpus(corpus, tmp_path / "open")
    capsys.readouterr()
    assert stream_main([f"checkpoint={out / 'checkpoint.pt'}", f"input={folder}",
                        f"dialogue={video}"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == ["dialogue_id", "turn", "speaker", "prediction", "score", "latency_ms"]
    offline = [r for r in rows if r["dialogue_id"] == video]
    assert [line[3] for line in lines[1:]] == [r["prediction"] for r in offline]
    assert [float(line[4]) for line in lines[1:]] == pytest.approx(
        [float(r["predicted_score"]) for r in offline], abs=2e-4)


@pytest.mark.parametrize("graph, equivalent", [
    ("speaker_causal", "window(past=4, future=0, self_loops=False): every edge is a "
                       "same-speaker edge and the other-speaker relations stay empty"),
    ("dag", "causal(past=1): the speaker's previous turn is the previous turn"),
])
def test_a_speaker_graph_on_monologues_says_what_it_reduces_to(mosei_like, tmp_path, graph,
                                                               equivalent):
    out = tmp_path / "run"
    assert run(mosei_like, out, f"graph={graph}", "train.epochs=1") == 0
    assert (f"every dialogue has one speaker: graph {graph.split('_')[0]!r} reduces to "
            f"{equivalent}") in (out / "train.log").read_text()


def test_pool_reaches_the_loader_from_the_command_line(mosei_like, tmp_path):
    out = tmp_path / "run"
    assert run(mosei_like, out, "dataset.pool=max", "train.epochs=1") == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["dataset"]["pool"] == "max"
    assert load_checkpoint(out / "checkpoint.pt").metadata["dataset"]["pool"] == "max"
    # predict.py pools as the checkpoint was trained.
    table = predict_file(str(out / "checkpoint.pt"), str(mosei_like), "test",
                         str(tmp_path / "predictions.csv"), label_view="sentiment_2")
    with table.open() as f:
        predicted = [(r["dialogue_id"], r["turn"], r["prediction"]) for r in csv.DictReader(f)]
    assert predicted == [(r["dialogue_id"], r["turn"], r["prediction"]) for r in read(out)[1]]


@pytest.mark.parametrize("args, message", [
    (["dataset.label_view=null", "model.head=regression"],
     "head='regression' predicts each utterance's score and derives its class through a "
     "score label view, but the corpus has none"),
    (["model.head=regression", "train.class_weights=true"],
     "train.class_weights weighs the classes of the cross-entropy"),
    (["dataset.pool=median"], "dataset.pool"),
])
def test_what_cannot_work_is_refused_before_training(mosei_like, tmp_path, capsys, args,
                                                     message):
    out = tmp_path / "run"
    assert run(mosei_like, out, *args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_sentiment_view_on_an_emotion_corpus_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["dataset.label_view=sentiment_7", "dataset.pool=mean", *SMALL_MODEL,
                 f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert "pool='mean' applies to sentiment pickles' sequences" in err
    assert main(["dataset.label_view=sentiment_7", *SMALL_MODEL, f"out={out}"]) == 2
    assert ("label view 'sentiment_7' labels each utterance from its sentiment score, but "
            "corpus 'synthetic' has no scores") in capsys.readouterr().err


@pytest.mark.slow  # a two-run sweep, one run per head
def test_a_sweep_over_heads_shows_score_columns_only_where_scored(mosei_like, tmp_path):
    sweep = tmp_path / "sweep"
    assert main(["-m", f"dataset.path={mosei_like}", "dataset.label_view=sentiment_2",
                 "graph=causal", *SMALL_MODEL, "train.epochs=2",
                 "model.head=classification,regression", f"out={sweep}"]) == 0
    markdown = (sweep / "summary.md").read_text()
    assert markdown.startswith("| configuration | runs | accuracy | weighted F1 | Δ wF1 vs "
                               "baseline [95% CI] | macro F1 | MAE | Pearson r | ")
    with (sweep / "summary.csv").open() as f:
        rows = {r["configuration"].split("head=")[-1].rstrip(")"): r
                for r in csv.DictReader(f)}
    regression = json.loads(next(sweep.glob("*regression*/metrics.json")).read_text())
    assert float(rows["regression"]["mae_mean"]) == pytest.approx(
        regression["test"]["mae"], abs=1e-4)
    assert rows["classification"]["mae_mean"] == "nan"
