import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from models.attention_blocks import (CrossAttentionLayer, block_parts, grouped_blocks,
                                     packed_layout)
from models.crossmodal import PairwiseCrossModal
from models.encoders import causal_mask


def padding_of(lengths: list[int]) -> torch.Tensor:
    return torch.arange(max(lengths))[None] >= torch.tensor(lengths)[:, None]


def one_by_one(layers, x, memory, padding, mask):
    """Each block on its own slice, in the padded layout, padding dropped."""
    keep = ~padding
    out = []
    for g, layer in enumerate(layers):
        dense = torch.zeros(*padding.shape, x.size(-1))
        dense[keep] = x[g]
        if memory is None:
            h = layer(dense, src_mask=mask, src_key_padding_mask=padding)
        else:
            source = torch.zeros_like(dense)
            source[keep] = memory[g]
            h = layer(dense, source, padding, mask)
        out.append(h[keep])
    return torch.stack(out)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       cross=st.booleans(), causal=st.booleans())
def test_grouped_equals_one_block_at_a_time(lengths, cross, causal):
    torch.manual_seed(len(lengths))
    dim, groups = 8, 3
    if cross:
        layers = [CrossAttentionLayer(dim, 2, 0.0) for _ in range(groups)]
    else:
        layers = [nn.TransformerEncoderLayer(dim, 2, 16, 0.0, batch_first=True,
                                             norm_first=True) for _ in range(groups)]
    padding = padding_of(lengths)
    mask = causal_mask(padding.size(1)) if causal else None
    x = torch.randn(groups, sum(lengths), dim, requires_grad=True)
    memory = torch.randn(groups, sum(lengths), dim) if cross else None
    params = [p for layer in layers for p in layer.parameters()]

    expected = one_by_one(layers, x, memory, padding, mask)
    grads_expected = torch.autograd.grad(expected.square().sum(), [x, *params])
    got = grouped_blocks(layers, x, memory, packed_layout(padding, mask))
    grads_got = torch.autograd.grad(got.square().sum(), [x, *params])

    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_got, grads_expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_pairwise_crossmodal_orders_targets_then_sources():
    torch.manual_seed(0)
    modalities = ["audio", "text", "visual"]
    pcm = PairwiseCrossModal(modalities, 8, layers=2, heads=2, self_layers=2,
                             self_heads=2, dropout=0.0).eval()
    padding = padding_of([5, 1, 3])
    keep = ~padding
    dense = {m: torch.randn(*padding.shape, 8) for m in modalities}
    expected = []
    for dst in modalities:
        crossed = []
        for src in modalities:
            if src != dst:
                h = dense[dst]
                for layer in pcm.cross[f"{src}->{dst}"]:
                    h = layer(h, dense[src], padding, None)
                crossed.append(h)
        expected.append(pcm.self_attention[dst](torch.cat(crossed, -1),
                                                src_key_padding_mask=padding))
    got = pcm({m: dense[m][keep] for m in modalities}, padding, causal=False)
    assert got.shape == (9, 3 * 2 * 8)
    torch.testing.assert_close(got, torch.cat(expected, -1)[keep], atol=1e-5, rtol=1e-5)


def test_dropout_is_drawn_in_training_only():
    torch.manual_seed(0)
    layers = [CrossAttentionLayer(8, 2, 0.5) for _ in range(2)]
    padding = padding_of([4, 2])
    x, memory = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    evaluated = [grouped_blocks([layer.eval() for layer in layers], x, memory,
                                packed_layout(padding))
                 for _ in range(2)]
    torch.testing.assert_close(evaluated[0], evaluated[1], atol=0.0, rtol=0.0)
    trained = [grouped_blocks([layer.train() for layer in layers], x, memory,
                              packed_layout(padding))
               for _ in range(2)]
    assert not torch.allclose(trained[0], trained[1])


def test_memory_must_match_the_block_kind():
    cross = [CrossAttentionLayer(8, 2, 0.0)]
    padding = padding_of([3])
    with pytest.raises(ValueError, match="cross-attention blocks need memory"):
        grouped_blocks(cross, torch.randn(1, 3, 8), None, packed_layout(padding))


def test_post_norm_and_foreign_layers_are_refused():
    with pytest.raises(NotImplementedError, match="pre-norm"):
        block_parts(nn.TransformerEncoderLayer(8, 2, 16, norm_first=False), "layer 0")
    with pytest.raises(NotImplementedError, match="layer 1: no batched form for Linear"):
        block_parts(nn.Linear(8, 8), "layer 1")


def test_blocks_that_differ_cannot_be_grouped():
    layers = [CrossAttentionLayer(8, 2, 0.0), CrossAttentionLayer(8, 4, 0.0)]
    x = torch.randn(2, 3, 8)
    with pytest.raises(ValueError, match="must share class, heads, dropout"):
        grouped_blocks(layers, x, x, packed_layout(padding_of([3])))


def test_packed_layout_indexes_real_rows_and_masks_padding_and_future():
    padding = padding_of([2, 3])
    layout = packed_layout(padding)
    assert layout.real.tolist() == [0, 1, 3, 4, 5]
    assert (layout.batch, layout.length) == (2, 3)
    assert layout.allowed.shape == (2, 1, 1, 3)
    assert layout.allowed[:, 0, 0].tolist() == [[True, True, False], [True, True, True]]
    causal = packed_layout(padding, causal_mask(3))
    assert causal.allowed.shape == (2, 1, 3, 3)
    assert causal.allowed[0, 0].tolist() == [[True, False, False], [True, True, False],
                                             [True, True, False]]
    assert causal.allowed[1, 0].tolist() == [[True, False, False], [True, True, False],
                                             [True, True, True]]
