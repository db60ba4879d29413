r"""What a topology gives a model: edge counts, degrees and receptive fields.

>>> stats = graph_stats(builder(batch), batch, name="window")
>>> stats.past, stats.future        # turns seen after 1, 2 layers
((4, 8), (4, 8))
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from graphs.batch import DialogueBatch
from graphs.builder import DialogueGraph


def receptive_field(graph: DialogueGraph, batch: DialogueBatch,
                    layers: int) -> tuple[Tensor, Tensor]:
    r"""How many turns into the past and the future each node can hear
    after :obj:`layers` rounds of message passing.

    A node hears itself and, after :math:`k` layers, every node with a path
    of at most :math:`k` edges to it. Rather than composing adjacency
    matrices, each node tracks the earliest and latest turn it hears:
    :math:`lo_k(n) = \min(lo_{k-1}(n), \min_{s \to n} lo_{k-1}(s))`, and
    likewise :math:`hi_k` with max, which is exact because min and max
    distribute over the union of the in-neighbours' fields.

    Args:
        graph (DialogueGraph): Edges over the nodes of :obj:`batch`.
        batch (DialogueBatch): The batch structure, ``N`` nodes.
        layers (int): Message-passing rounds, at least 0.

    Returns:
        :obj:`(past [N], future [N])`: turns from each node back to the
        earliest turn it hears, and forward to the latest.
    """
    if layers < 0:
        raise ValueError(f"layers must be >= 0, got {layers}")
    return _receptive_fields(graph, batch, layers)[-1]


def _receptive_fields(graph: DialogueGraph, batch: DialogueBatch,
                      layers: int) -> list[tuple[Tensor, Tensor]]:
    """:func:`receptive_field` after 0, 1, ..., :obj:`layers` layers, in
    one pass."""
    turn = batch.node_turn
    lo, hi = turn.clone(), turn.clone()
    src, dst = graph.edge_index
    fields = [(turn - lo, hi - turn)]
    for _ in range(layers):
        # include_self: a node keeps hearing what it heard a layer before.
        lo = lo.scatter_reduce(0, dst, lo[src], reduce="amin", include_self=True)
        hi = hi.scatter_reduce(0, dst, hi[src], reduce="amax", include_self=True)
        fields.append((turn - lo, hi - turn))
    return fields


@dataclass(frozen=True)
class GraphStats:
    r"""Summary of one builder's graph on one batch.

    Args:
        name (str): The builder's name, for tables.
        num_nodes (int): Nodes :obj:`N` (modalities × utterances).
        num_utterances (int): Utterances :obj:`U`.
        num_edges (int): Edges :obj:`E`.
        num_relations (int): Relations of the builder.
        edges_per_utterance (float): :obj:`E / U`.
        in_degree_min (int): Fewest in-edges of any node.
        in_degree_mean (float): In-edges per node, :obj:`E / N`.
        in_degree_max (int): Most in-edges of any node.
        edges_by_relation (dict[str, int]): Relation name to its edge
            count, in relation order, zeros included.
        past (tuple[int, ...]): Entry :obj:`k - 1` is the most turns any
            node hears into the past after :obj:`k` layers.
        future (tuple[int, ...]): Likewise into the future; all zero for a
            causal builder.
        past_mean (tuple[float, ...]): Mean over nodes of the same.
        future_mean (tuple[float, ...]): Mean over nodes of the same.
    """

    name: str
    num_nodes: int
    num_utterances: int
    num_edges: int
    num_relations: int
    edges_per_utterance: float
    in_degree_min: int
    in_degree_mean: float
    in_degree_max: int
    edges_by_relation: dict[str, int]
    past: tuple[int, ...]
    future: tuple[int, ...]
    past_mean: tuple[float, ...]
    future_mean: tuple[float, ...]

    @property
    def layers(self) -> int:
        return len(self.past)

    def as_row(self) -> dict[str, Any]:
        """Flat ``column -> scalar`` mapping for a CSV row; edges by
        relation as a JSON object."""
        row: dict[str, Any] = {
            "name": self.name, "nodes": self.num_nodes,
            "utterances": self.num_utterances, "edges": self.num_edges,
            "relations": self.num_relations,
            "edges_per_utterance": round(self.edges_per_utterance, 4),
            "in_degree_min": self.in_degree_min,
            "in_degree_mean": round(self.in_degree_mean, 4),
            "in_degree_max": self.in_degree_max,
        }
        for k in range(self.layers):
            row[f"past_{k + 1}"] = self.past[k]
            row[f"future_{k + 1}"] = self.future[k]
            row[f"past_mean_{k + 1}"] = round(self.past_mean[k], 4)
            row[f"future_mean_{k + 1}"] = round(self.future_mean[k], 4)
        row["edges_by_relation"] = json.dumps(self.edges_by_relation)
        return row


def graph_stats(graph: DialogueGraph, batch: DialogueBatch, layers: int = 2,
                name: str = "") -> GraphStats:
    r"""Edge counts, in-degrees and receptive fields of :obj:`graph`.

    Args:
        graph (DialogueGraph): A builder's output for :obj:`batch`.
        batch (DialogueBatch): The batch structure.
        layers (int): Receptive fields are reported after 1 ... :obj:`layers`
            layers. (default: :obj:`2`)
        name (str): Label of the builder in tables. (default: :obj:`""`)
    """
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    degree = torch.bincount(graph.edge_index[1], minlength=batch.num_nodes)
    counts = torch.bincount(graph.edge_type, minlength=graph.num_relations)
    past, future, past_mean, future_mean = [], [], [], []
    for back, ahead in _receptive_fields(graph, batch, layers)[1:]:
        past.append(int(back.max()))
        future.append(int(ahead.max()))
        past_mean.append(float(back.float().mean()))
        future_mean.append(float(ahead.float().mean()))
    return GraphStats(
        name=name,
        num_nodes=batch.num_nodes,
        num_utterances=batch.num_utterances,
        num_edges=graph.num_edges,
        num_relations=graph.num_relations,
        edges_per_utterance=graph.num_edges / batch.num_utterances,
        in_degree_min=int(degree.min()),
        in_degree_mean=graph.num_edges / batch.num_nodes,
        in_degree_max=int(degree.max()),
        edges_by_relation=dict(zip(graph.relations, counts.tolist())),
        past=tuple(past), future=tuple(future),
        past_mean=tuple(past_mean), future_mean=tuple(future_mean),
    )


def format_stats(stats: list[GraphStats]) -> str:
    r"""A plain-text table, one column per builder, then edges by relation
    and a last line on how far into the future a 2-layer model can see.

    Args:
        stats (list[GraphStats]): One entry per builder, non-empty.
    """
    def fmt(x: float) -> str:
        return f"{x:.2f}".rstrip("0").rstrip(".")

    lines = [("", [s.name for s in stats]),
             ("nodes / utterances", [f"{s.num_nodes} / {s.num_utterances}" for s in stats]),
             ("edges", [str(s.num_edges) for s in stats]),
             ("relations", [str(s.num_relations) for s in stats]),
             ("edges per utterance", [fmt(s.edges_per_utterance) for s in stats]),
             ("in-degree min/mean/max", [
                 f"{s.in_degree_min}/{fmt(s.in_degree_mean)}/{s.in_degree_max}"
                 for s in stats])]
    for k in range(min(s.layers for s in stats)):
        lines.append((f"receptive field, {k + 1} layer{'s' if k else ''}: "
                      "past/future (turns)",
                      [f"{s.past[k]}/{s.future[k]}" for s in stats]))
    head = max(len(label) for label, _ in lines)
    widths = [max(len(cells[i]) for _, cells in lines) for i in range(len(stats))]
    out = ["  ".join([label.ljust(head)] + [c.rjust(w) for c, w in zip(cells, widths)])
           .rstrip() for label, cells in lines]
    out.append("edges by relation:")
    for s in stats:
        pairs = ", ".join(f"{r}={n}" for r, n in s.edges_by_relation.items())
        out.append(f"  {s.name}: {pairs or '(no relations)'}")
    if all(s.layers >= 2 for s in stats):
        out.append("a 2-layer model sees into the future: " + ", ".join(
            f"{s.name} {s.future[1]} turn{'' if s.future[1] == 1 else 's'}"
            for s in stats))
    return "\n".join(out)
