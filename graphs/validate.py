"""Check any builder's output against the builder contract."""
from __future__ import annotations

import torch

from .batch import DialogueBatch
from .builder import DialogueGraph, EdgeBuilder


class GraphContractError(ValueError):
    """A builder's output breaks the contract of :class:`EdgeBuilder`."""


def _edge(batch: DialogueBatch, graph: DialogueGraph, e: int) -> str:
    src, dst = (int(v) for v in graph.edge_index[:, e])
    kind = int(graph.edge_type[e])
    relation = graph.relations[kind] if 0 <= kind < len(graph.relations) else kind
    def where(node: int) -> str:
        if not 0 <= node < batch.num_nodes:
            return f"node {node}"
        return (f"node {node} (dialogue {int(batch.node_dialogue[node])}, "
                f"turn {int(batch.node_turn[node])}, "
                f"{batch.modalities[int(batch.node_modality[node])]})")
    return f"edge {e}: {where(src)} -> {where(dst)}, relation {relation!r}"


def validate(builder: EdgeBuilder, batch: DialogueBatch, name: str | None = None,
             graph: DialogueGraph | None = None) -> DialogueGraph:
    r"""Build (unless :obj:`graph` is given) and check a builder's graph.

    Checks shapes and dtypes, that relation names match
    :meth:`EdgeBuilder.relations`, node and relation bounds, no edge between
    dialogues, edges sorted by relation, no duplicate (source, target, type),
    causality when the builder declares it, and that building twice gives
    the same graph.

    Args:
        builder (EdgeBuilder): The builder under test.
        batch (DialogueBatch): The structure to build on.
        name (str, optional): The builder's registry name, for messages.
        graph (DialogueGraph, optional): An already built graph to check.

    Returns:
        The checked :class:`DialogueGraph`.

    Raises:
        GraphContractError: naming the builder and the first offending edge.
    """
    label = name or type(builder).__name__
    def fail(message: str) -> None:
        raise GraphContractError(f"edge builder {label!r}: {message}")

    check_determinism = graph is None
    if graph is None:
        graph = builder(batch)
    if not isinstance(graph, DialogueGraph):
        fail(f"returned {type(graph).__name__}, not DialogueGraph")
    edge_index, edge_type = graph.edge_index, graph.edge_type
    if not (isinstance(edge_index, torch.Tensor) and edge_index.dtype == torch.long
            and edge_index.dim() == 2 and edge_index.size(0) == 2):
        fail(f"edge_index must be a LongTensor of shape [2, E], got "
             f"{getattr(edge_index, 'dtype', type(edge_index))} "
             f"{tuple(getattr(edge_index, 'shape', ()))}")
    if not (isinstance(edge_type, torch.Tensor) and edge_type.dtype == torch.long
            and edge_type.shape == (edge_index.size(1),)):
        fail(f"edge_type must be a LongTensor of shape [{edge_index.size(1)}], "
             f"got {getattr(edge_type, 'dtype', type(edge_type))} "
             f"{tuple(getattr(edge_type, 'shape', ()))}")
    expected = tuple(builder.relations(batch.modalities))
    if graph.relations != expected:
        fail(f"relations {graph.relations} differ from relations(modalities) "
             f"{expected}")
    if len(set(expected)) != len(expected):
        fail(f"relation names repeat: {expected}")

    def first(bad: torch.Tensor, message: str) -> None:
        if bool(bad.any()):
            e = int(torch.nonzero(bad)[0])
            fail(f"{message}; first offender {_edge(batch, graph, e)}")

    first(((edge_index < 0) | (edge_index >= batch.num_nodes)).any(0),
          f"node id outside [0, {batch.num_nodes})")
    first((edge_type < 0) | (edge_type >= len(expected)),
          f"relation id outside [0, {len(expected)})")
    src, dst = edge_index
    first(batch.node_dialogue[src] != batch.node_dialogue[dst],
          "edge joins two dialogues")
    if edge_type.numel() > 1:
        unsorted = torch.zeros_like(edge_type, dtype=torch.bool)
        unsorted[1:] = edge_type[1:] < edge_type[:-1]
        first(unsorted, "edges are not sorted by relation")
    n = max(batch.num_nodes, 1)
    key = (edge_type * n + src) * n + dst
    sorted_key, order = torch.sort(key, stable=True)
    repeated = torch.zeros_like(key, dtype=torch.bool)
    repeated[order[1:]] = sorted_key[1:] == sorted_key[:-1]
    first(repeated, "duplicate (source, target, type) triple")
    if builder.causal:
        first(batch.node_turn[src] > batch.node_turn[dst],
              "builder declares itself causal but an edge carries a later "
              "turn to an earlier one")
    if check_determinism:
        again = builder(batch)
        if not (torch.equal(again.edge_index, edge_index)
                and torch.equal(again.edge_type, edge_type)):
            fail("building the same batch twice gave different edges")
    return graph
