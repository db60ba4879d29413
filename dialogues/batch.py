"""Packing dialogues into :class:`graphs.DialogueBatch` es for a model."""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import Tensor

from graphs import DialogueBatch

from .dialogue import Dialogue
from .errors import DataError


def structure_of(dialogues: Sequence[Dialogue], modalities: Sequence[str]) -> DialogueBatch:
    r"""What a structure-only edge builder sees of :obj:`dialogues` packed
    in order: their lengths, local speaker ids and annotations, without
    collating any features or targets. Annotation ``turn`` holds the
    source's turn numbers; an annotation that only some dialogues have is
    NaN in the others.

    Args:
        dialogues (Sequence[Dialogue]): At least one dialogue.
        modalities (Sequence[str]): The modalities the graph spans.
    """
    return DialogueBatch(lengths=[len(d) for d in dialogues],
                         speakers=torch.cat([d.speaker_ids for d in dialogues]),
                         modalities=tuple(modalities), annotations=_annotations(dialogues))


def _annotations(dialogues: Sequence[Dialogue]) -> dict[str, Tensor]:
    """``turn`` and every annotation of any dialogue, packed; NaN in the
    dialogues without it."""
    names = sorted({name for d in dialogues for name in d.annotations})
    annotations = {"turn": torch.cat([d.turn_numbers for d in dialogues])}
    for name in names:
        annotations[name] = torch.cat([
            d.annotations[name] if name in d.annotations
            else torch.full((len(d),), float("nan"), dtype=torch.float64)
            for d in dialogues])
    return annotations


def collate(dialogues: Sequence[Dialogue], modalities: Sequence[str]) -> DialogueBatch:
    r"""Pack dialogues into one :class:`graphs.DialogueBatch`, utterances
    dialogue-major: all of dialogue 0's turns, then dialogue 1's, and so on.

    Args:
        dialogues (Sequence[Dialogue]): At least one dialogue.
        modalities (Sequence[str]): Modalities to pack, in this order; every
            dialogue must have them.

    Returns:
        DialogueBatch: The structure and annotations of :func:`structure_of`,
        features :obj:`[U, dim]` per modality, labels :obj:`[U]`, scores
        :obj:`[U]` (or :obj:`None`) and dialogue ids, where
        :obj:`U = sum(len(d) for d in dialogues)`.
    """
    modalities = tuple(modalities)
    if not dialogues:
        raise DataError("collate needs at least one dialogue")
    if not modalities:
        raise DataError("collate needs at least one modality")
    for dialogue in dialogues:
        for modality in modalities:
            if modality not in dialogue.features:
                raise DataError(
                    f"dialogue {dialogue.id!r} has no {modality!r} features; "
                    f"it has {sorted(dialogue.features)}")
    return DialogueBatch(
        [len(d) for d in dialogues], torch.cat([d.speaker_ids for d in dialogues]),
        modalities,
        features={m: torch.cat([d.features[m] for d in dialogues]) for m in modalities},
        annotations=_annotations(dialogues),
        labels=torch.cat([d.labels for d in dialogues]),
        scores=_scores(dialogues),
        dialogue_ids=[d.id for d in dialogues],
    )


def _scores(dialogues: Sequence[Dialogue]) -> Tensor | None:
    """The dialogues' scores packed, NaN for a dialogue without; None when
    none has any, so that class-only corpora batch as before."""
    if all(d.scores is None for d in dialogues):
        return None
    return torch.cat([d.scores if d.scores is not None
                      else torch.full((len(d),), float("nan"), dtype=torch.float64)
                      for d in dialogues])


def batches(dialogues: Sequence[Dialogue], modalities: Sequence[str],
            batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[DialogueBatch]:
    r"""Iterate over :func:`collate` d batches of up to :obj:`batch_size`
    dialogues.

    Every dialogue lands in exactly one batch; only the last batch may be
    smaller.

    Args:
        dialogues (Sequence[Dialogue]): The dialogues, e.g. a corpus split.
        modalities (Sequence[str]): Modalities to pack, in this order.
        batch_size (int): Dialogues per batch, at least 1.
        shuffle (bool): Visit dialogues in a random order drawn from
            :obj:`generator`; otherwise in the given order.
            (default: :obj:`False`)
        generator (torch.Generator, optional): Source of the shuffle, for
            reproducible epochs. (default: :obj:`None`, torch's global one)
    """
    # Checked here, not in the generator, so a bad call fails where it is made.
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if shuffle:
        order = torch.randperm(len(dialogues), generator=generator).tolist()
    else:
        order = list(range(len(dialogues)))
    return _batches(dialogues, tuple(modalities), batch_size, order)


def _batches(dialogues: Sequence[Dialogue], modalities: tuple[str, ...],
             batch_size: int, order: list[int]) -> Iterator[DialogueBatch]:
    for start in range(0, len(order), batch_size):
        yield collate([dialogues[i] for i in order[start:start + batch_size]],
                      modalities)
