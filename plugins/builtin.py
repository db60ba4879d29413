"""ergraph's own builders, registered through the same hook as any plugin."""
from __future__ import annotations

from typing import Any, Mapping

from graphs import (CausalEdges, DagEdges, ModalityEdges, NoEdges, SimilarityEdges,
                    SpeakerEdges, UnionEdges, WindowEdges, corect, mmgcn)

from .hookspecs import Register, hookimpl


def union(parts: Mapping[str, Mapping[str, Any]], *, registry) -> UnionEdges:
    """Union of registered builders, each part keeping its own relations.

    Args:
        parts: Part name -> that part's parameters. A part's builder is the
            registered builder of the same name, or the one named by its
            ``builder`` key, e.g. ``{"near": {"builder": "window", "past": 1},
            "modality": {}}``.
    """
    built = {}
    for part_name, spec in parts.items():
        spec = dict(spec or {})
        built[part_name] = registry.get(spec.pop("builder", part_name), **spec)
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
