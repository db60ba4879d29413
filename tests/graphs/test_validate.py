from dataclasses import dataclass

import pytest
import torch

from graphs import (DialogueBatch, EdgeBuilder, GraphContractError, Reads, SimilarityEdges,
                    validate)
from graphs.builder import DialogueGraph
from registry import EdgeBuilderRegistry


@dataclass
class Handmade(EdgeBuilder):
    """A builder that returns whatever edges it is given."""
    src: list
    dst: list
    kind: list
    is_causal: bool = False
    relation_names: tuple = ("r0", "r1")

    @property
    def causal(self):
        return self.is_causal

    def relations(self, modalities):
        return list(self.relation_names)

    def edges(self, batch):
        return torch.tensor([self.src, self.dst]), torch.tensor(self.kind)


@pytest.mark.parametrize("builder, match", [
    (Handmade([0], [10], [0]), r"node id outside \[0, 10\).*edge 0: node 0 "),
    (Handmade([0], [1], [2]), r"relation id outside \[0, 2\)"),
    (Handmade([2], [3], [0]), r"joins two dialogues.*dialogue 0, turn 2, text\) -> "
                              r"node 3 \(dialogue 1, turn 0, text\)"),
    (Handmade([0, 0], [1, 1], [1, 1]), r"duplicate \(source, target, type\).*edge 1"),
    (Handmade([1], [0], [0], is_causal=True), r"declares itself causal.*turn 1, text\) "
                                              r"-> node 0"),
    (Handmade([0], [1], [0], relation_names=("r", "r")), "relation names repeat"),
])
def test_violations_name_builder_and_first_edge(two_dialogues, builder, match):
    with pytest.raises(GraphContractError, match="edge builder 'handmade'.*" + match):
        validate(builder, two_dialogues, name="handmade")


def test_unsorted_and_mistyped_output_is_caught(two_dialogues):
    builder = Handmade([0, 1], [1, 2], [1, 0])
    unsorted = DialogueGraph(torch.tensor([[0, 1], [1, 2]]), torch.tensor([1, 0]),
                             ("r0", "r1"))
    with pytest.raises(GraphContractError, match="not sorted by relation.*edge 1"):
        validate(builder, two_dialogues, graph=unsorted)
    floats = DialogueGraph(torch.zeros(2, 1), torch.zeros(1, dtype=torch.long),
                           ("r0", "r1"))
    with pytest.raises(GraphContractError, match=r"LongTensor of shape \[2, E\]"):
        validate(builder, two_dialogues, graph=floats)
    with pytest.raises(GraphContractError, match="differ from relations"):
        validate(builder, two_dialogues, graph=unsorted._replace(relations=("x",)))


def test_nondeterministic_builder_is_caught(two_dialogues):
    class Flaky(Handmade):
        calls = 0
        def edges(self, batch):
            type(self).calls += 1
            return torch.tensor([[0], [type(self).calls]]), torch.tensor([0])
    with pytest.raises(GraphContractError, match="twice gave different edges"):
        validate(Flaky([], [], []), two_dialogues)


def test_builder_sorts_edges_stably_by_type(two_dialogues):
    g = Handmade([4, 0, 3, 1], [3, 1, 4, 0], [1, 0, 0, 1])(two_dialogues)
    assert g.edge_index.tolist() == [[0, 3, 4, 1], [1, 4, 3, 0]]
    assert g.edge_type.tolist() == [0, 0, 1, 1]


def test_built_in_horizons():
    registry = EdgeBuilderRegistry(entry_points=False)
    get = registry.get
    assert get("causal", past=3).horizon == 3
    assert get("causal", past=None).horizon is None
    assert get("window", past=2, future=0).horizon == 2
    assert get("speaker", past=5, future=0).horizon == 5
    assert get("modality").horizon == 0
    assert get("none").horizon == 0
    assert get("dag").horizon is None
    assert get("similarity", past_only=True).horizon is None
    assert get("union", parts={"causal": {"past": 2}, "modality": {},
                               "w": {"builder": "window", "past": 6, "future": 0}}).horizon == 6
    assert get("union", parts={"causal": {"past": 2}, "dag": {}}).horizon is None


class ClaimsCausalOnFeatures(EdgeBuilder):
    """Declares itself causal, reads the first modality's features, and
    has one relation; subclasses say which edges."""

    @property
    def causal(self):
        return True

    def reads(self, modalities):
        return Reads(features=(modalities[0],))

    def relations(self, modalities):
        return ["past"]


class PeeksAtTheLast(ClaimsCausalOnFeatures):
    """Causal by its edges (each turn hears the one before), but an edge
    exists only when the dialogue's *last* feature row is positive: it reads
    the future through content, which no structural check can see."""

    def edges(self, batch):
        x = batch.features[batch.modalities[0]][:, 0]
        last = batch.ptr[1:] - 1
        on = x[last][batch.utterance_dialogue] > 0
        turn = batch.utterance_turn
        target = torch.nonzero(on & (turn > 0)).flatten()
        return torch.stack([target - 1, target]), torch.zeros_like(target)


class WeighsByTheMean(ClaimsCausalOnFeatures):
    """Causal edges whose weights are normalised by the dialogue-wide mean,
    so a later turn's features move an earlier edge's weight."""

    def edges(self, batch):
        x = batch.features[batch.modalities[0]][:, 0]
        target = torch.nonzero(batch.utterance_turn > 0).flatten()
        return (torch.stack([target - 1, target]), torch.zeros_like(target),
                x[target] / x.abs().mean())


def content_batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return DialogueBatch([6, 9, 4], torch.randint(0, 2, (19,), generator=g), ("text",),
                         features={"text": torch.rand(19, 3, generator=g) + 0.5})


@pytest.mark.parametrize("builder", [PeeksAtTheLast(), WeighsByTheMean()])
def test_causality_by_perturbation_catches_a_content_leak(builder):
    with pytest.raises(GraphContractError, match="'leaky'.*(changing the features of turns "
                                                 "after 25% .* it reads the future|cutting "
                                                 "every dialogue after 25% .* later turns)"):
        validate(builder, content_batch(), name="leaky")


def test_a_causal_content_builder_passes_perturbation():
    graph = validate(SimilarityEdges(k=2, past_only=True, weighted=True), content_batch())
    assert graph.num_edges > 0


def test_a_wrong_horizon_is_caught(two_dialogues):
    class Reaches(Handmade):
        horizon = 1
    with pytest.raises(GraphContractError, match="horizon=1 but an edge reaches further "
                                                 "back.*turn 0, text\\) -> node 2"):
        validate(Reaches([0], [2], [0]), two_dialogues, name="reaches")
    # Handmade edges ignore the batch, so only the given graph is checked.
    validate(Reaches([1], [2], [0]), two_dialogues, graph=Reaches([1], [2], [0])(two_dialogues))
    Reaches.horizon = -2
    with pytest.raises(GraphContractError, match="horizon must be a non-negative int"):
        validate(Reaches([1], [2], [0]), two_dialogues)


def test_bad_weights_are_caught(two_dialogues):
    builder = Handmade([0, 1], [1, 2], [0, 0])
    graph = builder(two_dialogues)
    with pytest.raises(GraphContractError, match=r"edge_weight must be a float tensor of "
                                                 r"shape \[2\]"):
        validate(builder, two_dialogues, graph=graph._replace(edge_weight=torch.ones(3)))
    with pytest.raises(GraphContractError, match="edge weight is not finite.*edge 1"):
        validate(builder, two_dialogues,
                 graph=graph._replace(edge_weight=torch.tensor([1.0, float("nan")])))


def test_missing_content_is_named(two_dialogues):
    with pytest.raises(GraphContractError, match=r"'sim'.*reads features \['text', "
                                                 r"'audio'\], which this batch does not "
                                                 r"carry \(it carries none\)"):
        validate(SimilarityEdges(), two_dialogues, name="sim")


def test_stand_in_states_are_supplied(two_dialogues):
    graph = validate(SimilarityEdges(k=1, vectors="states", past_only=True), two_dialogues)
    assert graph.num_edges == 2 * 3  # turns 1 and 2 of A, turn 1 of B, per modality


class WeighsByLength(EdgeBuilder):
    """Each turn hears the one before, weighted by 1 / the dialogue's
    length: causal by its edges and reading no content, yet every weight
    depends on how long the dialogue will get."""

    causal = True
    horizon = 1

    def relations(self, modalities):
        return ["past"]

    def edges(self, batch):
        target = torch.nonzero(batch.utterance_turn > 0).flatten()
        weight = 1.0 / batch.lengths[batch.utterance_dialogue[target]].float()
        return torch.stack([target - 1, target]), torch.zeros_like(target), weight


class FirstTurnIsSpecial(EdgeBuilder):
    """Each turn hears the one before, under relation 'opening' when that
    is the dialogue's turn 0: a horizon of 1 is true of the edges, but a
    push that sees only the last two turns cannot tell turn 0 apart."""

    causal = True
    horizon = 1

    def relations(self, modalities):
        return ["opening", "later"]

    def edges(self, batch):
        target = torch.nonzero(batch.utterance_turn > 0).flatten()
        return (torch.stack([target - 1, target]),
                (batch.utterance_turn[target - 1] > 0).long())


def test_a_causal_builder_that_depends_on_later_structure_is_caught():
    with pytest.raises(GraphContractError, match="'by_length'.*cutting every dialogue "
                                                 "after 25% .* later turns"):
        validate(WeighsByLength(), content_batch(), name="by_length")


def test_a_builder_that_needs_more_than_its_horizon_is_caught():
    with pytest.raises(GraphContractError, match="last_turn_edges built on its last 2 turns "
                                                 r"\(the horizon\) disagrees"):
        validate(FirstTurnIsSpecial(), content_batch(), name="first")
