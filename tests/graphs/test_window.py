import pytest

from graphs import DialogueBatch, WindowEdges, validate


def test_window_of_one(two_dialogues):
    g = validate(WindowEdges(past=1, future=1), two_dialogues)
    assert g.relations == ("text:past", "text:future", "audio:past", "audio:future")
    assert g.edge_index.tolist() == [
        [0, 1, 3, 1, 2, 4, 5, 6, 8, 6, 7, 9],
        [1, 2, 4, 0, 1, 3, 6, 7, 9, 5, 6, 8],
    ]
    assert g.edge_type.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]


def test_window_of_two_with_self_loops():
    batch = DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text",))
    g = validate(WindowEdges(past=2, future=2, self_loops=True), batch)
    assert g.relations == ("text:past", "text:future", "text:self")
    assert g.edge_index.tolist() == [
        [0, 0, 1, 3, 1, 2, 2, 4, 0, 1, 2, 3, 4],
        [1, 2, 2, 4, 0, 0, 1, 3, 0, 1, 2, 3, 4],
    ]
    assert g.edge_type.tolist() == [0] * 4 + [1] * 4 + [2] * 5


def test_asymmetric_window_matches_corect_flags():
    # CORECT --wp 1 --wf 2: node j sends to turns j-1 .. j+1, so a node
    # receives from 1 past (wf - 1) and 1 future (wp) turn.
    batch = DialogueBatch([4], [0, 1, 0, 1], ("text",))
    g = WindowEdges(past=0, future=2)(batch)
    assert g.relations == ("text:future",)
    assert g.edge_index.tolist() == [[1, 2, 2, 3, 3], [0, 0, 1, 1, 2]]


def test_unbounded_window_stays_inside_dialogues(two_dialogues):
    g = validate(WindowEdges(past=None, future=0), two_dialogues)
    assert g.relations == ("text:past", "audio:past")
    assert g.edge_index.tolist() == [[0, 0, 1, 3, 5, 5, 6, 8],
                                     [1, 2, 2, 4, 6, 7, 7, 9]]


def test_causal_flag_follows_future():
    assert WindowEdges(past=3, future=0).causal
    assert not WindowEdges(past=3, future=1).causal


@pytest.mark.parametrize("kwargs", [{"past": -1}, {"future": 1.5}, {"past": True}])
def test_bad_window_is_refused(kwargs):
    with pytest.raises(ValueError, match="non-negative int or None"):
        WindowEdges(**kwargs)
