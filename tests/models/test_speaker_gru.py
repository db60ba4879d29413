"""The speaker GRU reads each speaker's own turns, in order, and nothing
else; forward-only, it never reads a later turn."""
import pytest
import torch

from models import CORECT
from models.speaker_gru import SpeakerGRU
from registry import EdgeBuilderRegistry

from .test_corect import random_batch, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)
# Two dialogues of 5 and 4 turns; speaker 1 opens the second one.
DIALOGUE = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1])
SPEAKERS = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 1])


def alone(module, x, turns):
    """The module's GRU run over just these rows, as one sequence."""
    return module.gru(module.norm(x[turns]).unsqueeze(0))[0][0]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_each_utterance_gets_its_speakers_state_over_their_own_turns(bidirectional):
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional).eval()
    x = torch.randn(9, 3)
    out = module(x, DIALOGUE, SPEAKERS)
    assert out.shape == (9, 4)
    for turns in ([0, 2, 3], [1, 4], [6], [5, 7, 8]):
        torch.testing.assert_close(out[turns], alone(module, x, turns))


def test_forward_only_states_never_depend_on_a_later_turn():
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional=False).eval()
    x = torch.randn(9, 3)
    changed = x.clone()
    changed[[3, 4, 8]] = torch.randn(3, 3)
    out, out_changed = module(x, DIALOGUE, SPEAKERS), module(changed, DIALOGUE, SPEAKERS)
    torch.testing.assert_close(out_changed[[0, 1, 2, 5, 6, 7]], out[[0, 1, 2, 5, 6, 7]])
    assert not torch.allclose(out_changed[[3, 4, 8]], out[[3, 4, 8]])


def test_another_speakers_turn_does_not_move_a_speakers_state():
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional=True).eval()
    x = torch.randn(9, 3)
    changed = x.clone()
    changed[1] = torch.randn(3)  # speaker 1 of the first dialogue
    torch.testing.assert_close(module(changed, DIALOGUE, SPEAKERS)[[0, 2, 3, 5, 6, 7, 8]],
                               module(x, DIALOGUE, SPEAKERS)[[0, 2, 3, 5, 6, 7, 8]])


def test_an_odd_width_cannot_be_split_between_two_directions():
    with pytest.raises(ValueError, match="hidden=5 .* must be even"):
        SpeakerGRU(3, 5, 0.0, bidirectional=True)
    assert SpeakerGRU(3, 5, 0.0, bidirectional=False).gru.hidden_size == 5


@pytest.mark.parametrize("graph, bidirectional", [("corect", True), ("causal", False)])
def test_the_model_adds_it_to_sequence_modalities_only(graph, bidirectional):
    model = CORECT(small_config(speaker_gru=True), REGISTRY.get(graph))
    assert list(model.speaker_encoders) == ["text"]
    assert model.speaker_encoders["text"].bidirectional == bidirectional
    features, structure = random_batch([3, 6])
    assert model(features, structure).shape == (9, 4)
    assert CORECT(small_config(), REGISTRY.get(graph)).speaker_encoders is None


def test_the_model_adds_the_speaker_state_to_the_encoder_state():
    torch.manual_seed(0)
    model = CORECT(small_config(speaker_gru=True), REGISTRY.get("corect")).eval()
    features, structure = random_batch([3, 6])
    states, _ = model.encode(features, structure)
    speaker_gru = model.speaker_encoders["text"]
    model.speaker_encoders = None
    without, _ = model.encode(features, structure)
    expected = speaker_gru(features["text"], structure.utterance_dialogue, structure.speakers)
    torch.testing.assert_close(states["text"] - without["text"], expected)
    torch.testing.assert_close(states["audio"], without["audio"])


def test_without_a_sequence_modality_the_option_is_refused_by_name():
    with pytest.raises(ValueError, match=r"speaker_gru .* sequence_modalities=\['text'\] "
                                         r"is among the modalities \['audio', 'visual'\]"):
        small_config({"audio": 5, "visual": 7}, speaker_gru=True)
