"""Plugin loading with pluggy.

A third-party package adds edge builders by declaring an entry point in the
``ergraph`` group that points at a module (or object) with a
``register_edge_builders(register)`` hook implementation::

    [project.entry-points.ergraph]
    my_graphs = "my_graphs.plugin"

Built-ins come through the same hook, from :mod:`plugins.builtin`.
"""
from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Callable, Collection, Iterable

import pluggy

from . import builtin, hookspecs
from .hookspecs import hookimpl

ENTRY_POINT_GROUP = "ergraph"

__all__ = ["ENTRY_POINT_GROUP", "PluginError", "hookimpl", "plugin_manager",
           "collect_edge_builders"]


@dataclass(frozen=True)
class PluginError:
    """A plugin that could not contribute its builders."""
    plugin: str
    message: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r}: {self.message}"


def plugin_manager(entry_points: bool | Collection[str] = True,
                   extra: Iterable[tuple[str, object]] = ()
                   ) -> tuple[pluggy.PluginManager, list[PluginError], dict[str, str]]:
    """A plugin manager holding the built-ins, the installed ``ergraph``
    entry points (all if :obj:`entry_points` is true, none if false, else
    those of the distributions it names) and :obj:`extra`
    ``(name, plugin)`` pairs, and the installed version of each entry
    point's distribution. Plugins that fail to import are reported, by
    distribution name, instead of raising."""
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    manager.register(builtin, name="ergraph")
    errors: list[PluginError] = []
    versions: dict[str, str] = {}
    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else ep.name
            if entry_points is not True and dist not in entry_points:
                continue
            if ep.dist is not None:
                versions[dist] = ep.dist.version
            try:
                manager.register(ep.load(), name=dist)
            except Exception as exc:  # any failure in third-party code
                errors.append(PluginError(
                    dist, f"failed to load entry point {ep.value!r}: "
                          f"{type(exc).__name__}: {exc}"))
    for name, plugin in extra:
        manager.register(plugin, name=name)
    return manager, errors, versions


def collect_edge_builders(
    manager: pluggy.PluginManager,
    accept: Callable[[str, list[tuple[str, Callable]]], None],
) -> list[PluginError]:
    """Call every plugin's hook separately, so a failure is pinned on its
    plugin. :obj:`accept(plugin, [(name, factory), ...])` receives each
    plugin's registrations all at once and raises to refuse them; a plugin
    whose hook or registrations fail contributes nothing."""
    errors: list[PluginError] = []
    # Built-ins go first so that a plugin reusing a built-in name is the one
    # refused, whatever order pluggy keeps its implementations in.
    impls = sorted(manager.hook.register_edge_builders.get_hookimpls(),
                   key=lambda impl: impl.plugin_name != "ergraph")
    for impl in impls:
        staged: list[tuple[str, Callable]] = []
        try:
            impl.function(register=lambda name, factory: staged.append((name, factory)))
            accept(impl.plugin_name, staged)
        except Exception as exc:
            errors.append(PluginError(impl.plugin_name, f"{type(exc).__name__}: {exc}"))
    return errors
