import json
import math

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from runner.config import compose
from runner.experiment import build_model, corpus_from_config, run_experiment
from runner.training import TrainConfig, train


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


def raw_weights_and_kept_model(tiny, ema_decay):
    """Train one epoch of two steps; return the weights after each step and
    the model that training keeps."""
    config = compose([*tiny, "graph=causal", "train.epochs=1"])
    corpus = corpus_from_config(config["dataset"])
    model = build_model(config, corpus)
    after_step = []
    handle = register_optimizer_step_post_hook(lambda optimiser, args, kwargs: after_step.append(
        {k: v.detach().clone() for k, v in model.state_dict().items()}))
    try:
        train(model, corpus, TrainConfig(epochs=1, batch_size=3, ema_decay=ema_decay), seed=0,
              device=torch.device("cpu"), label_names=list(corpus.labels))
    finally:
        handle.remove()
    return after_step, model.state_dict()


def test_without_averaging_training_keeps_the_last_raw_weights(tiny):
    after_step, kept = raw_weights_and_kept_model(tiny, None)
    assert len(after_step) == 2  # 6 training dialogues in batches of 3
    for name, value in kept.items():
        assert torch.equal(value, after_step[-1][name]), name


def test_averaging_keeps_the_moving_average_of_the_steps(tiny):
    after_step, kept = raw_weights_and_kept_model(tiny, 0.75)
    first, second = after_step
    compared = 0
    for name, value in kept.items():
        if value.is_floating_point():
            expected = 0.75 * first[name] + 0.25 * second[name]
            torch.testing.assert_close(value, expected, msg=name)
            compared += int(not torch.equal(first[name], second[name]))
    assert compared > 0  # the steps moved some weights, so the check has teeth


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_ema_decay_outside_the_open_unit_interval_is_refused(decay):
    with pytest.raises(ValueError, match=rf"train.ema_decay must lie strictly between 0 "
                                         rf"and 1 \(or be null for no averaging\), "
                                         rf"got {decay}"):
        TrainConfig(ema_decay=decay)


def test_each_epoch_prints_a_line_when_stderr_is_not_a_terminal(tiny, tmp_path, capsys):
    from experiments.run import main
    assert main([*tiny, "graph=causal", "train.epochs=3", "train.patience=5",
                 f"out={tmp_path / 'run'}"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all(" loss " in line and " dev wF1 " in line and " best " in line
               and line.endswith(" s") for line in lines)


@pytest.mark.parametrize("setting", [{"max_grad_norm": -1.0}, {"patience": -1},
                                     {"patience": 0}])
def test_a_train_config_built_in_python_keeps_the_declared_ranges(setting):
    (key, value), = setting.items()
    with pytest.raises(ValueError, match=rf"train\.{key}={value!r} is out of range"):
        TrainConfig(**setting)
