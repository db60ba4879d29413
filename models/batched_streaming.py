"""One step of many live dialogues at once.

:func:`step_dialogues` advances several :class:`~models.incremental.IncrementalCORECT`
backbones of one model by one utterance each. What only looks at a
dialogue's own past (the sequence encoders and GRUs with their caches, the
graph's edges, P-CM) runs per dialogue as
:meth:`IncrementalCORECT.step` runs it; the two RT-GCN layers, where a
push spends most of its time, and the classifier run once for all the
dialogues: their new nodes are the targets, each dialogue's cached tail
the sources, the edges renumbered into one graph of disjoint parts.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from .incremental import IncrementalCORECT
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
            dialogues of one model.
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
    states, graphs, parts = [], [], []
    for backbone, x, speaker, values in zip(backbones, features, speakers, annotations):
        x = {m: v if v.device == weight.device else v.to(weight.device)
             for m, v in x.items()}
        spoken = weight[speaker:speaker + 1]
        state = {m: backbone._encode(m, x[m], speaker) + spoken for m in model.modalities}
        states.append(state)
        if model.rtgcn is not None:
            t = backbone.history.length
            start = 0 if backbone.horizon is None else max(0, t - backbone.horizon)
            content = backbone._content(start, x, state, values or {})
            edges = backbone._local_edges(start, speaker, weight.device, content)
            graphs.append((start, edges))
    if model.rtgcn is not None:
        graph = _rtgcn_rows(backbones, states, graphs)  # [K, M * heads * H]
    rows = []
    for k, (backbone, state) in enumerate(zip(backbones, states)):
        parts = [graph[k:k + 1] if model.rtgcn is not None
                 else torch.cat([state[m] for m in model.modalities], -1)]
        if backbone._crossmodal is not None:
            parts.append(backbone._crossmodal.step(state, backbone.history))
        rows.append(torch.cat(parts, -1))
    logits = model.classifier(torch.cat(rows))
    for backbone, speaker in zip(backbones, speakers):
        backbone.history.commit()
        backbone._last_turn[speaker] = len(backbone.speakers)
        backbone.speakers.append(speaker)
    return logits


def _rtgcn_rows(backbones: Sequence[IncrementalCORECT], states: list[dict[str, Tensor]],
                graphs: list[tuple[int, tuple[Tensor, ...]]]) -> Tensor:
    """:meth:`~models.rtgcn.RTGCN.step` for every dialogue's new nodes at
    once: each dialogue's sources shifted past the earlier dialogues'."""
    model = backbones[0].model
    rtgcn, modalities = model.rtgcn, model.modalities
    count = len(modalities)
    new = [torch.cat([state[m] for m in modalities]) for state in states]  # [M, H] each

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
