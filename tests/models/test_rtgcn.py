"""RT-GCN's layers: the rows of chosen targets and edge weights, each
against a reference computation."""
import math

import pytest
import torch
from torch_geometric.nn import RGCNConv, TransformerConv

from models.rtgcn import dense_transformer_conv
from models.rtgcn import RTGCN, attention_rows, relational_rows


@pytest.mark.parametrize("seed", range(6))
def test_rtgcn_rows_for_the_targets_equal_pyg_message_passing(seed):
    """The newest turn's RT-GCN rows against PyG on the whole subgraph, with
    parallel edges of several relations and a target with no in-edge."""
    g = torch.Generator().manual_seed(seed)
    nodes, relations = 7, 4
    relational = RGCNConv(5, 6, relations, num_bases=2 if seed % 2 else None)
    attention = TransformerConv(6, 3, heads=2)
    x = torch.randn(nodes, 5, generator=g)
    target_nodes = torch.tensor([2, 4, 6])
    # Target 2 (node 6) gets no in-edge; (0 -> 2) appears under two relations.
    source = torch.tensor([0, 0, 1, 3, 5, 2, 4])
    target = torch.tensor([0, 0, 0, 1, 1, 1, 0])
    edge_type = torch.randint(0, relations, (7,), generator=g)
    edge_type[1] = (edge_type[0] + 1) % relations
    edge_index = torch.stack([source, target_nodes[target]])
    order = torch.argsort(edge_type, stable=True)

    with torch.no_grad():
        expected_h = relational(x, edge_index[:, order], edge_type[order])
        expected = attention(expected_h, edge_index)[target_nodes]
        h = relational_rows(relational, x, x[target_nodes], source, target, edge_type)
        torch.testing.assert_close(h, expected_h[target_nodes], atol=1e-5, rtol=1e-5)
        got = attention_rows(attention, expected_h, h, source, target)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def reference_rgcn(conv, x, source, target, edge_type, weight, num_nodes):
    """Edge by edge: the mean of w * W_r x_j per (target, relation), summed
    over relations, plus root and bias."""
    out = x @ conv.root + conv.bias
    for node in range(num_nodes):
        for r in range(conv.num_relations):
            edges = [e for e in range(source.numel())
                     if int(target[e]) == node and int(edge_type[e]) == r]
            if edges:
                out[node] += sum(weight[e] * (x[source[e]] @ conv.weight[r])
                                 for e in edges) / len(edges)
    return out


def reference_attention(conv, x, source, target, weight, num_nodes):
    """Edge by edge: a softmax over each target's in-edges, every message
    scaled by its edge's weight, plus the skip connection."""
    heads, channels = conv.heads, conv.out_channels
    q = conv.lin_query(x).view(-1, heads, channels)
    k = conv.lin_key(x).view(-1, heads, channels)
    v = conv.lin_value(x).view(-1, heads, channels)
    out = torch.zeros(num_nodes, heads, channels)
    for node in range(num_nodes):
        edges = [e for e in range(source.numel()) if int(target[e]) == node]
        if not edges:
            continue
        scores = torch.stack([(q[node] * k[source[e]]).sum(-1) / math.sqrt(channels)
                              for e in edges])  # [E_i, heads]
        alpha = scores.softmax(0)
        out[node] = sum(alpha[i].unsqueeze(-1) * weight[e] * v[source[e]]
                        for i, e in enumerate(edges))
    return out.view(num_nodes, -1) + conv.lin_skip(x)


def weighted_graph(seed):
    """Two dialogues of 4 nodes; parallel edges (same pair, two relations,
    two weights), a node with no in-edge, and weights of either sign."""
    g = torch.Generator().manual_seed(seed)
    source = torch.tensor([0, 0, 1, 2, 3, 1, 4, 5, 6, 4])
    target = torch.tensor([1, 1, 2, 1, 2, 3, 5, 6, 5, 6])
    edge_type = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1, 1, 2])
    weight = torch.rand(10, generator=g) * 2 - 0.5
    dialogue = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    return torch.randn(8, 5, generator=g), source, target, edge_type, weight, dialogue


@pytest.mark.parametrize("seed", range(3))
def test_weighted_rows_equal_the_edge_by_edge_reference(seed):
    x, source, target, edge_type, weight, _ = weighted_graph(seed)
    relational = RGCNConv(5, 6, 3)
    attention = TransformerConv(6, 3, heads=2)
    with torch.no_grad():
        h = relational_rows(relational, x, x, source, target, edge_type, weight)
        torch.testing.assert_close(
            h, reference_rgcn(relational, x, source, target, edge_type, weight, 8),
            atol=1e-5, rtol=1e-5)
        got = attention_rows(attention, h, h, source, target, weight)
        torch.testing.assert_close(
            got, reference_attention(attention, h, source, target, weight, 8),
            atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_weighted_dense_attention_equals_message_passing(seed):
    x, source, target, _, weight, dialogue = weighted_graph(seed)
    attention = TransformerConv(5, 3, heads=2)
    with torch.no_grad():
        dense = dense_transformer_conv(attention, x, torch.stack([source, target]),
                                       dialogue, weight)
        torch.testing.assert_close(
            dense, reference_attention(attention, x, source, target, weight, 8),
            atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("per_dialogue", [True, False])
def test_weights_of_one_change_nothing(per_dialogue):
    x, source, target, edge_type, _, dialogue = weighted_graph(0)
    order = torch.argsort(edge_type, stable=True)
    edge_index, edge_type = torch.stack([source, target])[:, order], edge_type[order]
    layer = RTGCN(5, 3, heads=2).eval()
    group = dialogue if per_dialogue else None
    with torch.no_grad():
        plain = layer(x, edge_index, edge_type, group)
        ones = layer(x, edge_index, edge_type, group, torch.ones(edge_type.numel()))
        halved = layer(x, edge_index, edge_type, group, torch.full((edge_type.numel(),), 0.5))
    torch.testing.assert_close(ones, plain, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(halved, plain, atol=1e-3)
