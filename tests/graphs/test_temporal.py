import itertools

import pytest
import torch

from graphs import DialogueBatch, offset_pairs, per_modality
from graphs.temporal import temporal_kinds, temporal_pairs

WIDTHS = [None, 0, 1, 3]


@pytest.mark.parametrize("past,future,self_loops",
                         itertools.product(WIDTHS, WIDTHS, [False, True]))
def test_pairs_come_in_the_kinds_named_without_a_batch(two_dialogues, past,
                                                       future, self_loops):
    pairs = temporal_pairs(two_dialogues, past, future, self_loops)
    assert list(pairs) == temporal_kinds(past, future, self_loops)
    spans = {"past": (None if past is None else -past, -1),
             "future": (1, future), "self": (0, 0)}
    for kind, (source, target) in pairs.items():
        want_source, want_target = offset_pairs(two_dialogues, *spans[kind])
        assert source.tolist() == want_source.tolist()
        assert target.tolist() == want_target.tolist()


def test_a_side_of_width_zero_gets_no_kind():
    assert temporal_kinds(0, 0, False) == []
    assert temporal_kinds(0, None, True) == ["future", "self"]
    assert temporal_kinds(2, 0, False) == ["past"]


def test_per_modality_layout(two_dialogues):
    # Utterances 0-4; text nodes 0-4, audio nodes 5-9.
    pairs = [(torch.tensor([0, 3]), torch.tensor([1, 4])),
             (torch.tensor([2]), torch.tensor([2]))]
    edge_index, edge_type = per_modality(two_dialogues, pairs)
    assert edge_index.tolist() == [[0, 3, 2, 5, 8, 7], [1, 4, 2, 6, 9, 7]]
    assert edge_type.tolist() == [0, 0, 1, 2, 2, 3]


def test_per_modality_of_no_kinds_is_empty():
    batch = DialogueBatch([2], [0, 1], ("text", "audio"))
    edge_index, edge_type = per_modality(batch, [])
    assert edge_index.shape == (2, 0) and edge_type.shape == (0,)
    assert edge_index.dtype == edge_type.dtype == torch.long
