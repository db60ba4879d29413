"""The live front of a causal model: what :class:`~models.StreamingPredictor`
and the server's :class:`~serving.Engine` share.

:class:`LiveModel` loads a causal checkpoint for live use, checks each push
against the model (:meth:`LiveModel.check`), embeds texts with the lazily
loaded sentence encoder, steps the pushes of :obj:`K` dialogues as one
:meth:`~models.CORECT.step` and turns the logits into one
:class:`Prediction` each (:meth:`LiveModel.step`). A dialogue's state is a
:class:`~models.dialogue_state.DialogueState` that its holder (a predictor,
a server session) keeps; pushing one utterance is the case :math:`K = 1`.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Hashable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from dialogues.text_encoder import TextEncoder, sentence_encoder

from .checkpoint import load_checkpoint
from .corect import CORECT
from .dialogue_state import DialogueState, Push
from .heads import Head

TEXT = "text"


class PushError(ValueError):
    """A push that the model cannot take; the message says why. Its
    dialogue is unchanged."""


def not_causal_message(graph: str) -> str:
    """Why a model on :obj:`graph` (its name and parameters) cannot run live."""
    return (f"graph {graph} is not causal: its predictions need turns that have not "
            "happened yet, so it cannot run live one utterance at a time; train a "
            "causal graph (graph=causal, graph=speaker_causal, or any builder with "
            "future=0)")


def new_speaker_id(speakers: Mapping[Hashable, int], speaker: Hashable,
                   max_speakers: int) -> int:
    """The local id :obj:`speaker` gets, refusing one speaker too many."""
    speaker_id = len(speakers)
    if speaker_id >= max_speakers:
        raise ValueError(
            f"speaker {speaker!r} would be speaker {speaker_id + 1} of this "
            f"dialogue, but the model was sized for max_speakers={max_speakers} "
            f"(speakers so far: {list(speakers)})")
    return speaker_id


def check_modalities(dims: Mapping[str, int], features: Mapping[str, Any],
                     text: str | None) -> None:
    """Refuse a push whose features (and text) are not exactly the model's
    modalities."""
    if text is not None:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text.strip():  # an empty turn would be embedded and predicted
            raise ValueError(f"{TEXT!r} is empty; a turn's text needs at least one "
                             "non-space character")
        if TEXT not in dims:
            raise ValueError(f"text needs a model with a {TEXT!r} modality; this one "
                             f"has {list(dims)}")
        if TEXT in features:
            raise ValueError(f"give the {TEXT!r} modality as features or as text, "
                             "not both")
    supplied = set(features) | ({TEXT} if text is not None else set())
    if supplied != set(dims):
        missing = [m for m in dims if m not in supplied]
        extra = sorted(map(str, set(features) - set(dims)))
        raise ValueError(
            f"a push needs exactly the model's modalities {list(dims)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else ""))


def push_vector(modality: str, value: Any, dim: int, what: str) -> Tensor:
    """:obj:`value` as a finite float32 row :obj:`[1, dim]`.

    Raises:
        ValueError: It is not numeric, has another shape, or holds a NaN or
            an infinity.
    """
    if isinstance(value, (str, bytes, Mapping)):
        raise ValueError(f"{modality!r} {what} are a {type(value).__name__}, not a "
                         "numeric vector")
    try:
        # numpy reads a list of floats several times faster than torch.
        x = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value,
                       dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{modality!r} {what} are not a numeric vector: {error}") from None
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1 or x.size != dim:
        raise ValueError(f"{modality!r} {what} have shape {list(x.shape)}; the model "
                         f"expects a vector of dimension {dim}")
    finite = np.isfinite(x)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{modality!r} {what} hold {float(x[i])} at index {i}; values "
                         "must be finite")
    return torch.from_numpy(x).view(1, dim)


def push_annotations(needed: Sequence[str], annotations: Mapping[str, Any] | None
                     ) -> dict[str, float]:
    """The annotations a push gives, as floats; refuses a missing one (but
    ``turn``, which defaults to the push's position) and one that is not a
    number. NaN is a number here: the loaders read an empty cell as NaN."""
    given = dict(annotations or {})
    missing = [name for name in needed if name != "turn" and name not in given]
    if missing:
        raise ValueError(f"the graph's builder reads annotations {missing}; pass them "
                         "with the push")
    values = {}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"annotation {name!r} is {value!r}, not a number")
        values[str(name)] = float(value)
    return values


@dataclass(frozen=True, eq=False)
class Prediction:
    r"""The prediction for one pushed utterance.

    Args:
        turn (int): Position of the utterance in the live dialogue, from 0.
        speaker (Hashable): The speaker as pushed.
        label (str): The predicted label.
        probability (float): Probability of :attr:`label`; NaN for a
            regression head.
        probabilities (dict[str, float]): Softmax of the logits by label;
            empty for a regression head, which predicts a score instead.
        latency_ms (float): Wall time from the push's arrival (its checks
            included) to its prediction.
        logits (Tensor): The classifier's outputs for the utterance, shape
            :obj:`[O]`: :obj:`[C]` logits, or :obj:`[1]` (the score) for a
            regression head.
        score (float, optional): The head's predicted score (a regression
            head's, from which :attr:`label` is derived); :obj:`None` for a
            head that gives none.
    """

    #: What the HTTP and WebSocket API answer with, in this order: each
    #: field's JSON type and, where it needs one, its description.
    API_FIELDS: ClassVar[dict[str, tuple[type, str | None]]] = {
        "turn": (int, "position in the dialogue, from 0"),
        "speaker": (str, None),
        "label": (str, None),
        "probability": (float, "probability of the label"),
        "probabilities": (dict[str, float], None),
        "latency_ms": (float, "server-side time from arrival to answer"),
    }

    turn: int
    speaker: Hashable
    label: str
    probability: float
    probabilities: dict[str, float]
    latency_ms: float
    logits: Tensor = field(repr=False)
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's answer: :attr:`API_FIELDS` of this prediction."""
        return {name: getattr(self, name) for name in self.API_FIELDS}


class CheckedPush(NamedTuple):
    r"""A push checked against the model and its dialogue, ready for
    :meth:`LiveModel.step`.

    Args:
        speaker (Hashable): The speaker as given.
        speaker_id (int): Their local id in the dialogue.
        features (dict[str, Tensor]): :obj:`[1, F_m]` per modality given as
            features.
        text (str, optional): The text to embed for the ``text`` modality.
        annotations (dict[str, float]): What the graph's builder reads.
        received (float): :func:`time.perf_counter` when the push arrived.
    """

    speaker: Hashable
    speaker_id: int
    features: dict[str, Tensor]
    text: str | None
    annotations: dict[str, float]
    received: float


class LiveCheckpoint(NamedTuple):
    r"""A causal checkpoint loaded for live use (:func:`load_live_checkpoint`).

    Args:
        model (CORECT): The model, in eval mode.
        labels (list[str]): Label names, in logit order.
        encoder_name (str, optional): The sentence encoder the text
            features were made with (``encoder`` in ``dataset.yaml``).
        info (dict): The graph (name, parameters), the checkpoint's format
            version and file name.
    """

    model: CORECT
    labels: list[str]
    encoder_name: str | None
    info: dict[str, Any]


def load_live_checkpoint(path: str | os.PathLike, registry=None) -> LiveCheckpoint:
    """Load a run's ``checkpoint.pt`` for live use.

    Args:
        path (str or PathLike): The checkpoint.
        registry (EdgeBuilderRegistry, optional): Where the graph's builder
            is looked up. (default: the default registry)

    Raises:
        ValueError: The checkpoint's graph is not causal, or the file is not
            a checkpoint.
    """
    checkpoint = load_checkpoint(path)
    model = checkpoint.build(registry)
    graph = checkpoint.graph
    if not model.causal:
        raise ValueError(f"{path}: " + not_causal_message(
            f"{graph.get('name')!r} {dict(graph.get('params', {}))}"))
    dataset = checkpoint.metadata.get("dataset") or {}
    return LiveCheckpoint(
        model.eval(), list(checkpoint.labels),
        dataset.get("encoder") if isinstance(dataset, dict) else None,
        {"graph": {"name": graph.get("name"), "params": dict(graph.get("params", {}))},
         "version": checkpoint.version,
         "checkpoint": os.path.basename(os.fspath(path))})


class LiveModel:
    r"""A causal model that steps live dialogues, one push of each at a
    time: checks, text embedding, one model step for all, predictions.

    The model holds no dialogue: each one's state is a
    :class:`~models.dialogue_state.DialogueState` that the caller keeps and
    passes in. The model's incremental forms keep a snapshot of its weights
    (stacked attention weights), taken when this is built: build a new one
    (or call ``model.eval()`` again) after changing them.

    Args:
        model (CORECT): The backbone; its builder must be causal. It is put
            in eval mode.
        labels (Sequence[str]): Label names, in logit order.
        text_encoder (TextEncoder, optional): ``encode(texts) -> [n, dim]``
            for text pushes. By default the sentence encoder named by
            :obj:`encoder_name` is loaded on the first text push (needs
            ``pip install 'ergraph[text]'``).
        encoder_name (str, optional): The sentence-transformers model the
            text features were made with (``encoder`` in ``dataset.yaml``).

    Raises:
        ValueError: The model is not causal, a GRU is bidirectional, or the
            labels do not match the classes.
        NotImplementedError: A layer has settings the live step does not
            reproduce.
    """

    def __init__(self, model: CORECT, labels: Sequence[str], *,
                 text_encoder: TextEncoder | None = None,
                 encoder_name: str | None = None) -> None:
        labels = [str(label) for label in labels]
        if len(labels) != model.config.num_classes:
            raise ValueError(f"got {len(labels)} label names for a model with "
                             f"{model.config.num_classes} classes")
        if not model.causal:
            raise ValueError(not_causal_message(repr(model.builder)))
        model.eval().check_steppable()
        self.model = model
        self.labels = labels
        self.encoder_name = encoder_name
        self._text_encoder = text_encoder

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *,
                        text_encoder: TextEncoder | None = None,
                        encoder_name: str | None = None,
                        registry=None) -> "LiveModel":
        """:func:`load_live_checkpoint`, ready to step.

        Args:
            path (str or PathLike): The checkpoint.
            text_encoder (TextEncoder, optional): Replaces the sentence
                encoder named in the checkpoint's dataset metadata.
            encoder_name (str, optional): The sentence-transformers model
                that embeds text pushes, for a checkpoint whose corpus did
                not record its encoder; it overrides the recorded one.
            registry (EdgeBuilderRegistry, optional): Where the graph's
                builder is looked up. (default: the default registry)
        """
        loaded = load_live_checkpoint(path, registry)
        return cls(loaded.model, loaded.labels, text_encoder=text_encoder,
                   encoder_name=encoder_name or loaded.encoder_name)

    @property
    def modalities(self) -> dict[str, int]:
        """The model's modalities and their feature dimensions."""
        return dict(self.model.config.modalities)

    @property
    def head(self) -> Head:
        """The model's output head (:mod:`models.heads`): whether its
        predictions carry class probabilities, a score, or both."""
        return self.model.head

    @property
    def text_encoder(self) -> TextEncoder:
        """The encoder of text pushes: the one given, else the sentence
        encoder named by :attr:`encoder_name`, loaded on first use.

        Raises:
            PushError: No encoder was given and none is named.
            ImportError: The ``ergraph[text]`` extra is not installed.
        """
        if self._text_encoder is None:
            if not self.encoder_name:
                raise PushError(
                    "the checkpoint's dataset metadata names no sentence encoder (key "
                    "'encoder' in dataset.yaml), so text cannot be embedded; push "
                    f"features[{TEXT!r}] instead of text, or start serve.py or "
                    "stream.py with text_encoder=NAME, the sentence-transformers model "
                    "the features were made with")
            self._text_encoder = sentence_encoder(self.encoder_name)
        return self._text_encoder

    def check(self, state: DialogueState, speaker: Hashable,
              features: Mapping[str, Any] | None = None, text: str | None = None,
              annotations: Mapping[str, Any] | None = None) -> CheckedPush:
        """Check one push against the model and its dialogue; nothing
        changes.

        Args:
            state (DialogueState): The dialogue it goes to.
            speaker (Hashable): Who spoke.
            features (Mapping[str, array-like], optional): One vector of
                shape :obj:`[F_m]` (or :obj:`[1, F_m]`) per modality of the
                model given as features.
            text (str, optional): The utterance's text, to embed in place of
                :obj:`features["text"]`.
            annotations (Mapping[str, float], optional): The annotations
                the graph's builder reads; ``turn`` defaults to the push's
                position.

        Raises:
            ValueError: Wrong modalities, dimension or annotations, a
                non-finite value, or one speaker too many.
            TypeError: An unhashable speaker, or inputs of the wrong type.
        """
        received = time.perf_counter()
        try:
            speaker_id = state.speaker_ids.get(speaker)
        except TypeError:
            raise TypeError(f"speaker {speaker!r} is not hashable") from None
        if speaker_id is None:
            speaker_id = new_speaker_id(state.speaker_ids, speaker,
                                        self.model.config.max_speakers)
        if features is not None and not isinstance(features, Mapping):
            raise TypeError(f"features must map modality names to vectors, got "
                            f"{type(features).__name__}")
        dims = self.modalities
        given = dict(features or {})
        check_modalities(dims, given, text)
        vectors = {m: push_vector(m, value, dims[m], "features")
                   for m, value in given.items()}
        values = push_annotations(self.model.reads.annotations, annotations)
        return CheckedPush(speaker, speaker_id, vectors, text, values, received)

    def step(self, pushes: Sequence[tuple[DialogueState, CheckedPush]]
             ) -> list[Prediction | Exception]:
        r"""Advance each dialogue by its checked push: texts embedded in one
        encoder call, the dialogues in one :meth:`~models.CORECT.step`.
        Should that step fail, each push is stepped alone, so that only a
        faulty one is refused. Each dialogue takes at most one push per
        call.

        Args:
            pushes (Sequence[tuple[DialogueState, CheckedPush]]): Per push
                its dialogue and what :meth:`check` made of it.

        Returns:
            list: Per push its :class:`Prediction`, or the exception that
            refused it (its dialogue unchanged).
        """
        results: list[Prediction | Exception] = [PushError("not stepped")] * len(pushes)
        ready = self._embed(pushes, results)
        logits, stepped = [], []
        with torch.inference_mode():
            if len(ready) > 1:
                try:
                    logits = list(self.model.step([pushes[i][0] for i, _ in ready],
                                                  [push for _, push in ready]))
                    stepped = [i for i, _ in ready]
                except Exception:  # noqa: BLE001 - found below, push by push
                    logits = []
            if not stepped:
                for i, push in ready:
                    try:
                        logits.append(self.model.step([pushes[i][0]], [push])[0])
                    except Exception as error:  # noqa: BLE001 - one bad push, not all
                        results[i] = error
                        continue
                    stepped.append(i)
            decided = self._decide(torch.stack(logits)) if logits else []
        done = time.perf_counter()
        for i, row, (label, probability, probabilities, score) in zip(stepped, logits,
                                                                      decided):
            state, checked = pushes[i]
            state.speaker_ids.setdefault(checked.speaker, checked.speaker_id)
            results[i] = Prediction(
                turn=state.length - 1, speaker=checked.speaker, label=label,
                probability=probability, probabilities=probabilities,
                latency_ms=1e3 * (done - checked.received), logits=row, score=score)
        return results

    def _embed(self, pushes: Sequence[tuple[DialogueState, CheckedPush]],
               results: list[Prediction | Exception]) -> list[tuple[int, Push]]:
        """The model's inputs of every push whose texts embed, by position;
        a push whose text does not gets its error in :obj:`results`."""
        texts = [(i, checked.text) for i, (_, checked) in enumerate(pushes)
                 if checked.text is not None]
        embedded: dict[int, Any] = {}
        if texts:
            try:
                rows = self.text_encoder([text for _, text in texts])
                embedded = {i: rows[k] for k, (i, _) in enumerate(texts)}
            except Exception as error:  # noqa: BLE001 - every text push is refused
                for i, _ in texts:
                    results[i] = error
        ready = []
        for i, (_, checked) in enumerate(pushes):
            inputs = dict(checked.features)
            if checked.text is not None:
                if i not in embedded:
                    continue
                try:
                    inputs[TEXT] = push_vector(TEXT, embedded[i], self.modalities[TEXT],
                                               "the text encoder's embedding")
                except ValueError as error:
                    results[i] = PushError(str(error))
                    continue
            ready.append((i, Push(inputs, checked.speaker_id, checked.annotations)))
        return ready

    def _decide(self, logits: Tensor) -> list[tuple[str, float, dict[str, float],
                                                    float | None]]:
        """Per row of the outputs :math:`(K, O)`: the label, its probability
        (NaN where the head gives none), the probabilities by label (none
        there), and the head's score (:obj:`None` where it gives none). The
        one place that reads the output head's predictions."""
        head = self.head
        classes = head.classes(logits).tolist()
        probabilities = head.probabilities(logits)
        rows = ([{}] * len(classes) if probabilities is None
                else [dict(zip(self.labels, row)) for row in probabilities.tolist()])
        scores = head.predicted_scores(logits)
        scores = [None] * len(classes) if scores is None else scores.tolist()
        return [(self.labels[best], row.get(self.labels[best], float("nan")), row, score)
                for best, row, score in zip(classes, rows, scores)]


class LiveFront:
    """What both live fronts (:class:`~models.StreamingPredictor`, one
    dialogue; :class:`~serving.Engine`, many sessions) expose of the
    :class:`LiveModel` they run on, :attr:`live`."""

    live: LiveModel

    @property
    def model(self) -> CORECT:
        return self.live.model

    @property
    def labels(self) -> list[str]:
        return self.live.labels

    @property
    def encoder_name(self) -> str | None:
        return self.live.encoder_name

    @property
    def text_encoder(self) -> TextEncoder:
        """The encoder of text pushes (:attr:`LiveModel.text_encoder`),
        loaded on first use.

        Raises:
            PushError: No encoder was given and none is named.
            ImportError: The ``ergraph[text]`` extra is not installed.
        """
        return self.live.text_encoder
