import pytest
import torch

from graphs import DialogueBatch, DialogueGraph
from viewing.stats import GraphStats, format_stats, graph_stats, receptive_field
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def stats(name: str, batch: DialogueBatch, **params) -> GraphStats:
    return graph_stats(REGISTRY.get(name, **params)(batch), batch, name=name)


def test_window_one_each_way():
    # Turns 0-4: t receives from t-1 and t+1.
    batch = DialogueBatch([5], [0, 1, 0, 1, 0], ("text",))
    s = stats("window", batch, past=1, future=1)
    assert (s.num_edges, s.num_utterances, s.edges_per_utterance) == (8, 5, 1.6)
    assert (s.in_degree_min, s.in_degree_mean, s.in_degree_max) == (1, 1.6, 2)
    assert s.edges_by_relation == {"text:past": 4, "text:future": 4}
    assert s.past == (1, 2) and s.future == (1, 2)
    assert s.past_mean == pytest.approx((4 / 5, 7 / 5))
    back, ahead = receptive_field(REGISTRY.get("window", past=1, future=1)(batch),
                                  batch, 2)
    assert back.tolist() == [0, 1, 2, 2, 2]
    assert ahead.tolist() == [2, 2, 2, 1, 0]


def test_causal_window_sees_no_future_and_doubles_its_past():
    batch = DialogueBatch([6], [0] * 6, ("text",))
    s = stats("causal", batch, past=2)
    assert (s.num_edges, s.edges_per_utterance) == (9, 1.5)
    assert (s.in_degree_min, s.in_degree_max) == (0, 2)
    assert s.past == (2, 4) and s.future == (0, 0)
    back, _ = receptive_field(REGISTRY.get("causal", past=2)(batch), batch, 2)
    assert back.tolist() == [0, 1, 2, 3, 4, 4]


def test_modality_edges_reach_no_other_turn():
    batch = DialogueBatch([4], [0, 1, 0, 1], ("audio", "text", "visual"))
    s = stats("modality", batch)
    assert (s.num_nodes, s.num_edges, s.edges_per_utterance) == (12, 24, 6.0)
    assert (s.in_degree_min, s.in_degree_mean, s.in_degree_max) == (2, 2.0, 2)
    assert s.past == (0, 0) and s.future == (0, 0)
    assert s.edges_by_relation["audio->text"] == 4


def test_speaker_relations_are_counted_per_relation():
    # Speakers 0 1 0 0 1: pairs (0,1) other, (1,2) other, (2,3) same, (3,4) other.
    batch = DialogueBatch([5], [0, 1, 0, 0, 1], ("text",))
    s = stats("speaker", batch, past=1, future=0)
    assert s.edges_by_relation == {"text:same:past": 1, "text:other:past": 3}
    assert s.past == (1, 2) and s.future == (0, 0)
    s = stats("speaker", batch, past=1, future=1)
    assert s.past == (1, 2) and s.future == (1, 2)


def test_cross_modal_hops_count_in_turns():
    # corect with past=1, future=0: a node hears turn t-1 of its own
    # modality, and other modalities of its own turn, so two layers reach
    # t-2 (two temporal hops) and never the future.
    batch = DialogueBatch([4], [0, 1, 0, 1], ("audio", "text"))
    s = stats("corect", batch, past=1, future=0)
    assert s.past == (1, 2) and s.future == (0, 0)
    assert s.in_degree_min == 2    # self + other modality at turn 0
    assert s.in_degree_max == 3


def test_receptive_fields_stop_at_dialogue_boundaries(two_dialogues):
    graph = REGISTRY.get("window", past=None, future=None)(two_dialogues)
    back, ahead = receptive_field(graph, two_dialogues, 3)
    assert back.tolist() == [0, 1, 2, 0, 1] * 2
    assert ahead.tolist() == [2, 1, 0, 1, 0] * 2
    back, ahead = receptive_field(graph, two_dialogues, 0)
    assert back.tolist() == ahead.tolist() == [0] * 10


def test_no_edges():
    batch = DialogueBatch([3], [0, 1, 0], ("text", "audio"))
    s = stats("none", batch)
    assert (s.num_edges, s.num_relations, s.edges_per_utterance) == (0, 0, 0.0)
    assert (s.in_degree_min, s.in_degree_mean, s.in_degree_max) == (0, 0.0, 0)
    assert s.edges_by_relation == {}
    assert s.past == s.future == (0, 0)


def dense_reference(graph: DialogueGraph, batch: DialogueBatch, layers: int):
    """Boolean reachability ``(A + I)^k`` and the extreme turns reached."""
    n = batch.num_nodes
    hears = torch.eye(n, dtype=torch.bool)
    hears[graph.edge_index[1], graph.edge_index[0]] = True   # [target, source]
    reach = torch.eye(n, dtype=torch.bool)
    for _ in range(layers):
        reach = (hears.float() @ reach.float()) > 0
    turn = batch.node_turn
    big = torch.iinfo(torch.long).max
    lo = torch.where(reach, turn[None, :], big).min(dim=1).values
    hi = torch.where(reach, turn[None, :], -1).max(dim=1).values
    return turn - lo, hi - turn


@pytest.mark.parametrize("name,params", [
    ("window", {"past": 2, "future": 3}), ("causal", {"past": 3}),
    ("speaker", {"past": 2, "future": 1}), ("corect", {"past": 1, "future": 2}),
    ("modality", {}),
])
@pytest.mark.parametrize("layers", [1, 2, 3])
def test_receptive_field_matches_dense_reachability(name, params, layers):
    gen = torch.Generator().manual_seed(layers)
    lengths = torch.randint(1, 9, (4,), generator=gen)
    speakers = torch.randint(0, 2, (int(lengths.sum()),), generator=gen)
    batch = DialogueBatch(lengths, speakers, ("text", "audio"))
    graph = REGISTRY.get(name, **params)(batch)
    back, ahead = receptive_field(graph, batch, layers)
    ref_back, ref_ahead = dense_reference(graph, batch, layers)
    assert back.tolist() == ref_back.tolist()
    assert ahead.tolist() == ref_ahead.tolist()


def test_as_row_and_table():
    batch = DialogueBatch([5], [0, 1, 0, 1, 0], ("text",))
    window = stats("window", batch, past=1, future=1)
    causal = stats("causal", batch, past=2)
    row = window.as_row()
    assert row["edges_per_utterance"] == 1.6
    assert (row["past_1"], row["future_1"], row["past_2"], row["future_2"]) == (1, 1, 2, 2)
    assert row["edges_by_relation"] == '{"text:past": 4, "text:future": 4}'
    table = format_stats([window, causal]).splitlines()
    assert table[0].split() == ["window", "causal"]
    assert table[5].split()[-2:] == ["1/1.6/2", "0/1.4/2"]
    assert table[-1] == ("a 2-layer model sees into the future: "
                         "window 2 turns, causal 0 turns")


def test_layers_must_be_positive():
    batch = DialogueBatch([2], [0, 1], ("text",))
    with pytest.raises(ValueError, match="layers"):
        graph_stats(REGISTRY.get("none")(batch), batch, layers=0)


@pytest.mark.parametrize("name,params", [
    ("window", {"past": 1, "future": 2}), ("causal", {"past": 1}),
    ("corect", {"past": 1, "future": 0}),
])
def test_every_layer_of_graph_stats_matches_receptive_field(name, params):
    # graph_stats computes all layers in one pass; each must equal the
    # field of a separate receptive_field call with that many layers.
    batch = DialogueBatch([6, 3], [0, 1, 0, 0, 1, 1, 0, 1, 0], ("text", "audio"))
    graph = REGISTRY.get(name, **params)(batch)
    s = graph_stats(graph, batch, layers=4, name=name)
    for k in range(1, 5):
        back, ahead = receptive_field(graph, batch, k)
        assert (s.past[k - 1], s.future[k - 1]) == (int(back.max()), int(ahead.max()))
        assert s.past_mean[k - 1] == float(back.float().mean())
        assert s.future_mean[k - 1] == float(ahead.float().mean())
