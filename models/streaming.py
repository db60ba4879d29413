"""Live inference: a causal checkpoint fed one utterance at a time.

>>> predictor = StreamingPredictor.from_checkpoint("runs/causal/checkpoint.pt")
>>> predictor.push("ann", {"text": text_vector, "audio": audio_vector}).label
>>> predictor.push("bob", text="Really?")  # a text-only model, ergraph[text]
>>> predictor.reset()  # the next push starts a new dialogue

Every push computes only what the new utterance adds: attention blocks keep
key/value caches of the turns already seen, a GRU encoder advances its last
state by one step (a speaker GRU, the state of its speaker's last turn), and
RT-GCN evaluates the model's ``RGCNConv`` and ``TransformerConv`` weights for
the new utterance's nodes only, over their in-edges, reading the cached
states of the nodes those come from. On a causal graph no earlier output can
change, so the logits equal those of the whole dialogue run offline.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Hashable, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from torch_geometric.nn import RGCNConv, TransformerConv
from torch_geometric.utils import softmax as pyg_softmax

from dialogues.text_encoder import TextEncoder, sentence_encoder
from graphs import (CausalEdges, DialogueBatch, EdgeBuilder, ModalityEdges, NoEdges,
                    SpeakerEdges, UnionEdges, WindowEdges)

from .attention_blocks import block_parts
from .checkpoint import load_checkpoint
from .corect import CORECT
from .encoders import GRUEncoder, SequenceEncoder, sinusoidal_positions

TEXT = "text"
# Enough distinct speaker patterns of a bounded tail for any real dialogue;
# past it the memo starts over rather than grow without bound.
GRAPH_MEMO_SIZE = 4096


class Prediction(NamedTuple):
    r"""What :meth:`StreamingPredictor.push` returns for one utterance.

    Args:
        turn (int): Position of the utterance in the live dialogue, from 0.
        speaker (Hashable): The speaker as given to :meth:`push`.
        label (str): The predicted label.
        probabilities (dict[str, float]): Softmax of the logits by label.
        logits (Tensor): Shape :obj:`[C]`.
        latency_ms (float): Wall time of the push, validation included.
    """

    turn: int
    speaker: Hashable
    label: str
    probabilities: dict[str, float]
    logits: Tensor
    latency_ms: float

    @property
    def probability(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities[self.label]


def graph_horizon(builder: EdgeBuilder) -> int | None:
    r"""How many turns back the in-edges of a causal builder reach.

    Known for the built-ins from their parameters (``past``; 0 for
    ``modality`` and ``none``; the widest part of a union). Any other
    builder may declare it as a ``horizon`` attribute (an int, or
    :obj:`None` for unbounded); without one it is taken as unbounded, which
    is exact but makes every push rebuild the graph of the whole prefix.

    Args:
        builder (EdgeBuilder): A causal builder.

    Returns:
        int or None: The largest ``turn(target) - turn(source)`` of any
        edge, or :obj:`None` when it is unbounded or unknown.
    """
    # Exact types only: a subclass may reach further than its parent.
    kind = type(builder)
    if kind in (CausalEdges, WindowEdges, SpeakerEdges):
        return builder.past
    if kind in (ModalityEdges, NoEdges):
        return 0
    if kind is UnionEdges:
        reaches = [graph_horizon(part) for part in builder.parts.values()]
        return None if None in reaches else max(reaches)
    horizon = getattr(builder, "horizon", None)
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int)
                                or horizon < 0):
        raise ValueError(f"{builder!r} declares horizon={horizon!r}; it must be a "
                         "non-negative int or None")
    return horizon


def not_causal_message(graph: str) -> str:
    return (f"graph {graph} is not causal: its predictions need turns that have not "
            "happened yet, so it cannot run live one utterance at a time; train a "
            "causal graph (graph=causal, graph=speaker_causal, or any builder with "
            "future=0)")


# -- per-turn caches ------------------------------------------------------
class _History:
    """Per-turn rows of every cached tensor, keyed by name.

    Rows of turn :attr:`length` may be written during a step; they only
    count once :meth:`commit` runs, so a step that fails half-way leaves
    the committed state as it was. Buffers double when full.
    """

    def __init__(self) -> None:
        self.rows: dict[str, Tensor] = {}
        self.length = 0

    def put(self, key: str, row: Tensor, dim: int = 0) -> Tensor:
        """Write :obj:`row` as the current turn's; return all rows so far,
        stacked along :obj:`dim` (:obj:`length + 1` of them)."""
        t = self.length
        buffer = self.rows.get(key)
        if buffer is None or buffer.size(dim) <= t:
            shape = list(row.shape)
            shape.insert(dim, max(16, 2 * t))
            grown = row.new_empty(shape)
            if buffer is not None:
                grown.narrow(dim, 0, t).copy_(buffer.narrow(dim, 0, t))
            self.rows[key] = buffer = grown
        buffer.select(dim, t).copy_(row)
        return buffer.narrow(dim, 0, t + 1)

    def commit(self) -> None:
        self.length += 1

    def clear(self) -> None:
        self.rows.clear()
        self.length = 0


class _AttentionBlocks:
    r"""Same-shaped pre-norm attention blocks of :obj:`G` groups (P-CM's
    modality pairs, say), stepped side by side on each group's newest row
    with a key/value cache of the earlier ones.

    Each block computes, for its new row :math:`h` (and, for
    cross-attention, the source's new row :math:`m`, else :math:`m = h`)

    .. math::
        h \leftarrow h + \mathrm{Attn}(\mathrm{LN}_q(h), \mathrm{LN}_m(m_{\le t})),
        \qquad h \leftarrow h + \mathrm{FF}(\mathrm{LN}_f(h)),

    which is what :class:`nn.TransformerEncoderLayer` (``norm_first=True``)
    and :class:`~models.attention_blocks.CrossAttentionLayer` compute for the
    last row under a causal mask at evaluation. The groups' weights are
    stacked once, here, so that one batched op serves every group: the blocks
    are a snapshot of the layers' weights when built.

    Args:
        layers (Sequence[nn.Module]): One layer per group, all of one class
            and shape.
        where (str): The layers' name, for messages.

    Shapes:
        - **input:** new rows :math:`(G, 1, D)` and, for cross-attention,
          the sources' new rows :math:`(G, 1, D)`
        - **output:** :math:`(G, 1, D)`
    """

    def __init__(self, layers: Sequence[nn.Module], where: str) -> None:
        parts = [block_parts(layer, f"{where}[{g}]") for g, layer in enumerate(layers)]
        first = parts[0]
        self.cross = first["norm_memory"] is not None
        self.heads = first["attention"].num_heads
        self.activation = first["activation"]
        self.eps = first["norm_query"].eps
        norms = [p[n] for p in parts for n in ("norm_query", "norm_memory", "norm_ff")
                 if p[n] is not None]
        # block_parts has checked that they are affine; the normalisation
        # here is shared by all of them.
        if any(n.eps != self.eps for n in norms):
            raise NotImplementedError(f"{where}: streaming needs LayerNorms of one eps")

        with torch.no_grad():
            dim = first["attention"].embed_dim
            in_w = [p["attention"].in_proj_weight for p in parts]
            in_b = [p["attention"].in_proj_bias for p in parts]
            norm_query = [p["norm_query"] for p in parts]
            if self.cross:  # queries and keys/values come from different rows
                self.q = self._linear([w[:dim] for w in in_w], [b[:dim] for b in in_b],
                                      norm_query)
                self.kv = self._linear([w[dim:] for w in in_w], [b[dim:] for b in in_b],
                                       [p["norm_memory"] for p in parts])
            else:
                self.qkv = self._linear(in_w, in_b, norm_query)
            self.out = self._linear([p["attention"].out_proj.weight for p in parts],
                                    [p["attention"].out_proj.bias for p in parts])
            self.ff_in = self._linear([p["ff_in"].weight for p in parts],
                                      [p["ff_in"].bias for p in parts],
                                      [p["norm_ff"] for p in parts])
            self.ff_out = self._linear([p["ff_out"].weight for p in parts],
                                       [p["ff_out"].bias for p in parts])

    @staticmethod
    def _linear(weights: list[Tensor], biases: list[Tensor],
                norms: list[nn.LayerNorm] | None = None) -> tuple[Tensor, Tensor]:
        r"""Stacked :obj:`[G, in, out]` weights and :obj:`[G, 1, out]` biases
        for ``baddbmm``. A LayerNorm's affine map before the linear layer is
        folded in, :math:`W(\hat x \odot w + b) + c = (W \,\mathrm{diag}(w))
        \hat x + (W b + c)`, computed in float64: one op less per norm, and
        the same values to float32 rounding."""
        stacked_w, stacked_b = [], []
        for g, (w, c) in enumerate(zip(weights, biases)):
            w, c = w.detach().double(), c.detach().double()
            if norms is not None:
                scale, shift = norms[g].weight.detach().double(), norms[g].bias.detach().double()
                w, c = w * scale, c + w @ shift
            stacked_w.append(w.t().float())
            stacked_b.append(c.float())
        return (torch.stack(stacked_w).contiguous(), torch.stack(stacked_b).unsqueeze(1))

    def _normalise(self, x: Tensor) -> Tensor:
        # The affine part lives in the next projection (see _linear).
        return F.layer_norm(x, x.shape[-1:], eps=self.eps)

    @staticmethod
    def _apply(x: Tensor, linear: tuple[Tensor, Tensor]) -> Tensor:
        return torch.baddbmm(linear[1], x, linear[0])

    def step(self, x: Tensor, history: _History, key: str,
             memory: Tensor | None = None) -> Tensor:
        groups, _, dim = x.shape
        heads = self.heads
        head_dim = dim // heads
        query = self._normalise(x)
        if self.cross:
            q = self._apply(query, self.q)
            kv = self._apply(self._normalise(memory), self.kv)
        else:
            qkv = self._apply(query, self.qkv)
            q, kv = qkv[..., :dim], qkv[..., dim:]
        # Turns on the second-last axis, [G, 2, heads, T, head_dim], the
        # layout attention reads without a copy.
        cache = history.put(key, kv.reshape(groups, 2, heads, head_dim), dim=3)
        attended = F.scaled_dot_product_attention(
            q.reshape(groups, heads, 1, head_dim), cache[:, 0], cache[:, 1])
        x = x + self._apply(attended.view(groups, 1, dim), self.out)
        h = self.activation(self._apply(self._normalise(x), self.ff_in))
        return x + self._apply(h, self.ff_out)


# -- RT-GCN for the newest turn ---------------------------------------------
def _relational_rows(conv: RGCNConv, x: Tensor, targets: Tensor, source: Tensor,
                     target: Tensor, edge_type: Tensor) -> Tensor:
    r"""What ``RGCNConv`` computes for the :obj:`T` target nodes only: for
    each, the mean message of every relation over its in-edges, summed, plus
    the root transform. Edges run from ``x[source]`` to ``targets[target]``.

    The messages are linear, so the inputs are averaged per (target,
    relation) first and each relation's weight applied once, as one matrix
    product over (relation, input) pairs: :math:`\sum_r \bar x_{t,r} W_r`.

    Shapes:
        - **input:** x :math:`(N, F)`, targets :math:`(T, F)`, source,
          target and edge_type :math:`(E)`
        - **output:** :math:`(T, O)`
    """
    weight = conv.weight
    if conv.num_bases is not None:
        weight = (conv.comp @ weight.view(conv.num_bases, -1)).view(
            conv.num_relations, conv.in_channels_l, conv.out_channels)
    num_targets, relations = targets.size(0), conv.num_relations
    cells = num_targets * relations
    cell = target * relations + edge_type
    summed = x.new_zeros(cells, x.size(1)).index_add_(0, cell, x[source])
    # An empty cell sums to zero and stays zero: it sends no message.
    count = torch.bincount(cell, minlength=cells).clamp_(min=1).unsqueeze(1)
    mean = (summed / count.to(summed.dtype)).view(num_targets, -1)  # [T, R * F]
    out = mean @ weight.reshape(-1, conv.out_channels)
    if conv.root is not None:
        out = out + targets @ conv.root
    return out + conv.bias if conv.bias is not None else out


def _attention_rows(conv: TransformerConv, x: Tensor, targets: Tensor, source: Tensor,
                    target: Tensor) -> Tensor:
    r"""What ``TransformerConv`` (heads concatenated, skip connection, no
    edge features or gate) computes for the :obj:`T` target nodes only.
    A target without in-edges gets its skip connection alone, as in
    message passing.

    Shapes:
        - **input:** x :math:`(N, F)`, targets :math:`(T, F)`, source and
          target :math:`(E)`
        - **output:** :math:`(T, heads \cdot C)`
    """
    heads, channels = conv.heads, conv.out_channels
    x_source = x[source]
    query = conv.lin_query(targets).view(-1, heads, channels)[target]
    key = conv.lin_key(x_source).view(-1, heads, channels)
    value = conv.lin_value(x_source).view(-1, heads, channels)
    score = (query * key).sum(-1) / math.sqrt(channels)
    alpha = pyg_softmax(score, target, num_nodes=targets.size(0))
    out = value.new_zeros(targets.size(0), heads, channels).index_add(
        0, target, alpha.unsqueeze(-1) * value)
    return out.view(targets.size(0), heads * channels) + conv.lin_skip(targets)


# -- the incremental backbone ---------------------------------------------
class IncrementalCORECT:
    r"""A causal :class:`CORECT` run forward one utterance at a time.

    Holds one live dialogue: per-layer key/value caches of every attention
    block (sequence encoders, P-CM cross- and self-attention) and, for
    RT-GCN, the input and ``RGCNConv`` output of every node, which are what
    the new nodes' neighbours contribute. Each step builds the graph on the
    dialogue's last :func:`graph_horizon` turns only, keeps the in-edges of
    the newest turn, and runs the model's ``RGCNConv`` then
    ``TransformerConv`` on that subgraph. Attention blocks run on stacked
    copies of their layers' weights (see :class:`_AttentionBlocks`): build
    a new instance after changing the model's weights.

    Args:
        model (CORECT): A model with a causal builder, in eval mode.

    Shapes:
        - **input:** one feature row per modality :math:`(1, F_m)` and the
          utterance's local speaker id
        - **output:** logits :math:`(C)`
    """

    def __init__(self, model: CORECT) -> None:
        if not model.causal:
            raise ValueError(not_causal_message(repr(model.builder)))
        if model.training:
            raise ValueError("IncrementalCORECT needs the model in eval mode: dropout "
                             "and BatchNorm batch statistics mix or drop turns")
        self.model = model
        self.horizon = graph_horizon(model.builder)
        self.history = _History()
        self.speakers: list[int] = []
        # Each speaker's latest committed turn, where their speaker-GRU state is.
        self._last_turn: dict[int, int] = {}
        self._graph_memo: dict[tuple[int, ...], tuple[Tensor, Tensor, Tensor]] = {}
        self._memo_device: torch.device | None = None
        self._positions: Tensor | None = None
        transformers = {f"encoders.{m}.encoder": encoder.encoder
                        for m, encoder in model.encoders.items()
                        if isinstance(encoder, SequenceEncoder)}
        if model.crossmodal is not None:
            transformers.update({f"crossmodal.self_attention.{m}": stack for m, stack
                                 in model.crossmodal.self_attention.items()})
        for where, stack in transformers.items():
            if stack.norm is not None:
                # Our modules never build one; the batched P-CM would not
                # apply it either.
                raise NotImplementedError(f"{where}: streaming supports no final "
                                          "TransformerEncoder norm")
        grus = {f"encoders.{m}": e for m, e in model.encoders.items()
                if isinstance(e, GRUEncoder)}
        grus.update({f"speaker_encoders.{m}": e
                     for m, e in (model.speaker_encoders or {}).items()})
        for where, encoder in grus.items():
            if encoder.bidirectional:
                # CORECT builds one only for a non-causal graph.
                raise ValueError(f"{where}: a bidirectional GRU cannot stream")
        self._sequence = {
            m: [_AttentionBlocks([layer], f"encoders.{m}.encoder.layers.{i}")
                for i, layer in enumerate(encoder.encoder.layers)]
            for m, encoder in model.encoders.items() if isinstance(encoder, SequenceEncoder)}
        crossmodal = model.crossmodal
        if crossmodal is not None:
            # Pairs are target-major, so each target's cross outputs are
            # consecutive groups, in source order: P-CM's concatenation.
            self._cross = [
                _AttentionBlocks([crossmodal.cross[f"{src}->{dst}"][i]
                                  for src, dst in crossmodal.pairs], f"crossmodal.cross.*.{i}")
                for i in range(len(crossmodal.cross[next(iter(crossmodal.cross))]))]
            stacks = [crossmodal.self_attention[m] for m in crossmodal.modalities]
            self._self = [
                _AttentionBlocks([stack.layers[i] for stack in stacks],
                                 f"crossmodal.self_attention.*.layers.{i}")
                for i in range(len(stacks[0].layers))]
        rtgcn = model.rtgcn
        if rtgcn is not None and (
                rtgcn.relational.num_blocks is not None or rtgcn.relational.aggr != "mean"
                or rtgcn.attention.lin_edge is not None or rtgcn.attention.lin_beta is not None
                or not rtgcn.attention.concat or not rtgcn.attention.root_weight):
            raise NotImplementedError(
                "rtgcn: streaming supports RGCNConv with mean aggregation and no block "
                "decomposition, and TransformerConv with concat=True, a skip connection, "
                "no edge_dim and no beta only")

    @property
    def length(self) -> int:
        """Utterances of the live dialogue so far."""
        return self.history.length

    def reset(self) -> None:
        """Forget the live dialogue."""
        self.history.clear()
        self.speakers = []
        self._last_turn.clear()

    def step(self, features: Mapping[str, Tensor], speaker: int) -> Tensor:
        """Logits :obj:`[C]` of the next utterance. Inputs are trusted
        (see :class:`StreamingPredictor` for validation); the caches only
        advance when the whole step succeeds."""
        # Dropout is the identity in eval mode (checked when built), so the
        # model's dropout calls are skipped.
        model = self.model
        weight = model.speaker_embedding.weight
        spoken = weight[speaker:speaker + 1]
        states = {m: self._encode(m, x if x.device == weight.device else x.to(weight.device),
                                  speaker)
                  + spoken for m, x in ((m, features[m]) for m in model.modalities)}
        parts = [self._graph(states, speaker) if model.rtgcn is not None
                 else torch.cat([states[m] for m in model.modalities], -1)]
        if model.crossmodal is not None:
            parts.append(self._crossmodal(states))
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
        elif modality not in self._sequence:
            return encoder(x)
        else:
            h = encoder.project(x)
            h = (h + self._position(h.size(-1), h.device)).unsqueeze(0)
            for i, blocks in enumerate(self._sequence[modality]):
                h = blocks.step(h, self.history, f"sequence/{modality}/{i}")
            h = encoder.norm(h[0])
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
        out, state = encoder.gru(encoder.norm(x).unsqueeze(0), previous)
        self.history.put(key, state)
        return out[0]

    def _position(self, dim: int, device: torch.device) -> Tensor:
        """Sinusoidal encoding :obj:`[1, dim]` of the current turn, from a
        table that doubles when outgrown (the same values as computing
        each row on its own: the encoding is elementwise)."""
        t = self.history.length
        table = self._positions
        if table is None or table.size(0) <= t or table.size(1) != dim:
            table = sinusoidal_positions(torch.arange(max(64, 2 * t), device=device), dim)
            self._positions = table
        return table[t:t + 1]

    def _local_edges(self, start: int, speaker: int,
                     device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        """In-edges of the newest turn in the graph of turns ``start..now``,
        on :obj:`device`: their sources, numbered as in that graph (node
        ``m * L + u``), their targets' modalities (the rows of the newest
        turn's nodes) and their relations. Memoised on :obj:`device`, so a
        repeated speaker pattern costs no copy."""
        speakers = (*self.speakers[start:], speaker)
        memo = self._graph_memo if self.horizon is not None else None
        if memo is not None:
            if self._memo_device != device:  # the model moved
                memo.clear()
                self._memo_device = device
            edges = memo.get(speakers)
            if edges is not None:
                return edges
        length = len(speakers)
        tail = DialogueBatch([length], speakers, self.model.modalities)
        graph = self.model.builder(tail)
        keep = graph.edge_index[1] % length == length - 1
        edge_index = graph.edge_index[:, keep].to(device)
        edges = edge_index[0], edge_index[1] // length, graph.edge_type[keep].to(device)
        if memo is not None:
            if len(memo) >= GRAPH_MEMO_SIZE:
                memo.clear()
            memo[speakers] = edges
        return edges

    def _graph(self, states: dict[str, Tensor], speaker: int) -> Tensor:
        model, rtgcn = self.model, self.model.rtgcn
        t = self.history.length
        start = 0 if self.horizon is None else max(0, t - self.horizon)
        source, target, edge_type = self._local_edges(
            start, speaker, states[model.modalities[0]].device)
        new = torch.cat([states[m] for m in model.modalities])  # [M, H]

        def nodes(key: str, rows: Tensor) -> Tensor:
            # Turns start..t of every modality, modality-major like the tail
            # graph: the cache keeps turns on axis 1, [M, T, H].
            tail = self.history.put(key, rows, dim=1)[:, start:]
            return tail.reshape(-1, rows.size(-1))

        # Both layers are evaluated for the newest turn's nodes only (the
        # targets of every edge here); older nodes' outputs come from the
        # cache, and the weights are read once per push.
        h = _relational_rows(rtgcn.relational, nodes("graph/input", new), new,
                             source, target, edge_type)
        h = _attention_rows(rtgcn.attention, nodes("graph/relational", h), h,
                            source, target)
        return rtgcn.act(rtgcn.norm(h)).reshape(1, -1)

    def _crossmodal(self, states: dict[str, Tensor]) -> Tensor:
        crossmodal = self.model.crossmodal
        num_modalities = len(crossmodal.modalities)
        pairs = crossmodal.pairs
        h = torch.stack([states[dst] for _, dst in pairs])  # [P, 1, H]
        memory = torch.stack([states[src] for src, _ in pairs])
        for i, blocks in enumerate(self._cross):
            h = blocks.step(h, self.history, f"cross/{i}", memory)
        h = h.reshape(num_modalities, 1, -1)  # each target's cross outputs, concatenated
        for i, blocks in enumerate(self._self):
            h = blocks.step(h, self.history, f"self/{i}")
        return h.reshape(1, -1)


# -- the public predictor -------------------------------------------------
class StreamingPredictor:
    r"""Emotion predictions for a live dialogue, one utterance at a time.

    Speakers may be any hashable ids; they get local ids 0, 1, ... in order
    of first appearance, as in training
    (:func:`dialogues.dialogue.local_speaker_ids`). A push that is refused
    (wrong modalities or dimension, non-finite values, one speaker too many)
    raises before anything changes. The attention weights are copied into
    stacked form when the predictor is built: build a new one after
    changing the model's weights.

    Args:
        model (CORECT): The backbone; its builder must be causal. It is put
            in eval mode.
        labels (Sequence[str]): Label names, in logit order.
        text_encoder (TextEncoder, optional): ``encode(texts) -> [n, dim]``
            for :obj:`push(..., text=...)`. By default the sentence encoder
            named by :obj:`encoder_name` is loaded on the first text push
            (needs ``pip install 'ergraph[text]'``).
        encoder_name (str, optional): The sentence-transformers model the
            text features were made with (``encoder`` in ``dataset.yaml``).

    Example:
        >>> predictor = StreamingPredictor(model, ["happy", "sad"])
        >>> prediction = predictor.push("ann", {"text": torch.randn(384)})
        >>> prediction.label, prediction.probability, prediction.latency_ms
    """

    def __init__(self, model: CORECT, labels: Sequence[str], *,
                 text_encoder: TextEncoder | None = None,
                 encoder_name: str | None = None) -> None:
        labels = [str(label) for label in labels]
        if len(labels) != model.config.num_classes:
            raise ValueError(f"got {len(labels)} label names for a model with "
                             f"{model.config.num_classes} classes")
        # Refuses a model that is not causal.
        self._backbone = IncrementalCORECT(model.eval())
        self.model = model
        self.labels = labels
        self.encoder_name = encoder_name
        self._text_encoder = text_encoder
        self._speaker_ids: dict[Hashable, int] = {}

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *,
                        text_encoder: TextEncoder | None = None,
                        registry=None) -> "StreamingPredictor":
        """Load a checkpoint written by a run (``RUN/checkpoint.pt``).

        Args:
            path (str or PathLike): The checkpoint.
            text_encoder (TextEncoder, optional): Replaces the sentence
                encoder named in the checkpoint's dataset metadata.
            registry (EdgeBuilderRegistry, optional): Where the graph's
                builder is looked up. (default: the default registry)

        Raises:
            ValueError: The checkpoint's graph is not causal.
        """
        checkpoint = load_checkpoint(path)
        model = checkpoint.build(registry)
        if not model.causal:
            graph = checkpoint.graph
            raise ValueError(f"{path}: " + not_causal_message(
                f"{graph.get('name')!r} {dict(graph.get('params', {}))}"))
        dataset = checkpoint.metadata.get("dataset") or {}
        return cls(model, checkpoint.labels, text_encoder=text_encoder,
                   encoder_name=dataset.get("encoder") if isinstance(dataset, dict)
                   else None)

    @property
    def turn(self) -> int:
        """Utterances pushed since the last :meth:`reset`."""
        return self._backbone.length

    @property
    def speakers(self) -> dict[Hashable, int]:
        """Local id of every speaker of the live dialogue."""
        return dict(self._speaker_ids)

    @property
    def modalities(self) -> list[str]:
        return list(self.model.modalities)

    def reset(self) -> None:
        """Start a new dialogue."""
        self._backbone.reset()
        self._speaker_ids = {}

    def push(self, speaker: Hashable, features: Mapping[str, Any] | None = None, *,
             text: str | None = None) -> Prediction:
        r"""Add one utterance to the live dialogue and predict its label.

        Args:
            speaker (Hashable): Who spoke.
            features (Mapping[str, array-like], optional): One vector of
                shape :obj:`[F_m]` (or :obj:`[1, F_m]`) per modality of the
                model, exactly those modalities.
            text (str, optional): The utterance's text, embedded with the
                text encoder in place of :obj:`features["text"]`.

        Returns:
            Prediction: The utterance's label, probabilities and logits.

        Raises:
            ValueError: The inputs do not fit the model; nothing changed.
        """
        started = time.perf_counter()
        try:
            speaker_id = self._speaker_ids.get(speaker)
        except TypeError:
            raise TypeError(f"speaker {speaker!r} is not hashable") from None
        if speaker_id is None:
            speaker_id = len(self._speaker_ids)
            limit = self.model.config.max_speakers
            if speaker_id >= limit:
                raise ValueError(
                    f"speaker {speaker!r} would be speaker {speaker_id + 1} of this "
                    f"dialogue, but the model was sized for max_speakers={limit} "
                    f"(speakers so far: {list(self._speaker_ids)})")
        inputs = self._inputs(features, text)
        with torch.inference_mode():
            logits = self._backbone.step(inputs, speaker_id)
            probabilities = logits.softmax(-1)
        self._speaker_ids.setdefault(speaker, speaker_id)
        best = int(probabilities.argmax())
        return Prediction(
            turn=self._backbone.length - 1, speaker=speaker, label=self.labels[best],
            probabilities=dict(zip(self.labels, probabilities.tolist())),
            logits=logits, latency_ms=1e3 * (time.perf_counter() - started))

    # -- validation ---------------------------------------------------------
    def _inputs(self, features: Mapping[str, Any] | None, text: str | None
                ) -> dict[str, Tensor]:
        dims = self.model.config.modalities
        if features is not None and not isinstance(features, Mapping):
            raise TypeError(f"features must map modality names to vectors, got "
                            f"{type(features).__name__}")
        given = dict(features or {})
        if text is not None:
            if not isinstance(text, str):
                raise TypeError(f"text must be a str, got {type(text).__name__}")
            if TEXT not in dims:
                raise ValueError(f"text= needs a model with a {TEXT!r} modality; this "
                                 f"one has {list(dims)}")
            if TEXT in given:
                raise ValueError(f"give the {TEXT!r} modality as features or as text=, "
                                 "not both")
        supplied = set(given) | ({TEXT} if text is not None else set())
        if supplied != set(dims):
            missing = [m for m in dims if m not in supplied]
            extra = sorted(map(str, set(given) - set(dims)))
            raise ValueError(
                f"push needs exactly the model's modalities {list(dims)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else ""))
        inputs = {m: self._vector(m, value, dims[m], "features")
                  for m, value in given.items()}
        if text is not None:
            inputs[TEXT] = self._vector(TEXT, self._embed(text), dims[TEXT],
                                        "the text encoder's embedding")
        return inputs

    def _vector(self, modality: str, value: Any, dim: int, what: str) -> Tensor:
        try:
            x = torch.as_tensor(value, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"{modality!r} {what} are not a numeric vector: "
                             f"{error}") from None
        if x.dim() == 2 and x.size(0) == 1:
            x = x[0]
        if x.dim() != 1 or x.numel() != dim:
            raise ValueError(f"{modality!r} {what} have shape {list(x.shape)}; the "
                             f"model expects a vector of dimension {dim}")
        # One reduction on the common path; a non-finite sum (a NaN or inf,
        # or an overflow) gets the elementwise check.
        if not math.isfinite(x.sum().item()):
            finite = torch.isfinite(x)
            if not bool(finite.all()):
                i = int((~finite).nonzero()[0])
                raise ValueError(f"{modality!r} {what} hold {float(x[i])} at index {i}; "
                                 "values must be finite")
        return x.view(1, dim)

    @property
    def text_encoder(self) -> TextEncoder:
        """The encoder of :obj:`push(..., text=...)`: the one given, else the
        sentence encoder named by :attr:`encoder_name`, loaded on first use.

        Raises:
            ValueError: No encoder was given and none is named.
            ImportError: The ``ergraph[text]`` extra is not installed.
        """
        if self._text_encoder is None:
            if not self.encoder_name:
                raise ValueError(
                    "the checkpoint's dataset metadata names no sentence encoder (key "
                    "'encoder' in dataset.yaml); pass text_encoder= or push "
                    f"features[{TEXT!r}] instead of text=")
            self._text_encoder = sentence_encoder(self.encoder_name)
        return self._text_encoder

    def _embed(self, text: str) -> Any:
        return self.text_encoder([text])
