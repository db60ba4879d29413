r"""One dialogue of a :class:`DialogueGraph` as a :class:`networkx.MultiDiGraph`,
and back.

>>> G = to_networkx(graph, batch, dialogue=0, labels=["neu", "hap"])
>>> from_networkx(G)            # the same edges, types and relation names

**Node keys are local ids.** Node ``m * T + t`` is modality ``m`` of turn
``t`` of the dialogue (``T`` turns): the :class:`DialogueBatch` layout of a
batch holding only this dialogue. So for a one-dialogue batch the keys are
the batch node ids, and :func:`from_networkx` returns exactly the tensors it
was given; for a larger batch it returns the dialogue's graph as if the
dialogue had been batched alone. The batch node id is kept in the node
attribute ``batch_node``.

**Edge keys are relation names**, which the contract makes unique per
(source, target) pair; the edge attribute ``order`` is the edge's position
in the dialogue's edge list, so the round trip keeps the builder's order.

GraphML (:func:`write_graphml`) keeps everything :func:`from_networkx`
needs, graph attributes included (as JSON strings). GEXF is for Gephi:
networkx's GEXF writer drops graph attributes, so relations without an edge
in the dialogue are lost there.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import networkx as nx
import torch

from graphs.batch import DialogueBatch
from graphs.builder import DialogueGraph, empty_edges
from storage.atomic import write_atomic

#: Marks a list or dict attribute stored as a JSON string in a file.
_JSON_PREFIX = "json:"


def _per_turn(values: Sequence[Any] | None, length: int, what: str) -> list | None:
    if values is None:
        return None
    values = list(values)
    if len(values) != length:
        raise ValueError(f"got {len(values)} {what} for a dialogue of "
                         f"{length} turns")
    return values


def to_networkx(
    graph: DialogueGraph,
    batch: DialogueBatch,
    dialogue: int = 0,
    labels: Sequence[str | None] | None = None,
    texts: Sequence[str | None] | None = None,
    speakers: Sequence[str] | None = None,
    **graph_attrs: Any,
) -> nx.MultiDiGraph:
    r"""The graph of one dialogue of :obj:`batch` as a networkx multigraph.

    Args:
        graph (DialogueGraph): A builder's output for :obj:`batch`.
        batch (DialogueBatch): The batch structure, ``N`` nodes.
        dialogue (int): Which dialogue of the batch. (default: :obj:`0`)
        labels (Sequence[str or None], optional): Label name of each of the
            dialogue's :obj:`T` utterances, :obj:`None` where unknown.
        texts (Sequence[str or None], optional): Transcript of each
            utterance, length :obj:`T`.
        speakers (Sequence[str], optional): Raw speaker name of each
            utterance, length :obj:`T`; otherwise speakers are named
            ``s0, s1, ...`` after their local ids.
        **graph_attrs: Extra graph attributes, e.g. ``builder="window"``,
            ``params={...}``, ``causal=False``, ``dialogue_id="Ses05F"``.

    Returns:
        networkx.MultiDiGraph: :obj:`M * T` nodes keyed by local id (see the
        module docstring) with attributes ``dialogue`` (index in the batch),
        ``turn``, ``speaker``, ``speaker_id``, ``modality``,
        ``modality_id``, ``batch_node`` and, where known, ``label`` and
        ``text``; one edge per edge of the dialogue, keyed by relation name,
        with attributes ``relation``, ``relation_id``, ``order`` and, for a
        weighted graph, ``weight`` (networkx's and Gephi's name); graph
        attributes ``relations``, ``modalities``, ``num_turns``,
        ``dialogue`` and :obj:`graph_attrs`.
    """
    if not 0 <= dialogue < batch.num_dialogues:
        raise IndexError(f"dialogue {dialogue} is out of range for a batch of "
                         f"{batch.num_dialogues} dialogues")
    length = int(batch.lengths[dialogue])
    labels = _per_turn(labels, length, "labels")
    texts = _per_turn(texts, length, "texts")
    speakers = _per_turn(speakers, length, "speaker names")

    # Batch node ids of the dialogue; the batch's modality-major order is
    # the local order.
    nodes = torch.nonzero(batch.node_dialogue == dialogue).flatten()
    local = torch.full((batch.num_nodes,), -1, dtype=torch.long)
    local[nodes] = torch.arange(nodes.numel())

    # No edge joins two dialogues, so the target decides membership.
    edge_index, edge_type = graph.edge_index, graph.edge_type
    mine = batch.node_dialogue[edge_index[1]] == dialogue
    src, dst = local[edge_index[0, mine]], local[edge_index[1, mine]]
    kind = edge_type[mine]
    weights = (graph.edge_weight[mine].tolist() if graph.edge_weight is not None
               else [None] * int(mine.sum()))
    if bool((src < 0).any()):
        raise ValueError(f"an edge joins dialogue {dialogue} to another "
                         "dialogue; the graph breaks the builder contract")

    G = nx.MultiDiGraph()
    G.graph.update(relations=list(graph.relations),
                   modalities=list(batch.modalities),
                   num_turns=length, dialogue=dialogue)
    G.graph.update(graph_attrs)
    node_rows = []
    for key, (node, t, s, m) in enumerate(zip(
            nodes.tolist(), batch.node_turn[nodes].tolist(),
            batch.node_speaker[nodes].tolist(),
            batch.node_modality[nodes].tolist())):
        attrs = {"dialogue": dialogue, "turn": t,
                 "speaker": speakers[t] if speakers is not None else f"s{s}",
                 "speaker_id": s, "modality": batch.modalities[m],
                 "modality_id": m, "batch_node": node}
        if labels is not None and labels[t] is not None:
            attrs["label"] = labels[t]
        if texts is not None and texts[t] is not None:
            attrs["text"] = texts[t]
        node_rows.append((key, attrs))
    G.add_nodes_from(node_rows)
    names = graph.relations
    G.add_edges_from(
        (s, d, names[k], {"relation": names[k], "relation_id": k, "order": i,
                          **({} if w is None else {"weight": w})})
        for i, (s, d, k, w) in enumerate(zip(src.tolist(), dst.tolist(),
                                             kind.tolist(), weights)))
    return G


def graph_attribute(G: nx.MultiDiGraph, name: str) -> Any:
    """Graph-level attribute :obj:`name` of a graph made by :func:`to_networkx`,
    decoded from the JSON that GraphML and GEXF files carry it in."""
    value = G.graph.get(name)
    if isinstance(value, str) and value.startswith(_JSON_PREFIX):
        return json.loads(value[len(_JSON_PREFIX):])
    return value


def from_networkx(G: nx.MultiDiGraph) -> DialogueGraph:
    r"""The :class:`DialogueGraph` of a graph made by :func:`to_networkx`,
    also after a GraphML round trip (string node keys, JSON attributes).

    Args:
        G (networkx.MultiDiGraph): Nodes keyed ``0 ... N-1`` (or their
            strings); edges with a ``relation_id`` attribute; graph
            attribute ``relations``.

    Returns:
        DialogueGraph: :obj:`edge_index [2, E]` over the local node ids,
        :obj:`edge_type [E]`, the relation names and, when every edge has
        a ``weight``, :obj:`edge_weight [E]`. Edges come in their
        ``order`` attribute's order when every edge has one, else sorted by
        (relation, target, source), the built-ins' canonical order.
    """
    relations = graph_attribute(G, "relations")
    if relations is None:
        raise ValueError("the graph has no 'relations' attribute; was it made "
                         "by viewing.networkx.to_networkx?")
    relations = tuple(relations)
    try:
        keys = sorted(int(node) for node in G.nodes)
    except (TypeError, ValueError):
        raise ValueError("node keys must be integer ids 0 ... N-1") from None
    if keys != list(range(len(keys))):
        raise ValueError(f"node keys must be 0 ... {len(keys) - 1}")

    rows = []
    for s, d, data in G.edges(data=True):
        kind = int(data["relation_id"])
        if not 0 <= kind < len(relations):
            raise ValueError(f"edge {s}->{d} has relation_id {kind}, but the "
                             f"graph has {len(relations)} relations")
        order = data.get("order")
        rows.append((kind, int(d), int(s), None if order is None else int(order),
                     data.get("weight")))
    if rows and all(row[3] is not None for row in rows):
        rows.sort(key=lambda row: row[3])
    else:
        rows.sort(key=lambda row: row[:3])
    if not rows:
        return DialogueGraph(*empty_edges(), relations)
    table = torch.tensor([row[:3] for row in rows], dtype=torch.long)
    if bool((table[1:, 0] < table[:-1, 0]).any()):
        raise ValueError("the edges' order attributes do not sort them by "
                         "relation, as the builder contract requires")
    weighted = all(row[4] is not None for row in rows)
    return DialogueGraph(torch.stack([table[:, 2], table[:, 1]]),
                         table[:, 0].contiguous(), relations,
                         torch.tensor([float(row[4]) for row in rows]) if weighted else None)


def _portable(value: Any) -> Any:
    """A value networkx's GraphML/GEXF writers accept: scalars pass, lists
    and dicts become prefixed JSON, :obj:`None` is dropped."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return _JSON_PREFIX + json.dumps(value, default=str)


def _file_ready(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    H = nx.MultiDiGraph()
    H.graph.update({k: _portable(v) for k, v in G.graph.items() if v is not None})
    H.add_nodes_from((n, {k: _portable(v) for k, v in data.items() if v is not None})
                     for n, data in G.nodes(data=True))
    H.add_edges_from((s, d, key, {k: _portable(v) for k, v in data.items()
                                  if v is not None})
                     for s, d, key, data in G.edges(keys=True, data=True))
    return H


def write_graphml(G: nx.MultiDiGraph, path: str | os.PathLike) -> Path:
    r"""Write :obj:`G` as GraphML, atomically (a temporary file renamed into
    place). Lists and dicts become strings ``json:...``, :obj:`None` values
    are left out; :func:`from_networkx` reads the result back losslessly.

    Args:
        G (networkx.MultiDiGraph): A graph from :func:`to_networkx`.
        path (str or PathLike): Where to write.
    """
    H = _file_ready(G)
    return write_atomic(path, lambda tmp: nx.write_graphml(H, tmp))


def write_gexf(G: nx.MultiDiGraph, path: str | os.PathLike) -> Path:
    r"""Write :obj:`G` as GEXF for Gephi, atomically.

    GEXF reserves a node's ``label`` for its display name, so the emotion
    label is stored as ``emotion`` and nodes are labelled
    ``{modality}:{turn}``; edges are labelled with their relation. Graph
    attributes are reduced to the GEXF graph name.

    Args:
        G (networkx.MultiDiGraph): A graph from :func:`to_networkx`.
        path (str or PathLike): Where to write.
    """
    H = _file_ready(G)
    for _, data in H.nodes(data=True):
        if "label" in data:
            data["emotion"] = data.pop("label")
        if "modality" in data and "turn" in data:
            data["label"] = f"{data['modality']}:{data['turn']}"
    for _, _, data in H.edges(data=True):
        if "relation" in data:
            data["label"] = data["relation"]
    name = " ".join(str(G.graph[k]) for k in ("builder", "dialogue_id")
                    if G.graph.get(k) is not None)
    H.graph = {"name": name} if name else {}
    return write_atomic(path, lambda tmp: nx.write_gexf(H, tmp))
