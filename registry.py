"""Edge builders by name: the built-ins, plugins, and your own.

>>> from registry import get_edge_builder, list_edge_builders
>>> builder = get_edge_builder("window", past=2, future=2)

Register your own with the decorator::

    @register_edge_builder("skip")
    @dataclass
    class SkipEdges(EdgeBuilder):
        ...

or ship them in a package through the ``ergraph`` entry point (see
:mod:`plugins`). Plugins load on first use. Set
``ERGRAPH_DISABLE_PLUGIN_AUTOLOAD=1`` to skip installed entry points.
"""
from __future__ import annotations

import difflib
import inspect
import os
from importlib.metadata import PackageNotFoundError, version
import re
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from graphs import EdgeBuilder
from plugins import PluginError, collect_edge_builders, plugin_manager

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class UnknownEdgeBuilderError(KeyError):
    """No builder is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class BuilderEntry:
    """A registered builder: its factory, description, where it came from
    (``ergraph``, a plugin's distribution, or the caller's module) and, for
    a distribution, its installed version."""
    name: str
    factory: Callable[..., EdgeBuilder]
    description: str
    source: str
    version: str | None = None

    @property
    def provider(self) -> dict[str, str | None]:
        """``{"source": ..., "version": ...}``, which checkpoints record so
        that loading one where the plugin is missing can say what to
        install."""
        return {"source": self.source, "version": self.version}

    @property
    def origin(self) -> str:
        """Where the builder comes from, for messages: ``ergraph``,
        ``plugin DIST VERSION`` or ``module NAME``."""
        if self.source == "ergraph":
            return "ergraph"
        if self.version is None:
            return f"module {self.source}"
        return f"plugin {self.source} {self.version}"

    def label(self) -> str:
        """The builder's name with its origin unless it is a built-in."""
        return self.name if self.source == "ergraph" else f"{self.name} ({self.origin})"

    def parameters(self, resolve: bool = False) -> dict[str, inspect.Parameter]:
        """The keyword parameters a user may set.

        Args:
            resolve (bool): Evaluate annotations written as strings (``from
                __future__ import annotations``) into types; one that cannot
                be evaluated is left out. (default: :obj:`False`)
        """
        try:
            signature = inspect.signature(self.factory, eval_str=resolve)
        except (NameError, TypeError, SyntaxError):
            signature = inspect.signature(self.factory)
            signature = signature.replace(parameters=[
                p.replace(annotation=inspect.Parameter.empty)
                for p in signature.parameters.values()])
        return {p.name: p for p in signature.parameters.values()
                if p.name != "registry" and p.kind in (
                    p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _ergraph_version() -> str | None:
    try:
        return version("ergraph")
    except PackageNotFoundError:
        return None


def _describe(factory: Callable) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class EdgeBuilderRegistry:
    r"""Edge builders by name.

    Args:
        entry_points (bool or Iterable[str]): Load the plugins installed
            under the ``ergraph`` entry-point group on first use: all of
            them (:obj:`True`), none (:obj:`False`), or only those of the
            named distributions, which keeps a registry (a test's, say)
            independent of whatever else is installed. Built-ins always
            load. (default: :obj:`True`)
        plugins (Iterable[tuple[str, object]]): Extra ``(name, plugin)``
            pluggy plugins to load, e.g. for tests. (default: :obj:`()`)
    """

    def __init__(self, entry_points: bool | Iterable[str] = True,
                 plugins: Iterable[tuple[str, object]] = ()) -> None:
        self._entry_points = (entry_points if isinstance(entry_points, bool)
                              else frozenset(entry_points))
        self._extra_plugins = list(plugins)
        self._entries: dict[str, BuilderEntry] = {}
        self._plugin_errors: list[PluginError] = []
        self._versions: dict[str, str] = {}
        self._loaded = False

    # -- loading ---------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        manager, errors, self._versions = plugin_manager(self._entry_points,
                                                         self._extra_plugins)
        errors += collect_edge_builders(manager, self._accept_plugin)
        self._plugin_errors = errors
        for error in errors:
            warnings.warn(f"ergraph {error}; its edge builders are unavailable",
                          RuntimeWarning, stacklevel=3)

    def _accept_plugin(self, plugin: str, staged: list[tuple[str, Callable]]) -> None:
        # All of a plugin's builders land or none do.
        entries = [self._entry(name, factory, plugin) for name, factory in staged]
        names = [e.name for e in entries]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"registers {repeated} more than once")
        for entry in entries:
            self._check_free(entry.name)
        for entry in entries:
            self._entries[entry.name] = entry

    def _entry(self, name: str, factory: Callable, source: str) -> BuilderEntry:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"edge builder name {name!r} must be lower-case letters, "
                "digits and '_', starting with a letter")
        if not callable(factory):
            raise TypeError(f"edge builder {name!r}: factory {factory!r} is not callable")
        if inspect.isclass(factory) and not issubclass(factory, EdgeBuilder):
            raise TypeError(
                f"edge builder {name!r}: class {factory.__qualname__} does not "
                "subclass graphs.EdgeBuilder")
        return BuilderEntry(name, factory, _describe(factory), source,
                            _ergraph_version() if source == "ergraph"
                            else self._versions.get(source))

    def _check_free(self, name: str) -> None:
        if name in self._entries:
            raise ValueError(
                f"edge builder {name!r} is already registered by "
                f"{self._entries[name].source}")

    # -- public API ------------------------------------------------------
    def register(self, name: str, factory: Callable[..., EdgeBuilder] | None = None):
        """Register :obj:`factory` under :obj:`name`; without a factory,
        return a decorator. A name already taken raises."""
        def decorate(factory: Callable[..., EdgeBuilder]):
            self._load()
            entry = self._entry(name, factory, getattr(factory, "__module__", "user"))
            self._check_free(name)
            self._entries[name] = entry
            return factory
        return decorate if factory is None else decorate(factory)

    def entry(self, name: str) -> BuilderEntry:
        """The entry registered as :obj:`name`; an unknown name raises an
        error listing the choices and the closest match."""
        self._load()
        if name not in self._entries:
            choices = sorted(self._entries)
            message = f"unknown edge builder {name!r}; choices: {', '.join(choices)}"
            close = difflib.get_close_matches(str(name), choices, n=1)
            if close:
                message += f". Did you mean {close[0]!r}?"
            if self._plugin_errors:
                message += ". Plugins that failed to load: " + "; ".join(
                    str(e) for e in self._plugin_errors)
            raise UnknownEdgeBuilderError(message)
        return self._entries[name]

    def get(self, name: str, **params: Any) -> EdgeBuilder:
        """Build the builder :obj:`name` with keyword :obj:`params`. Unknown
        parameters raise an error that lists the accepted ones."""
        entry = self.entry(name)
        accepted = entry.parameters()
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise TypeError(
                f"edge builder {name!r} has no parameter(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(accepted) or '(none)'}")
        kwargs = dict(params)
        if "registry" in inspect.signature(entry.factory).parameters:
            kwargs["registry"] = self
        builder = entry.factory(**kwargs)
        if not isinstance(builder, EdgeBuilder):
            raise TypeError(
                f"edge builder {name!r} from {entry.source} returned "
                f"{type(builder).__name__}, not a graphs.EdgeBuilder")
        return builder

    def list(self) -> list[tuple[str, str]]:
        """``(name, description)`` of every builder, sorted by name."""
        self._load()
        return [(n, self._entries[n].description) for n in sorted(self._entries)]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return [name for name, _ in self.list()]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    @property
    def plugin_errors(self) -> list[PluginError]:
        """Plugins that could not contribute builders, with the reason."""
        self._load()
        return list(self._plugin_errors)


def plugin_autoload_disabled(environ=os.environ) -> bool:
    """Whether ``ERGRAPH_DISABLE_PLUGIN_AUTOLOAD`` says to skip installed
    plugins: ``1``, ``true`` or ``yes`` do; unset, empty, ``0``, ``false``
    and ``no`` do not (a user who exports ``=0`` means "load them")."""
    value = environ.get("ERGRAPH_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


#: The registry the runner and the module-level functions use.
default_registry = EdgeBuilderRegistry(entry_points=not plugin_autoload_disabled())

register_edge_builder = default_registry.register
get_edge_builder = default_registry.get
list_edge_builders = default_registry.list
