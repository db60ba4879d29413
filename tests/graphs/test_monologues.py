"""Builders on monologues: one speaker per dialogue, as a sentiment video's
clips are, down to videos of a single clip."""
import pytest
import torch

from graphs import DialogueBatch, validate
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
MODALITIES = ("text", "audio")
LENGTHS = [1, 4, 11, 1, 6]


@pytest.fixture
def monologues():
    g = torch.Generator().manual_seed(0)
    batch = DialogueBatch(LENGTHS, [0] * sum(LENGTHS), MODALITIES)
    return batch.with_content(features={m: torch.randn(sum(LENGTHS), 5, generator=g)
                                        for m in MODALITIES})


@pytest.mark.parametrize("name, params", [
    ("none", {}), ("window", {"past": 2, "future": 1}), ("causal", {"past": 3}),
    ("corect", {}), ("modality", {}), ("dag", {}),
    ("speaker", {"past": 2, "future": 1}), ("speaker", {"future": 0}),
    ("similarity", {"k": 2}), ("similarity", {"k": 2, "past_only": True, "weighted": True}),
    ("mmgcn", {}), ("mmgcn", {"past_only": True}),
])
def test_every_builder_keeps_its_contract_on_monologues(monologues, name, params):
    validate(REGISTRY.get(name, **params), monologues, name)


@pytest.mark.parametrize("past, future", [(2, 1), (4, 0), (None, 2)])
def test_speaker_on_one_speaker_is_a_window_of_same_speaker_relations(monologues, past,
                                                                      future):
    """Every edge is a same-speaker edge, so the speaker graph reduces to the
    window with the same reach; its other-speaker relations stay empty."""
    speaker = REGISTRY.get("speaker", past=past, future=future)
    window = REGISTRY.get("window", past=past, future=future)
    a, b = speaker(monologues), window(monologues)
    assert a.edge_index.tolist() == b.edge_index.tolist()
    names = speaker.relations(list(MODALITIES))
    used = [names[k] for k in a.edge_type.tolist()]
    assert [n.replace(":same", "") for n in used] == \
        [window.relations(list(MODALITIES))[k] for k in b.edge_type.tolist()]
    assert not any(":other:" in n for n in used)


def test_dag_on_one_speaker_is_the_previous_turn(monologues):
    """DAG-ERC reaches back to the speaker's previous turn, which in a
    monologue is the previous turn: it reduces to causal with past=1."""
    dag, causal = REGISTRY.get("dag"), REGISTRY.get("causal", past=1)
    assert dag(monologues).edge_index.tolist() == causal(monologues).edge_index.tolist()


def test_builders_name_what_they_reduce_to_on_one_speaker():
    """The run log says so from the builder itself; the runner knows none."""
    assert REGISTRY.get("speaker", past=2, future=1).one_speaker_equivalent().startswith(
        "window(past=2, future=1, self_loops=False)")
    assert REGISTRY.get("dag").one_speaker_equivalent().startswith("causal(past=1)")
    assert REGISTRY.get("window").one_speaker_equivalent() is None
