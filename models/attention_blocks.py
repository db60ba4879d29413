"""Pre-norm attention blocks, one batched pass over many of them, and
the same blocks (or post-norm transformer layers) stepped one turn at a time.

P-CM holds one cross-attention stack per ordered modality pair and one
self-attention stack per target modality: six and three same-shaped stacks
with three modalities. Run one by one, their many small matrix products
cost more in dispatch than in arithmetic, so :func:`grouped_blocks` runs the
:obj:`G` blocks of one depth as a single batched computation, with the
blocks' own parameters stacked on the fly (gradients flow back to each).
:class:`StackedBlocks` is its incremental form for live inference: the
newest turn's rows of :obj:`K` live dialogues, each with a key/value cache
of its earlier turns.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .history import History


class CrossAttentionLayer(nn.Module):
    r"""Pre-norm transformer layer whose queries come from one modality and
    keys and values from another.

    Args:
        dim (int): Width of queries, keys and values.
        heads (int): Attention heads.
        dropout (float): Dropout on attention weights, residual branches
            and the feed-forward hidden layer.
        ff (int): Feed-forward width as a multiple of :obj:`dim`.
            (default: :obj:`2`)
        shared_norm (bool): Normalise queries and keys/values with one
            LayerNorm (``norm_query``; ``norm_memory`` is then None), as
            CORECT's P-CM does. (default: :obj:`False`)

    Shapes:
        - **input:** query :math:`(B, T, D)`, key/value :math:`(B, T, D)`,
          padding mask :math:`(B, T)`, attention mask :math:`(T, T)` or None
        - **output:** :math:`(B, T, D)`
    """

    def __init__(self, dim: int, heads: int, dropout: float, ff: int = 2,
                 shared_norm: bool = False) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_memory = None if shared_norm else nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout,
                                               batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff * dim), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(ff * dim, dim))
        self.dropout = nn.Dropout(dropout)

    @property
    def memory_norm(self) -> nn.LayerNorm:
        """The LayerNorm of the keys/values: their own, or the queries'."""
        return self.norm_query if self.norm_memory is None else self.norm_memory

    def forward(self, query: Tensor, memory: Tensor, padding: Tensor,
                mask: Tensor | None) -> Tensor:
        memory = self.memory_norm(memory)
        attended, _ = self.attention(self.norm_query(query), memory, memory,
                                     key_padding_mask=padding, attn_mask=mask,
                                     need_weights=False)
        h = query + self.dropout(attended)
        return h + self.dropout(self.ff(self.norm_ff(h)))


def block_parts(layer: nn.Module, where: str, post_norm: bool = False) -> dict[str, Any]:
    """The pieces of an attention block, whichever class holds them:
    :class:`CrossAttentionLayer` or a pre-norm ``nn.TransformerEncoderLayer``
    (``norm_first=True``); a post-norm one only where :obj:`post_norm`
    allows it. ``norm_memory`` is None for self-attention (for a
    cross-attention layer with a shared norm it is ``norm_query``), and
    ``norm_first`` says which kind the block is.

    Args:
        layer (nn.Module): The block.
        where (str): Its name, for error messages.
        post_norm (bool): Accept post-norm transformer layers.
            (default: :obj:`False`)
    """
    if isinstance(layer, nn.TransformerEncoderLayer):
        if not layer.norm_first and not post_norm:
            raise NotImplementedError(f"{where}: only pre-norm (norm_first=True) "
                                      "transformer layers are supported")
        parts = dict(norm_query=layer.norm1, norm_memory=None, attention=layer.self_attn,
                     norm_ff=layer.norm2, ff_in=layer.linear1,
                     activation=layer.activation, ff_out=layer.linear2,
                     dropout=layer.dropout.p, norm_first=layer.norm_first)
    elif isinstance(layer, CrossAttentionLayer):
        parts = dict(norm_query=layer.norm_query, norm_memory=layer.memory_norm,
                     attention=layer.attention, norm_ff=layer.norm_ff, ff_in=layer.ff[0],
                     activation=layer.ff[1], ff_out=layer.ff[-1], dropout=layer.dropout.p,
                     norm_first=True)
    else:
        raise NotImplementedError(f"{where}: no batched form for {type(layer).__name__}")
    norms = [parts[n] for n in ("norm_query", "norm_memory", "norm_ff") if parts[n] is not None]
    if (any(n.weight is None or n.bias is None for n in norms)
            or parts["ff_in"].bias is None or parts["ff_out"].bias is None):
        raise NotImplementedError(f"{where}: only affine LayerNorms and biased "
                                  "feed-forward layers are supported")
    attention = parts["attention"]
    if (attention.in_proj_weight is None or attention.bias_k is not None
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


def grouped_layer_norm(x: Tensor, norms: Sequence[nn.LayerNorm]) -> Tensor:
    """Each group's (affine) LayerNorm on its slice of :obj:`x`
    :math:`(G, N, D)`, as one batched op."""
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

    query = grouped_layer_norm(x, [part["norm_query"] for part in parts])
    if memory is None:
        q, k, v = _linear(query, in_weight, in_bias).chunk(3, dim=-1)
    else:
        keyed = grouped_layer_norm(memory, [part["norm_memory"] for part in parts])
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

    ff = _linear(grouped_layer_norm(h, [part["norm_ff"] for part in parts]),
                 _stack([part["ff_in"].weight for part in parts]),
                 _stack([part["ff_in"].bias for part in parts]))
    ff = F.dropout(parts[0]["activation"](ff), p, training=p > 0)
    ff = _linear(ff, _stack([part["ff_out"].weight for part in parts]),
                 _stack([part["ff_out"].bias for part in parts]))
    return h + F.dropout(ff, p, training=p > 0)


class StackedBlocks:
    r"""Same-shaped attention blocks of :obj:`G` groups (P-CM's modality
    pairs, say), stepped side by side on each group's newest row with a
    key/value cache of the earlier ones.

    Each pre-norm block computes, for its new row :math:`h` (and, for
    cross-attention, the source's new row :math:`m`, else :math:`m = h`)

    .. math::
        h \leftarrow h + \mathrm{Attn}(\mathrm{LN}_q(h), \mathrm{LN}_m(m_{\le t})),
        \qquad h \leftarrow h + \mathrm{FF}(\mathrm{LN}_f(h)),

    which is what :class:`nn.TransformerEncoderLayer` (``norm_first=True``)
    and :class:`~models.attention_blocks.CrossAttentionLayer` compute for the
    last row under a causal mask at evaluation. A post-norm
    ``nn.TransformerEncoderLayer`` (self-attention only) computes

    .. math::
        h \leftarrow \mathrm{LN}_q(h + \mathrm{Attn}(h, h_{\le t})),
        \qquad h \leftarrow \mathrm{LN}_f(h + \mathrm{FF}(h)),

    and its cache holds the keys and values of its un-normalised inputs.
    The groups' weights are stacked once, here, so that one batched op
    serves every group: the blocks are a snapshot of the layers' weights
    when built, a prepared form that the layer holding them builds on its
    first step (:meth:`~models.encoders.SequenceEncoder.step`,
    :meth:`~models.crossmodal.PairwiseCrossModal.step`). :meth:`step`
    steps :obj:`K` dialogues at once, each with its own cache.

    Args:
        layers (Sequence[nn.Module]): One layer per group, all of one class
            and shape.
        where (str): The layers' name, for messages.

    Shapes:
        - **input:** new rows :math:`(G, K, D)` and, for cross-attention,
          the sources' new rows :math:`(G, K, D)`, one column per dialogue
        - **output:** :math:`(G, K, D)`
    """

    def __init__(self, layers: Sequence[nn.Module], where: str) -> None:
        parts = [block_parts(layer, f"{where}[{g}]", post_norm=True)
                 for g, layer in enumerate(layers)]
        first = parts[0]
        if len({p["norm_first"] for p in parts}) > 1:
            raise NotImplementedError(f"{where}: pre-norm and post-norm blocks cannot "
                                      "be stacked together")
        self.norm_first = first["norm_first"]
        self.cross = first["norm_memory"] is not None
        self.heads = first["attention"].num_heads
        self.activation = first["activation"]
        self.eps = first["norm_query"].eps
        norms = [p[n] for p in parts for n in ("norm_query", "norm_memory", "norm_ff")
                 if p[n] is not None]
        # block_parts has checked that they are affine; the normalisation
        # here is shared by all of them.
        if any(n.eps != self.eps for n in norms):
            raise NotImplementedError(f"{where}: streaming needs LayerNorms of one eps")

        with torch.no_grad():
            dim = first["attention"].embed_dim
            in_w = [p["attention"].in_proj_weight for p in parts]
            in_b = [p["attention"].in_proj_bias for p in parts]
            norm_query = [p["norm_query"] for p in parts]
            norm_ff = [p["norm_ff"] for p in parts]
            if not self.norm_first:
                # Post-norm: the norms follow the residual sums, so they
                # stay affine maps of their own instead of being folded in.
                self.norm_attended = self._affine(norm_query)
                self.norm_ff = self._affine(norm_ff)
                norm_query = norm_ff = None
            if self.cross:  # queries and keys/values come from different rows
                self.q = self._linear([w[:dim] for w in in_w], [b[:dim] for b in in_b],
                                      norm_query)
                self.kv = self._linear([w[dim:] for w in in_w], [b[dim:] for b in in_b],
                                       [p["norm_memory"] for p in parts])
            else:
                self.qkv = self._linear(in_w, in_b, norm_query)
            self.out = self._linear([p["attention"].out_proj.weight for p in parts],
                                    [p["attention"].out_proj.bias for p in parts])
            self.ff_in = self._linear([p["ff_in"].weight for p in parts],
                                      [p["ff_in"].bias for p in parts], norm_ff)
            self.ff_out = self._linear([p["ff_out"].weight for p in parts],
                                       [p["ff_out"].bias for p in parts])

    @staticmethod
    def _linear(weights: list[Tensor], biases: list[Tensor],
                norms: list[nn.LayerNorm] | None = None) -> tuple[Tensor, Tensor]:
        r"""Stacked :obj:`[G, in, out]` weights and :obj:`[G, 1, out]` biases
        for ``baddbmm``. A LayerNorm's affine map before the linear layer is
        folded in, :math:`W(\hat x \odot w + b) + c = (W \,\mathrm{diag}(w))
        \hat x + (W b + c)`, computed in float64: one op less per norm, and
        the same values to float32 rounding."""
        stacked_w, stacked_b = [], []
        for g, (w, c) in enumerate(zip(weights, biases)):
            w, c = w.detach().double(), c.detach().double()
            if norms is not None:
                scale, shift = norms[g].weight.detach().double(), norms[g].bias.detach().double()
                w, c = w * scale, c + w @ shift
            stacked_w.append(w.t().float())
            stacked_b.append(c.float())
        return (torch.stack(stacked_w).contiguous(), torch.stack(stacked_b).unsqueeze(1))

    @staticmethod
    def _affine(norms: list[nn.LayerNorm]) -> tuple[Tensor, Tensor]:
        """Stacked :obj:`[G, 1, D]` weights and biases of the groups' norms."""
        return (torch.stack([n.weight.detach() for n in norms]).unsqueeze(1).clone(),
                torch.stack([n.bias.detach() for n in norms]).unsqueeze(1).clone())

    def _normalise(self, x: Tensor, affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
        # Pre-norm: the affine part lives in the next projection (see _linear).
        h = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return h if affine is None else torch.addcmul(affine[1], h, affine[0])

    @staticmethod
    def _apply(x: Tensor, linear: tuple[Tensor, Tensor]) -> Tensor:
        return torch.baddbmm(linear[1], x, linear[0])

    def step(self, x: Tensor, histories: Sequence[History], key: str,
             memory: Tensor | None = None) -> Tensor:
        r"""The blocks for the newest row of each group of :obj:`K`
        dialogues at once, each reading the key/value rows of its own
        earlier turns from (and writing this turn's to) its
        :class:`~models.history.History` under :obj:`key`. The dialogues'
        caches, of different lengths, are padded to the longest and the
        padding masked out of the attention, so each row equals what this
        gives for its dialogue alone (:math:`K = 1`, to float32 rounding).

        Args:
            x (Tensor): New rows :math:`(G, K, D)`, dialogue :obj:`k` in
                column :obj:`k`.
            histories (Sequence[History]): The :obj:`K` dialogues' caches.
            key (str): The cache's name.
            memory (Tensor, optional): The sources' new rows :math:`(G, K, D)`
                for cross-attention; None for self-attention.

        Shapes:
            - **output:** :math:`(G, K, D)`
        """
        groups, count, dim = x.shape
        if count != len(histories):
            raise ValueError(f"{count} rows per group for {len(histories)} dialogues")
        heads = self.heads
        head_dim = dim // heads
        query = self._normalise(x) if self.norm_first else x
        if self.cross:
            q = self._apply(query, self.q)
            kv = self._apply(self._normalise(memory), self.kv)
        else:
            qkv = self._apply(query, self.qkv)
            q, kv = qkv[..., :dim], qkv[..., dim:]
        kv = kv.view(groups, count, 2, heads, head_dim)
        # Each dialogue's cache keeps turns on the second-last axis,
        # [G, 2, heads, T, head_dim], the layout attention reads without a
        # copy.
        caches = [history.put(key, kv[:, k], dim=3) for k, history in enumerate(histories)]
        q = q.view(groups, count, heads, head_dim)
        if count == 1:
            attended = F.scaled_dot_product_attention(
                q.reshape(groups, heads, 1, head_dim), caches[0][:, 0], caches[0][:, 1])
            return self._finish(x, attended.view(groups, 1, dim))
        lengths = [cache.size(3) for cache in caches]
        longest = max(lengths)
        # Dialogue-major batch [K * G, heads, T, head_dim]: keys and values
        # padded to the longest cache; a key padding mask keeps each query
        # to its own dialogue's turns.
        padded = kv.new_empty(2, count, groups, heads, longest, head_dim)
        for k, cache in enumerate(caches):
            padded[:, k, :, :, :lengths[k]] = cache.transpose(0, 1)
            if lengths[k] < longest:
                # Masked out, but a weight of zero times garbage (NaN, inf)
                # would still reach the output: zero the padding only.
                padded[:, k, :, :, lengths[k]:] = 0
        mask = None
        if min(lengths) < longest:
            allowed = (torch.arange(longest, device=x.device)
                       < torch.tensor(lengths, device=x.device).unsqueeze(1))  # [K, T]
            mask = allowed.repeat_interleave(groups, 0).view(count * groups, 1, 1, longest)
        attended = F.scaled_dot_product_attention(
            q.transpose(0, 1).reshape(count * groups, heads, 1, head_dim),
            padded[0].view(count * groups, heads, longest, head_dim),
            padded[1].view(count * groups, heads, longest, head_dim), attn_mask=mask)
        return self._finish(x, attended.view(count, groups, dim).transpose(0, 1))

    def _finish(self, x: Tensor, attended: Tensor) -> Tensor:
        """The rest of the blocks after attention: the output projection,
        the residual sums and the feed-forward layer, on :math:`(G, K, D)`."""
        x = x + self._apply(attended, self.out)
        if not self.norm_first:
            x = self._normalise(x, self.norm_attended)
            h = self.activation(self._apply(x, self.ff_in))
            return self._normalise(x + self._apply(h, self.ff_out), self.norm_ff)
        h = self.activation(self._apply(self._normalise(x), self.ff_in))
        return x + self._apply(h, self.ff_out)
