"""The CORECT backbone, shared by every topology."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from dialogues.views import ScoreView
from graphs import DialogueBatch, DialogueGraph, EdgeBuilder, GraphBuildError

from .config import ModelConfig
from .crossmodal import PairwiseCrossModal
from .encoders import GRUEncoder, MLPEncoder, SequenceEncoder
from .heads import HEADS, Head
from .rtgcn import RTGCN
from .speaker_gru import SpeakerGRU


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

    **Heads.** :attr:`head` (:mod:`models.heads`, ``config.head`` by name)
    says what the classifier's outputs are and how they train: one logit
    per class (``"classification"``) or one score whose class comes through
    the corpus's score view (``"regression"``). It holds no weights; it
    sizes the classifier's last layer.

    Args:
        config (ModelConfig): Sizes and switches.
        builder (EdgeBuilder): The topology; its relations size ``RGCNConv``.

    Shapes:
        - **input:** per-modality features :math:`(U, F_m)` packed dialogue
          by dialogue, and the batch's :class:`graphs.DialogueBatch`
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

    def build_graph(self, structure: DialogueBatch,
                    features: dict[str, Tensor] | None = None,
                    states: dict[str, Tensor] | None = None) -> DialogueGraph:
        """The builder's graph for this batch, built on CPU: builders are
        plain index arithmetic on small tensors, which the host does faster
        than a launch per op, and third-party builders need not handle
        devices. :meth:`forward` moves the edges to the model.

        Args:
            structure (DialogueBatch): The batch, with its annotations.
            features (dict[str, Tensor], optional): Input features, needed
                when the builder reads them.
            states (dict[str, Tensor], optional): Encoder states, needed
                when the builder reads them.

        Raises:
            GraphBuildError: The builder failed; the message names it and
                keeps its own error.
        """
        structure = structure if structure.device.type == "cpu" else structure.to("cpu")
        if self.reads.features or self.reads.states:
            structure = structure.with_content(
                features={m: features[m].detach().cpu() for m in self.reads.features
                          if features is not None and m in features},
                states={m: states[m].detach().cpu() for m in self.reads.states
                        if states is not None and m in states})
        try:
            return self.builder(structure)
        except Exception as error:  # third-party code: keep its message, name the builder
            raise GraphBuildError(f"edge builder {self.builder!r} failed on a batch of "
                                  f"{structure.num_dialogues} dialogues: "
                                  f"{type(error).__name__}: {error}") from error

    def _on_device(self, structure: DialogueBatch) -> DialogueBatch:
        """:obj:`structure` on the model's device; itself when it is there
        already (a batch moved with ``Batch.to``, or both on CPU)."""
        device = self.speaker_embedding.weight.device
        return structure if structure.device == device else structure.to(device)

    def encode(self, features: dict[str, Tensor],
               structure: DialogueBatch) -> tuple[dict[str, Tensor], Tensor]:
        """Per-modality utterance states :math:`(U, H)` with speakers added,
        and the padding mask :math:`(B, T)` of the dialogue layout."""
        structure = self._on_device(structure)
        device = structure.device
        utterance_dialogue, speakers = structure.utterance_dialogue, structure.speakers
        top_speaker = int(speakers.max())  # one host read
        if top_speaker >= self.config.max_speakers:
            raise ValueError(
                f"a dialogue has speaker id {top_speaker}, but the "
                f"model was sized for max_speakers={self.config.max_speakers}")
        speaker = self.speaker_embedding(speakers)
        states, padding = {}, None
        for m in self.modalities:
            x = features[m].to(device)
            if m in self.config.sequence_modalities:
                dense, mask = to_dense_batch(x, utterance_dialogue,
                                             batch_size=structure.num_dialogues)
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
                                     batch_size=structure.num_dialogues)
            padding = ~mask
        return states, padding

    def forward(self, features: dict[str, Tensor], structure: DialogueBatch,
                graph: DialogueGraph | None = None) -> Tensor:
        missing = [m for m in self.modalities if m not in features]
        if missing:
            raise ValueError(f"features lack modalities {missing}; the model uses "
                             f"{self.modalities}")
        placed = self._on_device(structure)
        states, padding = self.encode(features, placed)
        parts = []
        if self.rtgcn is not None:
            if graph is None:
                graph = self.build_graph(structure, features, states)
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
            parts.append(out.view(len(self.modalities), structure.num_utterances, -1)
                         .transpose(0, 1).flatten(1))
        else:
            parts.append(torch.cat([states[m] for m in self.modalities], -1))
        if self.crossmodal is not None:
            parts.append(self.crossmodal(states, padding, self.causal))
        joined = torch.cat(parts, -1)
        if self._drop_classifier_input:
            joined = self.dropout(joined)
        return self.classifier(joined)

    def loss(self, logits: Tensor, labels: Tensor,
             class_weights: Tensor | None = None, scores: Tensor | None = None) -> Tensor:
        """The head's training loss (:meth:`models.heads.Head.loss`)."""
        return self.head.loss(logits, labels, class_weights, scores)

    def classes(self, logits: Tensor) -> Tensor:
        """The head's predicted class of every utterance :obj:`[U]`
        (:meth:`models.heads.Head.classes`)."""
        return self.head.classes(logits)

    @property
    def score_view(self) -> ScoreView | None:
        """The regression head's score view, else :obj:`None`.

        Transitional: the live path (``models/streaming.py``,
        ``experiments/stream.py``, ``serving/engine.py``) still tells a
        regression head by it; remove it once they ask :attr:`head`.
        """
        return getattr(self.head, "view", None)
