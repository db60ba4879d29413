"""The speaker GRU reads each speaker's own turns, in order, and nothing
else; forward-only, it never reads a later turn."""
import pytest
import torch

from models import CORECT
from models.speaker_gru import SpeakerGRU
from registry import EdgeBuilderRegistry

from .helpers import random_batch, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)
# Dialogues of 5, 4 and 1 turns; speaker 1 opens the second one, and the
# third has only speaker 2, so the ids skip within it.
DIALOGUE = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 1, 2])
SPEAKERS = torch.tensor([0, 1, 0, 0, 1, 1, 0, 1, 1, 2])
EARLY = [0, 1, 2, 5, 6, 7, 9]


def alone(module, x, turns):
    """The module's GRU run over just these rows, as one sequence."""
    return module.gru(module.norm(x[turns]).unsqueeze(0))[0][0]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_each_utterance_gets_its_speakers_state_over_their_own_turns(bidirectional):
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional).eval()
    x = torch.randn(10, 3)
    out = module(x, DIALOGUE, SPEAKERS, causal=not bidirectional)
    assert out.shape == (10, 4)
    for turns in ([0, 2, 3], [1, 4], [6], [5, 7, 8], [9]):
        torch.testing.assert_close(out[turns], alone(module, x, turns))


def test_forward_only_states_never_depend_on_a_later_turn():
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional=False).eval()
    x = torch.randn(10, 3)
    changed = x.clone()
    changed[[3, 4, 8]] = torch.randn(3, 3)
    out = module(x, DIALOGUE, SPEAKERS, causal=True)
    out_changed = module(changed, DIALOGUE, SPEAKERS, causal=True)
    torch.testing.assert_close(out_changed[EARLY], out[EARLY])
    assert not torch.allclose(out_changed[[3, 4, 8]], out[[3, 4, 8]])


def test_another_speakers_turn_does_not_move_a_speakers_state():
    torch.manual_seed(0)
    module = SpeakerGRU(3, 4, 0.0, bidirectional=True).eval()
    x = torch.randn(10, 3)
    changed = x.clone()
    changed[1] = torch.randn(3)  # speaker 1 of the first dialogue
    others = [0, 2, 3, 5, 6, 7, 8, 9]
    torch.testing.assert_close(module(changed, DIALOGUE, SPEAKERS, causal=False)[others],
                               module(x, DIALOGUE, SPEAKERS, causal=False)[others])


def test_a_bidirectional_one_refuses_to_run_for_a_causal_model():
    module = SpeakerGRU(3, 4, 0.0, bidirectional=True)
    with pytest.raises(ValueError, match="a bidirectional GRU reads later turns"):
        module(torch.randn(10, 3), DIALOGUE, SPEAKERS, causal=True)


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
    assert model(structure.with_content(features=features)).shape == (9, 4)
    assert CORECT(small_config(), REGISTRY.get(graph)).speaker_encoders is None


def test_the_model_adds_the_speaker_state_to_the_encoder_state():
    torch.manual_seed(0)
    model = CORECT(small_config(speaker_gru=True), REGISTRY.get("corect")).eval()
    features, structure = random_batch([3, 6])
    states, _ = model.encode(structure.with_content(features=features))
    speaker_gru = model.speaker_encoders["text"]
    model.speaker_encoders = None
    without, _ = model.encode(structure.with_content(features=features))
    expected = speaker_gru(features["text"], structure.utterance_dialogue, structure.speakers,
                           causal=False)
    torch.testing.assert_close(states["text"] - without["text"], expected)
    torch.testing.assert_close(states["audio"], without["audio"])


def test_without_a_sequence_modality_the_option_is_refused_by_name():
    with pytest.raises(ValueError, match=r"speaker_gru .* sequence_modalities=\['text'\] "
                                         r"is among the modalities \['audio', 'visual'\]"):
        small_config({"audio": 5, "visual": 7}, speaker_gru=True)
