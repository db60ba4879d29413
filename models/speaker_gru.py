"""Speaker-level recurrence: a GRU over each speaker's own turns."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch


class SpeakerGRU(nn.Module):
    r"""A GRU over each speaker's own turns of a dialogue.

    A speaker's emotion persists from one of their turns to the next, but a
    dialogue-level encoder reads every speaker's turns interleaved. This
    module reads each (dialogue, speaker) pair's turns as a sequence of
    their own, as DialogueRNN's party state does, and gives every
    utterance its speaker's state there. Bidirectional (half of
    :obj:`hidden` per direction) for a model that may read later turns; one
    forward GRU of width :obj:`hidden` for a causal one, so a turn's state
    depends on its speaker's earlier turns only. Features are
    layer-normalised first, as in :class:`~models.encoders.GRUEncoder`.

    Args:
        in_dim (int): Feature dimension.
        hidden (int): Output width; even when :obj:`bidirectional`.
        dropout (float): Dropout on the normalised features.
        bidirectional (bool): Also read each speaker's turns backwards.

    Shapes:
        - **input:** features :math:`(U, F)` packed dialogue by dialogue in
          turn order, each utterance's dialogue :math:`(U)` and its speaker
          :math:`(U)`, and whether the model must not read later turns
        - **output:** :math:`(U, H)`
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float,
                 bidirectional: bool) -> None:
        super().__init__()
        if bidirectional and hidden % 2:
            raise ValueError(f"a bidirectional speaker GRU splits hidden={hidden} between "
                             "its two directions; it must be even")
        self.bidirectional = bidirectional
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(in_dim, hidden // 2 if bidirectional else hidden,
                          batch_first=True, bidirectional=bidirectional)

    def forward(self, x: Tensor, dialogue: Tensor, speakers: Tensor, causal: bool) -> Tensor:
        if causal and self.bidirectional:
            raise ValueError("a bidirectional speaker GRU reads later turns; build it with "
                             "bidirectional=False for a causal model")
        # One sequence per (dialogue, speaker) pair, numbered in that order; a
        # stable sort keeps each speaker's turns in dialogue order.
        pair = dialogue * (speakers.max() + 1) + speakers
        _, sequence = torch.unique(pair, return_inverse=True)
        order = torch.argsort(sequence, stable=True)
        dense, mask = to_dense_batch(self.dropout(self.norm(x))[order], sequence[order])
        packed = nn.utils.rnn.pack_padded_sequence(dense, mask.sum(1).cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = nn.utils.rnn.pad_packed_sequence(self.gru(packed)[0], batch_first=True,
                                                  total_length=dense.size(1))
        states = out.new_empty(x.size(0), out.size(-1))
        states[order] = out[mask]
        return states
