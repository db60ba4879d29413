"""A third output head is one class and its registration: this file's
ordinal head trains, is scored, fills the predictions table and loads
from its checkpoint without any change to the runner or the backbone."""
import csv
import json

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from dialogues.open_format import save_corpus
from experiments.predict import predict_file
from models import load_checkpoint
from models.heads import HEADS, Head, Predictions, register_head
from runner.config import ConfigError, compose
from runner.experiment import corpus_from_config, run_experiment


class OrdinalHead(Head):
    """Classes as ranks: output k says whether the class exceeds k (C - 1
    outputs, binary cross-entropy), the class is how many outputs say yes."""

    name = "ordinal"

    @property
    def outputs(self) -> int:
        return self.num_classes - 1

    def loss(self, logits: Tensor, labels: Tensor, class_weights: Tensor | None = None,
             scores: Tensor | None = None) -> Tensor:
        known = labels >= 0
        ranks = torch.arange(self.outputs, device=logits.device)
        exceeds = (labels[known, None].to(logits.device) > ranks).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits[known], exceeds)

    def classes(self, logits: Tensor) -> Tensor:
        return (logits > 0).sum(-1)

    def predictions(self, logits, dialogues) -> Predictions:
        expected = logits.sigmoid().sum(-1)
        return Predictions(self.classes(logits),
                           {"expected_rank": [f"{r:.4f}" for r in expected.tolist()]})

    def metrics(self, logits, dialogues) -> dict:
        labels = torch.cat([d.labels for d in dialogues])
        known = labels >= 0
        error = (self.classes(logits)[known] - labels[known]).abs().double().mean()
        return {"rank_error": float(error)}

    def summary(self, metrics: dict) -> str:
        return f", rank error {metrics['rank_error']:.3f}"


@pytest.fixture
def ordinal_head():
    register_head(OrdinalHead)
    yield OrdinalHead
    del HEADS[OrdinalHead.name]  # leave the table as the other tests expect it


def test_a_registered_head_runs_end_to_end(ordinal_head, tiny, tmp_path):
    out = tmp_path / "run"
    config = compose([*tiny, "graph=corect", "model.head=ordinal", f"out={out}"])
    run_experiment(config, echo=None)
    metrics = json.loads((out / "metrics.json").read_text())
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["dialogue_id", "turn", "speaker", "label", "prediction",
                             "expected_rank"]
    labels = metrics["dataset"]["labels"]
    assert metrics["test"]["rank_error"] == pytest.approx(sum(
        abs(labels.index(r["prediction"]) - labels.index(r["label"])) for r in rows
        if r["label"]) / sum(1 for r in rows if r["label"]))
    assert f"rank error {metrics['test']['rank_error']:.3f}" in (out / "train.log").read_text()

    checkpoint = load_checkpoint(out / "checkpoint.pt")
    model = checkpoint.build()
    assert isinstance(model.head, OrdinalHead)
    assert model.classifier[-1].out_features == len(labels) - 1
    # predict.py asks the same head: the run's own test corpus gives its table.
    folder = save_corpus(corpus_from_config(config["dataset"]), tmp_path / "corpus")
    table = predict_file(str(out / "checkpoint.pt"), str(folder), "test",
                         str(tmp_path / "p.csv"))
    with table.open() as f:
        assert list(csv.DictReader(f)) == rows


def test_without_its_registration_the_head_is_refused_with_the_choices(tiny, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown head 'ordinal'; choices: "
                                        r"classification, regression"):
        run_experiment(compose([*tiny, "model.head=ordinal", f"out={tmp_path}/run"]),
                       echo=None)
