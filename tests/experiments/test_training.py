import json
import math

import pytest

from experiments.config import compose
from experiments.runner import run_experiment
from experiments.training import TrainConfig


def history(tiny, tmp_path, *overrides):
    run = run_experiment(compose([*tiny, "graph=causal", "train.epochs=3",
                                  "train.patience=3", *overrides, f"out={tmp_path}/run"]))
    return json.loads((run / "metrics.json").read_text())["history"]


def test_constant_learning_rate_stays(tiny, tmp_path):
    assert [h["lr"] for h in history(tiny, tmp_path, "train.lr=0.01")] == [0.01] * 3


def test_cosine_anneals_to_zero_over_the_epochs(tiny, tmp_path):
    # 6 training dialogues in batches of 3: 2 steps an epoch, 6 in all.
    got = [h["lr"] for h in history(tiny, tmp_path, "train.lr=0.01",
                                     "train.lr_schedule=cosine")]
    expected = [0.005 * (1 + math.cos(math.pi * step / 6)) for step in (2, 4, 6)]
    assert got == pytest.approx(expected, abs=1e-12)


def test_an_unknown_schedule_lists_the_choices():
    with pytest.raises(ValueError, match=r"lr_schedule must be one of \['constant', "
                                         r"'cosine'\], got 'linear'"):
        TrainConfig(lr_schedule="linear")
