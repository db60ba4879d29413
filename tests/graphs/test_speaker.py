import pytest

from graphs import DialogueBatch, SpeakerEdges, validate


@pytest.fixture
def text_only():
    return DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text",))


def test_same_and_other_speaker_window_two(text_only):
    g = validate(SpeakerEdges(past=2, future=2), text_only)
    assert g.relations == ("text:same:past", "text:other:past",
                           "text:same:future", "text:other:future")
    assert g.edge_index.tolist() == [[0, 0, 1, 3, 2, 1, 2, 4],
                                     [2, 1, 2, 4, 0, 0, 1, 3]]
    assert g.edge_type.tolist() == [0, 1, 1, 1, 2, 3, 3, 3]
    assert not SpeakerEdges(past=2, future=2).causal


def test_two_modalities_window_one(two_dialogues):
    g = validate(SpeakerEdges(past=1, future=1, self_loops=True), two_dialogues)
    assert len(g.relations) == 10 and g.relations[4] == "text:self"
    # Speakers alternate, so every temporal edge is "other".
    assert g.edge_type.tolist() == ([1] * 3 + [3] * 3 + [4] * 5
                                    + [6] * 3 + [8] * 3 + [9] * 5)


def test_pairwise_causal(text_only):
    builder = SpeakerEdges(past=1, future=0, pairwise=True, num_speakers=2)
    g = validate(builder, text_only)
    assert builder.causal
    assert g.relations == ("text:s0->s0:past", "text:s0->s1:past",
                           "text:s1->s0:past", "text:s1->s1:past")
    assert g.edge_index.tolist() == [[0, 3, 1], [1, 4, 2]]
    assert g.edge_type.tolist() == [1, 1, 2]


def test_pairwise_refuses_more_speakers_than_sized_for():
    batch = DialogueBatch([1, 3], [0, 0, 1, 2], ("text",))
    with pytest.raises(ValueError, match="num_speakers=2.*dialogue 1.*speaker id 2"):
        SpeakerEdges(pairwise=True, num_speakers=2)(batch)


def test_many_speakers_without_pairwise():
    batch = DialogueBatch([4], [0, 1, 2, 1], ("text",))
    g = validate(SpeakerEdges(past=3, future=0), batch)
    # Sorted by (relation, target, source); only 1 -> 3 is same-speaker.
    assert g.edge_index.tolist() == [[1, 0, 0, 1, 0, 2], [3, 1, 2, 2, 3, 3]]
    assert g.edge_type.tolist() == [0, 1, 1, 1, 1, 1]
