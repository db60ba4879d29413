from graphs import CausalEdges, WindowEdges, validate


def test_causal_past_two_with_self_loops(two_dialogues):
    g = validate(CausalEdges(past=2, self_loops=True), two_dialogues)
    assert g.relations == ("text:past", "text:self", "audio:past", "audio:self")
    assert g.edge_index.tolist() == [
        [0, 0, 1, 3, 0, 1, 2, 3, 4, 5, 5, 6, 8, 5, 6, 7, 8, 9],
        [1, 2, 2, 4, 0, 1, 2, 3, 4, 6, 7, 7, 9, 5, 6, 7, 8, 9],
    ]
    assert g.edge_type.tolist() == [0] * 4 + [1] * 5 + [2] * 4 + [3] * 5
    assert CausalEdges().causal


def test_causal_equals_window_without_future(two_dialogues):
    causal = CausalEdges(past=1)(two_dialogues)
    window = WindowEdges(past=1, future=0)(two_dialogues)
    assert causal.relations == window.relations
    assert causal.edge_index.tolist() == window.edge_index.tolist() == [
        [0, 1, 3, 5, 6, 8], [1, 2, 4, 6, 7, 9]]
