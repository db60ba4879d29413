"""Graph construction speed against a per-utterance Python-loop reference.

Run: ``python -m pytest benchmarks/test_bench_graphs.py``. Targets (issue 2):
the 548-utterance CORECT batch × 3 modalities in ≤ 2.5 ms and ≥ 50× faster
than the loop; any built-in on all of IEMOCAP × 3 modalities in < 20 ms.
"""
import time

import pytest
import torch

from graphs import DialogueBatch
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
MODALITIES = ("audio", "text", "visual")
# CORECT's IEMOCAP window: each node hears 4 past and 11 future turns.
SETTINGS = {
    "window": {"past": 4, "future": 11, "self_loops": True},
    "causal": {"past": 4, "self_loops": True},
    "speaker": {"past": 4, "future": 11, "self_loops": True},
    "modality": {},
    "corect": {"past": 4, "future": 11},
}


def corect_batch() -> DialogueBatch:
    """10 IEMOCAP-sized dialogues, 548 utterances, as in the peer figure."""
    lengths = [55] * 9 + [53]
    speakers = torch.arange(sum(lengths)) % 2
    return DialogueBatch(lengths, speakers, MODALITIES)


def loop_reference(batch: DialogueBatch, past: int, future: int) -> tuple:
    """CORECT's edge set built the straightforward way: a Python loop over
    utterances and window positions, one tensor at the end."""
    U, M = batch.num_utterances, len(batch.modalities)
    edges = []
    for d, length in enumerate(batch.lengths.tolist()):
        start = int(batch.ptr[d])
        for t in range(length):
            for s in range(max(0, t - past), min(length, t + future + 1)):
                kind = 0 if s < t else (1 if s > t else 2)
                for m in range(M):
                    edges.append((m * 3 + kind, m * U + start + s, m * U + start + t))
            for a in range(M):
                for b in range(M):
                    if a != b:
                        edges.append((3 * M + a * (M - 1) + (b - (b > a)),
                                      a * U + start + t, b * U + start + t))
    edges.sort(key=lambda e: (e[0], e[2], e[1]))
    kind, src, dst = zip(*edges)
    return torch.tensor([src, dst]), torch.tensor(kind)


def test_loop_reference_matches_corect_preset():
    batch = DialogueBatch([5, 3], [0, 1, 0, 1, 0, 0, 1, 1], MODALITIES)
    ours = REGISTRY.get("corect", past=2, future=1)(batch)
    ref_index, ref_type = loop_reference(batch, 2, 1)
    assert ours.edge_index.tolist() == ref_index.tolist()
    assert ours.edge_type.tolist() == ref_type.tolist()


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_build_corect_sized_batch(benchmark, name):
    batch = corect_batch()
    builder = REGISTRY.get(name, **SETTINGS[name])
    graph = benchmark(builder, batch)
    benchmark.extra_info["edges"] = graph.num_edges
    assert benchmark.stats.stats.median < 2.5e-3


def test_corect_preset_against_loop_reference(benchmark):
    batch = corect_batch()
    builder = REGISTRY.get("corect", past=4, future=11)
    graph = benchmark(builder, batch)
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        loop_reference(batch, 4, 11)
        timings.append(time.perf_counter() - start)
    ratio = sorted(timings)[2] / benchmark.stats.stats.median
    benchmark.extra_info.update(edges=graph.num_edges, speedup_vs_loop=round(ratio, 1),
                                loop_ms=round(sorted(timings)[2] * 1e3, 2))
    print(f"\ncorect batch: {graph.num_edges} edges, "
          f"{benchmark.stats.stats.median * 1e3:.3f} ms, loop reference "
          f"{sorted(timings)[2] * 1e3:.1f} ms, speed-up {ratio:.0f}x")
    assert ratio >= 50


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_build_all_of_iemocap(benchmark, name, iemocap_structure):
    lengths, speakers = iemocap_structure
    batch = DialogueBatch(lengths, speakers, MODALITIES)
    graph = benchmark(REGISTRY.get(name, **SETTINGS[name]), batch)
    benchmark.extra_info["edges"] = graph.num_edges
    assert benchmark.stats.stats.median < 20e-3
