"""A batch of dialogues: structure, content and, for training, labels."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Mapping, Sequence

import torch
from torch import Tensor

from .errors import UndeclaredReadError
from .reads import Reads


class DeclaredContent(dict):
    """One kind of a builder's content (features, states or annotations),
    holding only what it declared: reading anything else is refused with
    the builder's contract error, naming the read and the declaration,
    where a plain dict would raise a bare ``KeyError``.

    Args:
        kind (str): ``features``, ``states`` or ``annotations``.
        reader (str): Who reads, for messages.
        content (Mapping[str, Tensor]): The declared content.
    """

    def __init__(self, kind: str, reader: str, content: Mapping[str, Tensor]) -> None:
        super().__init__(content)
        self.kind = kind
        self.reader = reader

    def __missing__(self, name: str) -> Tensor:
        raise UndeclaredReadError(
            f"reads {self.kind} {name!r}, which its reads() does not declare (it declares "
            f"{self.kind} {sorted(self) or 'none'}); add it to reads()", self.reader)


@dataclass(frozen=True, eq=False)
class DialogueBatch:
    r"""A batch of dialogues: lengths, speakers, modalities, per-utterance
    content and, when it comes from a labelled corpus, the targets. The one
    batch type: :func:`dialogues.collate` packs it, the model runs on it,
    and an edge builder sees a :meth:`restricted` copy of it.

    **Structure** (always there): who spoke when in which modalities.

    **Content** (optional, utterance-aligned, never labels): input
    :obj:`features` and encoder :obj:`states` per modality, and
    :obj:`annotations`, extra per-utterance values such as ``reply_to``.
    Loaders always provide the annotation ``turn``, the source's turn
    numbers. A builder only receives the content its
    :meth:`~graphs.EdgeBuilder.reads` declares (see :meth:`restricted`).

    **Targets** (optional, what the model is trained and scored on): the
    :obj:`labels`, :obj:`scores` and :obj:`dialogue_ids`. No builder ever
    sees them: :meth:`restricted` drops them.

    **Node order.** The node set is (modality × utterance), modality-major:
    node ``m * U + u`` is modality ``modalities[m]`` of utterance ``u``, where
    ``U`` is the number of utterances in the batch and utterances are numbered
    dialogue by dialogue, turn by turn. This is the order CORECT packs its
    nodes in, and it lets the model go from per-modality ``[U, H]`` matrices to
    nodes with one ``torch.cat``. Use the ``node_*`` tensors instead of
    computing offsets by hand.

    Args:
        lengths (Sequence[int] or LongTensor): Utterances per dialogue,
            shape :obj:`[B]`, each at least 1.
        speakers (LongTensor): Speaker id of every utterance, shape
            :obj:`[U]`, dialogue-major. Ids are local to a dialogue
            (0, 1, ... in order of first appearance), but any non-negative
            ids are accepted.
        modalities (Sequence[str]): The modalities present, a non-empty
            tuple of distinct names such as :obj:`("text", "audio")`.
        features (Mapping[str, Tensor], optional): Input features
            :obj:`[U, F_m]` of some modalities.
        states (Mapping[str, Tensor], optional): Encoder states
            :obj:`[U, H]` of some modalities.
        annotations (Mapping[str, Tensor], optional): Per-utterance values
            :obj:`[U]` by name; float64 with NaN where a value is missing.
        labels (LongTensor, optional): Label of every utterance, shape
            :obj:`[U]`, :obj:`-1` where unknown.
        scores (Tensor, optional): The score behind every label, float64 of
            shape :obj:`[U]`, NaN where unknown; :obj:`None` when no
            dialogue has scores.
        dialogue_ids (Sequence[str], optional): Id of every dialogue,
            length :obj:`B`.

    Every tensor lives on one device: that of :obj:`lengths` when it is a
    tensor, else that of :obj:`speakers` when it is one, else the default
    device. :meth:`to` moves them all.
    """

    lengths: Tensor
    speakers: Tensor
    modalities: tuple[str, ...]
    features: dict[str, Tensor] = field(default_factory=dict)
    states: dict[str, Tensor] = field(default_factory=dict)
    annotations: dict[str, Tensor] = field(default_factory=dict)
    labels: Tensor | None = None
    scores: Tensor | None = None
    dialogue_ids: tuple[str, ...] | None = None
    ptr: Tensor = field(init=False, repr=False)
    utterance_dialogue: Tensor = field(init=False, repr=False)
    utterance_turn: Tensor = field(init=False, repr=False)
    node_dialogue: Tensor = field(init=False, repr=False)
    node_turn: Tensor = field(init=False, repr=False)
    node_speaker: Tensor = field(init=False, repr=False)
    node_modality: Tensor = field(init=False, repr=False)
    node_utterance: Tensor = field(init=False, repr=False)

    def __init__(
        self,
        lengths: Sequence[int] | Tensor,
        speakers: Sequence[int] | Tensor,
        modalities: Sequence[str],
        *,
        features: Mapping[str, Tensor] | None = None,
        states: Mapping[str, Tensor] | None = None,
        annotations: Mapping[str, Tensor] | None = None,
        labels: Tensor | None = None,
        scores: Tensor | None = None,
        dialogue_ids: Sequence[str] | None = None,
    ) -> None:
        device = (lengths.device if isinstance(lengths, Tensor)
                  else speakers.device if isinstance(speakers, Tensor) else None)
        lengths = torch.as_tensor(lengths, dtype=torch.long, device=device).flatten()
        # Derived tensors follow lengths, whatever the default device.
        device = lengths.device
        speakers = torch.as_tensor(speakers, dtype=torch.long, device=device).flatten()
        modalities = tuple(modalities)
        if lengths.numel() == 0:
            raise ValueError("DialogueBatch needs at least one dialogue")
        if bool((lengths < 1).any()):
            bad = int(torch.nonzero(lengths < 1)[0])
            raise ValueError(
                f"dialogue {bad} of the batch has {int(lengths[bad])} "
                "utterances; every dialogue needs at least one")
        if speakers.numel() != int(lengths.sum()):
            raise ValueError(
                f"got {speakers.numel()} speaker ids for "
                f"{int(lengths.sum())} utterances")
        if bool((speakers < 0).any()):
            raise ValueError("speaker ids must be non-negative")
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(
                f"modalities must be a non-empty set of distinct names, got "
                f"{modalities!r}")

        num_utterances = speakers.numel()
        ptr = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
        utterance_dialogue = torch.repeat_interleave(
            torch.arange(lengths.numel(), device=device), lengths)
        utterance_turn = (torch.arange(num_utterances, device=device)
                          - ptr[utterance_dialogue])
        num_modalities = len(modalities)

        set_ = object.__setattr__
        set_(self, "lengths", lengths)
        set_(self, "speakers", speakers)
        set_(self, "modalities", modalities)
        set_(self, "ptr", ptr)
        set_(self, "utterance_dialogue", utterance_dialogue)
        set_(self, "utterance_turn", utterance_turn)
        set_(self, "node_utterance",
             torch.arange(num_utterances, device=device).repeat(num_modalities))
        set_(self, "node_modality", torch.arange(num_modalities, device=device)
             .repeat_interleave(num_utterances))
        set_(self, "node_dialogue", utterance_dialogue.repeat(num_modalities))
        set_(self, "node_turn", utterance_turn.repeat(num_modalities))
        set_(self, "node_speaker", speakers.repeat(num_modalities))
        for kind, given in (("features", features), ("states", states),
                            ("annotations", annotations)):
            set_(self, kind, self._checked(kind, given or {}))
        for kind, given in (("labels", labels), ("scores", scores)):
            given = None if given is None else torch.as_tensor(given)
            if given is not None and (given.dim() != 1 or given.numel() != num_utterances):
                raise ValueError(f"{kind} has shape {list(given.shape)}; the batch has "
                                 f"{num_utterances} utterances")
            set_(self, kind, given)
        if dialogue_ids is not None:
            dialogue_ids = tuple(dialogue_ids)
            if len(dialogue_ids) != lengths.numel():
                raise ValueError(f"got {len(dialogue_ids)} dialogue ids for "
                                 f"{lengths.numel()} dialogues")
        set_(self, "dialogue_ids", dialogue_ids)

    def _checked(self, kind: str, content: Mapping[str, Tensor]) -> dict[str, Tensor]:
        rows = self.num_utterances
        out = {}
        for name, value in content.items():
            value = torch.as_tensor(value)
            if value.dim() < 1 or value.size(0) != rows:
                raise ValueError(f"{kind} {name!r} has shape {list(value.shape)}; the "
                                 f"batch has {rows} utterances")
            if kind != "annotations" and name not in self.modalities:
                raise ValueError(f"{kind} {name!r}: the batch has no such modality; "
                                 f"it has {list(self.modalities)}")
            out[name] = value
        return out

    def with_content(self, *, features: Mapping[str, Tensor] | None = None,
                     states: Mapping[str, Tensor] | None = None,
                     annotations: Mapping[str, Tensor] | None = None) -> "DialogueBatch":
        """A copy whose content of each kind given is replaced (the
        structure is shared, not derived again).

        Args:
            features (Mapping[str, Tensor], optional): :obj:`[U, F_m]` rows.
            states (Mapping[str, Tensor], optional): :obj:`[U, H]` rows.
            annotations (Mapping[str, Tensor], optional): :obj:`[U]` values.
        """
        copied = copy.copy(self)
        for kind, given in (("features", features), ("states", states),
                            ("annotations", annotations)):
            if given is not None:
                object.__setattr__(copied, kind, self._checked(kind, given))
        return copied

    def restricted(self, reads: Reads, reader: str = "edge builder") -> "DialogueBatch":
        """A copy carrying only the content :obj:`reads` names, and never
        the targets (labels, scores, dialogue ids): what a builder sees.

        Args:
            reads (Reads): What a builder declares it reads.
            reader (str): Who reads, for messages.

        Its content mappings refuse a read of anything not declared with
        :class:`~graphs.errors.UndeclaredReadError` (a
        :class:`~graphs.GraphContractError`) naming :obj:`reader`.

        Raises:
            ValueError: Declared content that the batch does not carry.
        """
        kept = {}
        for kind in ("features", "states", "annotations"):
            have = getattr(self, kind)
            missing = [name for name in getattr(reads, kind) if name not in have]
            if missing:
                raise ValueError(
                    f"{reader} reads {kind} {missing}, which this batch does not carry "
                    f"(it carries {sorted(have) or 'none'})")
            kept[kind] = DeclaredContent(kind, reader, {name: have[name]
                                                        for name in getattr(reads, kind)})
        if (all(isinstance(getattr(self, kind), DeclaredContent)
                and kept[kind].keys() == getattr(self, kind).keys() for kind in kept)
                and not self.has_targets):
            return self  # already a builder's view of the same content
        copied = copy.copy(self)
        for kind, value in kept.items():
            object.__setattr__(copied, kind, value)
        for target in ("labels", "scores", "dialogue_ids"):
            object.__setattr__(copied, target, None)
        return copied

    @property
    def has_targets(self) -> bool:
        """Whether the batch carries labels, scores or dialogue ids."""
        return not (self.labels is None and self.scores is None
                    and self.dialogue_ids is None)

    @property
    def device(self) -> torch.device:
        """The device of every tensor of the batch."""
        return self.lengths.device

    def to(self, device: torch.device | str) -> "DialogueBatch":
        """A copy with every tensor on :obj:`device`.

        The tensors are moved as they are, not derived again, so nothing is
        re-validated and no value is read back to the host.

        Args:
            device (torch.device or str): Where the copy's tensors live.
        """
        moved = copy.copy(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                object.__setattr__(moved, f.name, value.to(device))
            elif isinstance(value, dict):
                object.__setattr__(moved, f.name,
                                   {k: v.to(device) for k, v in value.items()})
        return moved

    @property
    def num_dialogues(self) -> int:
        return self.lengths.numel()

    @property
    def num_utterances(self) -> int:
        return self.speakers.numel()

    @property
    def num_nodes(self) -> int:
        return self.num_utterances * len(self.modalities)

    def node_index(self, modality: int | str, utterance: Tensor | int) -> Tensor:
        """Node ids of :obj:`utterance` (batch-level utterance ids) in one
        modality, given by position or by name."""
        if isinstance(modality, str):
            modality = self.modalities.index(modality)
        return torch.as_tensor(utterance) + modality * self.num_utterances

    def __repr__(self) -> str:
        content = "".join(f", {kind}={sorted(getattr(self, kind))}"
                          for kind in ("features", "states", "annotations")
                          if getattr(self, kind))
        return (f"{type(self).__name__}(dialogues={self.num_dialogues}, "
                f"utterances={self.num_utterances}, "
                f"modalities={self.modalities}{content}"
                f"{', labels' if self.labels is not None else ''})")
