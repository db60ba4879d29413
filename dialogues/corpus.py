"""A labelled corpus of dialogues, split into train/dev/test."""
from __future__ import annotations

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
