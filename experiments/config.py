"""Command-line configuration: ``group=option`` choices, then dotted overrides.

A run's configuration is ``configs/config.yaml`` with one file per group
merged in (``configs/graph/causal.yaml`` for ``graph=causal``), then the
``key=value`` overrides applied in order. Every override must name a key that
exists and is converted to the type of its default, so a typo fails loudly
instead of silently training the wrong thing.

A graph name that only a plugin provides needs no YAML file: its parameters
and their defaults come from the registry.
"""
from __future__ import annotations

import copy
import difflib
import inspect
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


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


def script_options(argv: Iterable[str], allowed: Iterable[str], required: Iterable[str],
                   usage: str) -> dict[str, str]:
    """``key=value`` arguments of a command-line script that takes a fixed
    set of keys, such as ``predict.py`` or ``stream.py``; unknown and missing
    keys are refused with the usage line."""
    allowed = tuple(allowed)
    try:
        pairs = parse_args(argv)
    except ConfigError as exc:
        raise ConfigError(f"{exc}\n{usage}") from None
    args = {}
    for key, value in pairs:
        if key not in allowed:
            raise ConfigError(f"unknown key {key!r}; expected one of "
                              f"{', '.join(allowed)}\n{usage}")
        args[key] = value
    for key in required:
        if not args.get(key):
            raise ConfigError(f"missing {key}=...\n{usage}")
    return args


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


def convert(value: str, default: Any, key: str) -> Any:
    """Parse :obj:`value` as YAML and coerce it to the type of
    :obj:`default`; a value of another type is refused."""
    if isinstance(default, str):
        return value
    try:
        parsed = yaml.safe_load(value) if value != "" else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}={value!r}: cannot parse value: {exc}") from exc
    if default is None or parsed is None:
        return parsed
    if isinstance(default, bool):
        if isinstance(parsed, bool):
            return parsed
    elif isinstance(default, int):
        if isinstance(parsed, int) and not isinstance(parsed, bool):
            return parsed
    elif isinstance(default, float):
        if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
            return float(parsed)
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    elif isinstance(default, list):
        return parsed if isinstance(parsed, list) else [parsed]
    elif isinstance(default, dict):
        if isinstance(parsed, dict):
            return parsed
    else:
        return parsed
    raise ConfigError(f"{key}={value!r}: expected {type(default).__name__} "
                      f"like the default {default!r}")


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
        from registry import default_registry as registry
    base = _read_yaml(config_dir / "config.yaml")
    choices = dict(base.pop("defaults", {}) or {})
    available = groups(config_dir)
    overrides = []
    for key, value in parse_args(args):
        if "." not in key and key in available:
            choices[key] = value
        else:
            overrides.append((key, value))

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
        node[leaf] = convert(value, node[leaf], key)
        if parents == ["graph"] and leaf in required:
            required.remove(leaf)
    if required:
        name = config["graph"]["name"]
        raise ConfigError(f"graph {name!r} has required parameter(s) "
                          f"{', '.join(required)}; set them with "
                          + " ".join(f"graph.{p}=..." for p in required))
    return config


def graph_spec(config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(registry name, parameters)`` of the configured graph."""
    params = dict(config["graph"])
    return params.pop("name"), params


def dump(config: Mapping[str, Any]) -> str:
    """The configuration as YAML, in the order it was composed."""
    return yaml.safe_dump(dict(config), sort_keys=False)
