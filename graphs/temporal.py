"""Vectorised enumeration of (source, target) utterance pairs in a window."""
from __future__ import annotations

import torch
from torch import Tensor

from .batch import DialogueBatch


def check_window(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0):
        raise ValueError(
            f"{name} must be a non-negative int or None (unbounded), "
            f"got {value!r}")


def window_pairs(
    batch: DialogueBatch, past: int | None, future: int | None,
) -> tuple[Tensor, Tensor]:
    r"""Every (source, target) utterance pair of a dialogue with
    ``turn(target) - past <= turn(source) <= turn(target) + future``.

    The pair with source == target is included; callers route it to a self
    relation or drop it. ``None`` means unbounded on that side.

    Args:
        batch (DialogueBatch): The batch structure.
        past (int, optional): How many earlier turns a target receives from.
        future (int, optional): How many later turns a target receives from.

    Returns:
        :obj:`(source [P], target [P])`, batch-level utterance ids, grouped by
        target and ascending in source within each target.
    """
    turn = batch.utterance_turn
    length = batch.lengths[batch.utterance_dialogue]
    first = batch.ptr[batch.utterance_dialogue]
    lo = turn if past is None else turn.clamp(max=past)
    hi = length - 1 - turn if future is None else (length - 1 - turn).clamp(max=future)
    counts = lo + hi + 1
    target = torch.repeat_interleave(torch.arange(batch.num_utterances), counts)
    # Position of each pair inside its target's run gives the source offset.
    run_start = torch.cumsum(counts, 0) - counts
    within = torch.arange(target.numel()) - run_start[target]
    source = first[target] + turn[target] - lo[target] + within
    return source, target


def per_modality(
    batch: DialogueBatch, source: Tensor, target: Tensor, kind: Tensor,
    num_kinds: int,
) -> tuple[Tensor, Tensor]:
    r"""Repeat utterance-level pairs inside every modality.

    Relation ``m * num_kinds + kind`` of modality ``m`` links node
    ``(m, source)`` to node ``(m, target)``, which is the relation layout of
    :meth:`relation_names`.

    Args:
        batch (DialogueBatch): The batch structure.
        source (LongTensor): Source utterances, shape :obj:`[P]`.
        target (LongTensor): Target utterances, shape :obj:`[P]`.
        kind (LongTensor): Relation kind of every pair, shape :obj:`[P]`.
        num_kinds (int): Relation kinds per modality.
    """
    num_modalities = len(batch.modalities)
    shift = torch.arange(num_modalities).unsqueeze(1)
    edge_index = torch.stack([
        (source + shift * batch.num_utterances).flatten(),
        (target + shift * batch.num_utterances).flatten(),
    ])
    edge_type = (kind + shift * num_kinds).flatten()
    return edge_index, edge_type


def relation_names(modalities, kinds: list[str]) -> list[str]:
    """``modality:kind`` for every modality, then kind: the layout that
    :func:`per_modality` writes."""
    return [f"{m}:{k}" for m in modalities for k in kinds]


def temporal_kinds(past: int | None, future: int | None,
                   self_loops: bool) -> list[str]:
    """Relation kinds of a temporal window. A side of width 0 can hold no
    edge, so it gets no relation and the backbone carries no dead weights."""
    return ([k for k, width in (("past", past), ("future", future)) if width != 0]
            + (["self"] if self_loops else []))


def kind_of_pairs(source: Tensor, target: Tensor, kinds: list[str]) -> Tensor:
    """Index into :obj:`kinds` of every pair, from the sign of its offset."""
    lookup = torch.tensor([kinds.index(k) if k in kinds else -1
                           for k in ("past", "self", "future")])
    return lookup[torch.sign(source - target) + 1]
