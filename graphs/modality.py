"""Cross-modal edges within each utterance."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .batch import DialogueBatch
from .builder import EdgeBuilder, concat_edges


@dataclass
class ModalityEdges(EdgeBuilder):
    r"""Modality-full-connect: within one utterance, every ordered pair of
    distinct modalities is linked.

    Relations: one per ordered pair, named ``{source}->{target}``, then,
    with :obj:`self_loops`, ``{modality}:self`` per modality. No edge leaves
    its utterance, so the builder is causal. With one modality and no self
    loops it has no relations.

    Args:
        self_loops (bool): Link every node to itself with a
            ``{modality}:self`` relation. (default: :obj:`False`)
    """

    self_loops: bool = False

    @property
    def horizon(self) -> int:
        return 0

    @property
    def causal(self) -> bool:
        return True

    def _pairs(self, modalities: Sequence[str]) -> list[tuple[int, int]]:
        n = len(modalities)
        return [(a, b) for a in range(n) for b in range(n) if a != b]

    def relations(self, modalities: Sequence[str]) -> list[str]:
        names = [f"{modalities[a]}->{modalities[b]}"
                 for a, b in self._pairs(modalities)]
        if self.self_loops:
            names += [f"{m}:self" for m in modalities]
        return names

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        utterance = torch.arange(batch.num_utterances)
        pairs = self._pairs(batch.modalities)
        if self.self_loops:
            pairs += [(m, m) for m in range(len(batch.modalities))]
        return concat_edges([
            (torch.stack([batch.node_index(a, utterance),
                          batch.node_index(b, utterance)]),
             torch.full_like(utterance, relation))
            for relation, (a, b) in enumerate(pairs)
        ])
