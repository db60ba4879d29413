"""Loading and batching speed: MELD whole and halved, to show linearity.

    PYTHONPATH=. python -m pytest benchmarks/test_bench_loading.py

Needs ``../shared/data/meld`` (skipped otherwise). The target is under one
second for MELD (13,708 utterances) loaded and cut into batches of 32.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dialogues import Corpus, batches, load_corpus, synthetic_corpus
from dialogues.open_format import save_corpus

MELD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "meld"


def load_and_batch(path: Path) -> int:
    corpus = load_corpus(path)
    return sum(batch.num_utterances for dialogues in corpus.splits.values()
               for batch in batches(dialogues, list(corpus.modalities), 32))


@pytest.fixture(scope="module")
def meld() -> Path:
    if not MELD.is_dir():
        pytest.skip(f"{MELD} is not there")
    return MELD


@pytest.fixture(scope="module")
def half_meld(meld: Path, tmp_path_factory) -> Path:
    """The first half of every MELD split, in the open format."""
    corpus = load_corpus(meld)
    half = Corpus(corpus.name, corpus.labels, corpus.modalities,
                  {k: v[:len(v) // 2] for k, v in corpus.splits.items()},
                  corpus.metadata)
    return save_corpus(half, tmp_path_factory.mktemp("bench") / "meld_half")


def test_meld_load_and_batch(benchmark, meld):
    utterances = benchmark.pedantic(load_and_batch, args=(meld,), rounds=10,
                                    warmup_rounds=1)
    assert utterances == 13708
    assert benchmark.stats.stats.median < 1.0


def test_half_meld_load_and_batch(benchmark, half_meld):
    utterances = benchmark.pedantic(load_and_batch, args=(half_meld,), rounds=10,
                                    warmup_rounds=1)
    assert 6500 < utterances < 7200


def test_synthetic_defaults(benchmark):
    corpus = benchmark(synthetic_corpus)
    assert len(corpus.split("train")) == 120
    assert benchmark.stats.stats.median < 2.0
