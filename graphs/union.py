"""Union of edge builders: how topologies compose."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from .batch import DialogueBatch
from .builder import EdgeBuilder, Edges, concat_edges
from .reads import Reads


class UnionEdges(EdgeBuilder):
    r"""The union of several builders' edges, each part keeping its own
    relations.

    Relation ids of later parts are offset past those of earlier ones and
    relation names are prefixed ``{part}/``, so parts never share a relation
    and the union has no duplicate (source, target, type) triple. The union
    is causal when every part is, reads what any part reads (each part is
    handed only its own), reaches back as far as its farthest part, and is
    weighted when any part is (the others' edges weigh 1).

    Args:
        parts (Mapping[str, EdgeBuilder]): Builders by part name, in
            relation order, e.g.
            :obj:`{"window": WindowEdges(), "modality": ModalityEdges()}`.
    """

    def __init__(self, parts: Mapping[str, EdgeBuilder]) -> None:
        if not parts:
            raise ValueError("UnionEdges needs at least one part")
        for name, part in parts.items():
            if not isinstance(part, EdgeBuilder):
                raise TypeError(f"union part {name!r} is not an EdgeBuilder: {part!r}")
            if "/" in name:
                raise ValueError(f"union part name {name!r} may not contain '/'")
        self.parts = dict(parts)

    @property
    def causal(self) -> bool:
        return all(part.causal for part in self.parts.values())

    @property
    def horizon(self) -> int | None:
        reaches = [part.horizon for part in self.parts.values()]
        return None if None in reaches else max(reaches)

    def reads(self, modalities: Sequence[str]) -> Reads:
        combined = Reads()
        for part in self.parts.values():
            combined = combined | part.reads(modalities)
        return combined

    def last_turn_edges(self, batch: DialogueBatch) -> Edges:
        return self._joined(batch, "last_turn_edges")

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return [f"{name}/{relation}" for name, part in self.parts.items()
                for relation in part.relations(modalities)]

    def edges(self, batch: DialogueBatch) -> Edges:
        return self._joined(batch, "edges")

    def _joined(self, batch: DialogueBatch, method: str) -> Edges:
        """Each part's :obj:`method` on its own content, relations offset."""
        pieces, offset = [], 0
        for name, part in self.parts.items():
            edges = getattr(part, method)(batch.restricted(part.reads(batch.modalities),
                                                           f"union part {name!r}"))
            pieces.append((edges[0], edges[1] + offset, *edges[2:]))
            offset += len(part.relations(batch.modalities))
        return concat_edges(pieces)

    def params(self) -> dict[str, Any]:
        return {name: part.params() for name, part in self.parts.items()}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={p!r}" for n, p in self.parts.items())
        return f"{type(self).__name__}({inner})"
