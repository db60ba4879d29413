"""The sequence encoders: padding never changes a dialogue's states, and a
causal encoder never reads a later turn."""
import pytest
import torch
from torch_geometric.utils import to_dense_batch

from models.encoders import GRUEncoder, SequenceEncoder


def encode(encoder, dialogues, causal):
    """States of every dialogue, run as one padded batch, back to packed rows."""
    x = torch.cat(dialogues)
    index = torch.repeat_interleave(torch.arange(len(dialogues)),
                                    torch.tensor([len(d) for d in dialogues]))
    dense, mask = to_dense_batch(x, index)
    out = encoder(dense, ~mask, causal)
    return out, out[mask]


def dialogues(lengths, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, dim, generator=g) for n in lengths]


ENCODERS = [
    ("gru", lambda: GRUEncoder(6, 8, 2, 0.0, bidirectional=False), True),
    ("bigru", lambda: GRUEncoder(6, 8, 2, 0.0, bidirectional=True), False),
    ("transformer-causal", lambda: SequenceEncoder(6, 8, 1, 2, 0.0), True),
    ("transformer", lambda: SequenceEncoder(6, 8, 1, 2, 0.0), False),
]


@pytest.mark.parametrize("make, causal", [e[1:] for e in ENCODERS],
                         ids=[e[0] for e in ENCODERS])
def test_a_dialogue_gets_the_same_states_alone_or_padded_in_a_batch(make, causal):
    torch.manual_seed(0)
    encoder = make().eval()
    batch = dialogues([5, 1, 9])
    _, packed = encode(encoder, batch, causal)
    alone = torch.cat([encode(encoder, [d], causal)[1] for d in batch])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-5)


def test_gru_states_are_zero_at_padding_and_hidden_wide():
    torch.manual_seed(0)
    for bidirectional in (False, True):
        encoder = GRUEncoder(6, 8, 1, 0.0, bidirectional).eval()
        dense, _ = encode(encoder, dialogues([2, 4]), causal=not bidirectional)
        assert dense.shape == (2, 4, 8)
        assert dense[0, 2:].abs().sum() == 0 and dense[0, :2].abs().sum() > 0


@pytest.mark.parametrize("bidirectional", [False, True])
def test_only_the_bidirectional_gru_reads_later_turns(bidirectional):
    torch.manual_seed(0)
    encoder = GRUEncoder(6, 8, 2, 0.0, bidirectional).eval()
    full = dialogues([10], seed=1)[0]
    _, whole = encode(encoder, [full], causal=not bidirectional)
    _, prefix = encode(encoder, [full[:4]], causal=not bidirectional)
    assert torch.allclose(whole[:4], prefix, atol=1e-6) != bidirectional


def test_a_bidirectional_gru_refuses_causal_use_and_odd_widths():
    encoder = GRUEncoder(6, 8, 1, 0.0, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional GRU reads later turns"):
        encode(encoder, dialogues([3]), causal=True)
    with pytest.raises(ValueError, match="hidden=7 .* must be even"):
        GRUEncoder(6, 7, 1, 0.0, bidirectional=True)
    assert GRUEncoder(6, 7, 1, 0.0, bidirectional=False).gru.hidden_size == 7
