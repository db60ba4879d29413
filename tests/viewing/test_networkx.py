import json

import networkx as nx
import pytest
import torch

from graphs import DialogueBatch, DialogueGraph
from viewing.networkx import from_networkx, to_networkx, write_gexf, write_graphml
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
MODALITIES = ("audio", "text", "visual")
# Parameters for builders whose defaults need help: a union needs parts.
PARAMS = {
    "union": {"parts": {"near": {"builder": "speaker", "past": 1, "future": 1},
                        "modality": {"self_loops": True}}},
}


def one_dialogue() -> DialogueBatch:
    features = {m: torch.randn(7, 4, generator=torch.Generator().manual_seed(i))
                for i, m in enumerate(MODALITIES)}
    return DialogueBatch([7], [0, 1, 1, 0, 2, 0, 1], MODALITIES, features=features)


def test_attributes_of_a_small_dialogue(two_dialogues):
    """Dialogue 1 of the batch (turns 0-1, speakers 0 1), window past=1."""
    graph = REGISTRY.get("window", past=1, future=0)(two_dialogues)
    G = to_networkx(graph, two_dialogues, dialogue=1, labels=["hap", None],
                    texts=["hi", "ho"], speakers=["Ann", "Bob"],
                    builder="window", dialogue_id="d2")
    # Local keys m * T + t; batch nodes 3, 4 (text) and 8, 9 (audio).
    assert sorted(G.nodes) == [0, 1, 2, 3]
    assert G.nodes[3] == {"dialogue": 1, "turn": 1, "speaker": "Bob",
                          "speaker_id": 1, "modality": "audio",
                          "modality_id": 1, "batch_node": 9, "text": "ho"}
    assert G.nodes[0]["label"] == "hap" and "label" not in G.nodes[1]
    assert sorted(G.edges(keys=True, data=True)) == [
        (0, 1, "text:past", {"relation": "text:past", "relation_id": 0, "order": 0}),
        (2, 3, "audio:past", {"relation": "audio:past", "relation_id": 1, "order": 1}),
    ]
    assert G.graph == {"relations": ["text:past", "audio:past"],
                       "modalities": ["text", "audio"], "num_turns": 2,
                       "dialogue": 1, "builder": "window", "dialogue_id": "d2"}


def test_speakers_default_to_local_ids_and_lengths_are_checked(two_dialogues):
    graph = REGISTRY.get("none")(two_dialogues)
    G = to_networkx(graph, two_dialogues, dialogue=0)
    assert [G.nodes[n]["speaker"] for n in range(3)] == ["s0", "s1", "s0"]
    assert G.number_of_edges() == 0
    with pytest.raises(ValueError, match="2 labels for a dialogue of 3 turns"):
        to_networkx(graph, two_dialogues, labels=["a", "b"])
    with pytest.raises(IndexError):
        to_networkx(graph, two_dialogues, dialogue=2)


def test_a_later_dialogue_converts_as_if_batched_alone(two_dialogues):
    builder = REGISTRY.get("corect", past=1, future=1)
    alone = builder(DialogueBatch([2], [0, 1], ("text", "audio")))
    back = from_networkx(to_networkx(builder(two_dialogues), two_dialogues, 1))
    assert back.edge_index.tolist() == alone.edge_index.tolist()
    assert back.edge_type.tolist() == alone.edge_type.tolist()
    assert back.relations == alone.relations


@pytest.mark.parametrize("name", REGISTRY.names())
def test_round_trip_of_every_registered_builder(name):
    batch = one_dialogue()
    graph = REGISTRY.get(name, **PARAMS.get(name, {}))(batch)
    back = from_networkx(to_networkx(graph, batch))
    assert back.edge_index.tolist() == graph.edge_index.tolist()
    assert back.edge_type.tolist() == graph.edge_type.tolist()
    assert back.edge_index.dtype == back.edge_type.dtype == torch.long
    assert back.relations == graph.relations
    if graph.edge_weight is None:
        assert back.edge_weight is None
    else:
        assert back.edge_weight.tolist() == graph.edge_weight.tolist()


def test_weights_survive_graphml(tmp_path):
    batch = one_dialogue()
    graph = REGISTRY.get("similarity", k=2, weighted=True)(batch)
    path = write_graphml(to_networkx(graph, batch), tmp_path / "g.graphml")
    back = from_networkx(nx.read_graphml(path))
    assert back.edge_index.tolist() == graph.edge_index.tolist()
    torch.testing.assert_close(back.edge_weight, graph.edge_weight)


def test_round_trip_keeps_a_builder_order_that_is_not_canonical():
    # Inside relation 0 the targets run backwards; from_networkx must not
    # re-sort them.
    graph = DialogueGraph(torch.tensor([[0, 1, 2], [2, 1, 0]]),
                          torch.tensor([0, 0, 1]), ("a", "b"))
    batch = DialogueBatch([3], [0, 0, 0], ("text",))
    back = from_networkx(to_networkx(graph, batch))
    assert back.edge_index.tolist() == [[0, 1, 2], [2, 1, 0]]
    assert back.edge_type.tolist() == [0, 0, 1]


def test_without_order_edges_come_in_canonical_order():
    batch = one_dialogue()
    graph = REGISTRY.get("window", past=2, future=1)(batch)
    G = to_networkx(graph, batch)
    for _, _, data in G.edges(data=True):
        del data["order"]
    back = from_networkx(G)
    assert back.edge_index.tolist() == graph.edge_index.tolist()


def test_from_networkx_refuses_foreign_graphs():
    with pytest.raises(ValueError, match="no 'relations'"):
        from_networkx(nx.MultiDiGraph())
    G = nx.MultiDiGraph(relations=["r"])
    G.add_nodes_from(["a", "b"])
    with pytest.raises(ValueError, match="integer ids"):
        from_networkx(G)


def test_graphml_is_written_and_reads_back_losslessly(tmp_path):
    batch = one_dialogue()
    graph = REGISTRY.get("corect", past=2, future=1)(batch)
    G = to_networkx(graph, batch, labels=["hap", None, "sad", "neu", None, "ang", "hap"],
                    texts=["a", "b", None, "d", "e", "f", "g"],
                    builder="corect", params={"past": 2, "future": 1}, causal=False,
                    dialogue_id="x", nothing=None)
    path = write_graphml(G, tmp_path / "g.graphml")
    assert path == tmp_path / "g.graphml"
    assert [p.name for p in tmp_path.iterdir()] == ["g.graphml"]  # no temp left
    H = nx.read_graphml(path)
    assert H.number_of_nodes() == 21 and H.number_of_edges() == graph.num_edges
    assert H.graph["relations"].startswith("json:")
    assert json.loads(H.graph["params"][5:]) == {"past": 2, "future": 1}
    assert H.graph["causal"] is False and "nothing" not in H.graph
    assert H.nodes["2"]["label"] == "sad" and "label" not in H.nodes["1"]
    back = from_networkx(H)
    assert back.edge_index.tolist() == graph.edge_index.tolist()
    assert back.edge_type.tolist() == graph.edge_type.tolist()
    assert back.relations == graph.relations


def test_gexf_is_written_and_readable(tmp_path):
    batch = one_dialogue()
    graph = REGISTRY.get("speaker", past=1, future=1)(batch)
    G = to_networkx(graph, batch, labels=["hap"] * 7, builder="speaker",
                    params={"past": 1}, dialogue_id="x")
    path = write_gexf(G, tmp_path / "g.gexf")
    H = nx.read_gexf(path)
    assert H.number_of_nodes() == 21 and H.number_of_edges() == graph.num_edges
    assert H.graph["name"] == "speaker x"
    assert H.nodes["8"]["label"] == "text:1"       # GEXF's display name
    assert H.nodes["8"]["emotion"] == "hap"
    relations = sorted({d["relation"] for _, _, d in H.edges(data=True)})
    assert relations == sorted(r for r, n in zip(
        graph.relations, torch.bincount(graph.edge_type,
                                        minlength=graph.num_relations)) if n)
    # GEXF drops graph attributes, so from_networkx cannot rebuild it.
    assert G.graph["relations"] == list(graph.relations)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    batch = one_dialogue()
    G = to_networkx(REGISTRY.get("window")(batch), batch)

    def half_write(graph, path):
        with open(path, "w") as f:
            f.write("<graphml")
        raise OSError("disk full")

    monkeypatch.setattr(nx, "write_graphml", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_graphml(G, tmp_path / "g.graphml")
    assert list(tmp_path.iterdir()) == []


def test_node_attributes_follow_the_batch_node_tensors():
    # Three modalities, a middle dialogue: every node's attributes are the
    # batch's own node_* entries at its batch_node, keys in local order.
    batch = DialogueBatch([2, 4, 3], [0, 1, 1, 0, 2, 1, 0, 1, 0], MODALITIES)
    G = to_networkx(REGISTRY.get("none")(batch), batch, dialogue=1)
    assert list(G.nodes) == list(range(12))
    for key, data in G.nodes(data=True):
        n = data["batch_node"]
        assert key == data["modality_id"] * 4 + data["turn"]
        assert int(batch.node_dialogue[n]) == data["dialogue"] == 1
        assert int(batch.node_turn[n]) == data["turn"]
        assert int(batch.node_modality[n]) == data["modality_id"]
        assert MODALITIES[data["modality_id"]] == data["modality"]
        assert int(batch.node_speaker[n]) == data["speaker_id"]
        assert data["speaker"] == f"s{data['speaker_id']}"
    assert [G.nodes[k]["batch_node"] for k in range(12)] == [
        2, 3, 4, 5, 11, 12, 13, 14, 20, 21, 22, 23]


def test_a_graph_without_edges_reads_back_empty():
    batch = one_dialogue()
    back = from_networkx(to_networkx(REGISTRY.get("none")(batch), batch))
    assert back.edge_index.shape == (2, 0) and back.edge_type.shape == (0,)
    assert back.edge_index.dtype == back.edge_type.dtype == torch.long
    assert back.relations == ()
