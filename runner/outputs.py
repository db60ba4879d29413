"""A trained run's outputs: its test predictions, figures, checkpoints and
record (``metrics.json``, :class:`runner.record.RunMetrics`)."""
from __future__ import annotations

from pathlib import Path

import torch

from dialogues import Corpus
from models import CORECT, Checkpoint, save_checkpoint

from .config import RunConfig
from .evaluation import (Fold, fold_records, graph_record, latency_record, pooled_predictions,
                         test_metrics)
from .figures import confusion_figure, dev_curves, training_curves
from .predictions import predictions_table
from .record import DatasetRecord, DevMetrics, RunMetrics, TestMetrics
from .run_log import RunLog
from .setup import RunSetup


def write_outputs(config: RunConfig, setup: RunSetup, folds: list[Fold], staging: Path,
                  log: RunLog) -> RunMetrics:
    """Write the test predictions, figures and checkpoint; time the last
    model; return the run's record.

    Args:
        config (RunConfig): The run's configuration.
        setup (RunSetup): What :func:`runner.experiment.prepare_run` built.
        folds (list[Fold]): The trained folds.
        staging (Path): The run's staging folder.
        log (RunLog): The run's log.
    """
    corpus, label_names = setup.corpus, list(setup.corpus.labels)
    tested = pooled_predictions(folds)
    (staging / "predictions.csv").write_text(
        predictions_table(tested.dialogues, tested.labels, tested.predictions, label_names))
    test = test_metrics(tested, label_names)
    log.line(f"test accuracy {test.accuracy:.2f}, weighted F1 {test.weighted_f1:.2f}, "
             f"macro F1 {test.macro_f1:.2f}" + tested.head.summary(test.to_json())
             + ("" if config.cv is None else f" over all {len(folds)} folds' test dialogues"))
    cv_title = "" if config.cv is None else f", cv={config.cv}"
    confusion_figure(test.confusion, label_names, staging / "confusion.png",
                     title=f"{corpus.name} test, {config.graph.name}, seed {config.seed}"
                     + cv_title)
    log.confusion(test.confusion, label_names)
    model = folds[-1].model
    if config.cv is None:
        training_curves(folds[0].result.history, folds[0].result.best_epoch,
                        staging / "curves.png")
        save_model(staging / "checkpoint.pt", model, config, corpus, setup.entry)
    else:
        dev_curves([(f"fold {k + 1}", f.result.history) for k, f in enumerate(folds)],
                   staging / "curves.png", title=f"dev weighted F1 of each fold (cv={config.cv})")
    return run_record(config, setup, folds, test, log)


def run_record(config: RunConfig, setup: RunSetup, folds: list[Fold],
               test: TestMetrics, log: RunLog) -> RunMetrics:
    """The run's ``metrics.json``; measures the graph's size and the
    latency of the last model on the test dialogues it was given.

    Args:
        config (RunConfig): The run's configuration.
        setup (RunSetup): What :func:`runner.experiment.prepare_run` built.
        folds (list[Fold]): The trained folds.
        test (TestMetrics): The pooled test scores.
        log (RunLog): The run's log, for the timings.
    """
    corpus, model, last = setup.corpus, folds[-1].model, folds[-1].test_set
    graph = graph_record(model, last, config.graph.name, config.graph.params)
    latency = latency_record(model, last, setup.device, config.latency, log.line)
    results = [f.result for f in folds]
    cv = config.cv is not None
    return RunMetrics(
        test=test,
        dev=DevMetrics(sum(r.dev_weighted_f1 for r in results) / len(results)),
        best_epoch=[r.best_epoch for r in results] if cv else results[0].best_epoch,
        epochs_run=sum(len(r.history) for r in results),
        history=[] if cv else results[0].history,
        graph=graph, latency=latency,
        params=sum(p.numel() for p in model.parameters()),
        train_seconds=sum(r.train_seconds for r in results),
        device=str(setup.device),
        # CPU results are bit-exact only at the same intra-op thread count.
        threads=torch.get_num_threads(),
        dataset=DatasetRecord(name=config.dataset.name, labels=list(corpus.labels),
                              modalities=dict(corpus.modalities),
                              features=corpus.metadata.get("features"),
                              finetune=corpus.metadata.get("finetune")),
        cv=config.cv, folds=fold_records(folds, list(corpus.labels)) if cv else None)


def save_model(path: Path, model: CORECT, config: RunConfig, corpus: Corpus,
               entry) -> None:
    """The model's checkpoint; :func:`save_checkpoint` moves the weights to
    CPU itself.

    Args:
        path (Path): Where to write it.
        model (CORECT): The trained model.
        config (RunConfig): The run's configuration, recorded in it.
        corpus (Corpus): What it trained on, its metadata recorded.
        entry: The graph's registry entry, whose provider is recorded.
    """
    # The dialogues that trained or selected it, so that predict.py refuses
    # to score them as if unseen (a cv fold's test split is another fold's).
    seen = sorted(d.id for split in ("train", "dev") for d in corpus.splits.get(split, ()))
    save_checkpoint(path, Checkpoint.from_model(
        model, config.graph.name, config.graph.params, list(corpus.labels),
        {"dataset": corpus.metadata, "config": config.composed,
         "seen": {"corpus": corpus.name, "dialogues": seen}}, entry.provider))
