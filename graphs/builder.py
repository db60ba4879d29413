"""The contract every edge builder, built-in or plugin, is written against."""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, NamedTuple, Sequence

import torch
from torch import Tensor

from .batch import DialogueBatch


class DialogueGraph(NamedTuple):
    r"""What a builder returns for one :class:`DialogueBatch`.

    Args:
        edge_index (LongTensor): Shape :obj:`[2, E]`; row 0 holds sources,
            row 1 targets. Messages flow source → target (PyG's default).
        edge_type (LongTensor): Relation id of every edge, shape :obj:`[E]`,
            sorted ascending so that ``RGCNConv(is_sorted=True)`` is safe.
        relations (tuple[str, ...]): Relation names; ``edge_type`` indexes
            into it.
    """

    edge_index: Tensor
    edge_type: Tensor
    relations: tuple[str, ...]

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)


class EdgeBuilder(ABC):
    r"""Base class of edge builders: structure in, typed edges out.

    A subclass is a dataclass of its typed parameters and implements
    :meth:`relations`, :meth:`edges` and :attr:`causal`. Calling the builder
    sorts what :meth:`edges` returns by relation (stably, and only when it is
    not sorted already), so implementations may emit edges in any order;
    the built-ins emit them sorted by (relation, target, source). The contract (checked by :func:`graphs.validate`):

    * the result depends only on the :class:`DialogueBatch`;
    * no edge joins two dialogues;
    * no (source, target, type) triple repeats;
    * a causal builder never carries a later turn to an earlier one,
      ``turn(source) <= turn(target)``;
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
    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        """Return :obj:`(edge_index [2, E], edge_type [E])` in any order."""

    def __call__(self, batch: DialogueBatch) -> DialogueGraph:
        edge_index, edge_type = self.edges(batch)
        if edge_type.numel() > 1 and bool((edge_type[1:] < edge_type[:-1]).any()):
            # Stable, so the builder's own order survives inside a relation.
            order = torch.argsort(edge_type, stable=True)
            edge_index, edge_type = edge_index[:, order], edge_type[order]
        return DialogueGraph(edge_index, edge_type,
                             tuple(self.relations(batch.modalities)))

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


def concat_edges(parts: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """Concatenate :obj:`(edge_index, edge_type)` pairs."""
    if not parts:
        return empty_edges()
    return (torch.cat([p[0] for p in parts], dim=1),
            torch.cat([p[1] for p in parts]))
