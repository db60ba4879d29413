"""Speaker-level recurrence: a GRU over each speaker's own turns."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from .dialogue_state import DialogueState
from .encoders import GRUEncoder


class SpeakerGRU(GRUEncoder):
    r"""A GRU over each speaker's own turns of a dialogue.

    A speaker's emotion persists from one of their turns to the next, but a
    dialogue-level encoder reads every speaker's turns interleaved. This
    module reads each (dialogue, speaker) pair's turns as a sequence of
    their own, as DialogueRNN's party state does, and gives every
    utterance its speaker's state there. Bidirectional (half of
    :obj:`hidden` per direction) for a model that may read later turns; one
    forward GRU of width :obj:`hidden` for a causal one, so a turn's state
    depends on its speaker's earlier turns only. It is a
    :class:`~models.encoders.GRUEncoder` of one layer run over those
    sequences, so it normalises its features the same way and streams the
    same way: :meth:`step` advances each live dialogue's speaker from the
    state of that speaker's previous turn.

    Args:
        in_dim (int): Feature dimension.
        hidden (int): Output width; even when :obj:`bidirectional`.
        dropout (float): Dropout on the normalised features.
        bidirectional (bool): Also read each speaker's turns backwards.
        input_norm (bool): LayerNorm the features first.
            (default: :obj:`True`)

    Shapes:
        - **input:** features :math:`(U, F)` packed dialogue by dialogue in
          turn order, each utterance's dialogue :math:`(U)` and its speaker
          :math:`(U)`, and whether the model must not read later turns
        - **output:** :math:`(U, H)`
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float,
                 bidirectional: bool, *, input_norm: bool = True) -> None:
        super().__init__(in_dim, hidden, 1, dropout, bidirectional, input_norm=input_norm)

    def forward(self, x: Tensor, dialogue: Tensor, speakers: Tensor,  # type: ignore[override]
                causal: bool) -> Tensor:
        self.check_causal(causal)
        # One sequence per (dialogue, speaker) pair, numbered in that order; a
        # stable sort keeps each speaker's turns in dialogue order.
        pair = dialogue * (speakers.max() + 1) + speakers
        _, sequence = torch.unique(pair, return_inverse=True)
        order = torch.argsort(sequence, stable=True)
        dense, mask = to_dense_batch(self.dropout(self.norm(x))[order], sequence[order])
        out = self.recur(dense, mask.sum(1))
        states = out.new_empty(x.size(0), out.size(-1))
        states[order] = out[mask]
        return states

    def step(self, x: Tensor, states: Sequence[DialogueState],  # type: ignore[override]
             speakers: Sequence[int], key: str) -> Tensor:
        r"""The forward pass at evaluation for the newest turn of :obj:`K`
        live dialogues: each speaker's state after their previous turn
        (:attr:`~models.dialogue_state.DialogueState.last_turn`; a new
        speaker starts afresh) advanced by one row
        (:meth:`~models.encoders.GRUEncoder.resume`).

        Args:
            x (Tensor): The new turns' features :math:`(K, F)`, one row per
                dialogue.
            states (Sequence[DialogueState]): The :obj:`K` dialogues.
            speakers (Sequence[int]): Per dialogue, the new turn's local
                speaker id.
            key (str): The states' cache name.

        Shapes:
            - **output:** :math:`(K, H)`
        """
        return self.resume(x, [state.history for state in states], key,
                           [state.last_turn.get(speaker)
                            for state, speaker in zip(states, speakers)])
