"""Several live dialogues stepped together (``CORECT.step`` of K) give what
each gives alone (K = 1)."""
import pytest
import torch

from models import DialogueState, Push

from .helpers import CAUSAL, CONTENT, DIMS, random_dialogues, small_config, trained

GRAPHS = CAUSAL[:5] + CONTENT
# Encoders with per-dialogue state, all with P-CM over three modalities:
# transformers (pre-norm with positions, and CORECT's post-norm ones in the
# feature width), GRUs, and speaker GRUs beside either.
ENCODERS = {
    "transformer": dict(sequence_modalities=("text", "audio")),
    "corect_paper": dict(sequence_width="input", sequence_layers=2, sequence_norm_first=False,
                         sequence_positions=False, sequence_output_norm=False,
                         input_norm=False, mlp_output_relu=True, crossmodal_ff=4,
                         crossmodal_shared_norm=True, crossmodal_final_norm=True,
                         crossmodal_scale=True),
    "gru": dict(sequence_encoder="gru", sequence_layers=2,
                sequence_modalities=("text", "audio")),
    "speaker_gru": dict(speaker_gru=True),
    "gru+speaker_gru": dict(sequence_encoder="gru", speaker_gru=True),
}
# Turns already seen by each dialogue of one batched step: a fresh one
# beside one 40 turns in, two of one length, and lengths in between.
PREFIXES = [0, 40, 7, 40, 1]


def together_step(model, states, features, speakers):
    """One model step of every dialogue."""
    return model.step(states, [Push(x, s) for x, s in zip(features, speakers)])


def alone(model, state, features, speaker):
    """One dialogue stepped on its own: K = 1."""
    return model.step([state], [Push(features, speaker)])[0]


def lockstep(model, lengths, seed=0):
    """Dialogue k joins at round k and leaves when it ends; each round
    steps the dialogues present together, and the same pushes one
    dialogue at a time. Both sets of logits, per dialogue."""
    dialogues, _, _ = random_dialogues(lengths, model.config.modalities, seed,
                                       speakers=model.config.max_speakers)
    together = [DialogueState() for _ in dialogues]
    solo = [DialogueState() for _ in dialogues]
    out = {"together": [[] for _ in dialogues], "alone": [[] for _ in dialogues]}
    rounds = max(k + n for k, n in enumerate(lengths))
    with torch.no_grad():
        for r in range(rounds):
            present = [k for k, n in enumerate(lengths) if k <= r < k + n]
            pushes = [({m: x[r - k:r - k + 1] for m, x in dialogues[k][0].items()},
                       dialogues[k][1][r - k]) for k in present]
            logits = together_step(model, [together[k] for k in present],
                                   [p for p, _ in pushes], [s for _, s in pushes])
            for k, row, (features, speaker) in zip(present, logits, pushes):
                out["together"][k].append(row)
                out["alone"][k].append(alone(model, solo[k], features, speaker))
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
    first, second = DialogueState(), DialogueState()
    good = {"text": torch.randn(1, 12)}
    with torch.no_grad():
        together_step(model, [first, second], [good, good], [0, 1])
        with pytest.raises(RuntimeError):
            together_step(model, [first, second], [good, {"text": torch.randn(1, 5)}],
                          [1, 0])
        assert (first.length, second.length) == (1, 1)
        assert (first.speakers, second.speakers) == ([0], [1])
        # And the next call steps both from where they were.
        expected = DialogueState()
        alone(model, expected, good, 0)
        torch.testing.assert_close(together_step(model, [first], [good], [1])[0],
                                   alone(model, expected, good, 1))


def test_distinct_dialogues_of_an_eval_model_only():
    model = trained(small_config({"text": 12}), "causal", {})
    one = DialogueState()
    x = {"text": torch.zeros(1, 12)}
    with pytest.raises(ValueError, match="steps each dialogue once"):
        together_step(model, [one, one], [x, x], [0, 0])
    with pytest.raises(ValueError, match="at least one dialogue"):
        together_step(model, [], [], [])
    model.train()
    with pytest.raises(ValueError, match="needs the model in eval mode"):
        together_step(model, [one], [x], [0])
    assert one.length == 0


def committed(state):
    """A dialogue's state: its committed cache rows (a copy; none before its
    first turn, whatever buffers a failed call left) and turns."""
    t = state.length

    def turns(key, buffer):
        # The turn axis of each cache: attention keys/values keep it
        # second-last, RT-GCN's nodes on axis 1, the rest first.
        axis = (buffer.dim() - 2 if key.startswith(("sequence/", "cross/", "self/"))
                else 1 if key.startswith("graph/") else 0)
        return buffer.narrow(axis, 0, t).clone()

    rows = {key: turns(key, buffer) for key, buffer in state.history.rows.items() if t}
    return rows, t, list(state.speakers), dict(state.last_turn)


def assert_same_state(mine, theirs, exact=False):
    (rows, *turns), (their_rows, *their_turns) = committed(mine), committed(theirs)
    assert turns == their_turns
    assert sorted(rows) == sorted(their_rows)
    for key, value in rows.items():
        if exact:
            assert torch.equal(value, their_rows[key]), key
        else:
            torch.testing.assert_close(value, their_rows[key], atol=1e-5, rtol=1e-5,
                                       msg=lambda m, key=key: f"{key}: {m}")


def at_prefixes(model, prefixes, seed=0):
    """Per dialogue its rows, and two states stepped alone through its
    first :obj:`prefixes[k]` turns: the one to step together, the other alone."""
    dialogues, _, _ = random_dialogues([n + 2 for n in prefixes], model.config.modalities,
                                       seed, speakers=model.config.max_speakers)
    pairs = []
    with torch.no_grad():
        for (features, speakers), n in zip(dialogues, prefixes):
            pair = (DialogueState(), DialogueState())
            for state in pair:
                for t in range(n):
                    alone(model, state, {m: x[t:t + 1] for m, x in features.items()},
                          speakers[t])
            pairs.append(pair)
    return dialogues, pairs


def row(dialogue, t):
    features, speakers = dialogue
    return {m: x[t:t + 1] for m, x in features.items()}, speakers[t]


@pytest.mark.parametrize("config", ENCODERS.values(), ids=ENCODERS.keys())
def test_encoders_and_crossmodal_step_together_at_different_lengths(config):
    # Seed 1: at seed 0 the GRU model's ReLUs die and every logit is one row.
    model = trained(small_config(DIMS, **config), "causal", {}, seed=1)
    assert model.crossmodal is not None
    dialogues, pairs = at_prefixes(model, PREFIXES)
    assert [together.length for together, _ in pairs] == PREFIXES
    with torch.no_grad():
        pushes = [row(d, n) for d, n in zip(dialogues, PREFIXES)]
        logits = together_step(model, [together for together, _ in pairs],
                               [x for x, _ in pushes], [s for _, s in pushes])
        solo = torch.stack([alone(model, mine, x, s)
                            for (_, mine), (x, s) in zip(pairs, pushes)])
        torch.testing.assert_close(logits, solo, atol=1e-5, rtol=1e-5)
        assert solo.std(0).min() > 1e-4  # a collapsed model would match anything
        # Every dialogue's caches are as its solo step left them.
        assert [together.length for together, _ in pairs] == [n + 1 for n in PREFIXES]
        for together, mine in pairs:
            assert_same_state(together, mine)
        # And each steps on alone from there as the one that stepped alone.
        for (together, mine), d, n in zip(pairs, dialogues, PREFIXES):
            x, s = row(d, n + 1)
            torch.testing.assert_close(alone(model, together, x, s),
                                       alone(model, mine, x, s), atol=1e-5, rtol=1e-5)
            assert_same_state(together, mine)


@pytest.mark.parametrize("config", [ENCODERS["transformer"], ENCODERS["gru+speaker_gru"]],
                         ids=["transformer", "gru+speaker_gru"])
def test_staggered_dialogues_with_stateful_encoders_step_together_as_alone(config):
    model = trained(small_config(DIMS, **config), "causal", {"past": None})
    together, alone = lockstep(model, [3, 41, 1, 20], seed=2)
    for mine, theirs in zip(together, alone):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_one_dialogue_steps_the_same_whichever_way_it_is_called():
    model = trained(small_config(DIMS, **ENCODERS["speaker_gru"]), "causal", {})
    dialogues, pairs = at_prefixes(model, [5])
    (together, mine), = pairs
    x, s = row(dialogues[0], 5)
    with torch.no_grad():
        torch.testing.assert_close(together_step(model, [together], [x], [s])[0],
                                   alone(model, mine, x, s), atol=0, rtol=0)
    assert_same_state(together, mine, exact=True)


@pytest.mark.parametrize("fault", ["visual shape", "classifier"])
def test_a_failed_call_leaves_every_cache_as_it_was(fault, monkeypatch):
    model = trained(small_config(DIMS, **ENCODERS["speaker_gru"]), "causal", {})
    dialogues, pairs = at_prefixes(model, [0, 12, 3])
    before = [committed(together) for together, _ in pairs]
    pushes = [row(d, n) for d, n in zip(dialogues, [0, 12, 3])]
    features = [x for x, _ in pushes]
    if fault == "visual shape":
        # The last modality, so that the text encoder has written its rows.
        features[1] = {**features[1], "visual": torch.randn(1, DIMS["visual"] + 1)}
    with torch.no_grad(), monkeypatch.context() as patch:
        if fault == "classifier":  # after every cache has its new rows
            def fail(*args):
                raise RuntimeError("a fault in the classifier")
            patch.setattr(model.classifier, "forward", fail)
        with pytest.raises(RuntimeError):
            together_step(model, [together for together, _ in pairs], features,
                          [s for _, s in pushes])
    for (together, mine), (rows, *turns) in zip(pairs, before):
        after_rows, *after_turns = committed(together)
        assert after_turns == turns
        assert sorted(after_rows) == sorted(rows)
        assert all(torch.equal(after_rows[key], rows[key]) for key in rows)
        assert_same_state(together, mine, exact=True)
    with torch.no_grad():
        logits = together_step(model, [together for together, _ in pairs],
                               [x for x, _ in pushes], [s for _, s in pushes])
        solo = torch.stack([alone(model, mine, x, s)
                            for (_, mine), (x, s) in zip(pairs, pushes)])
    torch.testing.assert_close(logits, solo, atol=1e-5, rtol=1e-5)
