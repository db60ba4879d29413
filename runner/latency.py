"""Latency of a model on its test set, one dialogue at a time."""
from __future__ import annotations

import copy
import os
import statistics
import time

import torch

from dialogues import Dialogue, collate
from models import CORECT, StreamingPredictor

#: The turn whose push a run times: long enough that a predictor keeping
#: the whole dialogue would show it, short enough that most corpora have
#: test dialogues that long.
STREAM_TURN = 50


def load_average() -> float | None:
    """The machine's 1-minute load average (runnable and waiting threads);
    None where the system keeps none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency(model: CORECT, dialogues: list[Dialogue], device: torch.device,
                    repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    r"""Median over :obj:`repeats` timed passes (after :obj:`warmup`
    untimed ones) over :obj:`dialogues` at batch size 1.

    Returns:
        ``graph_ms_per_dialogue`` (building the graph),
        ``forward_ms_per_dialogue`` (the model on a built graph) and
        ``ms_per_utterance`` (both, per utterance).
    """
    model.eval()
    batches = [collate([d], model.modalities).to(device) for d in dialogues]
    utterances = sum(b.num_utterances for b in batches)
    graph_times, forward_times = [], []
    for rep in range(warmup + repeats):
        graph_total = forward_total = 0.0
        for batch in batches:
            # Untimed: the encoders' time counts in the forward pass, not in
            # the building of a graph that reads their states.
            states, _ = model.encode(batch)
            start = time.perf_counter()
            graph = model.graph(batch, states)
            built = time.perf_counter()
            model(batch, graph)
            _sync(device)
            done = time.perf_counter()
            graph_total += built - start
            forward_total += done - built
        if rep >= warmup:
            graph_times.append(graph_total)
            forward_times.append(forward_total)
    graph_s, forward_s = statistics.median(graph_times), statistics.median(forward_times)
    return {
        "graph_ms_per_dialogue": 1e3 * graph_s / len(batches),
        "forward_ms_per_dialogue": 1e3 * forward_s / len(batches),
        "ms_per_utterance": 1e3 * (graph_s + forward_s) / utterances,
    }


def streaming_latency(model: CORECT, dialogues: list[Dialogue], turn: int = STREAM_TURN,
                      count: int = 5) -> dict[str, float]:
    """Median latency, on CPU, of the :class:`~models.StreamingPredictor`
    push of turn :obj:`turn` over up to :obj:`count` of :obj:`dialogues`
    that long, after one untimed replay; where none is, the last turn of the
    longest one. For a causal model only.

    Returns:
        ``stream_ms`` (milliseconds per push) and ``stream_turn`` (the turn
        timed, 0-based).
    """
    longest = max(len(d) for d in dialogues)
    turn = min(turn, longest - 1)
    chosen = [d for d in dialogues if len(d) > turn][:count]
    # The run keeps its model where it trained; streaming serves on CPU.
    predictor = StreamingPredictor(copy.deepcopy(model).cpu(),
                                   [str(i) for i in range(model.config.num_classes)])
    timings = []
    for rep, dialogue in enumerate([chosen[0], *chosen]):
        predictor.reset()
        for t in range(turn + 1):
            prediction = predictor.push(
                dialogue.speakers[t], {m: dialogue.features[m][t] for m in predictor.modalities},
                annotations=dialogue.annotations_at(t))
        if rep > 0:
            timings.append(prediction.latency_ms)
    return {"stream_ms": statistics.median(timings), "stream_turn": turn}
