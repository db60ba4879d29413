"""A run's evaluation: its trained folds' test predictions, their scores,
the graph's size and the model's latency, as the record's parts
(:mod:`runner.record`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from dialogues import Dialogue, collate
from models import CORECT
from models.heads import Head, Predictions

from .config import LatencyOptions
from .latency import load_average, measure_latency, streaming_latency
from .metrics import classification_metrics
from .record import DevMetrics, FoldRecord, GraphRecord, LatencyRecord, TestMetrics
from .training import TrainResult


@dataclass
class Fold:
    """One trained model and what it predicted on its test dialogues.

    Args:
        model (CORECT): The trained model.
        result (TrainResult): Its training.
        test_set (list[Dialogue]): Its test dialogues.
        labels (Tensor): Their labels :obj:`[U]`.
        logits (Tensor): The model's outputs :obj:`[U, C]`.
    """

    model: CORECT
    result: TrainResult
    test_set: list[Dialogue]
    labels: torch.Tensor
    logits: torch.Tensor


@dataclass
class TestPredictions:
    """Every fold's test predictions, pooled in fold order.

    Args:
        dialogues (list[Dialogue]): The test dialogues.
        labels (Tensor): True labels :obj:`[U]`.
        logits (Tensor): The models' outputs :obj:`[U, O]`.
        predictions (Predictions): The head's classes and table columns.
        head (Head): The head that read the outputs (every fold's is alike).
    """

    dialogues: list[Dialogue]
    labels: torch.Tensor
    logits: torch.Tensor
    predictions: Predictions
    head: Head


def pooled_predictions(folds: list[Fold]) -> TestPredictions:
    """The folds' test predictions together, read by the last fold's head.

    Args:
        folds (list[Fold]): The trained folds.
    """
    head, test_set = folds[-1].model.head, [d for f in folds for d in f.test_set]
    logits = torch.cat([f.logits for f in folds])
    return TestPredictions(test_set, torch.cat([f.labels for f in folds]), logits,
                           head.predictions(logits, test_set), head)


def test_metrics(tested: TestPredictions, label_names: list[str]) -> TestMetrics:
    """Classification scores, and what the head adds (a regression head's
    MAE and Pearson r).

    Args:
        tested (TestPredictions): The pooled test predictions.
        label_names (list[str]): The labels in index order.
    """
    metrics = classification_metrics(tested.labels, tested.predictions.classes, label_names)
    metrics.update(tested.head.metrics(tested.logits, tested.dialogues))
    return TestMetrics.from_json(metrics)


def fold_records(folds: list[Fold], label_names: list[str]) -> list[FoldRecord]:
    """Each cross-validation fold's own scores and training.

    Args:
        folds (list[Fold]): The trained folds.
        label_names (list[str]): The labels in index order.
    """
    return [FoldRecord(
        fold=k + 1, test_dialogues=[d.id for d in f.test_set],
        test=TestMetrics.from_json({
            **classification_metrics(f.labels, f.model.head.classes(f.logits), label_names),
            **f.model.head.metrics(f.logits, f.test_set)}),
        dev=DevMetrics(f.result.dev_weighted_f1),
        best_epoch=f.result.best_epoch, epochs_run=len(f.result.history),
        history=f.result.history, train_seconds=f.result.train_seconds)
        for k, f in enumerate(folds)]


def graph_record(model: CORECT, dialogues: list[Dialogue], name: str,
                 params: dict) -> GraphRecord:
    """The graph's size on :obj:`dialogues`, built as the model builds it.

    Args:
        model (CORECT): A trained model.
        dialogues (list[Dialogue]): Its test dialogues.
        name (str): The graph's registry name.
        params (dict): Its parameters.
    """
    whole = collate(dialogues, model.modalities)
    model.eval()
    graph = model.graph(whole)
    return GraphRecord(name=name, params=params, causal=model.causal,
                       num_relations=len(model.relations),
                       edges_per_utterance=graph.num_edges / whole.num_utterances)


def latency_record(model: CORECT, dialogues: list[Dialogue], device: torch.device,
                   options: LatencyOptions, line: Callable[[str], None]) -> LatencyRecord:
    """The model's latency on :obj:`dialogues`, and for a causal model the
    cost of a live push; each number is also logged.

    Args:
        model (CORECT): A trained model.
        dialogues (list[Dialogue]): Its test dialogues.
        device (torch.device): Where it is timed.
        options (LatencyOptions): Timed and warm-up passes.
        line (Callable): Logs one line.
    """
    # Timings depend on the threads and on what else the machine runs, so
    # both are recorded beside them.
    load_start = load_average()
    timing = measure_latency(model, dialogues, device, repeats=options.repeats,
                             warmup=options.warmup)
    line(f"latency {timing['ms_per_utterance']:.3f} ms per utterance")
    if model.causal:  # it can serve live: time what a live push costs
        timing.update(streaming_latency(model, dialogues))
        line(f"streaming: {timing['stream_ms']:.2f} ms for the push of turn "
             f"{timing['stream_turn']}")
    return LatencyRecord.from_json({**timing, "threads": torch.get_num_threads(),
                                    "cores": os.cpu_count(), "load_start": load_start,
                                    "load_end": load_average()})
