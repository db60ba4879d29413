"""Speaker-aware temporal edges."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .batch import DialogueBatch
from .builder import EdgeBuilder
from .temporal import per_modality, relation_names
from .temporal_window import TemporalWindow


@dataclass
class SpeakerEdges(TemporalWindow, EdgeBuilder):
    r"""Temporal window within each modality whose relations say who spoke.

    A node receives from the nodes of the same modality up to :obj:`past`
    turns earlier and :obj:`future` turns later, like
    :class:`WindowEdges`, but each edge's relation also records the
    speakers. By default the relations are, per modality,
    {``same``, ``other``} speaker × {``past``, ``future``}, which works for
    any number of speakers per dialogue. With ``future=0`` the builder is
    causal and has no ``future`` relations (likewise for ``past=0``).

    With :obj:`pairwise`, the relation is DialogueGCN's: one per (source
    speaker, target speaker, direction), named ``s{i}->s{j}:{direction}``.
    Speaker ids must then be below :obj:`num_speakers`, which fixes the
    relation count before any batch is seen; use it for corpora with few
    speakers per dialogue.

    Args:
        past (int, optional): Earlier turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        future (int, optional): Later turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        self_loops (bool): Link every node to itself with a ``self``
            relation. (default: :obj:`False`)
        pairwise (bool): One relation per ordered speaker pair and
            direction. (default: :obj:`False`)
        num_speakers (int): Speakers per dialogue that :obj:`pairwise`
            relations are made for. (default: :obj:`2`)
    """

    past: int | None = 4
    future: int | None = 4
    self_loops: bool = False
    pairwise: bool = False
    num_speakers: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_speakers < 1:
            raise ValueError(f"num_speakers must be at least 1, got {self.num_speakers}")

    def one_speaker_equivalent(self) -> str | None:
        """Every edge is a same-speaker edge: the window of the same reach
        (``tests/graphs/test_monologues.py`` checks it)."""
        return (f"window(past={self.past}, future={self.future}, "
                f"self_loops={self.self_loops}): every edge is a same-speaker edge "
                "and the other-speaker relations stay empty")

    def _directions(self) -> list[str]:
        return self.window_kinds(self_loops=False)

    def _speaker_kinds(self) -> list[str]:
        if self.pairwise:
            s = range(self.num_speakers)
            return [f"s{i}->s{j}" for i in s for j in s]
        return ["same", "other"]

    def _kinds(self) -> list[str]:
        return ([f"{who}:{d}" for d in self._directions()
                 for who in self._speaker_kinds()]
                + (["self"] if self.self_loops else []))

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return relation_names(modalities, self._kinds())

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        if self.pairwise and bool((batch.speakers >= self.num_speakers).any()):
            u = int(torch.nonzero(batch.speakers >= self.num_speakers)[0])
            raise ValueError(
                f"speaker edges were sized for num_speakers={self.num_speakers}, "
                f"but dialogue {int(batch.utterance_dialogue[u])} of the batch has "
                f"speaker id {int(batch.speakers[u])}; raise num_speakers")
        pairs = self.window_pairs(batch, self.self_loops)
        num_who = len(self._speaker_kinds())
        by_kind = []
        for direction in self._directions():
            source, target = pairs[direction]
            src_spk, dst_spk = batch.speakers[source], batch.speakers[target]
            who = (src_spk * self.num_speakers + dst_spk if self.pairwise
                   else (src_spk != dst_spk).long())
            # A stable sort groups pairs by speaker relation and keeps the
            # canonical (target, source) order inside each group.
            order = torch.argsort(who, stable=True)
            counts = torch.bincount(who, minlength=num_who).tolist()
            by_kind += zip(source[order].split(counts), target[order].split(counts))
        if self.self_loops:
            by_kind.append(pairs["self"])
        return per_modality(batch, by_kind)
