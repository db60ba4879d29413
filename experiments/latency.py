"""Latency of a model on its test set, one dialogue at a time."""
from __future__ import annotations

import statistics
import time

import torch

from dialogues import Dialogue, collate
from models import CORECT


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
            # A builder that reads encoder states needs them first; the
            # encoders' time counts in the forward pass, not here.
            states = (model.encode(batch.features, batch.structure)[0]
                      if model.reads.states else None)
            start = time.perf_counter()
            graph = model.build_graph(batch.structure, batch.features, states)
            built = time.perf_counter()
            model(batch.features, batch.structure, graph)
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
