"""Several live dialogues stepped together give what each gives alone."""
import pytest
import torch

from models.batched_streaming import step_dialogues
from models.incremental import IncrementalCORECT

from .test_corect import DIMS, small_config
from .test_streaming import CAUSAL, CONTENT, one_thread, random_dialogues, trained  # noqa: F401

GRAPHS = CAUSAL[:5] + CONTENT


def lockstep(model, lengths, seed=0):
    """Dialogue k joins at round k and leaves when it ends; each round
    steps the dialogues present together, and the same pushes one
    dialogue at a time. Both sets of logits, per dialogue."""
    dialogues, _, _ = random_dialogues(lengths, model.config.modalities, seed,
                                       speakers=model.config.max_speakers)
    together = [IncrementalCORECT(model) for _ in dialogues]
    alone = [IncrementalCORECT(model) for _ in dialogues]
    out = {"together": [[] for _ in dialogues], "alone": [[] for _ in dialogues]}
    rounds = max(k + n for k, n in enumerate(lengths))
    with torch.no_grad():
        for r in range(rounds):
            present = [k for k, n in enumerate(lengths) if k <= r < k + n]
            pushes = [({m: x[r - k:r - k + 1] for m, x in dialogues[k][0].items()},
                       dialogues[k][1][r - k]) for k in present]
            logits = step_dialogues([together[k] for k in present], [p for p, _ in pushes],
                                    [s for _, s in pushes], [{} for _ in present])
            for k, row, (features, speaker) in zip(present, logits, pushes):
                out["together"][k].append(row)
                out["alone"][k].append(alone[k].step(features, speaker))
    return ([torch.stack(rows) for rows in out["together"]],
            [torch.stack(rows) for rows in out["alone"]])


@pytest.mark.parametrize("modalities", [("text",), ("text", "audio", "visual")],
                         ids="+".join)
@pytest.mark.parametrize("name, params", GRAPHS,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(GRAPHS)])
def test_stepping_together_equals_stepping_alone(name, params, modalities):
    model = trained(small_config({m: DIMS[m] for m in modalities}), name, params)
    together, alone = lockstep(model, [5, 1, 12, 7], seed=len(modalities))
    for mine, theirs in zip(together, alone):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)
    assert torch.cat(alone).std(0).min() > 1e-4  # a collapsed model would match anything


@pytest.mark.parametrize("config", [dict(sequence_encoder="gru", sequence_layers=2),
                                    dict(speaker_gru=True)], ids=["gru", "speaker_gru"])
def test_recurrent_encoders_step_together_as_alone(config):
    model = trained(small_config(**config), "speaker", {"future": 0})
    together, alone = lockstep(model, [9, 3, 6], seed=1)
    for mine, theirs in zip(together, alone):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_a_failed_call_advances_no_dialogue():
    model = trained(small_config({"text": 12}), "causal", {})
    first, second = IncrementalCORECT(model), IncrementalCORECT(model)
    good = {"text": torch.randn(1, 12)}
    with torch.no_grad():
        step_dialogues([first, second], [good, good], [0, 1], [{}, {}])
        with pytest.raises(RuntimeError):
            step_dialogues([first, second], [good, {"text": torch.randn(1, 5)}], [1, 0],
                           [{}, {}])
        assert (first.length, second.length) == (1, 1)
        assert (first.speakers, second.speakers) == ([0], [1])
        # And the next call steps both from where they were.
        expected = IncrementalCORECT(model)
        expected.step(good, 0)
        torch.testing.assert_close(step_dialogues([first], [good], [1], [{}])[0],
                                   expected.step(good, 1))


def test_one_model_and_distinct_dialogues_only():
    model = trained(small_config({"text": 12}), "causal", {})
    other = trained(small_config({"text": 12}), "causal", {}, seed=1)
    one = IncrementalCORECT(model)
    x = {"text": torch.zeros(1, 12)}
    with pytest.raises(ValueError, match="steps each dialogue once"):
        step_dialogues([one, one], [x, x], [0, 0], [{}, {}])
    with pytest.raises(ValueError, match="dialogues of one model"):
        step_dialogues([one, IncrementalCORECT(other)], [x, x], [0, 0], [{}, {}])
    with pytest.raises(ValueError, match="at least one dialogue"):
        step_dialogues([], [], [], [])
