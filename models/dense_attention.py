"""``TransformerConv`` evaluated dialogue by dialogue as dense attention."""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.nn import TransformerConv


def group_positions(group: Tensor) -> tuple[Tensor, int, int]:
    """Position of every node inside its group, the number of groups and
    the largest group's size.

    Args:
        group (LongTensor): Group id of every node, shape :obj:`[N]`.
    """
    counts = torch.bincount(group)
    order = torch.argsort(group, stable=True)
    start = torch.cumsum(counts, 0) - counts
    position = torch.empty_like(group)
    position[order] = torch.arange(group.numel(), device=group.device) - start[group[order]]
    return position, counts.numel(), int(counts.max()) if counts.numel() else 0


def dense_transformer_conv(conv: TransformerConv, x: Tensor, edge_index: Tensor,
                           group: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    r"""Exactly what ``conv(x, edge_index)`` computes, for graphs whose edges
    never leave their group (a dialogue), evaluated as one dense, masked
    attention per group.

    PyG's message passing materialises ``[E, heads, channels]`` tensors for
    the queries, keys, values and their products; with CORECT's window an
    IEMOCAP batch has ~27k edges, and moving those tensors dominates a
    training step on CPU. Per dialogue the same scores are a small matrix
    product. Repeated (source, target) pairs (parallel edges of different
    relations) each count in the softmax, as they do in ``TransformerConv``:
    their multiplicity enters as ``log(count)`` in the scores.

    With :obj:`edge_weight`, each edge's attention-weighted message is
    scaled by its weight, :math:`\sum_j \alpha_{ij} w_{ij} v_j`, as in
    :func:`~models.rtgcn.attention_rows`; parallel edges share one
    softmax cell, whose message is scaled by their mean weight.

    Args:
        conv (TransformerConv): The layer, with ``concat=True``, no edge
            features, no ``beta`` gate and no attention dropout.
        x (Tensor): Node features, shape :obj:`[N, F]`.
        edge_index (LongTensor): Edges within groups, shape :obj:`[2, E]`.
        group (LongTensor): Group (dialogue) of every node, shape :obj:`[N]`.
        edge_weight (Tensor, optional): Weight of every edge, shape :obj:`[E]`.

    Returns:
        Node outputs, shape :obj:`[N, heads * channels]`.
    """
    if (conv.lin_edge is not None or conv.lin_beta is not None or not conv.concat
            or (conv.dropout and conv.training)):
        raise ValueError("dense_transformer_conv supports TransformerConv with "
                         "concat=True, no edge_dim, no beta and no attention dropout")
    heads, channels = conv.heads, conv.out_channels
    num_nodes = x.size(0)
    position, num_groups, size = group_positions(group)

    def dense(values: Tensor) -> Tensor:  # [N, H, C] -> [B, H, n, C]
        out = values.new_zeros(num_groups, size, heads, channels)
        out[group, position] = values
        return out.transpose(1, 2)

    query = dense(conv.lin_query(x).view(num_nodes, heads, channels))
    key = dense(conv.lin_key(x).view(num_nodes, heads, channels))
    value = dense(conv.lin_value(x).view(num_nodes, heads, channels))

    source, target = edge_index
    cell = (group[target] * size + position[target]) * size + position[source]
    count = torch.bincount(cell, minlength=num_groups * size * size)
    count = count.view(num_groups, 1, size, size).to(x.dtype)

    scores = query @ key.transpose(-1, -2) / math.sqrt(channels)
    scores = torch.where(count > 0, scores + count.clamp(min=1).log(),
                         torch.full_like(scores, float("-inf")))
    # A node with no in-edge receives nothing, as in message passing.
    isolated = count.sum(-1, keepdim=True) == 0
    weights = torch.softmax(scores.masked_fill(isolated, 0.0), dim=-1)
    weights = weights.masked_fill(isolated, 0.0)
    if edge_weight is not None:
        summed = torch.zeros(num_groups * size * size, dtype=x.dtype, device=x.device)
        summed.index_add_(0, cell, edge_weight.to(x.dtype))
        weights = weights * (summed.view(num_groups, 1, size, size) / count.clamp(min=1))
    out = (weights @ value).transpose(1, 2)[group, position]
    return out.reshape(num_nodes, heads * channels) + conv.lin_skip(x)
