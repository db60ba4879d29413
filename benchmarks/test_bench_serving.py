"""Serving many live dialogues: one round of pushes of :obj:`SESSIONS`
sessions stepped as one batch, against one push at a time.

Run: ``python -m pytest benchmarks/test_bench_serving.py -s``. The engine
alone (no HTTP), sessions at turn 50, a causal graph (``past=4``, self
loops), one torch thread, random weights (a push costs the same whatever
they are). Models: text-only (IEMOCAP's 384-d sentence embeddings, the
default backbone, hidden 100) and CORECT-sized (``model=corect_paper`` on
text 768, audio 100 and visual 512: a 768-wide text transformer and P-CM).
Target (issue 19): batched ≥ 3× the pushes per second of one at a time for
both, the two timed alternately in one process.
"""
import statistics
import time

import pytest
import torch

from runner.config import compose
from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry
from serving import Engine

SESSIONS = 32
TURN = 50
LABELS = ["hap", "sad", "neu", "ang", "exc", "fru"]
MODELS = {"text-only": ({"text": 384}, None),
          "corect_paper": ({"audio": 100, "text": 768, "visual": 512}, "corect_paper")}


def engine_for(name: str) -> Engine:
    dims, config = MODELS[name]
    options = compose([f"model={config}"])["model"] if config else {}
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities=dims, num_classes=len(LABELS), **options),
                   EdgeBuilderRegistry(entry_points=False).get("causal", past=4,
                                                               self_loops=True))
    return Engine(model, LABELS, max_turns=10_000)


def pushes(engine: Engine, sessions, turn: int):
    """Each session's next push: features drawn per (session, turn), two
    speakers taking turns."""
    batch = []
    for k, session in enumerate(sessions):
        g = torch.Generator().manual_seed(1000 * k + turn)
        features = {m: torch.randn(d, generator=g).tolist()
                    for m, d in engine.modalities.items()}
        batch.append((session, engine.prepare(session, "AB"[turn % 2], features)))
    return batch


def live_sessions(engine: Engine, prefix: str):
    sessions = [engine.open(f"{prefix}{k}") for k in range(SESSIONS)]
    for turn in range(TURN):
        engine.step(pushes(engine, sessions, turn))
    return sessions


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A server steps on one thread (see serve.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=list(MODELS))
def setting(request):
    engine = engine_for(request.param)
    return request.param, engine, live_sessions(engine, "b"), live_sessions(engine, "o")


def test_a_batched_round(benchmark, setting):
    _, engine, sessions, _ = setting
    turns = iter(range(TURN, 10_000))
    benchmark.pedantic(lambda batch: engine.step(batch),
                       setup=lambda: ((pushes(engine, sessions, next(turns)),), {}),
                       rounds=10)


def test_batching_target(setting):
    name, engine, batched, one_by_one = setting
    spent = {"batched": [], "one by one": []}
    for turn in range(TURN, TURN + 10):
        round_b, round_o = pushes(engine, batched, turn), pushes(engine, one_by_one, turn)
        began = time.perf_counter()
        engine.step(round_b)
        spent["batched"].append(time.perf_counter() - began)
        began = time.perf_counter()
        for push in round_o:
            engine.step([push])
        spent["one by one"].append(time.perf_counter() - began)
    rates = {way: SESSIONS / statistics.median(seconds) for way, seconds in spent.items()}
    ratio = rates["batched"] / rates["one by one"]
    print(f"\n{name}: {SESSIONS} sessions at turn {TURN}: batched "
          f"{rates['batched']:.0f} pushes/s, one by one {rates['one by one']:.0f} "
          f"pushes/s, {ratio:.2f}x")
    assert ratio >= 3
