"""One step of many live dialogues at once.

:func:`step_dialogues` advances several :class:`~models.incremental.IncrementalCORECT`
backbones of one model by one utterance each, every layer once for all of
them. The encoders and P-CM take the new rows stacked, each dialogue's
key/value cache padded to the longest and masked, GRU states stacked
(:func:`~models.incremental.encode_next`,
:meth:`~models.crossmodal.IncrementalCrossModal.step_many`); the two
RT-GCN layers take the new nodes as targets and each dialogue's cached
tail as sources, the edges renumbered into one graph of disjoint parts.
Only the graph's edges, which depend on each dialogue's own speakers and
content, are built dialogue by dialogue.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from .incremental import IncrementalCORECT, encode_next
from .rtgcn import attention_rows, relational_rows


def step_dialogues(backbones: Sequence[IncrementalCORECT],
                   features: Sequence[Mapping[str, Tensor]], speakers: Sequence[int],
                   annotations: Sequence[Mapping[str, float]]) -> Tensor:
    r"""Logits of the next utterance of each dialogue, as if each backbone
    had stepped on its own (to float32 rounding). Inputs are trusted, as
    by :meth:`IncrementalCORECT.step`; no backbone's caches advance unless
    the whole call succeeds.

    Args:
        backbones (Sequence[IncrementalCORECT]): :obj:`K` distinct live
            dialogues of one model; the first's stacked attention weights
            serve them all (backbones built from one model's current
            weights hold the same).
        features (Sequence[Mapping[str, Tensor]]): Per dialogue,
            :obj:`[1, F_m]` per modality.
        speakers (Sequence[int]): Per dialogue, the local speaker id.
        annotations (Sequence[Mapping[str, float]]): Per dialogue, the
            annotations the builder reads.

    Shapes:
        - **output:** logits :math:`(K, C)`
    """
    if not backbones:
        raise ValueError("step_dialogues needs at least one dialogue")
    model = backbones[0].model
    if any(b.model is not model for b in backbones):
        raise ValueError("step_dialogues steps dialogues of one model")
    if len({id(b.history) for b in backbones}) != len(backbones):
        raise ValueError("step_dialogues steps each dialogue once")
    weight = model.speaker_embedding.weight
    features = [{m: v if v.device == weight.device else v.to(weight.device)
                 for m, v in x.items()} for x in features]
    states = encode_next(backbones, features, speakers)  # per modality [K, H]
    if model.rtgcn is not None:
        graphs = []
        for k, (backbone, x, speaker, values) in enumerate(
                zip(backbones, features, speakers, annotations)):
            t = backbone.history.length
            start = 0 if backbone.horizon is None else max(0, t - backbone.horizon)
            own = {m: state[k:k + 1] for m, state in states.items()}
            content = backbone._content(start, x, own, values or {})
            graphs.append((start, backbone._local_edges(start, speaker, weight.device,
                                                        content)))
        parts = [_rtgcn_rows(backbones, states, graphs)]  # [K, M * heads * H]
    else:
        parts = [torch.cat([states[m] for m in model.modalities], -1)]
    crossmodal = backbones[0]._crossmodal
    if crossmodal is not None:
        parts.append(crossmodal.step_many(states, [b.history for b in backbones]))
    logits = model.classifier(torch.cat(parts, -1))
    for backbone, speaker in zip(backbones, speakers):
        backbone.history.commit()
        backbone._last_turn[speaker] = len(backbone.speakers)
        backbone.speakers.append(speaker)
    return logits


def _rtgcn_rows(backbones: Sequence[IncrementalCORECT], states: dict[str, Tensor],
                graphs: list[tuple[int, tuple[Tensor, ...]]]) -> Tensor:
    """:meth:`~models.rtgcn.RTGCN.step` for every dialogue's new nodes at
    once: each dialogue's sources shifted past the earlier dialogues'."""
    model = backbones[0].model
    rtgcn, modalities = model.rtgcn, model.modalities
    count = len(modalities)
    # Each dialogue's new nodes [M, H], modality-major like the graph.
    new = list(torch.stack([states[m] for m in modalities], 1).unbind(0))

    def tails(key: str, rows: list[Tensor]) -> list[Tensor]:
        # Turns start..now of every modality, modality-major like the graph.
        return [b.history.put(key, r, dim=1)[:, start:].reshape(-1, r.size(-1))
                for b, r, (start, _) in zip(backbones, rows, graphs)]

    inputs = tails("graph/input", new)
    sources, targets, types, weights = [], [], [], []
    offset = 0
    for k, (tail, (_, edges)) in enumerate(zip(inputs, graphs)):
        sources.append(edges[0] + offset)
        targets.append(edges[1] + k * count)
        types.append(edges[2])
        if len(edges) > 3:
            weights.append(edges[3])
        offset += tail.size(0)
    source, target = torch.cat(sources), torch.cat(targets)
    weight = torch.cat(weights) if weights else None
    targets_in = torch.cat(new)
    h = relational_rows(rtgcn.relational, torch.cat(inputs), targets_in, source, target,
                        torch.cat(types), weight)
    relational = tails("graph/relational", list(h.split(count)))
    h = attention_rows(rtgcn.attention, torch.cat(relational), h, source, target, weight)
    return rtgcn.act(rtgcn.norm(h)).reshape(len(backbones), -1)
