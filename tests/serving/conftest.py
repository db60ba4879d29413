import csv

import pytest
import torch

from dialogues.open_format import save_corpus
from runner.config import compose
from experiments.predict import main as predict_main
from experiments.run import main as run_main
from runner.experiment import corpus_from_config

from ..experiments.conftest import TINY

SPLITS = ("dev", "test")


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Small models run several times faster on one thread when the machine
    is shared; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory):
    """A causal run on the tiny synthetic corpus (two modalities), that
    corpus in the open format, and predict.py's offline predictions of its
    dev and test dialogues: ``{dialogue_id: [(turn, speaker, prediction,
    probability), ...]}``."""
    tmp_path = tmp_path_factory.mktemp("serve")
    run = tmp_path / "run"
    assert run_main([*TINY, "graph=causal", "graph.self_loops=true", f"out={run}"]) == 0
    corpus = corpus_from_config(compose([*TINY, "graph=causal"])["dataset"])
    folder = save_corpus(corpus, tmp_path / "corpus")
    offline = {}
    for split in SPLITS:  # dev too, which chose the epoch: a reference, not a score
        out = tmp_path / f"{split}.csv"
        assert predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"dataset.path={folder}",
                             f"split={split}", f"out={out}", "allow_seen=true"]) == 0
        with out.open() as f:
            for row in csv.DictReader(f):
                offline.setdefault(row["dialogue_id"], []).append(
                    (int(row["turn"]), row["speaker"], row["prediction"],
                     float(row["probability"])))
    return run / "checkpoint.pt", corpus, offline
