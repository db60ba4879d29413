import pytest
import torch

from graphs import DialogueBatch


def test_node_attributes_are_modality_major(two_dialogues):
    b = two_dialogues
    assert b.num_nodes == 10
    assert b.ptr.tolist() == [0, 3, 5]
    assert b.node_dialogue.tolist() == [0, 0, 0, 1, 1] * 2
    assert b.node_turn.tolist() == [0, 1, 2, 0, 1] * 2
    assert b.node_speaker.tolist() == [0, 1, 0, 0, 1] * 2
    assert b.node_modality.tolist() == [0] * 5 + [1] * 5
    assert b.node_utterance.tolist() == [0, 1, 2, 3, 4] * 2
    assert b.node_index("audio", torch.tensor([0, 4])).tolist() == [5, 9]


@pytest.mark.parametrize("lengths, speakers, modalities, match", [
    ([], [], ("text",), "at least one dialogue"),
    ([2, 0], [0, 1], ("text",), "dialogue 1 of the batch has 0"),
    ([2], [0], ("text",), "1 speaker ids for 2 utterances"),
    ([1], [-1], ("text",), "non-negative"),
    ([1], [0], (), "non-empty"),
    ([1], [0], ("text", "text"), "distinct"),
])
def test_bad_structure_is_refused(lengths, speakers, modalities, match):
    with pytest.raises(ValueError, match=match):
        DialogueBatch(lengths, speakers, modalities)
