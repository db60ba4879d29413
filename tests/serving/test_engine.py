import asyncio

import numpy as np
import pytest
import torch

from experiments.run import main as run_main
from models import CORECT, Checkpoint, ModelConfig, StreamingPredictor, save_checkpoint
from registry import EdgeBuilderRegistry
from serving import Batcher, Engine, PushError, SessionStore, TooManySessions, UnknownSession

from ..experiments.conftest import TINY
from .helpers import CountingEncoder

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def text_model(graph="causal", **params):
    torch.manual_seed(0)
    return CORECT(ModelConfig(modalities={"text": 12, "audio": 4}, num_classes=3, hidden=8,
                              gnn_heads=2, sequence_heads=2, max_speakers=3,
                              self_attention_layers=1, crossmodal_layers=1),
                  REGISTRY.get(graph, **params)).eval()


def dialogues(count, length, seed=0):
    """``count`` random dialogues of ``length`` pushes: (speaker, text,
    audio features)."""
    rng = np.random.default_rng(seed)
    return [[(f"s{rng.integers(3)}", f"utterance {i}.{k}", rng.standard_normal(4).tolist())
             for k in range(length)] for i in range(count)]


def replay_batched(engine, scripts, max_batch):
    """Every dialogue's k-th push submitted together; the predictions as the
    API answers them, and the batcher's call count."""
    batcher = Batcher(engine.step, max_batch)
    sessions = [engine.open(str(i)) for i in range(len(scripts))]

    async def main():
        out = [[] for _ in scripts]
        for k in range(len(scripts[0])):
            pushes = [engine.prepare(s, *script[k][:1], {"audio": script[k][2]},
                                     script[k][1])
                      for s, script in zip(sessions, scripts)]
            results = await asyncio.gather(*(batcher.submit((s, p))
                                             for s, p in zip(sessions, pushes)))
            for i, result in enumerate(results):
                out[i].append(result.to_json())
        await batcher.stop()
        return out

    return asyncio.run(main()), batcher.calls


def test_batched_steps_equal_one_at_a_time_and_the_streaming_predictor():
    scripts = dialogues(6, 7)
    encoder = CountingEncoder(12)
    one_by_one, calls = replay_batched(Engine(text_model(), ["a", "b", "c"],
                                              text_encoder=encoder), scripts, 1)
    assert calls == 6 * 7 and all(len(texts) == 1 for texts in encoder.calls)
    encoder.calls.clear()
    batched, calls = replay_batched(Engine(text_model(), ["a", "b", "c"],
                                           text_encoder=encoder), scripts, 6)
    # One model step and one encoder call per round of six pushes.
    assert calls == 7 and [len(texts) for texts in encoder.calls] == [6] * 7

    # The same turns and labels; probabilities to float32 rounding (one
    # RT-GCN step for all six sums in its own order).
    for mine, theirs in zip(batched, one_by_one):
        assert [(r["turn"], r["speaker"], r["label"]) for r in mine] == \
            [(r["turn"], r["speaker"], r["label"]) for r in theirs]
        for r, expected in zip(mine, theirs):
            assert r["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
    # And what the single-dialogue predictor gives.
    for script, records in zip(scripts, batched):
        predictor = StreamingPredictor(text_model(), ["a", "b", "c"],
                                       text_encoder=CountingEncoder(12))
        for (speaker, text, audio), record in zip(script, records):
            expected = predictor.push(speaker, {"audio": audio}, text=text)
            assert (record["turn"], record["label"]) == (expected.turn, expected.label)
            assert record["probabilities"] == pytest.approx(expected.probabilities,
                                                            abs=1e-6)


def test_a_failing_push_in_a_batch_refuses_only_itself():
    engine = Engine(text_model(), ["a", "b", "c"], text_encoder=CountingEncoder(11))
    good, bad = engine.open("good"), engine.open("bad")
    pushes = [(good, engine.prepare(good, "ann", {"audio": [0.0] * 4,
                                                  "text": [0.0] * 12})),
              (bad, engine.prepare(bad, "ann", {"audio": [0.0] * 4}, "hi"))]
    first, second = engine.step(pushes)
    assert first.turn == 0 and good.turns == 1
    assert isinstance(second, PushError) and "'text' the text encoder's embedding have " \
        "shape [11]; the model expects a vector of dimension 12" in str(second)
    assert bad.turns == 0 and bad.predictions == [] and bad.speakers == {}


@pytest.mark.parametrize("features, text, message", [
    ({"audio": [0.0] * 4, "text": [float("nan")] * 12}, None,
     "'text' features hold nan at index 0; values must be finite"),
    ({"audio": [0.0] * 4, "text": [[0.0] * 12] * 2}, None,
     "'text' features have shape [2, 12]; the model expects a vector of dimension 12"),
    ({"audio": "oops", "text": [0.0] * 12}, None,
     "'audio' features are a str, not a numeric vector"),
    ({"audio": [0.0] * 4, "text": [0.0] * 12}, "hi",
     "give the 'text' modality as features or as text, not both"),
    ({"audio": [0.0] * 4}, "", "'text' is empty; a turn's text needs at least one non-space"),
    ({"text": [0.0] * 12, "video": [1.0]}, None,
     "a push needs exactly the model's modalities ['text', 'audio']; missing ['audio']; "
     "unexpected ['video']"),
])
def test_prepare_names_what_is_wrong(features, text, message):
    engine = Engine(text_model(), ["a", "b", "c"])
    session = engine.open("x")
    with pytest.raises(PushError) as error:
        engine.prepare(session, "ann", features, text)
    assert message in str(error.value)
    assert session.turns == 0 and session.speakers == {}


def test_sessions_share_weights_but_not_state():
    engine = Engine(text_model(), ["a", "b", "c"])
    one, two = engine.open("1"), engine.open("2")
    assert one.state is not two.state and one.state.history is not two.state.history
    push = {"audio": [1.0] * 4, "text": [0.5] * 12}
    # The model's stacked attention weights, built once, serve every session.
    stacked = engine.model.crossmodal.stacked()
    engine.step([(one, engine.prepare(one, "ann", push))])
    assert (one.turns, two.turns) == (1, 0) and one.nbytes() > 0 == two.nbytes()
    # A second session's first turn is what the first session's first turn was.
    assert engine.step([(two, engine.prepare(two, "bob", push))])[0].probabilities == \
        one.predictions[0]["probabilities"]
    assert engine.model.crossmodal.stacked() is stacked


def test_a_non_causal_checkpoint_is_refused_with_the_reason(tmp_path):
    model = text_model("window", past=1, future=1)
    path = tmp_path / "window.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "window", {"past": 1, "future": 1},
                                                ["a", "b", "c"]))
    with pytest.raises(ValueError, match=r"window\.pt: graph 'window' \{'past': 1, "
                                         r"'future': 1\} is not causal: its predictions "
                                         "need turns that have not happened yet"):
        Engine.from_checkpoint(path)


def test_the_store_caps_expires_and_keeps_busy_sessions():
    now = [0.0]
    store = SessionStore(Engine(text_model(), ["a", "b", "c"]), max_sessions=2,
                         idle_seconds=10, clock=lambda: now[0])
    first, second = store.open(), store.open()
    assert first.id != second.id and len(store) == 2
    with pytest.raises(TooManySessions, match="holds 2 live sessions"):
        store.open()
    first.in_flight = 1
    now[0] = 10
    assert store.expire() == [second.id]
    with pytest.raises(UnknownSession):
        store.get(second.id)
    assert store.get(first.id) is first  # and used now
    first.in_flight = 0
    now[0] = 19.9
    assert store.expire() == []
    now[0] = 20
    assert store.expire() == [first.id] and len(store) == 0


def test_batcher_steps_what_arrived_meanwhile_and_hands_out_errors():
    calls = []

    def step(items):
        calls.append(list(items))
        return [ValueError(f"bad {i}") if i < 0 else 10 * i for i in items]

    batcher = Batcher(step, max_batch=3)

    async def main():
        results = await asyncio.gather(*(batcher.submit(i) for i in [1, 2, -3, 4, 5]),
                                       return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(main())
    assert results[:2] == [10, 20] and results[3:] == [40, 50]
    assert str(results[2]) == "bad -3"
    assert calls == [[1, 2, -3], [4, 5]]
    with pytest.raises(ValueError, match="max_batch=0: expected a positive integer"):
        Batcher(step, 0)


def test_from_checkpoint_reports_the_graph_and_version(tmp_path):
    run = tmp_path / "run"
    assert run_main([*TINY, "graph=speaker_causal", f"out={run}"]) == 0
    engine = Engine.from_checkpoint(run / "checkpoint.pt")
    # The preset's builder and its parameters.
    assert engine.info["graph"]["name"] == "speaker"
    assert engine.info["graph"]["params"]["future"] == 0
    assert engine.info["checkpoint"] == "checkpoint.pt"
    assert engine.info["version"] == Checkpoint.__dataclass_fields__["version"] \
        .default_factory()


def test_when_the_batched_step_fails_each_push_is_stepped_alone():
    engine = Engine(text_model(), ["a", "b", "c"])
    push = {"audio": [0.0] * 4, "text": [0.5] * 12}
    good, broken, reference = engine.open("good"), engine.open("broken"), engine.open("ref")

    def fail(*args, **kwargs):
        raise RuntimeError("a fault inside the model")

    # Every layer writes its rows to the dialogue's caches.
    broken.state.history.put = fail
    answers = engine.step([(good, engine.prepare(good, "ann", push)),
                           (broken, engine.prepare(broken, "ann", push))])
    assert answers[0].turn == 0 and good.turns == 1
    assert str(answers[1]) == "a fault inside the model" and broken.turns == 0
    expected = engine.step([(reference, engine.prepare(reference, "ann", push))])[0]
    assert answers[0].probabilities == expected.probabilities


def test_a_regression_head_is_refused_with_the_reason():
    model = CORECT(ModelConfig(modalities={"text": 12}, num_classes=2, hidden=8, gnn_heads=2,
                               sequence_heads=2, self_attention_layers=1, crossmodal_layers=1,
                               head="regression", score_view="sentiment_2"),
                   REGISTRY.get("causal"))
    with pytest.raises(ValueError, match=r"predicts a score \(model.head=regression\)"):
        Engine(model, ["negative", "non-negative"])
