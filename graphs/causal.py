"""Causal, past-only temporal edges."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor

from .batch import DialogueBatch
from .builder import EdgeBuilder
from .temporal import (check_window, per_modality, relation_names,
                       temporal_kinds, temporal_pairs)


@dataclass
class CausalEdges(EdgeBuilder):
    r"""Past-only temporal window within each modality: causal by
    construction, so a model on it can run live, one utterance at a time.

    A node receives from the nodes of the same modality up to :obj:`past`
    turns earlier in its dialogue. Relations, per modality: ``past`` (unless
    :obj:`past` is 0) and, with :obj:`self_loops`, ``self``.

    Args:
        past (int, optional): Earlier turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        self_loops (bool): Link every node to itself with a ``self``
            relation. (default: :obj:`False`)
    """

    past: int | None = 4
    self_loops: bool = False

    def __post_init__(self) -> None:
        check_window("past", self.past)

    @property
    def horizon(self) -> int | None:
        return self.past

    @property
    def causal(self) -> bool:
        return True

    def _kinds(self) -> list[str]:
        return temporal_kinds(self.past, 0, self.self_loops)

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return relation_names(modalities, self._kinds())

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        pairs = temporal_pairs(batch, self.past, 0, self.self_loops)
        return per_modality(batch, list(pairs.values()))
