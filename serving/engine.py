"""One causal checkpoint serving many live dialogues at once.

The model and its stacked attention weights are loaded once; each live
dialogue (a :class:`Session`) holds only its own caches. Pushes are checked
against the model before they reach it (:meth:`Engine.prepare`), so a
refused push leaves its session as it was; the checked pushes of several
sessions are then stepped together (:meth:`Engine.step`): their texts
embedded in one call of the sentence encoder, their dialogues advanced in
one model step (:func:`~models.batched_streaming.step_dialogues`).
"""
from __future__ import annotations

import asyncio
import copy
import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import torch
from torch import Tensor

from dialogues.text_encoder import TextEncoder, sentence_encoder
from models import CORECT, load_checkpoint
from models.batched_streaming import step_dialogues
from models.history import History
from models.incremental import IncrementalCORECT, not_causal_message
from models.streaming import (check_modalities, new_speaker_id, push_annotations,
                              push_vector)

TEXT = "text"


class PushError(ValueError):
    """A push that the model cannot take; the message says why. Its
    session is unchanged."""


class Utterance(NamedTuple):
    r"""A push checked against the model, ready for :meth:`Engine.step`.

    Args:
        speaker (str): The speaker as given.
        speaker_id (int): Their local id in the session.
        features (dict[str, Tensor]): :obj:`[1, F_m]` per modality given as
            features.
        text (str, optional): The text to embed for the ``text`` modality.
        annotations (dict[str, float]): What the graph's builder reads.
        received (float): :func:`time.perf_counter` when the push arrived.
    """

    speaker: str
    speaker_id: int
    features: dict[str, Tensor]
    text: str | None
    annotations: dict[str, float]
    received: float


@dataclass
class Session:
    r"""One live dialogue: its incremental state and its predictions.

    Args:
        id (str): The session's id.
        backbone (IncrementalCORECT): Its caches, sharing the engine's
            weights (:meth:`Engine.open`).
        speakers (dict[str, int]): Local id of every speaker so far.
        predictions (list[dict]): One record per turn (:meth:`Engine.step`).
        last_used (float): When it last took a push or was read, on the
            store's clock.
        in_flight (int): Pushes waiting or running; while there are any,
            the session does not expire.
        closed (bool): Closed or expired; pushes still waiting are refused.
        lock (asyncio.Lock): Held by the push in progress, so that the
            session's pushes run one at a time, in arrival order.
    """

    id: str
    backbone: IncrementalCORECT
    speakers: dict[str, int] = field(default_factory=dict)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    last_used: float = 0.0
    in_flight: int = 0
    closed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def turns(self) -> int:
        return self.backbone.length

    def nbytes(self) -> int:
        """Bytes held by the session's tensor caches (their allocated
        buffers, which double as they fill)."""
        return sum(t.element_size() * t.nelement()
                   for t in self.backbone.history.rows.values())


class Engine:
    r"""A causal model that steps many live dialogues.

    Args:
        model (CORECT): The backbone; its builder must be causal. It is put
            in eval mode.
        labels (list[str]): Label names, in logit order.
        text_encoder (TextEncoder, optional): ``encode(texts) -> [n, dim]``
            for text pushes. By default the sentence encoder named by
            :obj:`encoder_name` is loaded on first use.
        encoder_name (str, optional): The sentence-transformers model the
            text features were made with.
        max_turns (int): Turns one session may hold; its caches grow with
            every turn. (default: :obj:`1000`)
        info (dict, optional): What :attr:`info` reports besides the model's
            shape (graph, version, checkpoint).
    """

    def __init__(self, model: CORECT, labels: list[str], *,
                 text_encoder: TextEncoder | None = None,
                 encoder_name: str | None = None, max_turns: int = 1000,
                 info: Mapping[str, Any] | None = None) -> None:
        labels = [str(label) for label in labels]
        if len(labels) != model.config.num_classes:
            raise ValueError(f"got {len(labels)} label names for a model with "
                             f"{model.config.num_classes} classes")
        if max_turns < 1:
            raise ValueError(f"max_turns={max_turns}: expected a positive integer")
        if model.score_view is not None:
            # Its one output is a score, which a softmax would turn into a
            # certain first class.
            raise ValueError("this checkpoint's head predicts a score (model.head="
                             "regression); the server answers with class probabilities "
                             "and serves classification heads only")
        self.model = model.eval()
        # Refuses a model that is not causal; every session copies it.
        self._template = IncrementalCORECT(self.model)
        self.labels = labels
        self.encoder_name = encoder_name
        self.max_turns = max_turns
        self._text_encoder = text_encoder
        self.info = {
            "labels": labels,
            "modalities": dict(model.config.modalities),
            "max_speakers": model.config.max_speakers,
            "causal": True,
            "encoder": encoder_name,
            **dict(info or {}),
        }

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *,
                        text_encoder: TextEncoder | None = None,
                        max_turns: int = 1000) -> "Engine":
        """Load a run's ``checkpoint.pt``.

        Raises:
            ValueError: The checkpoint's graph is not causal, or the file is
                not a checkpoint.
        """
        checkpoint = load_checkpoint(path)
        model = checkpoint.build()
        graph = checkpoint.graph
        if not model.causal:
            raise ValueError(f"{path}: " + not_causal_message(
                f"{graph.get('name')!r} {dict(graph.get('params', {}))}"))
        dataset = checkpoint.metadata.get("dataset") or {}
        return cls(model, checkpoint.labels, text_encoder=text_encoder,
                   encoder_name=dataset.get("encoder") if isinstance(dataset, dict)
                   else None, max_turns=max_turns,
                   info={"graph": {"name": graph.get("name"),
                                   "params": dict(graph.get("params", {}))},
                         "version": checkpoint.version,
                         "checkpoint": os.path.basename(os.fspath(path))})

    @property
    def modalities(self) -> dict[str, int]:
        return dict(self.model.config.modalities)

    @property
    def text_encoder(self) -> TextEncoder:
        """The encoder of text pushes: the one given, else the sentence
        encoder the checkpoint names, loaded on first use.

        Raises:
            PushError: No encoder was given and none is named.
            ImportError: The ``ergraph[text]`` extra is not installed.
        """
        if self._text_encoder is None:
            if not self.encoder_name:
                raise PushError(
                    "the checkpoint's dataset metadata names no sentence encoder, so "
                    f"this server cannot embed text; push features[{TEXT!r}] instead")
            self._text_encoder = sentence_encoder(self.encoder_name)
        return self._text_encoder

    def open(self, session_id: str) -> Session:
        """A new, empty session."""
        return Session(session_id, live_backbone(self._template))

    # -- checking a push ----------------------------------------------------
    def prepare(self, session: Session, speaker: str,
                features: Mapping[str, Any] | None = None, text: str | None = None,
                annotations: Mapping[str, Any] | None = None) -> Utterance:
        """Check one push against the model and the session's state.

        Raises:
            PushError: Wrong modalities, dimension or type, a non-finite
                value, one speaker too many, or a full session.
        """
        received = time.perf_counter()
        if session.turns >= self.max_turns:
            raise PushError(f"session {session.id} holds max_turns={self.max_turns} "
                            "turns; open a new session")
        if not isinstance(speaker, str) or not speaker:
            raise PushError(f"speaker must be a non-empty string, got {speaker!r}")
        try:
            speaker_id = session.speakers.get(speaker)
            if speaker_id is None:
                speaker_id = new_speaker_id(session.speakers, speaker,
                                            self.model.config.max_speakers)
            given = dict(features or {})
            check_modalities(self.modalities, given, text)
            vectors = {m: push_vector(m, value, self.modalities[m], "features")
                       for m, value in given.items()}
            values = push_annotations(self.model.reads.annotations, annotations)
        except (TypeError, ValueError) as error:
            raise PushError(str(error)) from None
        return Utterance(speaker, speaker_id, vectors, text, values, received)

    def step(self, pushes: list[tuple[Session, Utterance]]) -> list[dict | Exception]:
        r"""Step each session by its push: texts embedded in one encoder
        call, the dialogues advanced in one model step
        (:func:`~models.batched_streaming.step_dialogues`), probabilities
        in one softmax. Should that step fail, each push is stepped alone,
        so that only a faulty one is refused. Each session takes at most
        one push per call.

        Returns:
            list: Per push its prediction record (``turn``, ``speaker``,
            ``label``, ``probability``, ``probabilities``, ``latency_ms``),
            also appended to its session, or the exception that refused it
            (its session unchanged).
        """
        results: list[dict | Exception] = [PushError("not stepped")] * len(pushes)
        ready: list[tuple[int, dict[str, Tensor]]] = []
        texts = [(i, u.text) for i, (_, u) in enumerate(pushes) if u.text is not None]
        embedded: dict[int, Any] = {}
        if texts:
            try:
                rows = self.text_encoder([text for _, text in texts])
                embedded = {i: rows[k] for k, (i, _) in enumerate(texts)}
            except Exception as error:  # noqa: BLE001 - every text push is refused
                for i, _ in texts:
                    results[i] = error
        for i, (_, utterance) in enumerate(pushes):
            inputs = dict(utterance.features)
            if utterance.text is not None:
                if i not in embedded:
                    continue
                try:
                    inputs[TEXT] = push_vector(TEXT, embedded[i], self.modalities[TEXT],
                                               "the text encoder's embedding")
                except ValueError as error:
                    results[i] = PushError(str(error))
                    continue
            ready.append((i, inputs))
        logits, stepped = [], []
        with torch.inference_mode():
            if len(ready) > 1:
                try:
                    logits = list(step_dialogues(
                        [pushes[i][0].backbone for i, _ in ready],
                        [inputs for _, inputs in ready],
                        [pushes[i][1].speaker_id for i, _ in ready],
                        [pushes[i][1].annotations for i, _ in ready]))
                    stepped = [i for i, _ in ready]
                except Exception:  # noqa: BLE001 - found below, push by push
                    logits = []
            if not stepped:
                for i, inputs in ready:
                    session, utterance = pushes[i]
                    try:
                        logits.append(session.backbone.step(inputs, utterance.speaker_id,
                                                            utterance.annotations))
                    except Exception as error:  # noqa: BLE001 - one bad push, not all
                        results[i] = error
                        continue
                    stepped.append(i)
            probabilities = torch.stack(logits).softmax(-1).tolist() if logits else []
        done = time.perf_counter()
        for i, row in zip(stepped, probabilities):
            session, utterance = pushes[i]
            session.speakers.setdefault(utterance.speaker, utterance.speaker_id)
            best = max(range(len(row)), key=row.__getitem__)
            record = {"turn": session.turns - 1, "speaker": utterance.speaker,
                      "label": self.labels[best], "probability": row[best],
                      "probabilities": dict(zip(self.labels, row)),
                      "latency_ms": 1e3 * (done - utterance.received)}
            session.predictions.append(record)
            results[i] = record
        return results


def live_backbone(template: IncrementalCORECT) -> IncrementalCORECT:
    """A backbone for one more live dialogue: it shares the template's
    model, stacked attention weights, position table and graph memo (a
    structure-only builder's edges by speaker pattern, the same for every
    dialogue), and has its own caches, speakers and speaker-GRU turns."""
    backbone = copy.copy(template)
    backbone.history = History()
    backbone.speakers = []
    backbone._last_turn = {}
    return backbone
