"""Causal means causal end to end: cutting a dialogue's future leaves the
logits of every kept turn unchanged."""
from dataclasses import dataclass

import pytest
import torch

from graphs import DialogueBatch, EdgeBuilder, Reads, offset_pairs, per_modality
from models import CORECT
from registry import EdgeBuilderRegistry

from .helpers import random_batch, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)


@REGISTRY.register("loudest_before")
@dataclass
class LoudestBefore(EdgeBuilder):
    """A third party's content builder: each turn hears the earlier turn of
    its dialogue whose first text feature is largest."""

    @property
    def causal(self):
        return True

    def reads(self, modalities):
        return Reads(features=("text",))

    def relations(self, modalities):
        return [f"{m}:loudest" for m in modalities]

    def edges(self, batch):
        loud = batch.features["text"][:, 0]
        source, target = offset_pairs(batch, None, -1)
        score = loud[source]
        best = torch.full((batch.num_utterances,), -torch.inf).scatter_reduce(
            0, target, score, reduce="amax")
        hit = score == best[target]
        return per_modality(batch, [(source[hit], target[hit])])


CAUSAL = [("causal", {}), ("causal", {"past": None, "self_loops": True}),
          ("window", {"past": 2, "future": 0}), ("speaker", {"future": 0}),
          ("modality", {}), ("none", {}),
          ("union", {"parts": {"causal": {}, "modality": {}}}),
          ("dag", {}), ("similarity", {"k": 2, "past_only": True}),
          ("similarity", {"k": 2, "vectors": "states", "past_only": True, "weighted": True}),
          ("mmgcn", {"past_only": True}), ("loudest_before", {})]
BIDIRECTIONAL = [("window", {}), ("corect", {}), ("speaker", {}), ("similarity", {}),
                 ("mmgcn", {})]
LENGTHS = [1, 7, 12, 3, 1, 20]
# Sequence encoder, and whether a speaker GRU is added to it.
ENCODERS = [("transformer", False), ("gru", False), ("gru", True), ("transformer", True)]


def cut(features, structure, seed):
    """Keep a random non-empty prefix of every dialogue."""
    g = torch.Generator().manual_seed(seed)
    keep_lengths = [int(torch.randint(1, n + 1, (1,), generator=g))
                    for n in structure.lengths.tolist()]
    kept = torch.cat([torch.arange(start, start + k) for start, k in
                      zip(structure.ptr[:-1].tolist(), keep_lengths)])
    return ({m: x[kept] for m, x in features.items()},
            DialogueBatch(keep_lengths, structure.speakers[kept], structure.modalities),
            kept)


def logits_before_and_after_cut(name, params, seed, encoder="transformer", speaker_gru=False):
    torch.manual_seed(seed)
    model = CORECT(small_config(sequence_encoder=encoder, speaker_gru=speaker_gru),
                   REGISTRY.get(name, **params))
    # A training step, so BatchNorm's running statistics are not trivial;
    # further steps cost time and test nothing more.
    features, structure = random_batch(LENGTHS, seed=seed)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    batch = structure.with_content(features=features)
    model.loss(model(batch), torch.randint(0, 4, (sum(LENGTHS),))).backward()
    optimiser.step()
    model.eval()
    with torch.no_grad():
        full = model(structure.with_content(features=features))
        # A collapsed model would pass any leakage test.
        assert full.std(0).min() > 1e-4
        cut_features, cut_structure, kept = cut(features, structure, seed)
        return full[kept], model(cut_structure.with_content(features=cut_features))


@pytest.mark.parametrize("encoder, speaker_gru", ENCODERS)
# The second seed (other weights and cuts) runs with the slow set.
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("name, params", CAUSAL)
def test_causal_model_never_reads_a_later_turn(name, params, seed, encoder, speaker_gru):
    assert CORECT(small_config(), REGISTRY.get(name, **params)).causal
    before, after = logits_before_and_after_cut(name, params, seed, encoder, speaker_gru)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder, speaker_gru", ENCODERS)
@pytest.mark.parametrize("name, params", BIDIRECTIONAL)
def test_bidirectional_model_does_read_the_future(name, params, encoder, speaker_gru):
    assert not CORECT(small_config(), REGISTRY.get(name, **params)).causal
    before, after = logits_before_and_after_cut(name, params, 0, encoder, speaker_gru)
    assert not torch.allclose(after, before, atol=1e-3)
