"""Every registered builder, on random dialogues, satisfies the contract."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from graphs import DialogueBatch, validate
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
MODALITIES = ("text", "audio", "visual")

# Extra settings per name, so the contract also covers non-default paths.
VARIANTS = {
    "speaker": [{}, {"future": 0}, {"pairwise": True, "num_speakers": 9},
                {"past": None, "future": None, "self_loops": True}],
    "window": [{}, {"past": None, "future": 2, "self_loops": True}],
    "causal": [{}, {"past": None}],
    "modality": [{}, {"self_loops": True}],
    "union": [{"parts": {"causal": {}, "near": {"builder": "speaker", "future": 0}}},
              {"parts": {"similarity": {"k": 2, "weighted": True}, "modality": {}}}],
    "dag": [{}, {"speaker_turns": 3}],
    "similarity": [{}, {"past_only": True}, {"k": None, "weighted": True},
                   {"k": 2, "vectors": "states", "past_only": True, "weighted": True}],
    "mmgcn": [{}, {"past_only": True}],
}


@st.composite
def dialogue_batches(draw):
    lengths = draw(st.lists(st.integers(1, 60), min_size=1, max_size=4))
    speakers = []
    for length in lengths:
        n = draw(st.integers(1, 9))
        speakers += draw(st.lists(st.integers(0, n - 1), min_size=length,
                                  max_size=length))
    modalities = draw(st.lists(st.sampled_from(MODALITIES), min_size=1,
                               max_size=3, unique=True))
    # Content for the builders that read it: features of a few widths, with
    # repeated rows so that similarity ties occur.
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))
    rows = sum(lengths)
    features = {}
    for width, m in enumerate(modalities, start=2):
        distinct = torch.randn(max(rows // 2, 1), width, generator=generator)
        features[m] = distinct[torch.randint(0, distinct.size(0), (rows,), generator=generator)]
    return DialogueBatch(lengths, speakers, modalities, features=features)


CASES = [(name, params) for name in REGISTRY.names()
         for params in VARIANTS.get(name, [{}])]


@pytest.mark.parametrize("name, params", CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
@settings(max_examples=25, deadline=None)
@given(batch=dialogue_batches())
def test_every_builder_honours_the_contract(name, params, batch):
    builder = REGISTRY.get(name, **params)
    graph = validate(builder, batch, name)
    assert graph.num_relations == len(builder.relations(batch.modalities))
    if builder.causal:
        src, dst = graph.edge_index
        assert bool((batch.node_turn[src] <= batch.node_turn[dst]).all())


@settings(max_examples=40, deadline=None)
@given(batch=dialogue_batches(), past=st.integers(0, 5), future=st.integers(0, 5))
def test_window_edge_count_is_the_clipped_window(batch, past, future):
    """Each node receives min(turn, past) + min(remaining, future) edges."""
    g = REGISTRY.get("window", past=past, future=future)(batch)
    turn = batch.node_turn
    remaining = batch.lengths[batch.node_dialogue] - 1 - turn
    expected = turn.clamp(max=past) + remaining.clamp(max=future)
    in_degree = torch.bincount(g.edge_index[1], minlength=batch.num_nodes)
    assert in_degree.tolist() == expected.tolist()
