"""The contract every edge builder, built-in or plugin, is written against."""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, NamedTuple, Sequence, Union

import torch
from torch import Tensor

from .batch import DialogueBatch
from .reads import Reads


class DialogueGraph(NamedTuple):
    r"""What a builder returns for one :class:`DialogueBatch`.

    Args:
        edge_index (LongTensor): Shape :obj:`[2, E]`; row 0 holds sources,
            row 1 targets. Messages flow source → target (PyG's default).
        edge_type (LongTensor): Relation id of every edge, shape :obj:`[E]`,
            sorted ascending so that ``RGCNConv(is_sorted=True)`` is safe.
        relations (tuple[str, ...]): Relation names; ``edge_type`` indexes
            into it.
        edge_weight (Tensor, optional): A finite float weight per edge,
            shape :obj:`[E]`, that scales the edge's message in both RT-GCN
            layers; :obj:`None` for an unweighted graph (every weight 1).
    """

    edge_index: Tensor
    edge_type: Tensor
    relations: tuple[str, ...]
    edge_weight: Tensor | None = None

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)


#: What :meth:`EdgeBuilder.edges` returns: edges and relations, and
#: optionally a weight per edge.
Edges = Union[tuple[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]


class EdgeBuilder(ABC):
    r"""Base class of edge builders: a dialogue batch in, typed edges out.

    A subclass is a dataclass of its typed parameters and implements
    :meth:`relations`, :meth:`edges` and :attr:`causal`; it may override
    :meth:`reads` (structure only by default) and :attr:`horizon`
    (unbounded by default). Calling the builder hands :meth:`edges` a batch
    restricted to the declared content and sorts what it returns by
    relation (stably, and only when it is not sorted already), so
    implementations may emit edges in any order; the built-ins emit them
    sorted by (relation, target, source). The contract (checked by
    :func:`graphs.validate`):

    * the result depends only on the batch's structure and declared content;
    * no edge joins two dialogues;
    * no (source, target, type) triple repeats;
    * weights, when given, are finite floats, one per edge;
    * no edge reaches back more than :attr:`horizon` turns;
    * a causal builder never carries a later turn to an earlier one,
      ``turn(source) <= turn(target)``, and the edges into a turn (and
      their weights) never depend on the content of a later turn;
    * construction is vectorised: loops run over modalities or relation
      kinds, never over utterances or edges.
    """

    @property
    @abstractmethod
    def causal(self) -> bool:
        """Whether no edge carries information from a later turn."""

    @abstractmethod
    def relations(self, modalities: Sequence[str]) -> list[str]:
        """Ordered relation names for these modalities, known before any
        batch exists so that the backbone can be sized."""

    @abstractmethod
    def edges(self, batch: DialogueBatch) -> Edges:
        """Return :obj:`(edge_index [2, E], edge_type [E])`, or with a
        third element :obj:`edge_weight [E]`, in any order."""

    def reads(self, modalities: Sequence[str]) -> Reads:
        """The content :meth:`edges` reads for these modalities; structure
        only unless overridden."""
        return Reads()

    #: The most turns back any edge reaches, ``turn(target) - turn(source)``,
    #: or :obj:`None` for unbounded. Streaming builds each push's graph on
    #: this many past turns only, so a bound makes pushes cheap;
    #: :func:`graphs.validate` checks it against the edges. A class
    #: attribute, a dataclass field or a property.
    horizon: int | None = None

    def last_turn_edges(self, batch: DialogueBatch) -> Edges:
        """The edges into the last turn of a one-dialogue batch, with the
        same relation ids (and weights) as in :meth:`edges`: all a
        streaming push needs. By default :meth:`edges`, filtered; a builder
        whose full graph costs more than its last turn's (a kNN graph
        ranks every pair) may override it, and :func:`graphs.validate`
        checks that the two agree."""
        edges = self.edges(batch)
        length = batch.num_utterances
        keep = edges[0][1] % length == length - 1
        return tuple(part[..., keep] for part in edges)

    def __call__(self, batch: DialogueBatch) -> DialogueGraph:
        reads = self.reads(batch.modalities)
        edges = self.edges(batch.restricted(reads, f"edge builder {type(self).__name__}"))
        edge_index, edge_type = edges[0], edges[1]
        edge_weight = edges[2] if len(edges) > 2 else None
        if edge_type.numel() > 1 and bool((edge_type[1:] < edge_type[:-1]).any()):
            # Stable, so the builder's own order survives inside a relation.
            order = torch.argsort(edge_type, stable=True)
            edge_index, edge_type = edge_index[:, order], edge_type[order]
            edge_weight = None if edge_weight is None else edge_weight[order]
        return DialogueGraph(edge_index, edge_type,
                             tuple(self.relations(batch.modalities)), edge_weight)

    def one_speaker_equivalent(self) -> str | None:
        """What this builder reduces to when every dialogue has one speaker
        (a sentiment video's clips), in words for the run log, or
        :obj:`None` when it reduces to nothing simpler (the default). A
        builder whose relations tell speakers apart may say so."""
        return None

    def params(self) -> dict[str, Any]:
        """The builder's parameters, as given to the registry."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name)
                    for f in dataclasses.fields(self)}
        return {}


def empty_edges() -> tuple[Tensor, Tensor]:
    """An edge set with no edges, in the contract's dtypes."""
    return (torch.empty(2, 0, dtype=torch.long),
            torch.empty(0, dtype=torch.long))


def concat_edges(parts: Sequence[Edges]) -> Edges:
    """Concatenate :obj:`(edge_index, edge_type)` pairs, or triples with
    weights; when only some parts carry weights, the others weigh 1."""
    if not parts:
        return empty_edges()
    joined = (torch.cat([p[0] for p in parts], dim=1), torch.cat([p[1] for p in parts]))
    weights = [p[2] if len(p) > 2 else None for p in parts]
    if all(w is None for w in weights):
        return joined
    dtype = next(w.dtype for w in weights if w is not None)
    return joined + (torch.cat([w if w is not None else torch.ones(p[1].numel(), dtype=dtype)
                                for w, p in zip(weights, parts)]),)
