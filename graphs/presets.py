"""Named compositions of the built-in builders."""
from __future__ import annotations

from .modality import ModalityEdges
from .union import UnionEdges
from .window import WindowEdges


def corect(past: int | None = 4, future: int | None = 11) -> UnionEdges:
    r"""CORECT's temporal-multimodal relation set: window + modality.

    The defaults reproduce CORECT's IEMOCAP script (``--wp 11 --wf 5``, which
    makes each node receive from 4 past and 11 future turns and itself; see
    :class:`WindowEdges`), with its ordered cross-modal pairs inside every
    utterance. With one modality the ``modality`` part has no edges and the
    preset reduces to the window.

    Args:
        past (int, optional): Earlier turns received from. (default: :obj:`4`)
        future (int, optional): Later turns received from.
            (default: :obj:`11`)
    """
    return UnionEdges({
        "window": WindowEdges(past=past, future=future, self_loops=True),
        "modality": ModalityEdges(),
    })
