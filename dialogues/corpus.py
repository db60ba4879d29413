"""A labelled corpus of dialogues, split into train/dev/test."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Sequence

from .dialogue import Dialogue
from .errors import DataError


def choose_modalities(requested: Sequence[str] | None, available: Sequence[str],
                      where: str) -> list[str]:
    """The modalities to read: :obj:`requested`, in its order, or all of
    :obj:`available` when it is None.

    Raises:
        DataError: Naming :obj:`where`, when a requested modality is not
            available, or none or a repeated one is requested.
    """
    if requested is None:
        return list(available)
    requested = list(requested)
    missing = [m for m in requested if m not in available]
    if missing or not requested or len(set(requested)) != len(requested):
        raise DataError(f"{where}: no modality "
                        f"{', '.join(map(repr, missing)) or '(none or repeated)'}"
                        f"; available: {', '.join(available)}")
    return requested


@dataclass(eq=False)
class Corpus:
    r"""Dialogues of one data set with the names that give their numbers
    meaning.

    Args:
        name (str): The corpus name, e.g. :obj:`"iemocap"`.
        labels (tuple[str, ...]): Label names; label index :obj:`i` of a
            :class:`Dialogue` means :obj:`labels[i]`.
        modalities (dict[str, int]): Modality name to feature dimension, in
            the order models should see them. Every dialogue has exactly
            these modalities.
        splits (dict[str, list[Dialogue]]): Split name (usually
            :obj:`"train"`, :obj:`"dev"`, :obj:`"test"`) to its dialogues.
        metadata (dict): Everything else known about the data: ``format``,
            ``path``, ``source``, ``licence``, ``encoder`` (the sentence
            encoder of the text features, when known), ``label_view``...
    """

    name: str
    labels: tuple[str, ...]
    modalities: dict[str, int]
    splits: dict[str, list[Dialogue]]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.modalities = dict(self.modalities)

    def split(self, name: str) -> list[Dialogue]:
        """The dialogues of one split.

        Raises:
            DataError: The split is unknown or has no dialogues.
        """
        dialogues = self.splits.get(name)
        if not dialogues:
            known = ", ".join(f"{k} ({len(v)} dialogues)"
                              for k, v in self.splits.items()) or "none"
            state = "no dialogues in" if name in self.splits else "no"
            raise DataError(f"corpus {self.name!r} has {state} split {name!r}; "
                            f"splits: {known}")
        return dialogues

    def find_dialogue(self, dialogue_id: str | None = None,
                      split: str | None = None) -> Dialogue:
        """A dialogue by id, or the default one.

        Args:
            dialogue_id (str, optional): The dialogue's id (default: the
                first dialogue of ``test``, else of the first non-empty
                split searched).
            split (str, optional): The only split searched (default: every
                split).

        Raises:
            DataError: No such split or dialogue; names close ids.
        """
        if split is not None:
            if not self.splits.get(split):
                known = ", ".join(f"{k} ({len(v)})" for k, v in self.splits.items())
                raise DataError(f"split={split!r}: the corpus has no dialogues "
                                f"there; splits: {known or 'none'}")
            searched = {split: self.splits[split]}
        else:
            searched = {k: v for k, v in self.splits.items() if v}
        if not searched:
            raise DataError("the corpus has no dialogues")
        if dialogue_id is None:
            default = "test" if "test" in searched else next(iter(searched))
            return searched[default][0]
        for dialogues in searched.values():
            for dialogue in dialogues:
                if dialogue.id == dialogue_id:
                    return dialogue
        ids = [d.id for ds in searched.values() for d in ds]
        where = f"split {split!r}" if split else "the corpus"
        message = (f"dialogue={dialogue_id!r}: no such dialogue in {where} "
                   f"({len(ids)} dialogues, e.g. {', '.join(ids[:5])})")
        close = difflib.get_close_matches(dialogue_id, ids, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        raise DataError(message)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def max_speakers(self) -> int:
        """The most distinct speakers in any one dialogue."""
        return max((d.num_speakers for ds in self.splits.values() for d in ds),
                   default=0)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (f"{type(self).__name__}({self.name!r}, labels={len(self.labels)}, "
                f"modalities={self.modalities}, {sizes})")
