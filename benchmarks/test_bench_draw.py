"""Drawing speed: a 110-turn, 3-modality dialogue under CORECT's relation set.

Run: ``python -m pytest benchmarks/test_bench_draw.py``. Target (issue 6):
figure + PNG/SVG file in < 3 s, every turn drawn (5,712 edges).
"""
import pytest
import torch

from graphs import DialogueBatch
from viewing.draw import dialogue_figure, save_figure
from viewing.networkx import to_networkx
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
MODALITIES = ("audio", "text", "visual")
TURNS = 110


def long_dialogue(name: str, **params):
    speakers = (torch.rand(TURNS, generator=torch.Generator().manual_seed(0)) < 0.5).long()
    batch = DialogueBatch([TURNS], speakers, MODALITIES)
    builder = REGISTRY.get(name, **params)
    graph = builder(batch)
    return graph, to_networkx(graph, batch,
                              labels=[f"c{t % 6}" for t in range(TURNS)],
                              builder=name, params=params, causal=builder.causal)


@pytest.mark.parametrize("suffix", ["png", "svg"])
@pytest.mark.parametrize("turns", ["0:110", None], ids=["all-110-turns", "first-30"])
def test_draw_corect_dialogue(benchmark, tmp_path, suffix, turns):
    graph, G = long_dialogue("corect", past=4, future=11)
    path = tmp_path / f"g.{suffix}"

    def draw():
        save_figure(dialogue_figure([G], show="label", turns=turns), path)

    benchmark.pedantic(draw, rounds=3, warmup_rounds=1)
    benchmark.extra_info["edges"] = graph.num_edges
    assert graph.num_edges == 5712
    assert benchmark.stats.stats.median < 3.0


def test_draw_three_builders_side_by_side(benchmark, tmp_path):
    graphs = [long_dialogue("corect", past=4, future=11)[1],
              long_dialogue("speaker", past=4, future=4)[1],
              long_dialogue("causal", past=4)[1]]

    def draw():
        save_figure(dialogue_figure(graphs, turns="0:110"), tmp_path / "g.png")

    benchmark.pedantic(draw, rounds=3, warmup_rounds=1)
    assert benchmark.stats.stats.median < 6.0
