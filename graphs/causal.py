"""Causal, past-only temporal edges."""
from __future__ import annotations

from dataclasses import dataclass

from .builder import EdgeBuilder
from .temporal_window import TemporalWindow


@dataclass
class CausalEdges(TemporalWindow, EdgeBuilder):
    r"""Past-only temporal window within each modality: causal by
    construction, so a model on it can run live, one utterance at a time.

    A node receives from the nodes of the same modality up to :obj:`past`
    turns earlier in its dialogue. Relations, per modality: ``past`` (unless
    :obj:`past` is 0) and, with :obj:`self_loops`, ``self``.

    Args:
        past (int, optional): Earlier turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        self_loops (bool): Link every node to itself with a ``self``
            relation. (default: :obj:`False`)
    """

    past: int | None = 4
    self_loops: bool = False
