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

The encoders and P-CM step one dialogue as the case :math:`K = 1` of
stepping :obj:`K` at once (:func:`encode_next`,
:meth:`~models.crossmodal.IncrementalCrossModal.step_many`), which
:func:`~models.batched_streaming.step_dialogues` runs for many.
"""
from __future__ import annotations

from typing import Mapping, Sequence

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
        features = {m: x if x.device == weight.device else x.to(weight.device)
                    for m, x in features.items()}
        states = encode_next([self], [features], [speaker])
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

    def _encode(self, speaker: int) -> dict[str, Tensor | None]:
        """This dialogue's part in encoding its next utterance
        (:func:`encode_next`): the hidden state :obj:`[L, 1, H]` each of
        its GRUs resumes from, by cache key. A dialogue GRU resumes from
        the previous turn's state, a speaker GRU from the state of the
        speaker's previous turn; :obj:`None` starts afresh. States are
        kept per turn so that a failed step does not advance them.

        Args:
            speaker (int): The next utterance's local speaker id.
        """
        model, rows = self.model, self.history.rows
        t = self.history.length
        resume: dict[str, Tensor | None] = {}
        for m, encoder in model.encoders.items():
            recurrent = isinstance(encoder, GRUEncoder)
            if recurrent:
                resume[f"gru/{m}"] = rows[f"gru/{m}"][t - 1] if t else None
            if model.speaker_encoders is not None and (recurrent or m in self._sequence):
                after = self._last_turn.get(speaker)
                resume[f"speaker_gru/{m}"] = (None if after is None
                                              else rows[f"speaker_gru/{m}"][after])
        return resume

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


def encode_next(backbones: Sequence[IncrementalCORECT], features: Sequence[Mapping[str, Tensor]],
                speakers: Sequence[int]) -> dict[str, Tensor]:
    r"""Each dialogue's next utterance through the model's encoders, plus
    its speaker's embedding, for :obj:`K` live dialogues of one model at
    once: a GRU steps all the dialogues' states stacked, a sequence
    encoder attends over each dialogue's own cached turns
    (:meth:`~models.encoders.IncrementalSequenceEncoder.step_many`), an MLP
    encodes the rows together. Each row equals what the dialogue's
    backbone gives alone (to float32 rounding); the new turn's rows are
    written to every dialogue's :class:`~models.history.History`,
    uncommitted.

    Args:
        backbones (Sequence[IncrementalCORECT]): :obj:`K` distinct live
            dialogues of one model.
        features (Sequence[Mapping[str, Tensor]]): Per dialogue,
            :obj:`[1, F_m]` per modality, on the model's device.
        speakers (Sequence[int]): Per dialogue, the local speaker id.

    Shapes:
        - **output:** per modality :math:`(K, H)`
    """
    first = backbones[0]
    model = first.model
    weight = model.speaker_embedding.weight
    resume = [b._encode(speaker) for b, speaker in zip(backbones, speakers)]
    histories = [b.history for b in backbones]
    spoken = weight[torch.tensor(list(speakers), device=weight.device)]
    states = {}
    for m in model.modalities:
        x = torch.cat([row[m] for row in features])
        encoder = model.encoders[m]
        if isinstance(encoder, GRUEncoder):
            h = _recur(f"gru/{m}", encoder, x, resume, histories)
        elif m in first._sequence:
            h = first._sequence[m].step_many(x, histories, f"sequence/{m}")
        else:
            states[m] = encoder(x) + spoken
            continue
        if model.speaker_encoders is not None:
            h = h + _recur(f"speaker_gru/{m}", model.speaker_encoders[m], x, resume, histories)
        states[m] = h + spoken
    return states


def _recur(key: str, encoder: GRUEncoder, x: Tensor, resume: list[dict[str, Tensor | None]],
           histories: list[History]) -> Tensor:
    """One GRU step of every dialogue from the state it resumes from under
    :obj:`key` (a dialogue starting afresh from zeros, ``nn.GRU``'s own
    start), the new states written to each dialogue's history."""
    previous = [r[key] for r in resume]
    state = None
    started = [p for p in previous if p is not None]
    if started:
        zero = started[0].new_zeros(started[0].shape)
        state = torch.cat([zero if p is None else p for p in previous], 1)  # [L, K, H]
    out, state = encoder.step(x, state)
    for k, history in enumerate(histories):
        history.put(key, state[:, k:k + 1])
    return out
