"""Named compositions of the built-in builders."""
from __future__ import annotations

from .modality import ModalityEdges
from .similarity import SimilarityEdges
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


def mmgcn(past_only: bool = False, vectors: str = "features") -> UnionEdges:
    r"""MMGCN's graph (Hu et al., ACL 2021): within each modality every
    pair of utterances of a dialogue, weighted by the angular similarity
    of their vectors, plus the cross-modal edges inside every utterance.

    The similarity part is :class:`SimilarityEdges` with ``k=None`` and
    ``weighted=True``, each modality ranked by its own vectors; cross-modal
    edges weigh 1 (MMGCN weighs them too, after projecting the modalities
    into one space, which the inputs here do not share). MMGCN runs a deep
    spectral GCN on it; here it feeds the shared RT-GCN.

    Args:
        past_only (bool): Link only earlier utterances, which makes it
            causal. (default: :obj:`False`)
        vectors (str): Rank by input ``"features"`` or encoder ``"states"``.
            (default: :obj:`"features"`)
    """
    return UnionEdges({
        "similarity": SimilarityEdges(k=None, vectors=vectors, past_only=past_only,
                                      weighted=True),
        "modality": ModalityEdges(),
    })
