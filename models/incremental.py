"""The CORECT backbone run forward one utterance at a time.

Every step computes only what the new utterance adds, with each layer's
incremental form kept beside the layer it mirrors: attention blocks read
key/value caches of the turns already seen
(:class:`~models.attention_blocks.StackedBlocks`), a GRU encoder advances
its last state (:meth:`~models.encoders.GRUEncoder.step`; a speaker GRU,
the state of its speaker's last turn), P-CM steps every pair side by side
(:class:`~models.crossmodal.IncrementalCrossModal`), and RT-GCN evaluates
its two layers for the new utterance's nodes only
(:meth:`~models.rtgcn.RTGCN.step`). On a causal graph no earlier output can
change, so the logits equal those of the whole dialogue run offline.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from graphs import DialogueBatch

from .corect import CORECT
from .crossmodal import IncrementalCrossModal
from .encoders import GRUEncoder, IncrementalSequenceEncoder, SequenceEncoder
from .history import History

# Enough distinct speaker patterns of a bounded tail for any real dialogue;
# past it the memo starts over rather than grow without bound.
GRAPH_MEMO_SIZE = 4096


def not_causal_message(graph: str) -> str:
    return (f"graph {graph} is not causal: its predictions need turns that have not "
            "happened yet, so it cannot run live one utterance at a time; train a "
            "causal graph (graph=causal, graph=speaker_causal, or any builder with "
            "future=0)")


class IncrementalCORECT:
    r"""A causal :class:`CORECT` run forward one utterance at a time.

    Holds one live dialogue in a :class:`~models.history.History`: the
    key/value caches of every attention block, GRU states, RT-GCN's node
    inputs and ``RGCNConv`` outputs, and the content the graph's builder
    reads (input features, encoder states, annotations). Each step builds
    the graph on the dialogue's last :attr:`~graphs.EdgeBuilder.horizon`
    turns only (the whole prefix when unbounded), keeps the in-edges of the
    newest turn, and steps RT-GCN on them. A structure-only builder's local
    edges are memoised by speaker pattern. Attention blocks run on stacked
    copies of their layers' weights: build a new instance after changing
    the model's weights.

    Args:
        model (CORECT): A model with a causal builder, in eval mode.

    Shapes:
        - **input:** one feature row per modality :math:`(1, F_m)`, the
          utterance's local speaker id, and the annotations the builder
          reads
        - **output:** logits :math:`(C)`
    """

    def __init__(self, model: CORECT) -> None:
        if not model.causal:
            raise ValueError(not_causal_message(repr(model.builder)))
        if model.training:
            raise ValueError("IncrementalCORECT needs the model in eval mode: dropout "
                             "and BatchNorm batch statistics mix or drop turns")
        self.model = model
        self.horizon = model.builder.horizon
        if self.horizon is not None and (isinstance(self.horizon, bool)
                                         or not isinstance(self.horizon, int)
                                         or self.horizon < 0):
            raise ValueError(f"{model.builder!r} declares horizon={self.horizon!r}; it must "
                             "be a non-negative int or None (unbounded)")
        self.reads = model.reads
        self.history = History()
        self.speakers: list[int] = []
        # Each speaker's latest committed turn, where their speaker-GRU state is.
        self._last_turn: dict[int, int] = {}
        self._graph_memo: dict[tuple[int, ...], tuple[Tensor, ...]] = {}
        self._memo_device: torch.device | None = None
        grus = {f"encoders.{m}": e for m, e in model.encoders.items()
                if isinstance(e, GRUEncoder)}
        grus.update({f"speaker_encoders.{m}": e
                     for m, e in (model.speaker_encoders or {}).items()})
        for where, encoder in grus.items():
            if encoder.bidirectional:
                # CORECT builds one only for a non-causal graph.
                raise ValueError(f"{where}: a bidirectional GRU cannot stream")
        self._sequence = {m: IncrementalSequenceEncoder(encoder, f"encoders.{m}")
                          for m, encoder in model.encoders.items()
                          if isinstance(encoder, SequenceEncoder)}
        self._crossmodal = (IncrementalCrossModal(model.crossmodal)
                            if model.crossmodal is not None else None)
        if model.rtgcn is not None:
            model.rtgcn.check_steppable()

    @property
    def length(self) -> int:
        """Utterances of the live dialogue so far."""
        return self.history.length

    def reset(self) -> None:
        """Forget the live dialogue."""
        self.history.clear()
        self.speakers = []
        self._last_turn.clear()

    def step(self, features: Mapping[str, Tensor], speaker: int,
             annotations: Mapping[str, float] | None = None) -> Tensor:
        """Logits :obj:`[C]` of the next utterance. Inputs are trusted
        (see :class:`~models.StreamingPredictor` for validation); the
        caches only advance when the whole step succeeds.

        Args:
            features (Mapping[str, Tensor]): :obj:`[1, F_m]` per modality.
            speaker (int): The local speaker id.
            annotations (Mapping[str, float], optional): The values of the
                annotations the builder reads; ``turn`` defaults to the
                utterance's position.
        """
        # Dropout is the identity in eval mode (checked when built), so the
        # model's dropout calls are skipped.
        model = self.model
        weight = model.speaker_embedding.weight
        spoken = weight[speaker:speaker + 1]
        features = {m: x if x.device == weight.device else x.to(weight.device)
                    for m, x in features.items()}
        states = {m: self._encode(m, features[m], speaker) + spoken
                  for m in model.modalities}
        parts = [self._graph(features, states, speaker, annotations or {})
                 if model.rtgcn is not None
                 else torch.cat([states[m] for m in model.modalities], -1)]
        if self._crossmodal is not None:
            parts.append(self._crossmodal.step(states, self.history))
        logits = model.classifier(torch.cat(parts, -1))[0]
        self.history.commit()
        self._last_turn[speaker] = len(self.speakers)
        self.speakers.append(speaker)
        return logits

    def _encode(self, modality: str, x: Tensor, speaker: int) -> Tensor:
        encoder = self.model.encoders[modality]
        if isinstance(encoder, GRUEncoder):
            t = self.history.length
            h = self._recur(f"gru/{modality}", encoder, x, t - 1 if t else None)
        elif modality in self._sequence:
            h = self._sequence[modality].step(x, self.history, f"sequence/{modality}")
        else:
            return encoder(x)
        speaker_encoders = self.model.speaker_encoders
        if speaker_encoders is not None:
            h = h + self._recur(f"speaker_gru/{modality}", speaker_encoders[modality], x,
                                self._last_turn.get(speaker))
        return h

    def _recur(self, key: str, encoder: GRUEncoder, x: Tensor, after: int | None) -> Tensor:
        """One GRU step from the state turn :obj:`after` left under
        :obj:`key` (the previous turn for a dialogue GRU, the speaker's
        previous turn for a speaker GRU; :obj:`None` starts afresh). States
        are kept per turn so that a failed step does not advance them."""
        previous = None if after is None else self.history.rows[key][after]
        out, state = encoder.step(x, previous)
        self.history.put(key, state)
        return out

    def _content(self, start: int, features: dict[str, Tensor], states: dict[str, Tensor],
                 annotations: Mapping[str, float]) -> dict[str, dict[str, Tensor]]:
        """The builder's content for turns ``start..now``, read from the
        cache with the new turn's rows written in."""
        reads, put = self.reads, self.history.put
        t = self.history.length
        values = {"turn": float(t), **annotations}
        return {
            "features": {m: put(f"content/features/{m}", features[m][0])[start:].cpu()
                         for m in reads.features},
            "states": {m: put(f"content/states/{m}", states[m][0])[start:].cpu()
                       for m in reads.states},
            "annotations": {
                name: put(f"content/annotations/{name}",
                          torch.tensor(float(values[name]), dtype=torch.float64))[start:]
                for name in reads.annotations},
        }

    def _local_edges(self, start: int, speaker: int, device: torch.device,
                     content: dict[str, dict[str, Tensor]]) -> tuple[Tensor, ...]:
        """In-edges of the newest turn in the graph of turns ``start..now``
        (:meth:`~graphs.EdgeBuilder.last_turn_edges`), on :obj:`device`:
        their sources, numbered as in that graph (node ``m * L + u``),
        their targets' modalities (the rows of the newest turn's nodes),
        their relations and, for a weighted graph, their weights. A structure-only builder's are memoised on
        :obj:`device`, so a repeated speaker pattern costs no copy."""
        speakers = (*self.speakers[start:], speaker)
        memo = (self._graph_memo if self.horizon is not None and not self.reads.content
                else None)
        if memo is not None:
            if self._memo_device != device:  # the model moved
                memo.clear()
                self._memo_device = device
            edges = memo.get(speakers)
            if edges is not None:
                return edges
        length = len(speakers)
        tail = DialogueBatch([length], speakers, self.model.modalities, **content)
        found = self.model.builder.last_turn_edges(tail)
        edges = (found[0][0].to(device), (found[0][1] // length).to(device),
                 found[1].to(device), *(w.to(device) for w in found[2:]))
        if memo is not None:
            if len(memo) >= GRAPH_MEMO_SIZE:
                memo.clear()
            memo[speakers] = edges
        return edges

    def _graph(self, features: dict[str, Tensor], states: dict[str, Tensor],
               speaker: int, annotations: Mapping[str, float]) -> Tensor:
        model = self.model
        t = self.history.length
        start = 0 if self.horizon is None else max(0, t - self.horizon)
        content = self._content(start, features, states, annotations)
        edges = self._local_edges(start, speaker, states[model.modalities[0]].device,
                                  content)
        new = torch.cat([states[m] for m in model.modalities])  # [M, H]
        return model.rtgcn.step(new, self.history, start, *edges)
