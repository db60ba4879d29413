"""One experiment: train, evaluate, time, and write a run directory.

:func:`run_experiment` orchestrates the steps: prepare the data and build
the model (:mod:`runner.setup`), check the graphs (:mod:`runner.graph_check`),
train (:func:`train_folds`), then evaluate and write the records
(:mod:`runner.evaluation`, :mod:`runner.outputs`, :mod:`runner.record`).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Mapping, TextIO

import torch

import registry as registries
from dialogues import Corpus
from dialogues.folds import cross_validation_folds
from graphs import GraphBuildError
from models import CORECT
from storage.atomic import staged_folder

from .config import ConfigError, RunConfig, dump, run_config
from .evaluation import Fold
from .graph_check import check_graphs
from .outputs import save_model, write_outputs
from .run_log import RunLog, default_echo
from .setup import (RunSetup, build_model, check_trainable, corpus_from_config,
                    default_run_dir, resolve_device)
from .tensorboard_log import require_tensorboard
from .training import predict, train


def run_experiment(config: RunConfig | Mapping[str, Any], registry=None,
                   echo: TextIO | None | str = "auto") -> Path:
    """Train and evaluate one configuration; return its run directory.

    The directory is assembled in a staging folder beside its target and
    renamed into place only when complete, so a crash, Ctrl-C or SIGTERM
    leaves nothing half-written and an existing run is never overwritten.
    Meanwhile ``train.log`` and ``history.csv`` grow in the staging folder,
    whose path is printed first.

    Args:
        config (RunConfig or Mapping): The resolved configuration
            (:func:`runner.config.compose`, typed by
            :func:`runner.config.run_config`).
        registry: The edge-builder registry. (default: the installed one)
        echo (TextIO, optional): Where each log line is repeated;
            ``"auto"`` is stderr when it is not a terminal, ``None`` nowhere
            (a sweep reports each run as it ends instead). Where the run is
            being written goes to stderr in any case.
    """
    config = run_config(config)
    run_dir = config.out or default_run_dir(config)
    if run_dir.exists():
        raise FileExistsError(f"run directory {run_dir} already exists; "
                              "choose another out=")
    setup = prepare_run(config, registry)  # every refusal comes before any file
    echo = default_echo() if echo == "auto" else echo
    text = dump(config.composed)
    with staged_folder(run_dir) as staging:
        print(f"writing {run_dir}; until it completes: tail -f {staging}/train.log",
              file=sys.stderr, flush=True)
        (staging / "config.yaml").write_text(text)
        with RunLog(staging, text, tensorboard=config.log == "tensorboard",
                    echo=echo, folds=config.cv is not None) as log:
            describe_setup(config, setup, log)
            folds = train_folds(config, setup, staging, log)
            record = write_outputs(config, setup, folds, staging, log)
        record.write(staging)
    return run_dir


def prepare_run(config: RunConfig, registry=None) -> RunSetup:
    """Build the run's device, corpus (or folds) and model, refusing a run
    that would be meaningless (see :func:`runner.setup.check_trainable`,
    :func:`runner.graph_check.check_graphs`, cross-validation folds) before
    any training.

    Args:
        config (RunConfig): The run's configuration.
        registry: The edge-builder registry. (default: the installed one)
    """
    if registry is None:
        registry = registries.default_registry
    device = resolve_device(config.device)
    if config.log == "tensorboard":
        require_tensorboard()
    torch.manual_seed(config.seed)
    corpus = corpus_from_config(config.dataset)
    folds = ([corpus] if config.cv is None else cross_validation_folds(corpus, config.cv))
    for fold in folds:
        check_trainable(fold)
    model = build_model(config, corpus, registry)
    if config.train.class_weights and not model.head.weighs_classes:
        raise ConfigError("train.class_weights weighs the classes of the cross-entropy; "
                          f"model.head={model.head.name} has no classes to weigh")
    entry = registry.entry(config.graph.name)
    started = time.perf_counter()
    check_graphs(model, corpus, entry.label())
    return RunSetup(device, corpus, folds, model, entry, registry,
                    time.perf_counter() - started)


def describe_setup(config: RunConfig, setup: RunSetup, log: RunLog) -> None:
    """Log the checked graph, what it reduces to, and where training runs.

    Args:
        config (RunConfig): The run's configuration.
        setup (RunSetup): What :func:`prepare_run` built.
        log (RunLog): The run's log.
    """
    log.line(f"graph {setup.entry.label()} keeps its contract on every dialogue "
             f"({setup.check_seconds:.1f} s)")
    equivalent = setup.model.builder.one_speaker_equivalent()
    if equivalent is not None and setup.corpus.max_speakers == 1:
        log.line(f"every dialogue has one speaker: graph {config.graph.name!r} reduces to "
                 f"{equivalent}")
    log.line(f"training on {setup.device}, {torch.get_num_threads()} threads, "
             f"{sum(p.numel() for p in setup.model.parameters())} parameters"
             + ("" if config.cv is None else f", {len(setup.folds)} folds (cv={config.cv})"))


def train_folds(config: RunConfig, setup: RunSetup, staging: Path,
                log: RunLog) -> list[Fold]:
    """Train on the corpus, or on each cross-validation fold from the same
    seeded initialisation (saving each fold's checkpoint).

    Args:
        config (RunConfig): The run's configuration.
        setup (RunSetup): What :func:`prepare_run` built.
        staging (Path): The run's staging folder.
        log (RunLog): The run's log.
    """
    folds = []
    for k, fold_corpus in enumerate(setup.folds):
        if config.cv is None:
            model = setup.model
        else:  # every fold starts from the same seeded initialisation
            torch.manual_seed(config.seed)
            model = build_model(config, fold_corpus, setup.registry)
        folds.append(train_fold(config, setup, fold_corpus, model, log,
                                None if config.cv is None else k))
        if config.cv is not None:
            (staging / "checkpoints").mkdir(exist_ok=True)
            save_model(staging / "checkpoints" / f"fold-{k + 1}.pt", model, config,
                       fold_corpus, setup.entry)
    return folds


def train_fold(config: RunConfig, setup: RunSetup, corpus: Corpus, model: CORECT,
               log: RunLog, fold: int | None) -> Fold:
    """Train :obj:`model` on :obj:`corpus` and predict its test split.

    Args:
        config (RunConfig): The run's configuration.
        setup (RunSetup): What :func:`prepare_run` built.
        corpus (Corpus): The corpus or one fold of it.
        model (CORECT): A freshly initialised model.
        log (RunLog): The run's log.
        fold (int, optional): The fold's index, under cross-validation.
    """
    train_config, label_names = config.train, list(corpus.labels)
    where = "" if fold is None else f"fold {fold + 1}/{len(setup.folds)}: "
    log.line(f"{where}corpus {corpus.name}: " + ", ".join(
        f"{split} {len(ds)} dialogues" for split, ds in corpus.splits.items()))
    try:
        result = train(model, corpus, train_config, config.seed, setup.device,
                       label_names, on_epoch=lambda row, best, f1: log.epoch(
                           row, train_config.epochs, best, f1, fold=fold))
    except GraphBuildError as error:
        # Name a plugin builder by its distribution, as its contract errors do.
        raise GraphBuildError(f"graph {setup.entry.label()!r}: {error}") from error
    log.line(f"{where}selected epoch {result.best_epoch} (dev weighted F1 "
             f"{result.dev_weighted_f1:.2f})")
    test_set = corpus.split("test")
    labels, logits = predict(model, test_set, train_config.batch_size, setup.device)
    return Fold(model, result, test_set, labels, logits)
