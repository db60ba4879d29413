"""Checkpoints that load anywhere, without unpickling arbitrary objects."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

import registry as registries
from storage.atomic import write_atomic

from .config import ModelConfig
from .corect import CORECT

FORMAT = "ergraph-checkpoint/1"


class MissingBuilderError(ValueError):
    """A checkpoint's graph builder is not registered where it is loaded."""


def ergraph_version() -> str:
    try:
        return version("ergraph")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class Checkpoint:
    r"""A trained backbone and everything needed to rebuild it.

    Args:
        model (ModelConfig): The backbone's configuration.
        graph (dict): ``{"name": registry name, "params": {...},
            "relations": [...], "provider": {"source": distribution or
            module, "version": ...}}``; checkpoints written before the
            provider was recorded have none.
        labels (list[str]): Label names, in logit order.
        state_dict (dict[str, Tensor]): The weights.
        metadata (dict): Plain-typed extras: the dataset's metadata (for
            example its sentence encoder) and the run's resolved config.
        version (str): The ergraph version that wrote it.
    """

    model: ModelConfig
    graph: dict[str, Any]
    labels: list[str]
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: str = field(default_factory=ergraph_version)

    @classmethod
    def from_model(cls, model: CORECT, graph_name: str, graph_params: dict[str, Any],
                   labels: list[str], metadata: dict[str, Any] | None = None,
                   provider: dict[str, Any] | None = None) -> "Checkpoint":
        """Capture :obj:`model`, built by the registry entry
        :obj:`graph_name` with :obj:`graph_params` and registered by
        :obj:`provider` (:attr:`registry.BuilderEntry.provider`)."""
        graph = {"name": graph_name, "params": dict(graph_params),
                 "relations": list(model.relations)}
        if provider is not None:
            graph["provider"] = dict(provider)
        return cls(model.config, graph, list(labels), model.state_dict(),
                   dict(metadata or {}))

    def build(self, registry=None) -> CORECT:
        """A :class:`CORECT` with these weights, in eval mode, on CPU.

        Raises:
            MissingBuilderError: The graph's builder is not registered here;
                the message names the plugin distribution to install.
        """
        if registry is None:
            registry = registries.default_registry
        name = self.graph["name"]
        if name not in registry:
            raise MissingBuilderError(missing_builder_message(name, self.graph.get("provider")))
        builder = registry.get(name, **self.graph.get("params", {}))
        model = CORECT(self.model, builder)
        load_weights(model, self)
        return model.eval()


def missing_builder_message(name: str, provider: dict[str, Any] | None) -> str:
    """What to do when a checkpoint's builder is not registered."""
    source = (provider or {}).get("source")
    installed = (provider or {}).get("version")
    if source is None:
        return (f"the checkpoint's graph {name!r} is not registered here, and the "
                "checkpoint does not record which package provided it")
    if source == "ergraph":
        return (f"the checkpoint's graph {name!r} is a built-in of ergraph "
                f"{installed or ''} that this ergraph does not have; install that "
                "version of ergraph")
    if installed is None:
        return (f"the checkpoint's graph {name!r} was registered by module {source!r}, "
                "which has not registered it here; import that module before loading")
    return (f"the checkpoint's graph {name!r} comes from the plugin {source!r} "
            f"{installed}, which is not installed here; install it with "
            f"pip install '{source}=={installed}'")


def plain(value: Any) -> Any:
    """:obj:`value` as dicts, lists, str, int, float, bool and None, which
    is all ``torch.load(weights_only=True)`` accepts besides tensors."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write :obj:`checkpoint` atomically: a reader never sees half a file."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": checkpoint.version,
        "model": checkpoint.model.to_dict(),
        "graph": plain(checkpoint.graph),
        "labels": list(checkpoint.labels),
        "metadata": plain(checkpoint.metadata),
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()},
    }
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint onto CPU, whatever device wrote it, with
    ``weights_only=True`` so that loading cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable ergraph checkpoint: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ergraph checkpoint (format "
                         f"{payload.get('format') if isinstance(payload, dict) else None!r},"
                         f" expected {FORMAT!r})")
    model = dict(payload["model"])
    model["sequence_modalities"] = tuple(model["sequence_modalities"])
    return Checkpoint(ModelConfig(**model), payload["graph"], payload["labels"],
                      payload["state_dict"], payload.get("metadata", {}),
                      payload["version"])


def load_weights(model: CORECT, checkpoint: Checkpoint) -> None:
    """Load the checkpoint's weights into :obj:`model`; if the model was
    configured differently, say exactly what differs."""
    ours, theirs = model.config.to_dict(), checkpoint.model.to_dict()
    differences = [f"{k}: checkpoint {theirs.get(k)!r}, model {ours.get(k)!r}"
                   for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    relations = checkpoint.graph.get("relations")
    if relations is not None and relations != model.relations:
        differences.append(f"graph relations: checkpoint {relations}, model {model.relations}")
    if differences:
        raise ValueError("checkpoint does not match the model: " + "; ".join(differences))
    model.load_state_dict(checkpoint.state_dict)

