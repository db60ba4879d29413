"""The synthetic corpus plants a next-turn cue and label memory, so the
backbone must rank topologies as documented: a bidirectional window beats
a causal one, which beats no graph. Text is MLP-encoded here, so that the
graph is the only way context reaches an utterance."""
import json

import pytest

from runner.config import compose
from runner.experiment import run_experiment

SMALL = ["dataset.synthetic.num_train=40", "dataset.synthetic.num_dev=8",
         "dataset.synthetic.num_test=16", "dataset.synthetic.min_length=8",
         "dataset.synthetic.max_length=24", "dataset.synthetic.modalities={text: 16}",
         "model.hidden=16", "model.gnn_heads=2", "model.sequence_modalities=[]",
         "model.dropout=0.1", "train.epochs=15", "train.patience=15",
         "train.batch_size=8", "latency.repeats=1", "device=cpu", "seed=0"]


@pytest.mark.slow  # three trainings of fifteen epochs
def test_window_beats_causal_beats_none(tmp_path):
    accuracy = {}
    for graph, params in [("none", []), ("causal", ["graph.past=2"]),
                          ("window", ["graph.past=2", "graph.future=1"])]:
        run = run_experiment(compose([*SMALL, f"graph={graph}", *params,
                                      f"out={tmp_path / graph}"]))
        accuracy[graph] = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert accuracy["window"] > accuracy["causal"] > accuracy["none"], accuracy
