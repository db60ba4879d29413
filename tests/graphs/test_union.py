import pytest

from graphs import (CausalEdges, ModalityEdges, NoEdges, SpeakerEdges,
                    UnionEdges, WindowEdges, corect, validate)


def test_union_offsets_and_prefixes_relations(two_dialogues):
    union = UnionEdges({"near": CausalEdges(past=1), "modality": ModalityEdges()})
    g = validate(union, two_dialogues)
    assert g.relations == ("near/text:past", "near/audio:past",
                           "modality/text->audio", "modality/audio->text")
    assert g.edge_index.tolist() == [
        [0, 1, 3, 5, 6, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 4, 6, 7, 9, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4],
    ]
    assert g.edge_type.tolist() == [0] * 3 + [1] * 3 + [2] * 5 + [3] * 5
    assert union.causal


def test_union_of_overlapping_parts_keeps_both_relations(two_dialogues):
    union = UnionEdges({"a": WindowEdges(1, 1), "b": SpeakerEdges(1, 1)})
    g = validate(union, two_dialogues)
    assert g.num_edges == 24
    assert not union.causal


def test_corect_preset(two_dialogues):
    g = validate(corect(past=1, future=1), two_dialogues)
    assert g.relations == (
        "window/text:past", "window/text:future", "window/text:self",
        "window/audio:past", "window/audio:future", "window/audio:self",
        "modality/text->audio", "modality/audio->text")
    assert g.num_edges == 2 * (3 + 3 + 5) + 10


def test_bad_parts_are_refused():
    with pytest.raises(ValueError, match="at least one part"):
        UnionEdges({})
    with pytest.raises(TypeError, match="'x' is not an EdgeBuilder"):
        UnionEdges({"x": object()})
    with pytest.raises(ValueError, match="may not contain '/'"):
        UnionEdges({"a/b": NoEdges()})
