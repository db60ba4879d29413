"""One experiment: train, evaluate, time, and write a run directory."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, TextIO

import torch

import registry as registries
from dialogues import Corpus, DataError, SyntheticConfig, batches, collate, load_corpus
from dialogues.folds import cross_validation_folds
from graphs import GraphBuildError, GraphContractError, validate
from storage.atomic import staged_folder
from models import CORECT, Checkpoint, ModelConfig, save_checkpoint
from models.heads import HEADS

from .config import ConfigError, dump, graph_spec
from .figures import confusion_figure, dev_curves, training_curves
from .latency import measure_latency, streaming_latency
from .metrics import classification_metrics
from .predictions import predictions_table
from .run_log import RunLog, default_echo
from .tensorboard_log import require_tensorboard
from .training import TrainConfig, predict, train


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU.

    Raises:
        ConfigError: An unknown device, or one this torch cannot use.
    """
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ConfigError(f"device={name!r}: {error}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device={name!r}, but this torch ({torch.__version__}) has "
                              "no CUDA device; use device=cpu or device=auto")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def corpus_from_config(dataset: Mapping[str, Any],
                       modalities: list[str] | None = None) -> Corpus:
    """Load the configured corpus: ``dataset.path``, or the synthetic corpus
    when the dataset is ``synthetic``.

    Raises:
        DataError: A real dataset without a path, or bad data.
    """
    path = dataset.get("path") or None
    if path is None and dataset.get("name") != "synthetic":
        raise DataError(f"dataset {dataset.get('name')!r} needs dataset.path=DIR")
    synthetic = dataset.get("synthetic") if path is None else None
    if synthetic:
        try:
            synthetic = SyntheticConfig(**synthetic)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"dataset.synthetic: {error}") from None
    return load_corpus(
        path,
        modalities=modalities or dataset.get("modalities"),
        label_view=dataset.get("label_view"),
        synthetic=synthetic or None,
        pool=dataset.get("pool"))


def check_trainable(corpus: Corpus) -> None:
    """Refuse, before any training, a corpus whose run would be meaningless:
    no train, dev or test dialogues, or a dev or test split without a single
    label (its scores would be zeros, or epoch 1 kept by default).

    Raises:
        DataError: Naming the corpus and the split.
    """
    for split in ("train", "dev", "test"):
        dialogues = corpus.split(split)  # raises for a missing or empty split
        if split != "train" and not any(bool((d.labels >= 0).any()) for d in dialogues):
            use = ("scores it" if split == "test" else "selects the epoch on it")
            raise DataError(f"corpus {corpus.name!r}: the {split} split has no labelled "
                            f"utterance, but a run {use}; label it or use predict.py")


def build_model(config: Mapping[str, Any], corpus: Corpus, registry=None) -> CORECT:
    """The configured backbone, sized by the corpus."""
    if registry is None:
        registry = registries.default_registry
    name, params = graph_spec(config)
    # What the head takes from the corpus (a regression head its score
    # view); an unknown head is left for ModelConfig to refuse.
    head_name = config["model"].get("head", ModelConfig.head)
    head = HEADS.get(head_name) if isinstance(head_name, str) else None
    try:
        model_config = ModelConfig(modalities=dict(corpus.modalities),
                                   num_classes=len(corpus.labels),
                                   max_speakers=max(corpus.max_speakers, 1),
                                   **config["model"],
                                   **(head.corpus_options(corpus.metadata) if head else {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model: {error}") from None
    try:
        builder = registry.get(name, **params)
    except (TypeError, ValueError) as error:  # bad parameters: the user's input
        raise ConfigError(f"graph {name!r}: {error}") from None
    try:
        return CORECT(model_config, builder)
    except ValueError as error:  # sizes that do not fit together, say hidden=0
        raise ConfigError(f"model: {error}") from None


def default_run_dir(config: Mapping[str, Any]) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config['dataset']['name']}-{config['graph']['name']}-{stamp}"


#: Dialogues per batch when the builder is checked before training: large
#: enough that the check is a few vectorised builds, small enough that a
#: dense per-dialogue builder stays within memory.
CHECK_BATCH = 256


def check_graphs(model: CORECT, corpus: Corpus, graph_name: str) -> None:
    """Hold the builder to its contract on every dialogue of every split,
    with the content it reads (stand-in states for a builder of encoder
    states), before any training: a builder that breaks it only on some
    dialogues, past its 24th turn say, fails here and not as a silently
    wrong ``causal`` run.

    Raises:
        GraphContractError: Naming the builder, its origin, the split and
            the first offending edge.
    """
    missing = [name for name in model.reads.annotations
               if name != "turn" and not any(name in d.annotations
                                             for ds in corpus.splits.values() for d in ds)]
    if missing:
        skipped = corpus.metadata.get("non_numeric_columns") or {}
        why = "".join(f"; column {name!r} is not numeric ({skipped[name]})"
                      for name in missing if name in skipped)
        raise DataError(f"graph {graph_name!r} reads annotations {missing}, which corpus "
                        f"{corpus.name!r} does not have{why}")
    for split, dialogues in corpus.splits.items():
        for batch in batches(dialogues, model.modalities, CHECK_BATCH):
            try:  # the builder is handed only what it reads, never the labels
                validate(model.builder, batch, graph_name)
            except GraphContractError as error:
                raise GraphContractError(f"{error} (split {split!r})") from None


def run_experiment(config: Mapping[str, Any], registry=None,
                   echo: TextIO | None | str = "auto") -> Path:
    """Train and evaluate one configuration; return its run directory.

    The directory is assembled in a staging folder beside its target and
    renamed into place only when complete, so a crash, Ctrl-C or SIGTERM
    leaves nothing half-written and an existing run is never overwritten.
    Meanwhile ``train.log`` and ``history.csv`` grow in the staging folder,
    whose path is printed first.

    Args:
        config (Mapping): The resolved configuration
            (:func:`runner.config.compose`).
        registry: The edge-builder registry. (default: the installed one)
        echo (TextIO, optional): Where each log line is repeated;
            ``"auto"`` is stderr when it is not a terminal, ``None`` nowhere
            (a sweep reports each run as it ends instead). Where the run is
            being written goes to stderr in any case.
    """
    run_dir = Path(config["out"]) if config.get("out") else default_run_dir(config)
    if run_dir.exists():
        raise FileExistsError(f"run directory {run_dir} already exists; "
                              "choose another out=")
    if registry is None:
        registry = registries.default_registry
    setup = _prepare(config, registry)  # every refusal comes before any file
    echo = default_echo() if echo == "auto" else echo
    text = dump(config)
    with staged_folder(run_dir) as staging:
        print(f"writing {run_dir}; until it completes: tail -f {staging}/train.log",
              file=sys.stderr, flush=True)
        (staging / "config.yaml").write_text(text)
        with RunLog(staging, text, tensorboard=config.get("log") == "tensorboard",
                    echo=echo, folds=config.get("cv") is not None) as log:
            metrics = _run(config, setup, staging, log)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return run_dir


@dataclass
class _Setup:
    """What a run needs, built and checked before anything is written."""
    device: torch.device
    train: TrainConfig
    corpus: Corpus
    folds: list[Corpus]
    model: CORECT
    entry: Any
    registry: Any
    check_seconds: float


def _prepare(config: Mapping[str, Any], registry) -> _Setup:
    """Refuse a run that would be meaningless (see :func:`check_trainable`,
    :func:`check_graphs`, :class:`TrainConfig`, cross-validation folds),
    before any training."""
    device = resolve_device(config.get("device", "auto"))
    if config.get("log") == "tensorboard":
        require_tensorboard()
    try:
        train_config = TrainConfig(**{k: v for k, v in config["train"].items()})
    except ValueError as error:
        raise ConfigError(str(error)) from None
    torch.manual_seed(int(config["seed"]))
    corpus = corpus_from_config(config["dataset"])
    folds = ([corpus] if config.get("cv") is None
             else cross_validation_folds(corpus, config["cv"]))
    for fold in folds:
        check_trainable(fold)
    model = build_model(config, corpus, registry)
    if train_config.class_weights and not model.head.weighs_classes:
        raise ConfigError("train.class_weights weighs the classes of the cross-entropy; "
                          f"model.head={model.head.name} has no classes to weigh")
    entry = registry.entry(graph_spec(config)[0])
    started = time.perf_counter()
    check_graphs(model, corpus, entry.label())
    return _Setup(device, train_config, corpus, folds, model, entry, registry,
                  time.perf_counter() - started)


@dataclass
class _Fold:
    """One trained model and what it predicted on its test dialogues."""
    model: CORECT
    result: Any
    test_set: list
    labels: torch.Tensor
    logits: torch.Tensor


def _train_fold(config: Mapping[str, Any], setup: _Setup, corpus: Corpus,
                model: CORECT, log: RunLog, fold: int | None) -> _Fold:
    train_config, label_names = setup.train, list(corpus.labels)
    where = "" if fold is None else f"fold {fold + 1}/{len(setup.folds)}: "
    log.line(f"{where}corpus {corpus.name}: " + ", ".join(
        f"{split} {len(ds)} dialogues" for split, ds in corpus.splits.items()))
    try:
        result = train(model, corpus, train_config, int(config["seed"]), setup.device,
                       label_names, on_epoch=lambda row, best, f1: log.epoch(
                           row, train_config.epochs, best, f1, fold=fold))
    except GraphBuildError as error:
        # Name a plugin builder by its distribution, as its contract errors do.
        raise GraphBuildError(f"graph {setup.entry.label()!r}: {error}") from error
    log.line(f"{where}selected epoch {result.best_epoch} (dev weighted F1 "
             f"{result.dev_weighted_f1:.2f})")
    test_set = corpus.split("test")
    labels, logits = predict(model, test_set, train_config.batch_size, setup.device)
    return _Fold(model, result, test_set, labels, logits)


def _run(config: Mapping[str, Any], setup: _Setup, staging: Path,
         log: RunLog) -> dict[str, Any]:
    device, corpus, entry = setup.device, setup.corpus, setup.entry
    cv, seed = config.get("cv"), int(config["seed"])
    label_names = list(corpus.labels)
    graph_name, graph_params = graph_spec(config)
    log.line(f"graph {entry.label()} keeps its contract on every dialogue "
             f"({setup.check_seconds:.1f} s)")
    equivalent = setup.model.builder.one_speaker_equivalent()
    if equivalent is not None and corpus.max_speakers == 1:
        log.line(f"every dialogue has one speaker: graph {graph_name!r} reduces to "
                 f"{equivalent}")
    log.line(f"training on {device}, {torch.get_num_threads()} threads, "
             f"{sum(p.numel() for p in setup.model.parameters())} parameters"
             + ("" if cv is None else f", {len(setup.folds)} folds (cv={cv})"))

    folds = []
    for k, fold_corpus in enumerate(setup.folds):
        if cv is None:
            model = setup.model
        else:  # every fold starts from the same seeded initialisation
            torch.manual_seed(seed)
            model = build_model(config, fold_corpus, setup.registry)
        folds.append(_train_fold(config, setup, fold_corpus, model, log,
                                 None if cv is None else k))
        if cv is not None:
            (staging / "checkpoints").mkdir(exist_ok=True)
            _save(staging / "checkpoints" / f"fold-{k + 1}.pt", model, config, fold_corpus,
                  entry)
    model, test_set = folds[-1].model, [d for f in folds for d in f.test_set]
    labels = torch.cat([f.labels for f in folds])
    logits = torch.cat([f.logits for f in folds])
    predictions = model.head.predictions(logits, test_set)
    (staging / "predictions.csv").write_text(
        predictions_table(test_set, labels, predictions, label_names))
    test_metrics = classification_metrics(labels, predictions.classes, label_names)
    test_metrics.update(model.head.metrics(logits, test_set))
    log.line(f"test accuracy {test_metrics['accuracy']:.2f}, weighted F1 "
             f"{test_metrics['weighted_f1']:.2f}, macro F1 {test_metrics['macro_f1']:.2f}"
             + model.head.summary(test_metrics)
             + ("" if cv is None else f" over all {len(folds)} folds' test dialogues"))
    confusion_figure(test_metrics["confusion"], label_names, staging / "confusion.png",
                     title=f"{corpus.name} test, {graph_name}, seed {seed}"
                     + ("" if cv is None else f", cv={cv}"))
    log.confusion(test_metrics["confusion"], label_names)
    if cv is None:
        training_curves(folds[0].result.history, folds[0].result.best_epoch,
                        staging / "curves.png")
        _save(staging / "checkpoint.pt", model, config, corpus, entry)
    else:
        dev_curves([(f"fold {k + 1}", f.result.history) for k, f in enumerate(folds)],
                   staging / "curves.png", title=f"dev weighted F1 of each fold (cv={cv})")

    # Graph size and latency: the last model, on the test dialogues it was given.
    last = folds[-1].test_set
    whole = collate(last, model.modalities)
    model.eval()
    graph = model.graph(whole)
    latency = config.get("latency", {})
    timing = measure_latency(model, last, device, repeats=latency.get("repeats", 5),
                             warmup=latency.get("warmup", 1))
    log.line(f"latency {timing['ms_per_utterance']:.3f} ms per utterance")
    if model.causal:  # it can serve live: time what a live push costs
        timing.update(streaming_latency(model, last))
        log.line(f"streaming: {timing['stream_ms']:.2f} ms for the push of turn "
                 f"{timing['stream_turn']}")
    results = [f.result for f in folds]
    metrics = {
        "test": test_metrics,
        "dev": {"weighted_f1": sum(r.dev_weighted_f1 for r in results) / len(results)},
        "best_epoch": results[0].best_epoch if cv is None else [r.best_epoch for r in results],
        "epochs_run": sum(len(r.history) for r in results),
        "history": results[0].history if cv is None else [],
        "graph": {"name": graph_name, "params": graph_params, "causal": model.causal,
                  "num_relations": len(model.relations),
                  "edges_per_utterance": graph.num_edges / whole.num_utterances},
        "latency": timing,
        "params": sum(p.numel() for p in model.parameters()),
        "train_seconds": sum(r.train_seconds for r in results),
        "device": str(device),
        # CPU results are bit-exact only at the same intra-op thread count.
        "threads": torch.get_num_threads(),
        # What the features are, so that reports can tell frozen from
        # fine-tuned runs without reloading the corpus.
        "dataset": {"name": config["dataset"]["name"], "labels": label_names,
                    "modalities": dict(corpus.modalities),
                    "features": corpus.metadata.get("features"),
                    "finetune": corpus.metadata.get("finetune")},
    }
    if cv is not None:
        metrics["cv"] = cv
        metrics["folds"] = [{
            "fold": k + 1, "test_dialogues": [d.id for d in f.test_set],
            "test": {**classification_metrics(f.labels, f.model.head.classes(f.logits),
                                              label_names),
                     **f.model.head.metrics(f.logits, f.test_set)},
            "dev": {"weighted_f1": f.result.dev_weighted_f1},
            "best_epoch": f.result.best_epoch, "epochs_run": len(f.result.history),
            "history": f.result.history, "train_seconds": f.result.train_seconds}
            for k, f in enumerate(folds)]
    return metrics


def _save(path: Path, model: CORECT, config: Mapping[str, Any], corpus: Corpus,
          entry) -> None:
    """The model's checkpoint; :func:`save_checkpoint` moves the weights to
    CPU itself."""
    graph_name, graph_params = graph_spec(config)
    save_checkpoint(path, Checkpoint.from_model(
        model, graph_name, graph_params, list(corpus.labels),
        {"dataset": corpus.metadata, "config": config}, entry.provider))
