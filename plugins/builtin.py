"""ergraph's own builders, registered through the same hook as any plugin."""
from __future__ import annotations

from typing import Any

from graphs import (CausalEdges, DagEdges, ModalityEdges, NoEdges, SimilarityEdges,
                    SpeakerEdges, UnionEdges, WindowEdges, corect, mmgcn)

from .hookspecs import Register, hookimpl


def union(parts: dict[str, Any] | list[str], *, registry) -> UnionEdges:
    """Union of registered builders, each part keeping its own relations.

    Args:
        parts: Part name -> that part's parameters. A part's builder is the
            registered builder of the same name, or the one named by its
            ``builder`` key, e.g. ``{"near": {"builder": "window", "past": 1},
            "modality": {}}``. Or a list of builder names, each with its
            defaults: ``["causal", "modality"]``, which the command line
            writes ``graph.parts=causal,modality``.
    """
    if isinstance(parts, (list, tuple)):
        repeated = sorted({name for name in parts if list(parts).count(name) > 1})
        if repeated:
            raise ValueError(f"union parts {repeated} are listed more than once; name "
                             "each part, e.g. {near: {builder: window, past: 1}, "
                             "far: {builder: window, past: 8}}")
        parts = {name: {} for name in parts}
    built = {}
    for part_name, spec in parts.items():
        spec = dict(spec or {})
        try:
            built[part_name] = registry.get(spec.pop("builder", part_name), **spec)
        except KeyError as error:  # an unknown builder: a bad value, as a bad parameter is
            raise ValueError(f"union part {part_name!r}: {error}") from None
    return UnionEdges(built)


@hookimpl
def register_edge_builders(register: Register) -> None:
    register("window", WindowEdges)
    register("causal", CausalEdges)
    register("speaker", SpeakerEdges)
    register("modality", ModalityEdges)
    register("none", NoEdges)
    register("corect", corect)
    register("dag", DagEdges)
    register("similarity", SimilarityEdges)
    register("mmgcn", mmgcn)
    register("union", union)
