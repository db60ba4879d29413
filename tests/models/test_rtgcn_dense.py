import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.nn import TransformerConv

from models.rtgcn import dense_transformer_conv, group_positions


def test_group_positions():
    position, groups, size = group_positions(torch.tensor([1, 0, 1, 1, 0]))
    assert position.tolist() == [0, 0, 1, 2, 1]
    assert (groups, size) == (2, 3)


@st.composite
def grouped_graphs(draw):
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    group = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    start = torch.cumsum(torch.tensor([0] + sizes), 0)
    edges = []
    for g, n in enumerate(sizes):
        pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                              max_size=3 * n))
        edges += [(int(start[g]) + a, int(start[g]) + b) for a, b in pairs]
    edge_index = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    # Shuffle node ids so groups are not contiguous, as in modality-major order.
    perm = torch.randperm(group.numel(), generator=torch.Generator().manual_seed(len(edges)))
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    return group[perm], inverse[edge_index]


@settings(max_examples=60, deadline=None)
@given(graph=grouped_graphs())
def test_dense_equals_message_passing_with_parallel_edges_and_isolated_nodes(graph):
    group, edge_index = graph
    torch.manual_seed(0)
    conv = TransformerConv(6, 4, heads=3)
    x = torch.randn(group.numel(), 6, requires_grad=True)
    expected = conv(x, edge_index)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    got = dense_transformer_conv(conv, x, edge_index, group)
    (grad_got,) = torch.autograd.grad(got.square().sum(), x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_got, grad_expected, atol=1e-4, rtol=1e-4)


def test_unsupported_variants_are_refused():
    x, edge_index, group = torch.randn(2, 4), torch.tensor([[0], [1]]), torch.zeros(2).long()
    with pytest.raises(ValueError, match="concat=True"):
        dense_transformer_conv(TransformerConv(4, 4, heads=2, beta=True), x, edge_index, group)
