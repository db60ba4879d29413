"""One dialogue: who said what, with which label, as feature vectors."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .errors import DataError


def local_speaker_ids(speakers: list[str]) -> list[int]:
    """Number speakers 0, 1, ... in order of first appearance.

    Local ids make dyadic and multi-party dialogues look alike to an edge
    builder: only "same speaker or not" carries meaning, never the name.
    """
    index: dict[str, int] = {}
    return [index.setdefault(name, len(index)) for name in speakers]


@dataclass(eq=False)
class Dialogue:
    r"""One dialogue of :obj:`T` utterances.

    Constructing one checks that every per-utterance field has :obj:`T`
    entries, and precomputes :attr:`speaker_ids` so that :func:`collate`
    only concatenates. Loaders check finiteness of features and turn order
    with file and line context before they build dialogues.

    Args:
        id (str): The dialogue's id, unique within its corpus.
        speakers (list[str]): Raw speaker name of every utterance,
            length :obj:`T`.
        labels (LongTensor): Label index of every utterance, shape
            :obj:`[T]`, :obj:`-1` where unknown.
        features (dict[str, FloatTensor]): Modality name to float32 features
            of shape :obj:`[T, dim]`.
        turns (list[int]): Turn numbers as given by the source, strictly
            increasing, length :obj:`T`.
        texts (list[str], optional): Transcript of every utterance, length
            :obj:`T`, or :obj:`None` where the source has no text.
        annotations (dict[str, Tensor], optional): Per-utterance values by
            name (``reply_to``, ``timestamp``...), float64 of shape
            :obj:`[T]`, NaN where missing. ``turn`` is reserved: batches
            always carry the turn numbers under that name.
        scores (Tensor, optional): The continuous score every label is
            derived from (a sentiment score in :math:`[-3, 3]`), float64 of
            shape :obj:`[T]`, NaN where unknown; :obj:`None` for a corpus
            labelled with classes only. Kept apart from :attr:`annotations`:
            it is a target, and edge builders never see it.

    Attributes:
        speaker_ids (LongTensor): Local speaker id of every utterance, shape
            :obj:`[T]`: 0, 1, ... in order of first appearance.
        turn_numbers (Tensor): :attr:`turns` as float64, shape :obj:`[T]`:
            the ``turn`` annotation batches carry.
    """

    id: str
    speakers: list[str]
    labels: Tensor
    features: dict[str, Tensor]
    turns: list[int]
    texts: list[str] | None = None
    annotations: dict[str, Tensor] = field(default_factory=dict)
    scores: Tensor | None = None
    speaker_ids: Tensor = field(init=False, repr=False)
    turn_numbers: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        length = len(self.speakers)
        where = f"dialogue {self.id!r}"
        if length == 0:
            raise DataError(f"{where} has no utterances")
        self.speakers = list(self.speakers)
        self.turns = [int(t) for t in self.turns]
        if not (isinstance(self.labels, Tensor) and self.labels.dtype == torch.long
                and self.labels.dim() == 1):
            self.labels = torch.as_tensor(self.labels, dtype=torch.long).flatten()
        if self.labels.numel() != length:
            raise DataError(f"{where}: {self.labels.numel()} labels for "
                            f"{length} utterances")
        if bool((self.labels < -1).any()):
            raise DataError(f"{where}: label indices must be >= -1 "
                            "(-1 for unknown)")
        if len(self.turns) != length:
            raise DataError(f"{where}: {len(self.turns)} turns for "
                            f"{length} utterances")
        if any(a >= b for a, b in zip(self.turns, self.turns[1:])):
            raise DataError(f"{where}: turns must strictly increase, got "
                            f"{self.turns}")
        if self.texts is not None:
            self.texts = list(self.texts)
            if len(self.texts) != length:
                raise DataError(f"{where}: {len(self.texts)} texts for "
                                f"{length} utterances")
        features = {}
        for modality, value in self.features.items():
            if not (isinstance(value, Tensor) and value.dtype == torch.float32):
                value = torch.as_tensor(value, dtype=torch.float32)
            if value.dim() != 2 or value.size(0) != length:
                raise DataError(
                    f"{where}: {modality!r} features have shape "
                    f"{list(value.shape)}, expected [{length}, dim]")
            features[modality] = value
        self.features = features
        annotations = {}
        for name, value in (self.annotations or {}).items():
            if name == "turn":
                raise DataError(f"{where}: annotation name 'turn' is reserved for the "
                                "turn numbers")
            value = torch.as_tensor(value, dtype=torch.float64)
            if value.dim() != 1 or value.numel() != length:
                raise DataError(f"{where}: annotation {name!r} has shape "
                                f"{list(value.shape)}, expected [{length}]")
            annotations[name] = value
        self.annotations = annotations
        if self.scores is not None:
            self.scores = torch.as_tensor(self.scores, dtype=torch.float64)
            if self.scores.dim() != 1 or self.scores.numel() != length:
                raise DataError(f"{where}: scores have shape "
                                f"{list(self.scores.shape)}, expected [{length}]")
        self.speaker_ids = torch.tensor(local_speaker_ids(self.speakers),
                                        dtype=torch.long)
        self.turn_numbers = torch.tensor(self.turns, dtype=torch.float64)

    def __len__(self) -> int:
        return len(self.speakers)

    def annotations_at(self, k: int) -> dict[str, float]:
        """Utterance :obj:`k`'s annotations as a streaming push takes them:
        its turn number under ``turn``, then the corpus's own."""
        return {"turn": float(self.turns[k]),
                **{name: float(values[k]) for name, values in self.annotations.items()}}

    @property
    def num_speakers(self) -> int:
        """Distinct speakers in this dialogue."""
        return int(self.speaker_ids.max()) + 1

    def select(self, keep: Tensor | None = None,
               modalities: list[str] | None = None) -> "Dialogue":
        r"""A copy restricted to some utterances and modalities.

        Feature tensors are shared, not copied, when :obj:`keep` is
        :obj:`None`.

        Args:
            keep (BoolTensor, optional): Which utterances to keep, shape
                :obj:`[T]`; all when :obj:`None`.
            modalities (list[str], optional): Which modalities to keep, in
                this order; all when :obj:`None`.
        """
        names = list(self.features) if modalities is None else list(modalities)
        if keep is None:
            return Dialogue(self.id, self.speakers, self.labels,
                            {m: self.features[m] for m in names},
                            self.turns, self.texts, self.annotations, self.scores)
        keep = torch.as_tensor(keep, dtype=torch.bool)
        rows = keep.nonzero().flatten().tolist()
        return Dialogue(
            id=self.id,
            speakers=[self.speakers[i] for i in rows],
            labels=self.labels[keep],
            features={m: self.features[m][keep] for m in names},
            turns=[self.turns[i] for i in rows],
            texts=None if self.texts is None else [self.texts[i] for i in rows],
            annotations={name: value[keep] for name, value in self.annotations.items()},
            scores=None if self.scores is None else self.scores[keep],
        )
