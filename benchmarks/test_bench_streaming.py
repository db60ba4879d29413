"""Live inference speed: one push against recomputing the whole prefix.

Run: ``python -m pytest benchmarks/test_bench_streaming.py -s``. Model:
``corect``-sized (``ModelConfig`` defaults: hidden 100, 7 graph heads, P-CM
2 × 2 cross and 3 × 2 self-attention layers), IEMOCAP dimensions, three
modalities, on a causal graph. Targets (issue 7): at turn 110 a push is
≥ 10× faster than running the model on the 110-turn prefix to read its last
turn, and a push at turn 110 costs ≤ 2× a push at turn 10. Timings use one torch thread.
"""
import statistics
import time

import pytest
import torch

from graphs import DialogueBatch
from models import CORECT, ModelConfig, StreamingPredictor
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
DIMS = {"audio": 100, "text": 768, "visual": 512}
GRAPHS = {"causal": {"past": 4, "self_loops": True}, "speaker": {"future": 0},
          "similarity": {"k": 4, "past_only": True}}
POSITIONS = (10, 50, 110)
LABELS = ["hap", "sad", "neu", "ang", "exc", "fru"]


def dialogue(turns: int = max(POSITIONS), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(turns, d, generator=g) for m, d in DIMS.items()}
    # IEMOCAP is dyadic and mostly alternates; some turns keep the floor.
    speakers = (torch.arange(turns) + (torch.rand(turns, generator=g) < 0.2).cumsum(0)) % 2
    return features, speakers.tolist()


def corect_model(graph: str) -> CORECT:
    torch.manual_seed(0)
    return CORECT(ModelConfig(modalities=dict(DIMS)), REGISTRY.get(graph, **GRAPHS[graph])
                  ).eval()


def row(features, t):
    return {m: x[t] for m, x in features.items()}


def prefilled(predictor, features, speakers, turns: int) -> StreamingPredictor:
    """:obj:`predictor` holding the first :obj:`turns` turns of a new
    dialogue. One predictor serves dialogue after dialogue, as live: what it
    keeps across reset() (stacked weights, graphs of speaker patterns seen)
    is warm."""
    predictor.reset()
    for t in range(turns):
        predictor.push(speakers[t], row(features, t))
    return predictor


def recompute(model, features, speakers, turns: int) -> torch.Tensor:
    """The naive live loop: the model on the whole prefix, last turn kept."""
    structure = DialogueBatch([turns], speakers[:turns], list(DIMS))
    with torch.inference_mode():
        prefix = structure.with_content(features={m: x[:turns] for m, x in features.items()})
        return model(prefix)[-1]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One stream per core, as a live server would run them; on a small
    shared machine two threads also make both timings erratic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=["causal", "speaker"])
def setting(request):
    features, speakers = dialogue()
    model = corect_model(request.param)
    predictor = prefilled(StreamingPredictor(model, LABELS), features, speakers,
                          max(POSITIONS))
    return request.param, model, predictor, features, speakers


@pytest.mark.parametrize("position", POSITIONS)
def test_push(benchmark, setting, position):
    graph, model, predictor, features, speakers = setting
    benchmark.group = f"{graph}, turn {position}"

    def setup():
        return (prefilled(predictor, features, speakers, position - 1),), {}

    prediction = benchmark.pedantic(
        lambda p: p.push(speakers[position - 1], row(features, position - 1)),
        setup=setup, rounds=10, warmup_rounds=1)
    torch.testing.assert_close(prediction.logits,
                               recompute(model, features, speakers, position),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("position", POSITIONS)
def test_recompute(benchmark, setting, position):
    graph, model, _, features, speakers = setting
    benchmark.group = f"{graph}, turn {position}"
    benchmark.pedantic(recompute, (model, features, speakers, position),
                       rounds=10, warmup_rounds=1)


def median_ms(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(model, predictor, features, speakers, repeats: int = 15
            ) -> dict[int, tuple[float, float]]:
    """Median ms per utterance of a push and of recomputation at each
    position, measured alternately so that machine noise hits both alike."""
    pushes = {position: [] for position in POSITIONS}
    naive = {position: [] for position in POSITIONS}
    for _ in range(repeats):
        for position in POSITIONS:
            prefilled(predictor, features, speakers, position - 1)
            pushes[position].append(predictor.push(
                speakers[position - 1], row(features, position - 1)).latency_ms)
            naive[position].append(median_ms(
                lambda: recompute(model, features, speakers, position), 1))
    return {position: (statistics.median(pushes[position]), statistics.median(naive[position]))
            for position in POSITIONS}


def test_streaming_targets(setting):
    graph, model, predictor, features, speakers = setting
    table = measure(model, predictor, features, speakers)
    print(f"\n{graph} {GRAPHS[graph]}, 3 modalities, hidden 100, "
          f"{torch.get_num_threads()} threads")
    print(f"{'turn':>5} {'push ms':>9} {'recompute ms':>13} {'speed-up':>9}")
    for position, (push, naive) in table.items():
        print(f"{position:>5} {push:>9.2f} {naive:>13.2f} {naive / push:>8.1f}x")
    push_10, push_110 = table[10][0], table[110][0]
    assert table[110][1] / push_110 >= 10
    assert push_110 <= 2 * push_10


def test_a_content_push_against_a_causal_push():
    """Pushes at turn 110 with the similarity graph (the whole prefix's
    features rebuilt into a graph each push) and with causal, alternately."""
    features, speakers = dialogue()
    position = max(POSITIONS)
    predictors = {graph: StreamingPredictor(corect_model(graph), LABELS)
                  for graph in ("causal", "similarity")}
    times = {graph: [] for graph in predictors}
    for _ in range(15):
        for graph, predictor in predictors.items():
            prefilled(predictor, features, speakers, position - 1)
            times[graph].append(predictor.push(
                speakers[position - 1], row(features, position - 1)).latency_ms)
    causal, similarity = (statistics.median(times[g]) for g in ("causal", "similarity"))
    print(f"\nturn {position}: causal {causal:.2f} ms, similarity(k=4, past_only) "
          f"{similarity:.2f} ms, ratio {similarity / causal:.2f}")
    assert similarity <= 2 * causal
