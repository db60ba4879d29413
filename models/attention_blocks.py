"""Pre-norm attention blocks, and one batched pass over many of them.

P-CM holds one cross-attention stack per ordered modality pair and one
self-attention stack per target modality: six and three same-shaped stacks
with three modalities. Run one by one, their many small matrix products
cost more in dispatch than in arithmetic, so :func:`grouped_blocks` runs the
:obj:`G` blocks of one depth as a single batched computation, with the
blocks' own parameters stacked on the fly (gradients flow back to each).
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CrossAttentionLayer(nn.Module):
    r"""Pre-norm transformer layer whose queries come from one modality and
    keys and values from another.

    Args:
        dim (int): Width of queries, keys and values.
        heads (int): Attention heads.
        dropout (float): Dropout on attention weights, residual branches
            and the feed-forward hidden layer.

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


def block_parts(layer: nn.Module, where: str) -> dict[str, Any]:
    """The pieces of a pre-norm attention block, whichever class holds them:
    :class:`CrossAttentionLayer` or ``nn.TransformerEncoderLayer`` with
    ``norm_first=True``. ``norm_memory`` is None for self-attention.

    Args:
        layer (nn.Module): The block.
        where (str): Its name, for error messages.
    """
    if isinstance(layer, nn.TransformerEncoderLayer):
        if not layer.norm_first:
            raise NotImplementedError(f"{where}: only pre-norm (norm_first=True) "
                                      "transformer layers are supported")
        parts = dict(norm_query=layer.norm1, norm_memory=None, attention=layer.self_attn,
                     norm_ff=layer.norm2, ff_in=layer.linear1,
                     activation=layer.activation, ff_out=layer.linear2,
                     dropout=layer.dropout.p)
    elif isinstance(layer, CrossAttentionLayer):
        parts = dict(norm_query=layer.norm_query, norm_memory=layer.norm_memory,
                     attention=layer.attention, norm_ff=layer.norm_ff, ff_in=layer.ff[0],
                     activation=layer.ff[1], ff_out=layer.ff[-1], dropout=layer.dropout.p)
    else:
        raise NotImplementedError(f"{where}: no batched form for {type(layer).__name__}")
    norms = [parts[n] for n in ("norm_query", "norm_memory", "norm_ff") if parts[n] is not None]
    if (any(n.weight is None or n.bias is None for n in norms)
            or parts["ff_in"].bias is None or parts["ff_out"].bias is None):
        raise NotImplementedError(f"{where}: only affine LayerNorms and biased "
                                  "feed-forward layers are supported")
    attention = parts["attention"]
    if (not attention._qkv_same_embed_dim or attention.bias_k is not None
            or attention.add_zero_attn or attention.in_proj_bias is None):
        raise NotImplementedError(
            f"{where}: only attention with packed, biased query/key/value "
            "projections and no extra key/value bias is supported")
    return parts


def _kind(activation: Any) -> Any:
    # Module activations are one instance per block; compare their class.
    return type(activation) if isinstance(activation, nn.Module) else activation


def _stack(tensors: Sequence[Tensor]) -> Tensor:
    return torch.stack(list(tensors))


def _norm(x: Tensor, norms: Sequence[nn.LayerNorm]) -> Tensor:
    """Each group's LayerNorm on its slice of :obj:`x` :math:`(G, N, D)`."""
    h = F.layer_norm(x, x.shape[-1:], eps=norms[0].eps)
    return torch.addcmul(_stack([n.bias for n in norms]).unsqueeze(1), h,
                         _stack([n.weight for n in norms]).unsqueeze(1))


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """:math:`x W_g^\\top + b_g` per group: x :math:`(G, N, I)`, weight
    :math:`(G, O, I)`, bias :math:`(G, O)`."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


class PackedLayout(NamedTuple):
    r"""Where packed utterance rows sit in the padded :math:`(B, T)` layout,
    and what each query may attend to there: what every
    :func:`grouped_blocks` call of one forward pass shares, so it is
    computed once (:func:`packed_layout`).

    Args:
        real (LongTensor): Flat index :math:`b T + t` of every real row,
            shape :math:`(N)`, in packed order.
        allowed (BoolTensor): ``True`` where a query may attend, shape
            :math:`(B, 1, 1, T)`, or :math:`(B, 1, T, T)` with a mask.
    """

    real: Tensor
    allowed: Tensor

    @property
    def batch(self) -> int:
        return self.allowed.size(0)

    @property
    def length(self) -> int:
        return self.allowed.size(-1)


def packed_layout(padding: Tensor, mask: Tensor | None = None) -> PackedLayout:
    r"""The :class:`PackedLayout` of a padding mask.

    Reads the number of real rows back to the host (``nonzero``), so call it
    once per forward pass, not once per block.

    Args:
        padding (Tensor): :math:`(B, T)`, ``True`` = padding.
        mask (Tensor, optional): :math:`(T, T)`, ``True`` where a query may
            not attend (a causal mask), or None.
    """
    batch, length = padding.shape
    real = (~padding).view(-1).nonzero().squeeze(1)
    allowed = ~padding.view(batch, 1, 1, length)
    if mask is not None:
        allowed = allowed & ~mask
    return PackedLayout(real, allowed)


def grouped_blocks(layers: Sequence[nn.Module], x: Tensor, memory: Tensor | None,
                   layout: PackedLayout) -> Tensor:
    r"""Run :obj:`G` same-shaped pre-norm attention blocks, block :obj:`g`
    on slice :obj:`g`, as one batched computation over packed utterances.

    Rows are packed dialogue by dialogue (the order of ``dense[~padding]``),
    so projections and feed-forward layers never touch padding; only the
    attention itself runs on the padded :math:`(B, T)` layout. The result
    equals running each block on its slice in that layout and dropping the
    padding. In training mode each block's dropout is applied where the
    block applies it.

    Args:
        layers (Sequence[nn.Module]): :obj:`G` blocks of one class and shape
            (see :func:`block_parts`).
        x (Tensor): Query rows :math:`(G, N, D)`.
        memory (Tensor, optional): Key/value rows :math:`(G, N, D)` for
            cross-attention; None for self-attention.
        layout (PackedLayout): The padded layout of the :obj:`N` rows and
            its attention mask, from :func:`packed_layout` (padding and an
            optional causal mask).

    Shapes:
        - **output:** :math:`(G, N, D)`
    """
    parts = [block_parts(layer, f"block {g}") for g, layer in enumerate(layers)]
    shared = {(type(layer), part["dropout"], part["attention"].num_heads,
               part["attention"].dropout, part["norm_query"].eps,
               _kind(part["activation"]))
              for layer, part in zip(layers, parts)}
    if len(shared) > 1:
        raise ValueError("grouped blocks must share class, heads, dropout, LayerNorm eps "
                         "and activation")
    if (memory is None) != (parts[0]["norm_memory"] is None):
        raise ValueError("cross-attention blocks need memory rows; self-attention "
                         "blocks take none")
    groups, rows, dim = x.shape
    real, allowed = layout
    batch, length = layout.batch, layout.length
    heads = parts[0]["attention"].num_heads
    training = layers[0].training
    p = parts[0]["dropout"] if training else 0.0
    attentions = [part["attention"] for part in parts]
    in_weight = _stack([a.in_proj_weight for a in attentions])
    in_bias = _stack([a.in_proj_bias for a in attentions])

    query = _norm(x, [part["norm_query"] for part in parts])
    if memory is None:
        q, k, v = _linear(query, in_weight, in_bias).chunk(3, dim=-1)
    else:
        keyed = _norm(memory, [part["norm_memory"] for part in parts])
        q = _linear(query, in_weight[:, :dim], in_bias[:, :dim])
        k, v = _linear(keyed, in_weight[:, dim:], in_bias[:, dim:]).chunk(2, dim=-1)

    def heads_first(t: Tensor) -> Tensor:
        dense = t.new_zeros(groups, batch * length, dim).index_copy(1, real, t)
        return dense.view(groups * batch, length, heads, dim // heads).transpose(1, 2)

    attended = F.scaled_dot_product_attention(
        heads_first(q), heads_first(k), heads_first(v),
        attn_mask=allowed.repeat(groups, 1, 1, 1),
        dropout_p=parts[0]["attention"].dropout if training else 0.0)
    attended = attended.transpose(1, 2).reshape(groups, batch * length, dim)[:, real]
    attended = _linear(attended, _stack([a.out_proj.weight for a in attentions]),
                       _stack([a.out_proj.bias for a in attentions]))
    h = x + F.dropout(attended, p, training=p > 0)

    ff = _linear(_norm(h, [part["norm_ff"] for part in parts]),
                 _stack([part["ff_in"].weight for part in parts]),
                 _stack([part["ff_in"].bias for part in parts]))
    ff = F.dropout(parts[0]["activation"](ff), p, training=p > 0)
    ff = _linear(ff, _stack([part["ff_out"].weight for part in parts]),
                 _stack([part["ff_out"].bias for part in parts]))
    return h + F.dropout(ff, p, training=p > 0)
