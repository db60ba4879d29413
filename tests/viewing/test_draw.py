import pytest
import torch

from graphs import DialogueBatch
from viewing import draw
from viewing.draw import dialogue_figure
from viewing.networkx import to_networkx
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def graphs_of(*names):
    batch = DialogueBatch([6], torch.arange(6) % 2, ("audio", "text"))
    return [to_networkx(REGISTRY.get(n)(batch), batch, labels=["x"] * 6,
                        builder=n) for n in names]


def test_figure_parses_each_graph_once(monkeypatch):
    calls = []
    parse = draw._arrays
    monkeypatch.setattr(draw, "_arrays", lambda G: calls.append(G) or parse(G))
    graphs = graphs_of("window", "modality")
    fig = dialogue_figure(graphs, show="label")
    assert len(fig.axes) == 2
    assert [id(G) for G in calls] == [id(G) for G in graphs]


def test_figure_legend_columns_are_those_it_sized_for():
    fig = dialogue_figure(graphs_of("window", "corect"))
    for ax in fig.axes:
        legend = ax.get_legend()
        entries = len(legend.get_texts())
        # As dialogue_figure sizes it: relation names plus " (1234)".
        relations = [t.get_text().rsplit(" (", 1)[0]
                     for t in legend.get_texts()
                     if not t.get_text().startswith("speaker ")]
        longest = max([len(r) + 7 for r in relations] + [16])
        width = max(fig.get_size_inches()[0] - 0.75, draw.MIN_PANEL_INCHES)
        assert legend._ncols == draw._legend_columns(longest, entries, width)


def test_legend_columns():
    column = (10 * draw.FONT * 0.6 + 4.8 * draw.FONT) / 72
    assert draw._legend_columns(10, 20, 3.5 * column) == 3
    assert draw._legend_columns(10, 2, 3.5 * column) == 2     # no empty column
    assert draw._legend_columns(10, 20, 0.5 * column) == 1    # at least one


def test_figure_refuses_an_unknown_show():
    with pytest.raises(ValueError, match="show="):
        dialogue_figure(graphs_of("none"), show="labels")


def test_weighted_edges_are_drawn_in_widths_by_weight():
    import torch

    from graphs import DialogueBatch, DialogueGraph
    from viewing.draw import UNWEIGHTED_WIDTH, WEIGHT_WIDTHS, _arrays
    from viewing.networkx import to_networkx

    batch = DialogueBatch([4], [0, 1, 0, 1], ("text",))
    edges = torch.tensor([[0, 1, 2, 0, 1], [1, 2, 3, 3, 3]])
    weighted = DialogueGraph(edges, torch.zeros(5, dtype=torch.long), ("text:similar",),
                             torch.tensor([0.2, 1.0, 0.6, 0.45, 0.79]))
    a = _arrays(to_networkx(weighted, batch))
    # Lightest to heaviest of the range 0.2 .. 1.0, in quarters.
    width = dict(zip(zip(a.src.tolist(), a.dst.tolist()), a.width.tolist()))
    assert a.weighted and width == {(0, 1): WEIGHT_WIDTHS[0], (1, 2): WEIGHT_WIDTHS[3],
                                    (2, 3): WEIGHT_WIDTHS[2], (0, 3): WEIGHT_WIDTHS[1],
                                    (1, 3): WEIGHT_WIDTHS[2]}
    plain = _arrays(to_networkx(weighted._replace(edge_weight=None), batch))
    assert not plain.weighted and plain.width.tolist() == [UNWEIGHTED_WIDTH] * 5
    figure = dialogue_figure([to_networkx(weighted, batch)])
    widths = sorted({round(p.get_linewidth(), 2) for p in figure.axes[0].patches
                     if not p.get_fill()})
    assert widths == sorted(round(w, 2) for w in set(WEIGHT_WIDTHS))
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "line width: edge weight, light to heavy" in labels
