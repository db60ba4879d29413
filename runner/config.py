"""Command-line configuration: ``group=option`` choices, then dotted overrides.

A run's configuration is ``configs/config.yaml`` with one file per group
merged in (``configs/graph/causal.yaml`` for ``graph=causal``), then the
``key=value`` overrides applied in order. Every override must name a key that
exists and is parsed to that key's declared type (:class:`RunOptions` and
the dataclasses it names; a graph's from its builder's signature), so a typo
fails loudly instead of silently training the wrong thing. The values follow
the grammar of :mod:`runner.options`.

A graph name that only a plugin provides needs no YAML file: its parameters
and their defaults come from the registry.

Relative paths in a dataset file are under the data root: ``$ERGRAPH_DATA``,
else ``shared/data`` beside the checkout. A relative ``dataset.path=`` on
the command line is relative to the working directory where it exists
there, else under the data root too (:func:`resolve_dataset_path`). Either is
recorded absolute.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import yaml

import registry as registries
from dialogues import SyntheticConfig, corpus_name
from models import ModelConfig

from .options import (OptionError, Range, check_range, describe, hint_of_default,
                      is_numeric, parse_one, range_of, split_values, unwrap_optional)
from .training import TrainConfig

# The run command's configuration groups live beside it, in experiments/.
CONFIG_DIR = Path(__file__).resolve().parents[1] / "experiments" / "configs"
CHECKOUT = CONFIG_DIR.parent.parent
DATA_VARIABLE = "ERGRAPH_DATA"


class ConfigError(ValueError):
    """A command-line argument or config file that cannot be used."""


def _closest(word: str, choices: Iterable[str]) -> str:
    choices = sorted(set(choices))
    message = f"choices: {', '.join(choices) or '(none)'}"
    close = difflib.get_close_matches(word, choices, n=1)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


@dataclass
class DatasetOptions:
    """Options of ``dataset``; their defaults live in ``configs/dataset/``.

    Args:
        name (str): Labels runs and reports; taken from the data when only
            ``dataset.path`` is given.
        path (Path, optional): The corpus: an open-format folder or a
            pickle; null for the synthetic corpus.
        modalities (list[str], optional): Keep only these modalities.
        label_view (str, optional): Relabel through a view (``iemocap_4``,
            ``sentiment_2``, ``sentiment_2_nonzero``, ``sentiment_7``).
        pool (str, optional): How a sentiment pickle's per-clip sequences
            become one vector: ``mean``, ``last`` or ``max`` over the valid
            rows; null is ``mean`` there, and the only value other sources
            take.
        synthetic (SyntheticConfig, optional): The synthetic corpus's
            parameters; dropped when a path is given.
    """

    name: str
    path: Path | None
    modalities: list[str] | None
    label_view: str | None
    pool: Literal["mean", "last", "max"] | None
    synthetic: SyntheticConfig | None


@dataclass
class LatencyOptions:
    """Options of ``latency``: timed passes per test dialogue, after
    untimed warm-up passes."""

    repeats: int = dataclasses.field(metadata={"min": 1})
    warmup: int = dataclasses.field(metadata={"min": 0})


@dataclass
class RunOptions:
    """The type of every option of a run; the defaults live in
    ``configs/config.yaml`` and the group files. ``graph`` is typed by its
    builder's signature.

    Args:
        seed (int): Seeds weights, shuffling and dropout.
        out (Path, optional): Run (or sweep) directory; null names one
            under ``runs/`` (``multirun/``).
        device (str): ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        log (str, optional): ``tensorboard`` also writes TensorBoard events.
        cv (int or str, optional): Cross-validate over every dialogue:
            ``K`` folds, or ``sessions`` (IEMOCAP's, one held out at a
            time); null trains on ``train`` and tests on ``test``.
        jobs (int): Parallel runs of a sweep.
        launcher (str): ``local`` processes, or ``ray``.
        ray_address (str, optional): A Ray cluster to join.
    """

    seed: int = dataclasses.field(metadata={"min": 0})
    out: Path | None
    device: str
    log: Literal["tensorboard"] | None
    cv: int | Literal["sessions"] | None = dataclasses.field(metadata={"min": 2})
    jobs: int = dataclasses.field(metadata={"min": 1})
    launcher: Literal["local", "ray"]
    ray_address: str | None
    latency: LatencyOptions
    dataset: DatasetOptions
    graph: dict
    model: ModelConfig
    train: TrainConfig


def data_root() -> Path:
    """Where dataset files' relative paths point: ``$ERGRAPH_DATA``, else
    ``shared/data`` beside the checkout (not the working directory)."""
    root = os.environ.get(DATA_VARIABLE)
    return Path(root).expanduser() if root else CHECKOUT.parent / "shared" / "data"


def resolve_dataset_path(path: str | os.PathLike) -> Path:
    """Where ``dataset.path=PATH`` from the command line points, absolute: a
    relative path in the working directory where it exists there, else
    under :func:`data_root`, as a dataset file's path is."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (data_root() / path).resolve()


def option_type(key: str, registry=None, graph: str | None = None) -> Any:
    """The declared type of dotted option :obj:`key`, or ``None`` for a key
    without one (a section, or an unknown key).

    Args:
        key (str): ``train.lr``, ``dataset.synthetic.seed``, ``graph.past``.
        registry: The edge-builder registry, for ``graph.*``.
        graph (str, optional): The configured graph's registry name.
    """
    *parents, leaf = key.split(".")
    if parents == ["graph"]:
        if registry is None or graph is None or graph not in registry:
            return None
        parameter = registry.entry(graph).parameters(resolve=True).get(leaf)
        if parameter is None:
            return None
        if parameter.annotation is not inspect.Parameter.empty:
            return parameter.annotation
        default = parameter.default
        return hint_of_default(None if default is inspect.Parameter.empty else default)
    node: Any = RunOptions
    for part in [*parents, leaf]:
        node, _ = unwrap_optional(node)
        if not dataclasses.is_dataclass(node):
            return None
        hints = typing.get_type_hints(node)
        if part not in hints:
            return None
        node = hints[part]
    return node


def numeric_options(node: Any = RunOptions, prefix: str = "") -> dict[str, Range | None]:
    """Every numeric option of :obj:`node` (default: a run's) by dotted key,
    with its declared range (:obj:`None` where none is declared)."""
    found: dict[str, Range | None] = {}
    hints = typing.get_type_hints(node)
    for spec in dataclasses.fields(node):
        hint = hints[spec.name]
        inner, _ = unwrap_optional(hint)
        if dataclasses.is_dataclass(inner):
            found.update(numeric_options(inner, f"{prefix}{spec.name}."))
        elif is_numeric(hint):
            found[prefix + spec.name] = range_of(spec.metadata)
    return found


def groups(config_dir: Path = CONFIG_DIR) -> dict[str, list[str]]:
    """Group name -> its options (YAML files), sorted."""
    return {d.name: sorted(p.stem for p in d.glob("*.yaml"))
            for d in sorted(config_dir.iterdir()) if d.is_dir()}


def parse_args(args: Iterable[str]) -> list[tuple[str, str]]:
    """Split ``key=value`` arguments; anything else is refused."""
    pairs = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ConfigError(f"argument {arg!r} is not of the form key=value")
        pairs.append((key.strip(), value))
    return pairs


def _graph_defaults(name: str, registry) -> tuple[dict[str, Any], list[str]]:
    """Parameters and defaults of a registry builder, for a graph with no
    YAML file (one that only a plugin provides), and the names of the
    required parameters, which start as null and must be set on the
    command line."""
    entry = registry.entry(name)
    params, required = {}, []
    for p in entry.parameters().values():
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
            params[p.name] = None
        else:
            params[p.name] = copy.deepcopy(p.default)
    return {"name": name, **params}, required


def _parse(key: str, value: str, hint: Any) -> Any:
    """:obj:`value` of option :obj:`key` in a single run, where a comma
    makes a list or is refused (several values sweep only with ``-m``)."""
    if hint in (str, Path) and not value.strip():
        raise ConfigError(f"{key}=: expected a non-empty {describe(hint)}")
    try:
        return parse_one(value, hint, key, "; add -m to sweep over them")
    except OptionError as error:
        raise ConfigError(str(error)) from None


def compose(args: Iterable[str] = (), config_dir: Path = CONFIG_DIR,
            registry=None) -> dict[str, Any]:
    """The resolved configuration for command-line :obj:`args`.

    Args:
        args: ``group=option`` and ``key=value``/``a.b=value`` strings.
        config_dir: Folder with ``config.yaml`` and one folder per group.
        registry: Edge-builder registry for graphs without a YAML file
            (default: :data:`registry.default_registry`).
    """
    if registry is None:
        registry = registries.default_registry
    base = _read_yaml(config_dir / "config.yaml")
    choices = dict(base.pop("defaults", {}) or {})
    available = groups(config_dir)
    overrides = []
    for key, value in parse_args(args):
        if "." not in key and key in available:
            if len(split_values(value)) > 1:
                raise ConfigError(f"{key}={value!r}: several values; add -m to "
                                  "sweep over them")
            choices[key] = value
        else:
            overrides.append((key, value))
    named_dataset = "dataset" in {k for k, _ in parse_args(args)}

    config = base
    required: list[str] = []
    for group, option in choices.items():
        if group not in available:
            raise ConfigError(f"config.yaml names unknown group {group!r}; "
                              + _closest(group, available))
        path = config_dir / group / f"{option}.yaml"
        if path.exists():
            config[group] = _read_yaml(path)
        elif group == "graph" and option in registry:
            config[group], required = _graph_defaults(option, registry)
        elif group == "graph":
            # Every registered builder is a graph option, plugins' included.
            raise ConfigError(f"unknown graph {option!r}; "
                              + _closest(option, [*available[group], *registry.names()]))
        else:
            raise ConfigError(f"unknown {group} {option!r}; "
                              + _closest(option, available[group]))
        if group in ("graph", "dataset"):  # their names label runs and reports
            config[group].setdefault("name", option)
        if group == "dataset" and config[group].get("path"):
            config[group]["path"] = str((data_root() / config[group]["path"]).resolve())

    for key, value in overrides:
        *parents, leaf = key.split(".")
        node = config
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                where = ".".join(parents[:depth]) or "top level"
                raise ConfigError(f"unknown key {key!r}: no section {part!r} at "
                                  f"{where}; " + _closest(part, [k for k, v in node.items()
                                                                  if isinstance(v, dict)]))
            node = node[part]
        if leaf not in node:
            section = ".".join(parents) or "top level"
            raise ConfigError(f"unknown key {key!r} in {section}; "
                              + _closest(leaf, [*node, *(available if not parents else [])]))
        hint = option_type(key, registry, config["graph"]["name"])
        if dataclasses.is_dataclass(unwrap_optional(hint)[0]):
            raise ConfigError(f"{key}={value!r}: {key} is a section; set its keys, "
                              f"e.g. {key}.{next(iter(node[leaf] or {}), 'KEY')}=...")
        if hint is None:  # a key in a file with no declared type
            hint = hint_of_default(node[leaf])
        node[leaf] = _parse(key, value, hint)
        if key == "dataset.path" and node[leaf] is not None:
            node[leaf] = str(resolve_dataset_path(node[leaf]))
        if parents == ["graph"] and leaf in required:
            required.remove(leaf)
    dataset = config["dataset"]
    if dataset.get("path"):
        dataset.pop("synthetic", None)  # parameters of a corpus not loaded
        if not named_dataset and "dataset.name" not in {k for k, _ in overrides}:
            dataset["name"] = corpus_name(dataset["path"])
    _check_ranges(config)
    if required:
        name = config["graph"]["name"]
        raise ConfigError(f"graph {name!r} has required parameter(s) "
                          f"{', '.join(required)}; set them with "
                          + " ".join(f"graph.{p}=..." for p in required))
    return config


def _check_ranges(config: Mapping[str, Any]) -> None:
    """Refuse a numeric value outside its declared range, whether a group
    file or the command line set it."""
    for key, allowed in numeric_options().items():
        node: Any = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        try:
            check_range(node, allowed, key, str(node))
        except OptionError as error:
            raise ConfigError(str(error)) from None


@dataclass(frozen=True)
class GraphOptions:
    """The configured graph.

    Args:
        name (str): Its registry name.
        params (dict[str, Any]): Its builder's parameters.
    """

    name: str
    params: dict[str, Any]


@dataclass(frozen=True)
class RunConfig:
    """One run's resolved configuration, typed and validated: what the
    runner receives (see :func:`run_config`).

    Args:
        composed (dict[str, Any]): The configuration as composed, which
            ``config.yaml`` and the checkpoint record.
        seed (int): Seeds weights, shuffling and dropout.
        out (Path, optional): The run directory.
        device (str): Where to train (:func:`runner.setup.resolve_device`).
        log (str, optional): ``tensorboard`` also writes its events.
        cv (int or str, optional): Cross-validation folds.
        latency (LatencyOptions): How latency is timed.
        dataset (DatasetOptions): The corpus.
        graph (GraphOptions): The graph.
        model (dict[str, Any]): :class:`~models.ModelConfig`'s keyword
            arguments but the sizes that the corpus gives
            (:func:`runner.setup.build_model`).
        train (TrainConfig): Training.
        jobs (int): Parallel runs of a sweep.
        launcher (str): How a sweep starts its runs (:mod:`runner.launchers`).
        ray_address (str, optional): A Ray cluster to join.
    """

    composed: dict[str, Any]
    seed: int
    out: Path | None
    device: str
    log: str | None
    cv: int | str | None
    latency: LatencyOptions
    dataset: DatasetOptions
    graph: GraphOptions
    model: dict[str, Any]
    train: TrainConfig
    jobs: int = 1
    launcher: str = "local"
    ray_address: str | None = None


def run_config(config: Mapping[str, Any] | RunConfig) -> RunConfig:
    """:obj:`config` (:func:`compose`'s) as the typed :class:`RunConfig`.

    Raises:
        ConfigError: A section its dataclass refuses.
    """
    if isinstance(config, RunConfig):
        return config
    name, params = graph_spec(config)
    try:
        train = TrainConfig(**config["train"])
    except (TypeError, ValueError) as error:
        raise ConfigError(str(error)) from None
    latency = config.get("latency") or {}
    return RunConfig(
        composed=dict(config), seed=int(config["seed"]),
        out=Path(config["out"]) if config.get("out") else None,
        device=config.get("device", "auto"), log=config.get("log"), cv=config.get("cv"),
        latency=LatencyOptions(repeats=latency.get("repeats", 5),
                               warmup=latency.get("warmup", 1)),
        dataset=dataset_options(config["dataset"]), graph=GraphOptions(name, params),
        model=dict(config["model"]), train=train, jobs=int(config.get("jobs", 1)),
        launcher=config.get("launcher", "local"), ray_address=config.get("ray_address"))


def dataset_options(dataset: Mapping[str, Any] | DatasetOptions) -> DatasetOptions:
    """The ``dataset`` section as :class:`DatasetOptions`.

    Raises:
        ConfigError: ``dataset.synthetic`` parameters :class:`SyntheticConfig`
            refuses.
    """
    if isinstance(dataset, DatasetOptions):
        return dataset
    path = dataset.get("path") or None
    synthetic = dataset.get("synthetic") if path is None else None
    if synthetic:
        try:
            synthetic = SyntheticConfig(**synthetic)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"dataset.synthetic: {error}") from None
    return DatasetOptions(name=dataset.get("name"), path=Path(path) if path else None,
                          modalities=dataset.get("modalities"),
                          label_view=dataset.get("label_view"), pool=dataset.get("pool"),
                          synthetic=synthetic or None)


def graph_spec(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(registry name, parameters)`` of the configured graph."""
    params = dict(config["graph"])
    return params.pop("name"), params


def dump(config: Mapping[str, Any]) -> str:
    """The configuration as YAML, in the order it was composed."""
    return yaml.safe_dump(dict(config), sort_keys=False)
