"""P-CM: pairwise cross-modal attention over a dialogue."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .encoders import causal_mask


class CrossAttentionLayer(nn.Module):
    r"""Pre-norm transformer layer whose queries come from one modality and
    keys and values from another.

    Shapes:
        - **input:** query :math:`(B, T, D)`, key/value :math:`(B, T, D)`,
          padding mask :math:`(B, T)`, attention mask :math:`(T, T)` or None
        - **output:** :math:`(B, T, D)`
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_memory = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout,
                                               batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(2 * dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: Tensor, memory: Tensor, padding: Tensor,
                mask: Tensor | None) -> Tensor:
        memory = self.norm_memory(memory)
        attended, _ = self.attention(self.norm_query(query), memory, memory,
                                     key_padding_mask=padding, attn_mask=mask,
                                     need_weights=False)
        h = query + self.dropout(attended)
        return h + self.dropout(self.ff(self.norm_ff(h)))


class PairwiseCrossModal(nn.Module):
    r"""CORECT's P-CM: for every ordered pair of distinct modalities a stack
    of cross-attention layers (queries from the target, keys and values from
    the source), then self-attention over each target's concatenated cross
    outputs.

    With :obj:`causal`, every attention block masks later turns. (CORECT's
    P-CM always attends over the whole dialogue.)

    Args:
        modalities (list[str]): Modality names, at least two.
        hidden (int): Width of each modality's input.
        layers (int): Cross-attention layers per pair.
        heads (int): Cross-attention heads.
        self_layers (int): Self-attention layers per target.
        self_heads (int): Self-attention heads.
        dropout (float): Dropout.

    Shapes:
        - **input:** per modality :math:`(B, T, H)`, padding mask
          :math:`(B, T)`
        - **output:** :math:`(B, T, M (M - 1) H)`, targets in modality order
    """

    def __init__(self, modalities: list[str], hidden: int, layers: int, heads: int,
                 self_layers: int, self_heads: int, dropout: float) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.pairs = [(src, dst) for dst in self.modalities
                      for src in self.modalities if src != dst]
        self.cross = nn.ModuleDict({
            f"{src}->{dst}": nn.ModuleList(
                CrossAttentionLayer(hidden, heads, dropout) for _ in range(layers))
            for src, dst in self.pairs})
        width = hidden * (len(self.modalities) - 1)
        self.self_attention = nn.ModuleDict({
            dst: nn.TransformerEncoder(
                nn.TransformerEncoderLayer(width, self_heads, 2 * width, dropout,
                                           batch_first=True, norm_first=True),
                self_layers, enable_nested_tensor=False)
            for dst in self.modalities})
        self.out_dim = width * len(self.modalities)

    def forward(self, x: dict[str, Tensor], padding: Tensor, causal: bool) -> Tensor:
        mask = causal_mask(padding.size(1), padding.device) if causal else None
        outputs = []
        for dst in self.modalities:
            crossed = []
            for src in self.modalities:
                if src == dst:
                    continue
                h = x[dst]
                for layer in self.cross[f"{src}->{dst}"]:
                    h = layer(h, x[src], padding, mask)
                crossed.append(h)
            outputs.append(self.self_attention[dst](
                torch.cat(crossed, -1), mask=mask, src_key_padding_mask=padding))
        return torch.cat(outputs, -1)
