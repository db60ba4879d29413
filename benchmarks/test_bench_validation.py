"""What checking a builder on every dialogue of every split adds to a run.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_validation.py -s

Needs ``../shared/data/iemocap`` and ``../shared/data/meld`` (skipped
otherwise). The runner validates the builder on the whole corpus before
training (:func:`runner.graph_check.check_graphs`); the target is under one
second per run, for positional builders and content-reading ones alike.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dialogues import load_corpus
from runner.graph_check import check_graphs
from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REGISTRY = EdgeBuilderRegistry(entry_points=False)
BUILDERS = [("causal", {}), ("corect", {}), ("speaker", {"past": None, "future": 0}),
            ("dag", {}), ("similarity", {"k": 4, "past_only": True}),
            ("similarity", {"k": 4, "vectors": "states", "past_only": True, "weighted": True}),
            ("mmgcn", {})]


@pytest.fixture(scope="module", params=["iemocap", "meld"])
def corpus(request):
    path = DATA / request.param
    if not path.is_dir():
        pytest.skip(f"{path} is not there")
    return load_corpus(path)


@pytest.mark.parametrize("name, params", BUILDERS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(BUILDERS)])
def test_check_every_dialogue(benchmark, corpus, name, params):
    model = CORECT(ModelConfig(modalities=dict(corpus.modalities),
                               num_classes=len(corpus.labels),
                               max_speakers=corpus.max_speakers),
                   REGISTRY.get(name, **params))
    benchmark.pedantic(check_graphs, args=(model, corpus, name), rounds=3,
                       warmup_rounds=1)
    print(f"\n{corpus.name} {name} {params}: median {benchmark.stats.stats.median:.3f} s")
    assert benchmark.stats.stats.median < 1.0
