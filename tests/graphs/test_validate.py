from dataclasses import dataclass

import pytest
import torch

from graphs import EdgeBuilder, GraphContractError, validate
from graphs.builder import DialogueGraph


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
