"""k-nearest-neighbour edges by content similarity."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from .batch import DialogueBatch
from .builder import EdgeBuilder, Edges, concat_edges
from .reads import Reads

SIMILARITY_SOURCES = ("features", "states")
#: Mantissa bits of a float64.
FLOAT64_EXACT_BITS = 53


def fixed_point_units(vectors: Tensor) -> tuple[Tensor, float]:
    r"""Unit vectors rounded to integers on a grid fine enough for
    similarity and coarse enough that every dot product of two of them is
    computed exactly in float64, whatever the summation order.

    With :math:`b` bits per component, products are below :math:`2^{2b}`
    and a sum of :math:`D` of them below :math:`2^{2b + \lceil \log_2 D
    
ceil}`, which stays under float64's 53 bits; so a batched matrix
    product, a streamed matrix-vector product and any BLAS blocking give
    bit-identical similarities, and exact ties (repeated utterances, whose
    embeddings are equal) stay exact. The rounding moves a cosine by about
    :math:`2^{-b}\sqrt{D}`, around :math:`10^{-5}` for 768-d features.

    Args:
        vectors (Tensor): Shape :obj:`[N, D]`.

    Returns:
        :obj:`(integers [N, D] as float64, scale)`: dot products divided by
        :obj:`scale` are the cosines.
    """
    width = max(vectors.size(-1), 1)
    bits = (FLOAT64_EXACT_BITS - 1 - math.ceil(math.log2(width))) // 2
    unit = F.normalize(vectors.detach().to(torch.float64), dim=-1)
    return torch.round(unit * 2.0 ** bits), 4.0 ** bits


def nearest_pairs(batch: DialogueBatch, vectors: Tensor, k: int | None,
                  past_only: bool) -> tuple[Tensor, Tensor, Tensor]:
    r"""Each utterance's :obj:`k` most cosine-similar other utterances of
    its dialogue (earlier ones only with :obj:`past_only`).

    Similarities are exact products of :func:`fixed_point_units`, so that
    where the dialogue is split (a batch, a streamed prefix) changes no
    choice and no weight; ties go to the earlier utterance.

    Args:
        batch (DialogueBatch): The batch structure.
        vectors (Tensor): One vector per utterance, shape :obj:`[U, D]`.
        k (int, optional): Neighbours per utterance; :obj:`None` for all.
        past_only (bool): Only earlier turns are candidates.

    Returns:
        :obj:`(source [P], target [P], cosine [P])`: batch-level utterance
        ids ordered by target, then source, and float64 similarities.
    """
    unit, scale = fixed_point_units(vectors)
    if batch.num_dialogues == 1:  # a streamed prefix: no padding to lay out
        dense = unit.unsqueeze(0)
        mask = torch.ones(1, unit.size(0), dtype=torch.bool)
    else:
        dense, mask = to_dense_batch(unit, batch.utterance_dialogue,
                                     batch_size=batch.num_dialogues)
    size = dense.size(1)
    cosine = dense @ dense.transpose(1, 2) / scale  # [B, target, source]
    position = torch.arange(size)
    allowed = mask.unsqueeze(1) & mask.unsqueeze(2) & (position[:, None] != position[None, :])
    if past_only:
        allowed &= position[None, :] < position[:, None]
    # A non-finite vector has no similarity: it is never a neighbour.
    score = cosine.masked_fill(~allowed | ~torch.isfinite(cosine), -math.inf)
    keep = size if k is None else min(k, size)
    # Stable, so equal similarities rank the earlier utterance first.
    ranked, rank_index = torch.sort(score, dim=-1, descending=True, stable=True)
    chosen = torch.isfinite(ranked[..., :keep])
    dialogue, target, slot = chosen.nonzero(as_tuple=True)
    source = rank_index[dialogue, target, slot]
    # Canonical order: by target, then source.
    order = torch.argsort(target * size + source + dialogue * size * size)
    dialogue, target, source = dialogue[order], target[order], source[order]
    start = batch.ptr[dialogue]
    return start + source, start + target, cosine[dialogue, target, source]


def nearest_earlier(vectors: Tensor, k: int | None) -> tuple[Tensor, Tensor]:
    r"""The last utterance's :obj:`k` most cosine-similar earlier
    utterances of one dialogue: the last row of :func:`nearest_pairs`,
    with the same similarities, ranked the same way.

    Args:
        vectors (Tensor): One vector per turn, shape :obj:`[T, D]`.
        k (int, optional): Neighbours; :obj:`None` for all.

    Returns:
        :obj:`(source [P], cosine [P])`: turns in increasing order, and
        float64 similarities.
    """
    unit, scale = fixed_point_units(vectors)
    cosine = unit[:-1] @ unit[-1] / scale
    finite = torch.isfinite(cosine)
    available = int(finite.sum())
    keep = available if k is None else min(k, available)
    _, order = torch.sort(cosine.masked_fill(~finite, -math.inf), descending=True,
                          stable=True)
    source = order[:keep].sort().values
    return source, cosine[source]


def angular_similarity(cosine: Tensor) -> Tensor:
    r""":math:`1 - \arccos(\cos) / \pi`, in :math:`[0, 1]`: MMGCN's edge
    weight, which unlike the cosine is never negative."""
    return 1.0 - torch.arccos(cosine.clamp(-1.0, 1.0)) / math.pi


@dataclass
class SimilarityEdges(EdgeBuilder):
    r"""kNN graph within each modality: each utterance receives from the
    :obj:`k` most similar utterances of its dialogue, by cosine similarity.

    The vectors are the input features (``vectors="features"``) or the
    backbone's encoder states (``vectors="states"``, so the topology follows
    the model as it trains) of :obj:`modality`, or, when it is
    :obj:`None`, each modality's own. With ``k=None`` every pair is linked:
    with :obj:`weighted`, MMGCN's similarity-weighted full graph.

    Relations: one per modality, ``{modality}:similar``. Causal with
    :obj:`past_only`; either way an edge may reach back any number of
    turns, so the horizon is unbounded.

    Streaming ranks exactly as offline for input features. Encoder states
    computed turn by turn agree with the batched ones only to float
    rounding, so two candidates whose similarities differ by less than
    that (about :math:`10^{-6}`) may swap ranks between the two.

    Args:
        k (int, optional): Neighbours per utterance; :obj:`None` for all.
            (default: :obj:`4`)
        modality (str, optional): Whose vectors rank the neighbours;
            :obj:`None` for each modality's own. (default: :obj:`None`)
        vectors (str): ``"features"`` or ``"states"``. (default: :obj:`"features"`)
        past_only (bool): Only earlier utterances are candidates, which
            makes the builder causal. (default: :obj:`False`)
        weighted (bool): Weight every edge by the angular similarity
            :math:`1 - \arccos(\cos)/\pi` of its endpoints.
            (default: :obj:`False`)
    """

    k: int | None = 4
    modality: str | None = None
    vectors: str = "features"
    past_only: bool = False
    weighted: bool = False

    def __post_init__(self) -> None:
        if self.k is not None and (isinstance(self.k, bool) or not isinstance(self.k, int)
                                   or self.k < 1):
            raise ValueError(f"k must be a positive int or None (every pair), got {self.k!r}")
        if self.vectors not in SIMILARITY_SOURCES:
            raise ValueError(f"vectors must be one of {list(SIMILARITY_SOURCES)}, "
                             f"got {self.vectors!r}")

    @property
    def causal(self) -> bool:
        return self.past_only

    def _sources(self, modalities: Sequence[str]) -> list[str]:
        if self.modality is None:
            return list(modalities)
        if self.modality not in modalities:
            raise ValueError(f"similarity edges rank by modality {self.modality!r}, but the "
                             f"modalities are {list(modalities)}")
        return [self.modality]

    def reads(self, modalities: Sequence[str]) -> Reads:
        return Reads(**{self.vectors: tuple(self._sources(modalities))})

    def relations(self, modalities: Sequence[str]) -> list[str]:
        return [f"{m}:similar" for m in modalities]

    def last_turn_edges(self, batch: DialogueBatch) -> Edges:
        # Ranks the last turn's candidates only: one row, not every pair.
        content, last = getattr(batch, self.vectors), batch.num_utterances - 1
        return self._per_modality(batch, {
            name: (source, torch.full_like(source, last), cosine)
            for name in self._sources(batch.modalities)
            for source, cosine in [nearest_earlier(content[name], self.k)]})

    def edges(self, batch: DialogueBatch) -> Edges:
        content = getattr(batch, self.vectors)
        return self._per_modality(batch, {
            name: nearest_pairs(batch, content[name], self.k, self.past_only)
            for name in self._sources(batch.modalities)})

    def _per_modality(self, batch: DialogueBatch,
                      pairs: dict[str, tuple[Tensor, Tensor, Tensor]]) -> Edges:
        """Each modality's edges from the utterance pairs ranked by its own
        vectors (or by :attr:`modality`'s), weighted when asked."""
        parts = []
        for m, name in enumerate(batch.modalities):
            source, target, cosine = pairs[name if self.modality is None else self.modality]
            edges = (torch.stack([batch.node_index(m, source), batch.node_index(m, target)]),
                     torch.full_like(source, m))
            parts.append(edges + (angular_similarity(cosine).float(),) if self.weighted
                         else edges)
        return concat_edges(parts)
