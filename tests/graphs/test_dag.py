import pytest

from graphs import DagEdges, DialogueBatch, validate
from graphs.dag import previous_turn_of_speaker


@pytest.fixture
def batch():
    # Dialogue 0: speakers A B A A (utterances 0-3); dialogue 1: A A B (4-6).
    return DialogueBatch([4, 3], [0, 1, 0, 0, 0, 0, 1], ("text",))


def test_each_turn_reaches_back_to_its_speakers_previous_turn(batch):
    g = validate(DagEdges(), batch)
    assert g.relations == ("text:same", "text:other")
    # Turn 1 (B, no earlier turn) hears all of the past; turn 2 (A) hears
    # back to A's turn 0; turn 3 (A) only to turn 2. Dialogue 1 likewise.
    assert g.edge_index.tolist() == [[0, 2, 4, 0, 1, 4, 5],
                                     [2, 3, 5, 1, 2, 6, 6]]
    assert g.edge_type.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert DagEdges().causal and DagEdges().horizon is None


def test_speaker_turns_reaches_further_back(batch):
    g = validate(DagEdges(speaker_turns=2), batch)
    # Turn 3 (A) now reaches A's second previous turn, 0.
    assert g.edge_index.tolist() == [[0, 0, 2, 4, 0, 1, 1, 4, 5],
                                     [2, 3, 3, 5, 1, 2, 3, 6, 6]]


def test_two_modalities_repeat_the_edges_per_modality():
    batch = DialogueBatch([3], [0, 1, 0], ("text", "audio"))
    g = validate(DagEdges(), batch)
    assert g.relations == ("text:same", "text:other", "audio:same", "audio:other")
    assert g.edge_index.tolist() == [[0, 0, 1, 3, 3, 4], [2, 1, 2, 5, 4, 5]]
    assert g.edge_type.tolist() == [0, 1, 1, 2, 3, 3]


def test_a_monologue_links_each_turn_to_the_one_before():
    g = DagEdges()(DialogueBatch([4], [0, 0, 0, 0], ("text",)))
    assert g.edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]


def test_previous_turn_of_speaker(batch):
    assert previous_turn_of_speaker(batch, 1).tolist() == [-1, -1, 0, 2, -1, 4, -1]
    assert previous_turn_of_speaker(batch, 2).tolist() == [-1, -1, -1, 0, -1, -1, -1]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_speaker_turns_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="speaker_turns"):
        DagEdges(speaker_turns=bad)
