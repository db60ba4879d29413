"""The CORECT backbone, shared by every topology: offline over whole
dialogues (:meth:`CORECT.forward`) and live, one turn of many dialogues
at a time (:meth:`CORECT.step`)."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from graphs import DialogueBatch, DialogueGraph, EdgeBuilder, GraphBuildError

from .config import ModelConfig
from .crossmodal import PairwiseCrossModal
from .dialogue_state import DialogueState, Push
from .encoders import GRUEncoder, MLPEncoder, SequenceEncoder
from .heads import HEADS, Head
from .rtgcn import RTGCN
from .speaker_gru import SpeakerGRU

# Enough distinct speaker patterns of a bounded tail for any real dialogue;
# past it the memo starts over rather than grow without bound.
GRAPH_MEMO_SIZE = 4096


class CORECT(nn.Module):
    r"""CORECT (EMNLP 2023) with a pluggable graph.

    unimodal encoders + speaker embedding → RT-GCN over the builder's
    (utterance × modality) graph, and P-CM over the encoder outputs →
    concatenation → MLP classifier.

    **Causal end to end.** When the builder is causal (:attr:`causal`), the
    transformer encoders and every P-CM attention block mask later turns, a
    GRU encoder runs forward only (bidirectional otherwise), RT-GCN only
    follows the causal edges, and nothing else mixes turns (BatchNorm uses
    running statistics at evaluation), so a turn's logits never depend on a
    later turn.

    Differences from CORECT's code, all on purpose: temporal edges follow
    the receiving side (:class:`graphs.WindowEdges` maps CORECT's flags);
    the text transformer and P-CM use a padding mask; by default the text
    transformer runs in the hidden width, with sinusoidal positions;
    speaker ids are local to each dialogue so multi-party corpora work;
    with ``graph=none`` (no relations) or ``gnn=False`` the RT-GCN is
    skipped and the encoders feed the classifier;
    ``speaker_gru`` (off by default) adds a GRU over each speaker's own turns.
    The :class:`ModelConfig` fields after ``crossmodal`` turn the encoders,
    P-CM blocks and dropout back to CORECT's own (``model=corect_paper``;
    see ``docs/corect-paper.md``).

    **Content-reading builders.** The graph is built from the batch's
    structure and annotations plus whatever the builder
    :meth:`~graphs.EdgeBuilder.reads`: input features, or the utterance
    states after the unimodal encoders (detached; the topology follows the
    model, gradients do not flow through it). Edge weights reach RT-GCN.

    **Live.** :meth:`step` runs a causal model forward one utterance of
    :obj:`K` live dialogues at a time, each dialogue's caches in its own
    :class:`~models.dialogue_state.DialogueState`, every layer in its
    incremental form (each beside its offline one) and once for all
    :obj:`K`; its logits equal :meth:`forward`'s on the whole dialogues.

    **Heads.** :attr:`head` (:mod:`models.heads`, ``config.head`` by name)
    says what the classifier's outputs are and how they train: one logit
    per class (``"classification"``) or one score whose class comes through
    the corpus's score view (``"regression"``). It holds no weights; it
    sizes the classifier's last layer.

    Args:
        config (ModelConfig): Sizes and switches.
        builder (EdgeBuilder): The topology; its relations size ``RGCNConv``.

    Shapes:
        - **input:** a :class:`graphs.DialogueBatch` with per-modality
          features :math:`(U, F_m)` packed dialogue by dialogue
        - **output:** the head's outputs :math:`(U, O)`: logits
          :math:`(U, C)`, or scores :math:`(U, 1)` with the regression head
    """

    def __init__(self, config: ModelConfig, builder: EdgeBuilder) -> None:
        super().__init__()
        self.config = config
        self.builder = builder
        self.modalities = list(config.modalities)
        self.relations = builder.relations(self.modalities)
        self.reads = builder.reads(self.modalities)
        unknown = [m for m in self.reads.features + self.reads.states
                   if m not in self.modalities]
        if unknown:
            raise ValueError(f"edge builder {builder!r} reads modalities {unknown}, but the "
                             f"model has {self.modalities}")
        h = config.hidden
        self.encoders = nn.ModuleDict({
            m: (self._sequence_encoder(dim) if m in config.sequence_modalities
                else MLPEncoder(dim, h, config.dropout_at("mlp"),
                                input_norm=config.input_norm,
                                output_relu=config.mlp_output_relu))
            for m, dim in config.modalities.items()})
        self.speaker_encoders: nn.ModuleDict | None = None
        if config.speaker_gru:
            self.speaker_encoders = nn.ModuleDict({
                m: SpeakerGRU(config.modalities[m], h, config.dropout_at("sequence"),
                              bidirectional=not builder.causal,
                              input_norm=config.input_norm)
                for m in config.sequence_modalities if m in config.modalities})
        self.speaker_embedding = nn.Embedding(config.max_speakers, h)
        self.rtgcn = (RTGCN(h, len(self.relations), config.gnn_heads)
                      if config.gnn and self.relations else None)
        self.crossmodal = (PairwiseCrossModal(
            self.modalities, h, config.crossmodal_layers, config.crossmodal_heads,
            config.self_attention_layers, config.self_attention_heads,
            config.crossmodal_dropout, ff=config.crossmodal_ff,
            shared_norm=config.crossmodal_shared_norm,
            final_norm=config.crossmodal_final_norm, scale=config.crossmodal_scale)
            if config.uses_crossmodal else None)
        node_dim = self.rtgcn.out_dim if self.rtgcn is not None else h
        in_dim = node_dim * len(self.modalities) + (
            self.crossmodal.out_dim if self.crossmodal is not None else 0)
        self.head: Head = HEADS[config.head](config)
        self.classifier = nn.Sequential(
            nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(config.dropout_at("classifier")),
            nn.Linear(h, self.head.outputs))
        # On RT-GCN's input and on the classifier's, where dropout_sites say.
        self.dropout = nn.Dropout(config.dropout)
        self._drop_graph_input = "graph" in config.dropout_sites
        self._drop_classifier_input = "classifier_input" in config.dropout_sites
        # step()'s in-edges of a structure-only builder, by speaker pattern:
        # the same for every live dialogue.
        self._edge_memo: dict[tuple[int, ...], tuple[Tensor, ...]] = {}
        self._edge_memo_device: torch.device | None = None

    def _sequence_encoder(self, dim: int) -> nn.Module:
        config = self.config
        dropout = config.dropout_at("sequence")
        if config.sequence_encoder == "gru":
            return GRUEncoder(dim, config.hidden, config.sequence_layers, dropout,
                              bidirectional=not self.builder.causal,
                              input_norm=config.input_norm)
        return SequenceEncoder(dim, config.hidden, config.sequence_layers,
                               config.sequence_heads, dropout,
                               width=config.sequence_width, ff=config.sequence_ff,
                               norm_first=config.sequence_norm_first,
                               positions=config.sequence_positions,
                               input_norm=config.input_norm,
                               output_norm=config.sequence_output_norm)

    @property
    def causal(self) -> bool:
        """Whether no prediction can depend on a later turn."""
        return self.builder.causal

    def graph(self, batch: DialogueBatch,
              states: dict[str, Tensor] | None = None) -> DialogueGraph:
        """The graph the model runs on for :obj:`batch`: the one place that
        builds it, used by :meth:`forward`, the runner, latency and
        drawings. When the builder reads encoder states and none are given,
        the batch is encoded first (without gradients: the builder sees
        states detached). The builder is handed only what it reads, never
        the labels.

        Built on CPU: builders are plain index arithmetic on small tensors,
        which the host does faster than a launch per op, and third-party
        builders need not handle devices. :meth:`forward` moves the edges
        to the model.

        Args:
            batch (DialogueBatch): The batch, with the features the model
                (and the builder) reads.
            states (dict[str, Tensor], optional): The batch's encoder states
                :math:`(U, H)` per modality (:meth:`encode`), when the
                caller has them already.

        Raises:
            GraphBuildError: The builder failed; the message names it and
                keeps its own error.
        """
        if self.reads.states and states is None:
            with torch.no_grad():
                states, _ = self.encode(batch)
        content = {}
        if self.reads.features:
            content["features"] = {m: batch.features[m].detach()
                                   for m in self.reads.features if m in batch.features}
        if self.reads.states:
            content["states"] = {m: states[m].detach()
                                 for m in self.reads.states if m in states}
        try:
            # Only what the builder reads crosses to the host; never labels.
            seen = (batch.with_content(**content) if content else batch).restricted(
                self.reads, f"edge builder {self.builder!r}")
            seen = seen if seen.device.type == "cpu" else seen.to("cpu")
            return self.builder(seen)
        except Exception as error:  # third-party code: keep its message, name the builder
            raise GraphBuildError(f"edge builder {self.builder!r} failed on a batch of "
                                  f"{batch.num_dialogues} dialogues: "
                                  f"{type(error).__name__}: {error}") from error

    def _on_device(self, batch: DialogueBatch) -> DialogueBatch:
        """:obj:`batch` on the model's device; itself when it is there
        already (a batch moved with ``DialogueBatch.to``, or both on CPU)."""
        device = self.speaker_embedding.weight.device
        return batch if batch.device == device else batch.to(device)

    def encode(self, batch: DialogueBatch) -> tuple[dict[str, Tensor], Tensor]:
        """Per-modality utterance states :math:`(U, H)` with speakers added,
        and the padding mask :math:`(B, T)` of the dialogue layout.

        Args:
            batch (DialogueBatch): The batch, with features :math:`(U, F_m)`
                of every modality of the model.
        """
        batch = self._on_device(batch)
        device = batch.device
        utterance_dialogue, speakers = batch.utterance_dialogue, batch.speakers
        top_speaker = int(speakers.max())  # one host read
        if top_speaker >= self.config.max_speakers:
            raise ValueError(
                f"a dialogue has speaker id {top_speaker}, but the "
                f"model was sized for max_speakers={self.config.max_speakers}")
        speaker = self.speaker_embedding(speakers)
        states, padding = {}, None
        for m in self.modalities:
            x = batch.features[m].to(device)
            if m in self.config.sequence_modalities:
                dense, mask = to_dense_batch(x, utterance_dialogue,
                                             batch_size=batch.num_dialogues)
                padding = ~mask
                h = self.encoders[m](dense, padding, self.causal)[mask]
                if self.speaker_encoders is not None:
                    h = h + self.speaker_encoders[m](x, utterance_dialogue, speakers,
                                                     self.causal)
            else:
                h = self.encoders[m](x)
            states[m] = h + speaker
        if padding is None:
            _, mask = to_dense_batch(speaker, utterance_dialogue,
                                     batch_size=batch.num_dialogues)
            padding = ~mask
        return states, padding

    def forward(self, batch: DialogueBatch, graph: DialogueGraph | None = None) -> Tensor:
        """Logits :math:`(U, C)` (or scores :math:`(U, 1)`) of every
        utterance of :obj:`batch`.

        Args:
            batch (DialogueBatch): The batch, with features :math:`(U, F_m)`
                of every modality of the model; its labels are not read.
            graph (DialogueGraph, optional): The graph to run on, as
                :meth:`graph` builds it; built from this pass's encoder
                states when not given.
        """
        missing = [m for m in self.modalities if m not in batch.features]
        if missing:
            raise ValueError(f"the batch lacks features of modalities {missing}; the "
                             f"model uses {self.modalities}")
        placed = self._on_device(batch)
        states, padding = self.encode(placed)
        parts = []
        if self.rtgcn is not None:
            if graph is None:
                graph = self.graph(batch, states)
            # A graph built on CPU (or given) may still need the move.
            device = placed.device
            nodes = torch.cat([states[m] for m in self.modalities])
            weight = (graph.edge_weight.to(device, nodes.dtype)
                      if graph.edge_weight is not None else None)
            if self._drop_graph_input:
                nodes = self.dropout(nodes)
            out = self.rtgcn(nodes, graph.edge_index.to(device),
                             graph.edge_type.to(device), placed.node_dialogue, weight)
            # Modality-major nodes back to one row per utterance.
            parts.append(out.view(len(self.modalities), batch.num_utterances, -1)
                         .transpose(0, 1).flatten(1))
        else:
            parts.append(torch.cat([states[m] for m in self.modalities], -1))
        if self.crossmodal is not None:
            parts.append(self.crossmodal(states, padding, self.causal))
        joined = torch.cat(parts, -1)
        if self._drop_classifier_input:
            joined = self.dropout(joined)
        return self.classifier(joined)

    @property
    def step_horizon(self) -> int | None:
        """Turns back that :meth:`step` builds the graph over: the builder's
        :attr:`~graphs.EdgeBuilder.horizon`, or :obj:`None` for the whole
        prefix.

        Raises:
            ValueError: The builder declares something else.
        """
        horizon = self.builder.horizon
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int)
                                    or horizon < 0):
            raise ValueError(f"{self.builder!r} declares horizon={horizon!r}; it must "
                             "be a non-negative int or None (unbounded)")
        return horizon

    def check_steppable(self) -> None:
        """Refuse what :meth:`step` cannot run exactly, naming the part,
        and prepare every layer's incremental form (stacked weights).

        Raises:
            ValueError: The builder is not causal or declares a bad horizon,
                the model is in training mode, or a GRU is bidirectional.
            NotImplementedError: A layer has settings the incremental forms
                do not reproduce.
        """
        if not self.causal:
            raise ValueError(f"CORECT.step needs a causal builder; {self.builder!r} "
                             "reads later turns")
        if self.training:
            raise ValueError("CORECT.step needs the model in eval mode: dropout and "
                             "BatchNorm batch statistics mix or drop turns")
        self.step_horizon  # noqa: B018 - validates
        grus = {f"encoders.{m}": e for m, e in self.encoders.items()
                if isinstance(e, GRUEncoder)}
        grus.update({f"speaker_encoders.{m}": e
                     for m, e in (self.speaker_encoders or {}).items()})
        for where, encoder in grus.items():
            if encoder.bidirectional:
                # CORECT builds one only for a non-causal graph.
                raise ValueError(f"{where}: a bidirectional GRU cannot stream")
        for m, encoder in self.encoders.items():
            if isinstance(encoder, SequenceEncoder):
                encoder.stacked(f"encoders.{m}")
        if self.crossmodal is not None:
            self.crossmodal.stacked()
        if self.rtgcn is not None:
            self.rtgcn.check_steppable()

    def step(self, states: Sequence[DialogueState], pushes: Sequence[Push]) -> Tensor:
        r"""The logits of the next utterance of each of :obj:`K` live
        dialogues of a causal model at evaluation, every layer once for all
        of them: the encoders and P-CM take the new rows stacked, each
        dialogue's key/value cache padded to the longest and masked, GRU
        states stacked; the two RT-GCN layers take the new nodes as targets
        and each dialogue's cached tail as sources. Only the graph's
        in-edges of the new turn, which depend on each dialogue's own
        speakers and content, are built dialogue by dialogue, on its last
        :attr:`step_horizon` turns (memoised by speaker pattern for a
        structure-only builder). On a causal graph no earlier output can
        change, so each row equals :meth:`forward` on the whole dialogue,
        and stepping dialogues together equals stepping each alone (to
        float32 rounding).

        The states only advance when the whole call succeeds. Inputs are
        trusted (:mod:`models.live` checks them); see
        :meth:`check_steppable` for the models it refuses.

        Args:
            states (Sequence[DialogueState]): :obj:`K` distinct live
                dialogues, each advanced by one turn.
            pushes (Sequence[Push]): Per dialogue its next utterance.

        Shapes:
            - **output:** logits :math:`(K, C)`
        """
        if not states:
            raise ValueError("CORECT.step needs at least one dialogue")
        if len({id(state) for state in states}) != len(states):
            raise ValueError("CORECT.step steps each dialogue once")
        if self.training or not self.causal:
            self.check_steppable()  # raises, saying why
        # Dropout is the identity in eval mode, so the model's dropout
        # calls are skipped.
        embedding = self.speaker_embedding.weight
        device = embedding.device
        features = [{m: x if x.device == device else x.to(device)
                     for m, x in push.features.items()} for push in pushes]
        speakers = [push.speaker for push in pushes]
        histories = [state.history for state in states]
        spoken = embedding[torch.tensor(speakers, device=device)]
        encoded = {}
        for m in self.modalities:
            x = torch.cat([row[m] for row in features])
            encoder = self.encoders[m]
            if isinstance(encoder, (GRUEncoder, SequenceEncoder)):
                cache = "gru" if isinstance(encoder, GRUEncoder) else "sequence"
                h = encoder.step(x, histories, f"{cache}/{m}")
                if self.speaker_encoders is not None:
                    h = h + self.speaker_encoders[m].step(x, states, speakers,
                                                          f"speaker_gru/{m}")
            else:
                h = encoder(x)
            encoded[m] = h + spoken  # [K, H]
        if self.rtgcn is not None:
            horizon = self.step_horizon
            starts = [0 if horizon is None else max(0, state.length - horizon)
                      for state in states]
            edges = [self._last_turn_edges(state, start, push, k, features[k], encoded)
                     for k, (state, start, push) in enumerate(zip(states, starts, pushes))]
            new = torch.stack([encoded[m] for m in self.modalities], 1)  # [K, M, H]
            parts = [self.rtgcn.step(new, histories, starts, edges)]
        else:
            parts = [torch.cat([encoded[m] for m in self.modalities], -1)]
        if self.crossmodal is not None:
            parts.append(self.crossmodal.step(encoded, histories))
        logits = self.classifier(torch.cat(parts, -1))
        for state, speaker in zip(states, speakers):
            state.commit(speaker)
        return logits

    def _last_turn_edges(self, state: DialogueState, start: int, push: Push, k: int,
                         features: Mapping[str, Tensor],
                         encoded: Mapping[str, Tensor]) -> tuple[Tensor, ...]:
        """The in-edges of one dialogue's newest turn in the graph of its
        turns ``start..now`` (:meth:`~graphs.EdgeBuilder.last_turn_edges`),
        on the model's device: their sources, numbered in that graph (node
        ``m * L + u``), their targets' modalities, their relations and, for
        a weighted graph, their weights. The builder's content for those
        turns is read from the dialogue's cache with the new turn's rows
        (row :obj:`k` of :obj:`encoded`) written in. A structure-only
        builder's are memoised, so a repeated speaker pattern costs no copy."""
        device = self.speaker_embedding.weight.device
        speakers = (*state.speakers[start:], push.speaker)
        memo = (self._edge_memo if self.builder.horizon is not None
                and not self.reads.content else None)
        if memo is not None:
            if self._edge_memo_device != device:  # the model moved
                memo.clear()
                self._edge_memo_device = device
            edges = memo.get(speakers)
            if edges is not None:
                return edges
        put, reads = state.history.put, self.reads
        values = {"turn": float(state.length), **push.annotations}
        content = {
            "features": {m: put(f"content/features/{m}", features[m][0])[start:].cpu()
                         for m in reads.features},
            "states": {m: put(f"content/states/{m}", encoded[m][k])[start:].cpu()
                       for m in reads.states},
            "annotations": {
                name: put(f"content/annotations/{name}",
                          torch.tensor(float(values[name]), dtype=torch.float64))[start:]
                for name in reads.annotations},
        }
        length = len(speakers)
        tail = DialogueBatch([length], speakers, self.modalities, **content)
        found = self.builder.last_turn_edges(tail)
        edges = (found[0][0].to(device), (found[0][1] // length).to(device),
                 found[1].to(device), *(w.to(device) for w in found[2:]))
        if memo is not None:
            if len(memo) >= GRAPH_MEMO_SIZE:
                memo.clear()
            memo[speakers] = edges
        return edges

    def loss(self, logits: Tensor, labels: Tensor,
             class_weights: Tensor | None = None, scores: Tensor | None = None) -> Tensor:
        """The head's training loss (:meth:`models.heads.Head.loss`)."""
        return self.head.loss(logits, labels, class_weights, scores)

    def classes(self, logits: Tensor) -> Tensor:
        """The head's predicted class of every utterance :obj:`[U]`
        (:meth:`models.heads.Head.classes`)."""
        return self.head.classes(logits)
