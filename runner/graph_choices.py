"""Several graphs side by side: one configuration per graph of
``graph=a,b,c``, sharing the other settings."""
from __future__ import annotations

from typing import Any, Sequence

from .config import ConfigError, compose
from .options import split_values


def compose_per_graph(args: Sequence[str]) -> list[dict[str, Any]]:
    """One composed configuration per name of ``graph=a,b,c``.

    A ``graph.KEY=VALUE`` override applies to every listed graph that has
    ``KEY`` and is refused when none has it, so ``graph=window,causal
    graph.past=2`` narrows both windows while ``graph=window,modality
    graph.future=1`` leaves ``modality`` alone.

    Args:
        args (Sequence[str]): ``key=value`` arguments, as for :func:`compose`.

    Raises:
        ConfigError: An empty graph name, an override no graph has, or
            anything :func:`compose` refuses.
    """
    names, others, graph_overrides = None, [], []
    for arg in args:
        key = arg.partition("=")[0].strip()
        if key == "graph":
            names = [n.strip() for n in split_values(arg.partition("=")[2])]
        elif key.startswith("graph."):
            graph_overrides.append(arg)
        else:
            others.append(arg)
    if names is None or len(names) == 1:
        return [compose(args)]
    if not all(names):
        raise ConfigError(f"graph={','.join(names)}: empty graph name")
    result, used = [], set()
    for name in names:
        keys = compose([*others, f"graph={name}"])["graph"]
        mine = []
        for arg in graph_overrides:
            if arg.partition("=")[0].strip().split(".")[1] in keys:
                mine.append(arg)
                used.add(arg)
        result.append(compose([*others, f"graph={name}", *mine]))
    unused = [a for a in graph_overrides if a not in used]
    if unused:
        raise ConfigError(f"{', '.join(unused)}: none of the graphs "
                          f"{', '.join(names)} has that key")
    return result
