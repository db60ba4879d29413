"""Bidirectional temporal window edges."""
from __future__ import annotations

from dataclasses import dataclass

from .builder import EdgeBuilder
from .temporal_window import TemporalWindow


@dataclass
class WindowEdges(TemporalWindow, EdgeBuilder):
    r"""Bidirectional temporal window within each modality.

    A node receives from the nodes of the same modality up to :obj:`past`
    turns earlier and :obj:`future` turns later in its dialogue.
    Relations, per modality: ``past`` (unless :obj:`past` is 0), ``future``
    (unless :obj:`future` is 0) and, with :obj:`self_loops`, ``self``.
    With ``future=0`` the builder is causal and equals :class:`CausalEdges`.

    **From CORECT's flags.** CORECT's ``--wp`` and ``--wf`` bound what a node
    *sends*: node ``j`` sends to turns ``[j - wp, j + wf - 1]``, itself
    included. Seen from the receiving side that is ``past = wf - 1``,
    ``future = wp`` and ``self_loops=True``; so CORECT's IEMOCAP setting
    ``wp=11, wf=5`` is ``WindowEdges(past=4, future=11, self_loops=True)``,
    and ``-1`` (all turns) is ``None`` here.

    Args:
        past (int, optional): Earlier turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        future (int, optional): Later turns received from; :obj:`None` for
            all of them. (default: :obj:`4`)
        self_loops (bool): Link every node to itself with a ``self``
            relation. (default: :obj:`False`)
    """

    past: int | None = 4
    future: int | None = 4
    self_loops: bool = False
