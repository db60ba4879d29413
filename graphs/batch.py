"""The structure of a batch of dialogues, which is all an edge builder sees."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Sequence

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class DialogueBatch:
    r"""The structure of a batch of dialogues: lengths, speakers and modalities.

    An edge builder sees this and nothing else, never features or labels, so
    that a graph depends only on who spoke when in which modalities.

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

    Every tensor lives on one device: that of :obj:`lengths` when it is a
    tensor, else that of :obj:`speakers` when it is one, else the default
    device. :meth:`to` moves them all.
    """

    lengths: Tensor
    speakers: Tensor
    modalities: tuple[str, ...]
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
        return (f"{type(self).__name__}(dialogues={self.num_dialogues}, "
                f"utterances={self.num_utterances}, "
                f"modalities={self.modalities})")
