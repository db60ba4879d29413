"""DAG-ERC's directed acyclic dialogue graph."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .batch import DialogueBatch
from .builder import EdgeBuilder
from .temporal import offset_pairs, per_modality, relation_names

DAG_KINDS = ("same", "other")


def previous_turn_of_speaker(batch: DialogueBatch, back: int) -> Tensor:
    r"""For every utterance, the batch-level id of its speaker's
    :obj:`back`-th previous utterance in the same dialogue, or :obj:`-1`
    where the speaker has spoken fewer than :obj:`back` times before.

    Args:
        batch (DialogueBatch): The batch structure.
        back (int): How many of the speaker's turns back, at least 1.

    Returns:
        LongTensor of shape :obj:`[U]`.
    """
    # Utterance ids grow with turns inside a dialogue, so a stable sort by
    # (dialogue, speaker) lists each speaker's turns in order.
    group = batch.utterance_dialogue * (int(batch.speakers.max()) + 1) + batch.speakers
    order = torch.argsort(group, stable=True)
    sorted_group = group[order]
    position = torch.arange(order.numel())
    earlier = position - back
    same = torch.zeros_like(order, dtype=torch.bool)
    valid = earlier >= 0
    same[valid] = sorted_group[earlier[valid]] == sorted_group[valid]
    previous = torch.full_like(order, -1)
    previous[order[same]] = order[earlier[same]]
    return previous


@dataclass
class DagEdges(EdgeBuilder):
    r"""DAG-ERC's rule (Shen et al., ACL 2021): each utterance receives from
    every earlier utterance of its dialogue back to, and including, its own
    speaker's previous turn, within each modality.

    With :obj:`speaker_turns` :math:`= \omega` it reaches back to the
    speaker's :math:`\omega`-th previous turn; a speaker with fewer earlier
    turns receives from the whole past. Relations, per modality: ``same``
    and ``other`` speaker. Causal; the reach back is unbounded, since a
    speaker may stay silent for any number of turns.

    Args:
        speaker_turns (int): How many of the speaker's own earlier turns
            bound the reach, at least 1. (default: :obj:`1`)
    """

    speaker_turns: int = 1

    def __post_init__(self) -> None:
        if (isinstance(self.speaker_turns, bool) or not isinstance(self.speaker_turns, int)
                or self.speaker_turns < 1):
            raise ValueError(f"speaker_turns must be a positive int, got "
                             f"{self.speaker_turns!r}")

    @property
    def causal(self) -> bool:
        return True

    def one_speaker_equivalent(self) -> str | None:
        """The speaker's previous turn is the previous turn: causal edges
        (``tests/graphs/test_monologues.py`` checks it)."""
        return (f"causal(past={self.speaker_turns}): the speaker's previous turn is "
                "the previous turn")

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return relation_names(modalities, DAG_KINDS)

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        turn = batch.utterance_turn
        previous = previous_turn_of_speaker(batch, self.speaker_turns)
        reach = torch.where(previous >= 0, batch.utterance_turn[previous.clamp(min=0)], 0)
        source, target = offset_pairs(batch, reach - turn, -1)
        other = (batch.speakers[source] != batch.speakers[target]).long()
        # Stable: the canonical (target, source) order survives in each kind.
        order = torch.argsort(other, stable=True)
        counts = torch.bincount(other, minlength=len(DAG_KINDS)).tolist()
        return per_modality(batch, list(zip(source[order].split(counts),
                                            target[order].split(counts))))
