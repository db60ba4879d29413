"""Vectorised enumeration of (source, target) utterance pairs by turn offset."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from .batch import DialogueBatch
from .builder import concat_edges


def check_window(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise ValueError(
            f"{name} must be a non-negative int or None (unbounded), "
            f"got {value!r}")


def offset_pairs(
    batch: DialogueBatch, first: int | Tensor | None, last: int | Tensor | None,
) -> tuple[Tensor, Tensor]:
    r"""Every (source, target) utterance pair of one dialogue whose turn
    offset ``turn(source) - turn(target)`` lies in ``[first, last]``.

    Args:
        batch (DialogueBatch): The batch structure.
        first (int or LongTensor, optional): Smallest offset, one for all
            targets or one per utterance (shape :obj:`[U]`); :obj:`None`
            reaches back to the dialogue's first turn.
        last (int or LongTensor, optional): Largest offset, likewise;
            :obj:`None` reaches forward to the dialogue's last turn.

    Returns:
        :obj:`(source [P], target [P])`, batch-level utterance ids, ordered
        by target and then source, which is the canonical edge order.
    """
    turn = batch.utterance_turn
    remaining = batch.lengths[batch.utterance_dialogue] - 1 - turn
    lo = -turn if first is None else torch.clamp(-turn, min=first)
    hi = remaining if last is None else torch.clamp(remaining, max=last)
    counts = (hi - lo + 1).clamp(min=0)
    target = torch.repeat_interleave(torch.arange(batch.num_utterances), counts)
    # A pair's rank inside its target's run is its offset from ``lo``.
    run_start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(target.numel()) - run_start[target]
    return target + lo[target] + rank, target


def temporal_kinds(past: int | None, future: int | None,
                   self_loops: bool) -> list[str]:
    """The temporal kinds (``past``, ``future``, ``self``) of a window, in
    relation order. A side of width 0 can hold no edge, so it gets no kind
    and the backbone carries no dead relation."""
    return ([k for k, width in (("past", past), ("future", future)) if width != 0]
            + (["self"] if self_loops else []))


def temporal_pairs(batch: DialogueBatch, past: int | None, future: int | None,
                   self_loops: bool) -> dict[str, tuple[Tensor, Tensor]]:
    """Pairs of each kind of :func:`temporal_kinds`, in its order."""
    offsets = {"past": (None if past is None else -past, -1),
               "future": (1, future),
               "self": (0, 0)}
    return {kind: offset_pairs(batch, *offsets[kind])
            for kind in temporal_kinds(past, future, self_loops)}


def per_modality(
    batch: DialogueBatch, pairs_by_kind: Sequence[tuple[Tensor, Tensor]],
) -> tuple[Tensor, Tensor]:
    r"""Repeat utterance-level pairs inside every modality.

    Relation ``m * K + k`` links node ``(m, source)`` to node ``(m, target)``
    for the pairs of kind ``k``, the layout of :func:`relation_names`.
    Edges come out sorted by relation.

    Args:
        batch (DialogueBatch): The batch structure.
        pairs_by_kind (Sequence[tuple[LongTensor, LongTensor]]): The
            :obj:`(source [P_k], target [P_k])` utterance pairs of each of
            the ``K`` kinds, in relation order.
    """
    num_kinds = len(pairs_by_kind)
    return concat_edges([
        (torch.stack([batch.node_index(m, source), batch.node_index(m, target)]),
         torch.full_like(source, m * num_kinds + k))
        for m in range(len(batch.modalities))
        for k, (source, target) in enumerate(pairs_by_kind)
    ])


def relation_names(modalities: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """``modality:kind`` for every modality, then kind: the layout that
    :func:`per_modality` writes."""
    return [f"{m}:{k}" for m in modalities for k in kinds]
