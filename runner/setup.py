"""What a run is built from, before any training: its device, its corpus
(checked trainable) and its model (:class:`RunSetup`)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

import registry as registries
from dialogues import Corpus, DataError, load_corpus
from models import CORECT, ModelConfig
from models.heads import HEADS

from .config import ConfigError, DatasetOptions, RunConfig, dataset_options, run_config


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU.

    Args:
        name (str): ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.

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


def corpus_from_config(dataset: DatasetOptions | Mapping[str, Any],
                       modalities: list[str] | None = None) -> Corpus:
    """Load the configured corpus: ``dataset.path``, or the synthetic corpus
    when the dataset is ``synthetic``.

    Args:
        dataset (DatasetOptions or Mapping): The ``dataset`` section.
        modalities (list[str], optional): Keep only these modalities
            (default: the section's).

    Raises:
        DataError: A real dataset without a path, or bad data.
    """
    dataset = dataset_options(dataset)
    if dataset.path is None and dataset.name != "synthetic":
        raise DataError(f"dataset {dataset.name!r} needs dataset.path=DIR")
    return load_corpus(
        dataset.path,
        modalities=modalities or dataset.modalities,
        label_view=dataset.label_view,
        synthetic=dataset.synthetic if dataset.path is None else None,
        pool=dataset.pool)


def check_trainable(corpus: Corpus) -> None:
    """Refuse, before any training, a corpus whose run would be meaningless:
    no train, dev or test dialogues, or a dev or test split without a single
    label (its scores would be zeros, or epoch 1 kept by default).

    Args:
        corpus (Corpus): The corpus (or a cross-validation fold of it).

    Raises:
        DataError: Naming the corpus and the split.
    """
    for split in ("train", "dev", "test"):
        dialogues = corpus.split(split)  # raises for a missing or empty split
        if split != "train" and not any(bool((d.labels >= 0).any()) for d in dialogues):
            use = ("scores it" if split == "test" else "selects the epoch on it")
            raise DataError(f"corpus {corpus.name!r}: the {split} split has no labelled "
                            f"utterance, but a run {use}; label it or use predict.py")


def build_model(config: RunConfig | Mapping[str, Any], corpus: Corpus,
                registry=None) -> CORECT:
    """The configured backbone, sized by the corpus.

    Args:
        config (RunConfig or Mapping): The run's configuration.
        corpus (Corpus): Gives the modalities, classes and speakers.
        registry: The edge-builder registry. (default: the installed one)

    Raises:
        ConfigError: Model or graph parameters that do not fit.
    """
    if registry is None:
        registry = registries.default_registry
    config = run_config(config)
    # What the head takes from the corpus (a regression head its score
    # view); an unknown head is left for ModelConfig to refuse.
    head_name = config.model.get("head", ModelConfig.head)
    head = HEADS.get(head_name) if isinstance(head_name, str) else None
    try:
        model_config = ModelConfig(modalities=dict(corpus.modalities),
                                   num_classes=len(corpus.labels),
                                   max_speakers=max(corpus.max_speakers, 1),
                                   **config.model,
                                   **(head.corpus_options(corpus.metadata) if head else {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"model: {error}") from None
    try:
        builder = registry.get(config.graph.name, **config.graph.params)
    except (TypeError, ValueError) as error:  # bad parameters: the user's input
        raise ConfigError(f"graph {config.graph.name!r}: {error}") from None
    try:
        return CORECT(model_config, builder)
    except ValueError as error:  # sizes that do not fit together, say hidden=0
        raise ConfigError(f"model: {error}") from None


def default_run_dir(config: RunConfig) -> Path:
    """``runs/<dataset>-<graph>-<timestamp>``.

    Args:
        config (RunConfig): The run's configuration.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.dataset.name}-{config.graph.name}-{stamp}"


@dataclass
class RunSetup:
    """What a run needs, built and checked before anything is written.

    Args:
        device (torch.device): Where it trains.
        corpus (Corpus): The whole corpus.
        folds (list[Corpus]): What each training sees: the corpus, or its
            cross-validation folds.
        model (CORECT): The (first) model.
        entry: The graph's registry entry.
        registry: The edge-builder registry.
        check_seconds (float): How long :func:`check_graphs` took.
    """

    device: torch.device
    corpus: Corpus
    folds: list[Corpus]
    model: CORECT
    entry: Any
    registry: Any
    check_seconds: float
