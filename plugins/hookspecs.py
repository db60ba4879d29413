"""The one hook ergraph plugins implement."""
from __future__ import annotations

from typing import Callable

import pluggy

hookspec = pluggy.HookspecMarker("ergraph")
hookimpl = pluggy.HookimplMarker("ergraph")

#: ``register(name, factory)``: ``factory(**params)`` returns an EdgeBuilder.
Register = Callable[[str, Callable[..., object]], None]


@hookspec
def register_edge_builders(register: Register) -> None:
    """Register edge builders by calling ``register(name, factory)`` once per
    builder. ``factory`` is an :class:`~graphs.EdgeBuilder` subclass or a
    function returning one; its keyword parameters become the builder's
    parameters. The first line of its docstring is the builder's description.
    """
