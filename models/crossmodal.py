"""P-CM: pairwise cross-modal attention over a dialogue, offline and one
turn at a time."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .attention_blocks import (CrossAttentionLayer, StackedBlocks, grouped_blocks,
                               grouped_layer_norm, packed_layout)
from .encoders import causal_mask
from .history import History

__all__ = ["CrossAttentionLayer", "PairwiseCrossModal"]


class PairwiseCrossModal(nn.Module):
    r"""CORECT's P-CM: for every ordered pair of distinct modalities a stack
    of cross-attention layers (queries from the target, keys and values from
    the source), then self-attention over each target's concatenated cross
    outputs.

    The stacks of one depth run as one batched computation
    (:func:`~models.attention_blocks.grouped_blocks`), each with its own
    weights. With :obj:`causal`, every attention block masks later turns.
    (CORECT's P-CM always attends over the whole dialogue, padding
    included.)

    The blocks are pre-norm. CORECT's (MulT's encoder) are too, and its
    other choices are options: a wider feed-forward layer (:obj:`ff`), one
    LayerNorm for a cross-attention layer's queries and keys/values
    (:obj:`shared_norm`), a LayerNorm ending every stack
    (:obj:`final_norm`, modules ``cross_norm`` and ``self_norm``) and
    inputs scaled by the square root of the stack's width (:obj:`scale`).

    :meth:`step` is the incremental form, for :obj:`K` live dialogues at
    once under a causal mask.

    Args:
        modalities (list[str]): Modality names, at least two.
        hidden (int): Width of each modality's input.
        layers (int): Cross-attention layers per pair.
        heads (int): Cross-attention heads.
        self_layers (int): Self-attention layers per target.
        self_heads (int): Self-attention heads.
        dropout (float): Dropout inside every block.
        ff (int): Feed-forward width of every block, as a multiple of its
            width. (default: :obj:`2`)
        shared_norm (bool): Cross-attention layers normalise queries and
            keys/values with one LayerNorm. (default: :obj:`False`)
        final_norm (bool): A LayerNorm after every stack.
            (default: :obj:`False`)
        scale (bool): Multiply every stack's inputs by the square root of
            its width. (default: :obj:`False`)

    Shapes:
        - **input:** per modality :math:`(U, H)`, utterances packed dialogue
          by dialogue, and the padding mask :math:`(B, T)` of their layout
        - **output:** :math:`(U, M (M - 1) H)`, targets in modality order
    """

    def __init__(self, modalities: list[str], hidden: int, layers: int, heads: int,
                 self_layers: int, self_heads: int, dropout: float, *, ff: int = 2,
                 shared_norm: bool = False, final_norm: bool = False,
                 scale: bool = False) -> None:
        super().__init__()
        self.modalities = list(modalities)
        # Target-major, so each target's cross outputs are adjacent.
        self.pairs = [(src, dst) for dst in self.modalities
                      for src in self.modalities if src != dst]
        self.cross = nn.ModuleDict({
            f"{src}->{dst}": nn.ModuleList(
                CrossAttentionLayer(hidden, heads, dropout, ff, shared_norm)
                for _ in range(layers))
            for src, dst in self.pairs})
        width = hidden * (len(self.modalities) - 1)
        self.self_attention = nn.ModuleDict({
            dst: nn.TransformerEncoder(
                nn.TransformerEncoderLayer(width, self_heads, ff * width, dropout,
                                           batch_first=True, norm_first=True),
                self_layers, enable_nested_tensor=False)
            for dst in self.modalities})
        self.cross_norm = self.self_norm = None
        if final_norm:
            self.cross_norm = nn.ModuleDict({f"{src}->{dst}": nn.LayerNorm(hidden)
                                             for src, dst in self.pairs})
            self.self_norm = nn.ModuleDict({dst: nn.LayerNorm(width)
                                            for dst in self.modalities})
        self.cross_scale = math.sqrt(hidden) if scale else 1.0
        self.self_scale = math.sqrt(width) if scale else 1.0
        self.layers, self.self_layers = layers, self_layers
        self.out_dim = width * len(self.modalities)
        # The prepared form of step(): each depth's blocks with their
        # weights stacked, built on the first step, dropped by train()/eval().
        self._stacked: tuple[torch.device, tuple[list[StackedBlocks],
                                                 list[StackedBlocks]]] | None = None

    def end_cross(self, h: Tensor) -> Tensor:
        """Each pair's final norm (when built) on its cross outputs
        :math:`(P, N, H)`, then the targets' inputs :math:`(M, N, (M-1) H)`,
        scaled for their self-attention."""
        if self.cross_norm is not None:
            h = grouped_layer_norm(h, [self.cross_norm[f"{src}->{dst}"]
                                       for src, dst in self.pairs])
        targets, rows = len(self.modalities), h.size(1)
        h = h.view(targets, targets - 1, rows, -1).transpose(1, 2).reshape(targets, rows, -1)
        return h * self.self_scale if self.self_scale != 1.0 else h

    def end_self(self, h: Tensor) -> Tensor:
        """Each target's final norm (when built) on :math:`(M, N, (M-1) H)`."""
        if self.self_norm is None:
            return h
        return grouped_layer_norm(h, [self.self_norm[m] for m in self.modalities])

    def forward(self, x: dict[str, Tensor], padding: Tensor, causal: bool) -> Tensor:
        mask = causal_mask(padding.size(1), padding.device) if causal else None
        # Shared by every block: one host read of the row count per pass.
        layout = packed_layout(padding, mask)
        h = torch.stack([x[dst] for _, dst in self.pairs])
        memory = torch.stack([x[src] for src, _ in self.pairs])
        if self.cross_scale != 1.0:
            h, memory = h * self.cross_scale, memory * self.cross_scale
        for i in range(self.layers):
            h = grouped_blocks([self.cross[f"{src}->{dst}"][i] for src, dst in self.pairs],
                               h, memory, layout)
        h = self.end_cross(h)
        for i in range(self.self_layers):
            h = grouped_blocks([self.self_attention[m].layers[i] for m in self.modalities],
                               h, None, layout)
        rows = h.size(1)
        return self.end_self(h).transpose(0, 1).reshape(rows, -1)

    def train(self, mode: bool = True) -> "PairwiseCrossModal":
        # The stacked copies are a snapshot of the weights, which training
        # changes: the next step stacks them again.
        self._stacked = None
        return super().train(mode)

    def check_steppable(self) -> None:
        """Refuse settings that :meth:`step` does not reproduce (the blocks
        themselves are checked as :meth:`stacked` stacks them)."""
        for m, stack in self.self_attention.items():
            if stack.norm is not None:  # the batched P-CM would not apply it
                raise NotImplementedError(f"crossmodal.self_attention.{m}: streaming "
                                          "supports no final TransformerEncoder norm")

    def stacked(self) -> tuple[list[StackedBlocks], list[StackedBlocks]]:
        """The prepared form of :meth:`step`: per depth, the blocks of every
        pair (then of every target) with their weights stacked
        (:class:`~models.attention_blocks.StackedBlocks`), built on first
        use from the current weights and kept until the module's mode is
        next set (``train()`` or ``eval()``): call ``eval()`` again after
        changing the weights."""
        device = self.self_attention[self.modalities[0]].layers[0].linear1.weight.device
        if self._stacked is None or self._stacked[0] != device:
            self.check_steppable()
            # Pairs are target-major, so each target's cross outputs are
            # consecutive groups, in source order: P-CM's concatenation.
            cross = [StackedBlocks([self.cross[f"{src}->{dst}"][i] for src, dst in self.pairs],
                                   f"crossmodal.cross.*.{i}")
                     for i in range(self.layers)]
            stacks = [self.self_attention[m] for m in self.modalities]
            self_attention = [StackedBlocks([stack.layers[i] for stack in stacks],
                                            f"crossmodal.self_attention.*.layers.{i}")
                              for i in range(self.self_layers)]
            self._stacked = device, (cross, self_attention)
        return self._stacked[1]

    def step(self, x: dict[str, Tensor], histories: Sequence[History]) -> Tensor:
        r"""The forward pass under a causal mask at evaluation for the
        newest turn of :obj:`K` live dialogues: each depth's blocks of every
        pair (then of every target) run side by side on the new rows, as
        :meth:`forward` runs them as one batched computation, each dialogue
        attending over its own cached turns
        (:meth:`~models.attention_blocks.StackedBlocks.step`).

        Args:
            x (dict[str, Tensor]): Per modality the new turns' states
                :math:`(K, H)`, one row per dialogue.
            histories (Sequence[History]): The :obj:`K` dialogues' caches.

        Shapes:
            - **output:** :math:`(K, M (M - 1) H)`
        """
        cross, self_attention = self.stacked()
        h = torch.stack([x[dst] for _, dst in self.pairs])  # [P, K, H]
        memory = torch.stack([x[src] for src, _ in self.pairs])
        if self.cross_scale != 1.0:
            h, memory = h * self.cross_scale, memory * self.cross_scale
        for i, blocks in enumerate(cross):
            h = blocks.step(h, histories, f"cross/{i}", memory)
        h = self.end_cross(h)
        for i, blocks in enumerate(self_attention):
            h = blocks.step(h, histories, f"self/{i}")
        # [M, K, (M-1) H] -> per dialogue its targets side by side, as forward.
        return self.end_self(h).transpose(0, 1).reshape(len(histories), -1)
