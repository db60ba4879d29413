"""One live dialogue's state, and the turn that advances it."""
from __future__ import annotations

from typing import Hashable, Mapping, NamedTuple

from torch import Tensor

from .history import History


class Push(NamedTuple):
    r"""The next utterance of one live dialogue, as
    :meth:`~models.CORECT.step` takes it. Inputs are trusted here (the live
    layer, :mod:`models.live`, checks them).

    Args:
        features (Mapping[str, Tensor]): :obj:`[1, F_m]` per modality.
        speaker (int): The utterance's local speaker id.
        annotations (Mapping[str, float]): The values of the annotations the
            builder reads; ``turn`` defaults to the utterance's position.
            (default: none)
    """

    features: Mapping[str, Tensor]
    speaker: int
    annotations: Mapping[str, float] = {}


class DialogueState:
    r"""Everything one live dialogue carries between two
    :meth:`~models.CORECT.step` calls; the model itself holds none of it, so
    one model steps any number of dialogues.

    Attributes:
        history (History): Per-turn caches of every layer: attention
            keys/values, GRU states, RT-GCN's node inputs and ``RGCNConv``
            outputs, and the content the graph's builder reads.
        speakers (list[int]): The local speaker id of every turn.
        last_turn (dict[int, int]): Each speaker's latest turn, where their
            speaker-GRU state resumes.
        speaker_ids (dict[Hashable, int]): The live layer's speaker names
            and the local ids they were given, in order of first appearance.
    """

    def __init__(self) -> None:
        self.history = History()
        self.speakers: list[int] = []
        self.last_turn: dict[int, int] = {}
        self.speaker_ids: dict[Hashable, int] = {}

    @property
    def length(self) -> int:
        """Utterances of the dialogue so far."""
        return self.history.length

    def commit(self, speaker: int) -> None:
        """Make the turn a step has just written part of the dialogue.

        Args:
            speaker (int): Its local speaker id.
        """
        self.history.commit()
        self.last_turn[speaker] = len(self.speakers)
        self.speakers.append(speaker)

    def clear(self) -> None:
        """Forget every turn and speaker: a new dialogue."""
        self.history.clear()
        self.speakers = []
        self.last_turn = {}
        self.speaker_ids = {}

    def nbytes(self) -> int:
        """Bytes held by the caches (their allocated buffers, which double
        as they fill)."""
        return sum(t.element_size() * t.nelement() for t in self.history.rows.values())
