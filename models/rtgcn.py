"""RT-GCN: the relational temporal graph layers, offline (message passing, or
dense attention per dialogue) and one turn at a time, in one file so that a
change to the layers' math lands beside every form of it."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import RGCNConv, TransformerConv
from torch_geometric.utils import softmax as pyg_softmax

from .history import History


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


def relational_rows(conv: RGCNConv, x: Tensor, targets: Tensor, source: Tensor,
                    target: Tensor, edge_type: Tensor,
                    edge_weight: Tensor | None = None) -> Tensor:
    r"""What ``RGCNConv`` (mean aggregation) computes for the :obj:`T`
    target nodes only: for each, the mean message of every relation over
    its in-edges, summed, plus the root transform. Edges run from
    ``x[source]`` to ``targets[target]``.

    With :obj:`edge_weight`, an edge's message is scaled by its weight
    before the mean, :math:`\frac{1}{|N_r(i)|}\sum_{j \in N_r(i)} w_{ij}
    W_r x_j`; weights of 1 give ``RGCNConv`` exactly.

    The messages are linear, so the inputs are averaged per (target,
    relation) first and each relation's weight applied once, as one matrix
    product over (relation, input) pairs: :math:`\sum_r \bar x_{t,r} W_r`.

    Args:
        conv (RGCNConv): The layer, without block decomposition.
        x (Tensor): Source node inputs, shape :obj:`[N, F]`.
        targets (Tensor): Target node inputs, shape :obj:`[T, F]`.
        source (LongTensor): Rows of :obj:`x`, shape :obj:`[E]`.
        target (LongTensor): Rows of :obj:`targets`, shape :obj:`[E]`.
        edge_type (LongTensor): Relations, shape :obj:`[E]`.
        edge_weight (Tensor, optional): Weights, shape :obj:`[E]`.

    Shapes:
        - **output:** :math:`(T, O)`
    """
    weight = conv.weight
    if conv.num_bases is not None:
        weight = (conv.comp @ weight.view(conv.num_bases, -1)).view(
            conv.num_relations, conv.in_channels_l, conv.out_channels)
    num_targets, relations = targets.size(0), conv.num_relations
    cells = num_targets * relations
    cell = target * relations + edge_type
    messages = x[source] if edge_weight is None else x[source] * edge_weight.unsqueeze(1)
    summed = x.new_zeros(cells, x.size(1)).index_add_(0, cell, messages)
    # An empty cell sums to zero and stays zero: it sends no message.
    count = torch.bincount(cell, minlength=cells).clamp_(min=1).unsqueeze(1)
    mean = (summed / count.to(summed.dtype)).view(num_targets, -1)  # [T, R * F]
    out = mean @ weight.reshape(-1, conv.out_channels)
    if conv.root is not None:
        out = out + targets @ conv.root
    return out + conv.bias if conv.bias is not None else out


def attention_rows(conv: TransformerConv, x: Tensor, targets: Tensor, source: Tensor,
                   target: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    r"""What ``TransformerConv`` (heads concatenated, skip connection, no
    edge features or gate) computes for the :obj:`T` target nodes only.
    A target without in-edges gets its skip connection alone, as in
    message passing. With :obj:`edge_weight`, each edge's attention-weighted
    message is scaled by its weight, :math:`\sum_j \alpha_{ij} w_{ij} v_j`.

    Args:
        conv (TransformerConv): The layer.
        x (Tensor): Source node inputs, shape :obj:`[N, F]`.
        targets (Tensor): Target node inputs, shape :obj:`[T, F]`.
        source (LongTensor): Rows of :obj:`x`, shape :obj:`[E]`.
        target (LongTensor): Rows of :obj:`targets`, shape :obj:`[E]`.
        edge_weight (Tensor, optional): Weights, shape :obj:`[E]`.

    Shapes:
        - **output:** :math:`(T, heads \cdot C)`
    """
    heads, channels = conv.heads, conv.out_channels
    x_source = x[source]
    query = conv.lin_query(targets).view(-1, heads, channels)[target]
    key = conv.lin_key(x_source).view(-1, heads, channels)
    value = conv.lin_value(x_source).view(-1, heads, channels)
    score = (query * key).sum(-1) / math.sqrt(channels)
    alpha = pyg_softmax(score, target, num_nodes=targets.size(0))
    if edge_weight is not None:
        alpha = alpha * edge_weight.unsqueeze(1)
    out = value.new_zeros(targets.size(0), heads, channels).index_add(
        0, target, alpha.unsqueeze(-1) * value)
    return out.view(targets.size(0), heads * channels) + conv.lin_skip(targets)


class RTGCN(nn.Module):
    r"""``RGCNConv`` then ``TransformerConv`` (heads concatenated),
    BatchNorm and LeakyReLU, as in CORECT.

    Messages only travel along the given edges, so on a causal graph no node
    sees a later turn; at evaluation BatchNorm uses running statistics and
    mixes nothing across nodes. Edge weights, when given, scale each edge's
    message in both layers (:func:`relational_rows`,
    :func:`attention_rows`); without them the layers are PyG's own.

    Args:
        hidden (int): Node width in.
        num_relations (int): Relations of the edge builder.
        heads (int): ``TransformerConv`` heads.

    Given each node's dialogue, the ``TransformerConv`` is evaluated as
    dense attention per dialogue (:func:`dense_transformer_conv`), the same
    function of the same weights, several times faster on CPU.

    Shapes:
        - **input:** nodes :math:`(N, H)`, edge_index :math:`(2, E)`,
          edge_type :math:`(E)` sorted ascending, optionally the dialogue
          of every node :math:`(N)` and edge weights :math:`(E)`
        - **output:** :math:`(N, H \cdot heads)`
    """

    def __init__(self, hidden: int, num_relations: int, heads: int) -> None:
        super().__init__()
        self.relational = RGCNConv(hidden, hidden, num_relations, is_sorted=True)
        self.attention = TransformerConv(hidden, hidden, heads=heads, concat=True)
        self.norm = nn.BatchNorm1d(hidden * heads)
        self.act = nn.LeakyReLU()

    @property
    def out_dim(self) -> int:
        return self.norm.num_features

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
                dialogue: Tensor | None = None,
                edge_weight: Tensor | None = None) -> Tensor:
        if edge_weight is None:
            # Builders emit edges sorted by relation, so RGCN may skip its sort.
            h = self.relational(x, edge_index, edge_type)
        else:
            h = relational_rows(self.relational, x, x, edge_index[0], edge_index[1],
                                edge_type, edge_weight)
        if dialogue is not None:
            h = dense_transformer_conv(self.attention, h, edge_index, dialogue, edge_weight)
        elif edge_weight is None:
            h = self.attention(h, edge_index)
        else:
            h = attention_rows(self.attention, h, h, edge_index[0], edge_index[1],
                               edge_weight)
        return self.act(self.norm(h))

    def check_steppable(self) -> None:
        """Refuse layer settings that :meth:`step` does not reproduce."""
        relational, attention = self.relational, self.attention
        if (relational.num_blocks is not None or relational.aggr != "mean"
                or attention.lin_edge is not None or attention.lin_beta is not None
                or not attention.concat or not attention.root_weight):
            raise NotImplementedError(
                "rtgcn: streaming supports RGCNConv with mean aggregation and no block "
                "decomposition, and TransformerConv with concat=True, a skip connection, "
                "no edge_dim and no beta only")

    def step(self, new: Tensor, histories: Sequence[History], starts: Sequence[int],
             edges: Sequence[Sequence[Tensor]]) -> Tensor:
        r"""The forward pass at evaluation for the newest turn's :obj:`M`
        nodes of each of :obj:`K` live dialogues, given the in-edges of
        those nodes in the graph of the dialogue's turns ``start..now``.

        Both layers are evaluated for the new nodes alone
        (:func:`relational_rows`, :func:`attention_rows`), all dialogues'
        at once as one graph of disjoint parts; the inputs and ``RGCNConv``
        outputs of earlier turns come from each dialogue's cache, where this
        step writes the new turn's. On a causal graph no earlier node's
        output can change, so this equals :meth:`forward` on the whole
        dialogue.

        Args:
            new (Tensor): The new turns' node inputs, shape :obj:`[K, M, H]`,
                modality-major like the graph.
            histories (Sequence[History]): The :obj:`K` dialogues' caches;
                keys ``graph/input`` and ``graph/relational``.
            starts (Sequence[int]): Per dialogue the first turn of the graph
                its edges come from.
            edges (Sequence[Sequence[Tensor]]): Per dialogue the new nodes'
                in-edges: sources numbered in that graph (node ``m * L + u``
                for ``L`` turns) :obj:`[E]`, targets' modality positions
                :obj:`[E]`, relations :obj:`[E]` and, for a weighted graph,
                weights :obj:`[E]`.

        Shapes:
            - **output:** :math:`(K, M \cdot heads \cdot H)`
        """
        count = new.size(1)
        rows = list(new.unbind(0))

        def tails(key: str, turn_rows: list[Tensor]) -> list[Tensor]:
            # Turns start..now of every modality, modality-major like the
            # graph: the cache keeps turns on axis 1, [M, T, H].
            return [history.put(key, r, dim=1)[:, start:].reshape(-1, r.size(-1))
                    for history, r, start in zip(histories, turn_rows, starts)]

        inputs = tails("graph/input", rows)
        sources, targets, types, weights = [], [], [], []
        offset = 0
        for k, (tail, found) in enumerate(zip(inputs, edges)):
            # Each dialogue's sources shifted past the earlier dialogues' nodes.
            sources.append(found[0] + offset)
            targets.append(found[1] + k * count)
            types.append(found[2])
            if len(found) > 3:
                weights.append(found[3])
            offset += tail.size(0)
        source, target = torch.cat(sources), torch.cat(targets)
        weight = torch.cat(weights) if weights else None
        targets_in = torch.cat(rows)
        h = relational_rows(self.relational, torch.cat(inputs), targets_in, source, target,
                            torch.cat(types), weight)
        relational = tails("graph/relational", list(h.split(count)))
        h = attention_rows(self.attention, torch.cat(relational), h, source, target, weight)
        return self.act(self.norm(h)).reshape(len(histories), -1)
