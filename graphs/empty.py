"""The empty graph: the encoder + classifier baseline."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from torch import Tensor

from .batch import DialogueBatch
from .builder import EdgeBuilder, empty_edges


@dataclass
class NoEdges(EdgeBuilder):
    r"""No edges and no relations. With it the backbone skips the graph
    layers and is the encoder + classifier baseline (``graph=none``)."""

    @property
    def horizon(self) -> int:
        return 0

    @property
    def causal(self) -> bool:
        return True

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return []

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        return empty_edges()
