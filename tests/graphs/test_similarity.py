import math

import pytest
import torch

import torch.nn.functional as F

from graphs import DialogueBatch, SimilarityEdges, angular_similarity, mmgcn, validate
from graphs.similarity import fixed_point_units


def batch_with(vectors, lengths, modalities=("text",), vectors_of="features"):
    rows = torch.tensor(vectors, dtype=torch.float32)
    return DialogueBatch(lengths, [0] * sum(lengths), modalities,
                         **{vectors_of: {m: rows for m in modalities}})


# Dialogue 0: u0 = (1, 0), u1 = (0, 1), u2 = (1, 0.1), u3 = (-1, 0);
# dialogue 1: u4 = (1, 1), u5 = (1, 0).
VECTORS = [[1, 0], [0, 1], [1, 0.1], [-1, 0], [1, 1], [1, 0]]


def test_k_nearest_in_the_dialogue():
    g = validate(SimilarityEdges(k=1), batch_with(VECTORS, [4, 2]))
    assert g.relations == ("text:similar",)
    # u0's nearest is u2, u1's is u2 and u2's is u0; u3's cosines are -1
    # (u0), 0 (u1) and -0.995 (u2), so it hears u1; u4 and u5 hear each other.
    assert g.edge_index.tolist() == [[2, 2, 0, 1, 5, 4], [0, 1, 2, 3, 4, 5]]
    assert g.edge_weight is None
    assert not SimilarityEdges().causal and SimilarityEdges().horizon is None


def test_past_only_ranks_earlier_turns_and_is_causal():
    builder = SimilarityEdges(k=1, past_only=True)
    g = validate(builder, batch_with(VECTORS, [4, 2]))
    # u1 hears u0; u2 hears u0 (cos .995 over 0.0995); u3 hears u1 (cos 0
    # beats -1 and -0.995); u5 hears u4.
    assert g.edge_index.tolist() == [[0, 0, 1, 4], [1, 2, 3, 5]]
    assert builder.causal


def test_ties_go_to_the_earlier_utterance():
    g = SimilarityEdges(k=1)(batch_with([[1, 0], [0, 1], [0, 1], [0, 1]], [4]))
    assert g.edge_index.tolist() == [[1, 2, 1, 1], [0, 1, 2, 3]]


def test_weights_are_the_angular_similarity():
    g = SimilarityEdges(k=1, past_only=True, weighted=True)(batch_with(VECTORS, [4, 2]))
    cosine = torch.tensor([0.0, 1 / math.sqrt(1.01), 0.0, 1 / math.sqrt(2)],
                          dtype=torch.float64)
    torch.testing.assert_close(g.edge_weight, angular_similarity(cosine).float())
    assert g.edge_weight.tolist()[0] == pytest.approx(0.5)
    assert angular_similarity(torch.tensor([1.0, -1.0, 0.0])).tolist() == [1.0, 0.0, 0.5]


def test_unbounded_k_is_the_full_graph():
    g = SimilarityEdges(k=None)(batch_with(VECTORS, [4, 2]))
    assert g.num_edges == 4 * 3 + 2 * 1
    g = SimilarityEdges(k=None, past_only=True)(batch_with(VECTORS, [4, 2]))
    assert g.edge_index.tolist() == [[0, 0, 1, 0, 1, 2, 4], [1, 2, 2, 3, 3, 3, 5]]


def test_each_modality_by_its_own_vectors_or_by_one():
    text = torch.tensor([[1.0, 0], [0, 1], [1, 0.1]])
    audio = torch.tensor([[1.0, 0], [1, 0.1], [0, 1]])
    batch = DialogueBatch([3], [0, 1, 0], ("text", "audio"),
                          features={"text": text, "audio": audio})
    own = SimilarityEdges(k=1)(batch)
    assert own.edge_index.tolist() == [[2, 2, 0, 4, 3, 4], [0, 1, 2, 3, 4, 5]]
    assert own.edge_type.tolist() == [0, 0, 0, 1, 1, 1]
    by_text = SimilarityEdges(k=1, modality="text")(batch)
    assert by_text.edge_index.tolist() == [[2, 2, 0, 5, 5, 3], [0, 1, 2, 3, 4, 5]]
    assert SimilarityEdges(modality="text").reads(("text", "audio")).features == ("text",)
    assert SimilarityEdges().reads(("text", "audio")).features == ("text", "audio")


def test_states_are_read_when_asked():
    builder = SimilarityEdges(k=1, vectors="states")
    assert builder.reads(("text",)).states == ("text",)
    g = builder(batch_with(VECTORS, [4, 2], vectors_of="states"))
    assert g.edge_index.tolist() == [[2, 2, 0, 1, 5, 4], [0, 1, 2, 3, 4, 5]]
    with pytest.raises(ValueError, match=r"reads states \['text'\], which this batch "
                                         r"does not carry"):
        builder(batch_with(VECTORS, [4, 2], vectors_of="features"))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="k must be"):
        SimilarityEdges(k=0)
    with pytest.raises(ValueError, match="vectors must be one of"):
        SimilarityEdges(vectors="labels")
    with pytest.raises(ValueError, match="modality 'audio'"):
        SimilarityEdges(modality="audio").reads(("text",))


def test_mmgcn_is_a_weighted_full_graph_with_cross_modal_edges():
    features = {m: torch.randn(5, 3, generator=torch.Generator().manual_seed(i))
                for i, m in enumerate(("text", "audio"))}
    batch = DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text", "audio"), features=features)
    g = validate(mmgcn(), batch)
    assert g.relations == ("similarity/text:similar", "similarity/audio:similar",
                           "modality/text->audio", "modality/audio->text")
    # Full graph: 3 * 2 + 2 * 1 ordered pairs per modality, then 5 + 5
    # cross-modal edges of weight 1.
    assert torch.bincount(g.edge_type).tolist() == [8, 8, 5, 5]
    assert g.edge_weight[16:].tolist() == [1.0] * 10
    assert bool(((g.edge_weight >= 0) & (g.edge_weight <= 1)).all())
    assert not mmgcn().causal and mmgcn(past_only=True).causal


def test_similarities_are_exact_whatever_the_product():
    g = torch.Generator().manual_seed(0)
    vectors = torch.randn(50, 768, generator=g)
    vectors[30] = vectors[4]  # a repeated utterance: an exact tie
    units, scale = fixed_point_units(vectors)
    full = units @ units.T
    assert torch.equal(full[-1, :-1], units[:-1] @ units[-1])
    assert torch.equal(full[:, 4], full[:, 30])
    torch.testing.assert_close(full / scale, F.normalize(vectors.double(), dim=-1)
                               @ F.normalize(vectors.double(), dim=-1).T, atol=1e-4, rtol=0)


@pytest.mark.parametrize("params", [{"k": 2, "past_only": True, "weighted": True},
                                    {"k": None}, {"k": 3, "modality": "audio"}])
def test_last_turn_edges_are_the_last_turns_in_edges(params):
    g = torch.Generator().manual_seed(1)
    base = torch.randn(6, 4, generator=g)
    features = {m: base[torch.tensor([0, 1, 2, 1, 3, 4, 5, 2, 1])] for m in ("text", "audio")}
    batch = DialogueBatch([9], [0, 1] * 4 + [0], ("text", "audio"), features=features)
    builder = SimilarityEdges(**params)
    full = builder(batch)
    keep = full.edge_index[1] % 9 == 8
    fast = builder.last_turn_edges(batch)
    assert fast[0].tolist() == full.edge_index[:, keep].tolist()
    assert fast[1].tolist() == full.edge_type[keep].tolist()
    if builder.weighted:
        assert fast[2].tolist() == full.edge_weight[keep].tolist()


def test_a_non_finite_vector_is_never_a_neighbour():
    rows = torch.tensor([[1.0, 0], [float("nan"), 0], [1, 0.2], [1, 0.1], [0.9, 0.1]])
    batch = DialogueBatch([5], [0] * 5, ("text",), features={"text": rows})
    builder = SimilarityEdges(k=2, past_only=True, weighted=True)
    graph = validate(builder, batch)
    assert 1 not in graph.edge_index[0].tolist()
    assert bool(torch.isfinite(graph.edge_weight).all())
    fast = builder.last_turn_edges(batch)
    assert fast[0].tolist() == [[2, 3], [4, 4]]
