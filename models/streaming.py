"""Live inference: a causal checkpoint fed one utterance at a time.

>>> predictor = StreamingPredictor.from_checkpoint("runs/causal/checkpoint.pt")
>>> predictor.push("ann", {"text": text_vector, "audio": audio_vector}).label
>>> predictor.push("bob", text="Really?")  # a text-only model, ergraph[text]
>>> predictor.reset()  # the next push starts a new dialogue

This module is the predictor's interface: speakers, input checks, labels
and timing. The computation is :class:`~models.incremental.IncrementalCORECT`,
built from each layer's incremental form, so a push's logits equal those of
the whole dialogue run offline.
"""
from __future__ import annotations

import os
import time
from typing import Any, Hashable, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from dialogues.text_encoder import TextEncoder, sentence_encoder

from .checkpoint import load_checkpoint
from .corect import CORECT
from .incremental import IncrementalCORECT, not_causal_message

TEXT = "text"


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


class Prediction(NamedTuple):
    r"""What :meth:`StreamingPredictor.push` returns for one utterance.

    Args:
        turn (int): Position of the utterance in the live dialogue, from 0.
        speaker (Hashable): The speaker as given to :meth:`push`.
        label (str): The predicted label.
        probabilities (dict[str, float]): Softmax of the logits by label;
            empty for a regression head, which predicts a score instead.
        logits (Tensor): Shape :obj:`[C]`, or :obj:`[1]` (the score) for a
            regression head.
        latency_ms (float): Wall time of the push, validation included.
        score (float, optional): A regression head's predicted score, from
            which :attr:`label` is derived; :obj:`None` for a classifier.
    """

    turn: int
    speaker: Hashable
    label: str
    probabilities: dict[str, float]
    logits: Tensor
    latency_ms: float
    score: float | None = None

    @property
    def probability(self) -> float:
        """Probability of the predicted label; NaN for a regression head."""
        return self.probabilities.get(self.label, float("nan"))


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
             text: str | None = None,
             annotations: Mapping[str, float] | None = None) -> Prediction:
        r"""Add one utterance to the live dialogue and predict its label.

        Args:
            speaker (Hashable): Who spoke.
            features (Mapping[str, array-like], optional): One vector of
                shape :obj:`[F_m]` (or :obj:`[1, F_m]`) per modality of the
                model, exactly those modalities.
            text (str, optional): The utterance's text, embedded with the
                text encoder in place of :obj:`features["text"]`.
            annotations (Mapping[str, float], optional): The utterance's
                annotations that the graph's builder reads (say
                ``reply_to``); ``turn`` defaults to its position.

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
            speaker_id = new_speaker_id(self._speaker_ids, speaker,
                                        self.model.config.max_speakers)
        inputs = self._inputs(features, text)
        values = push_annotations(self.model.reads.annotations, annotations)
        with torch.inference_mode():
            logits = self._backbone.step(inputs, speaker_id, values)
            best = int(self.model.classes(logits.view(1, -1))[0])
            regression = self.model.score_view is not None
            probabilities = ({} if regression
                             else dict(zip(self.labels, logits.softmax(-1).tolist())))
        self._speaker_ids.setdefault(speaker, speaker_id)
        return Prediction(
            turn=self._backbone.length - 1, speaker=speaker, label=self.labels[best],
            probabilities=probabilities, logits=logits,
            latency_ms=1e3 * (time.perf_counter() - started),
            score=float(logits[0]) if regression else None)

    # -- validation ---------------------------------------------------------
    def _inputs(self, features: Mapping[str, Any] | None, text: str | None
                ) -> dict[str, Tensor]:
        dims = self.model.config.modalities
        if features is not None and not isinstance(features, Mapping):
            raise TypeError(f"features must map modality names to vectors, got "
                            f"{type(features).__name__}")
        given = dict(features or {})
        check_modalities(dims, given, text)
        inputs = {m: push_vector(m, value, dims[m], "features")
                  for m, value in given.items()}
        if text is not None:
            inputs[TEXT] = push_vector(TEXT, self._embed(text), dims[TEXT],
                                       "the text encoder's embedding")
        return inputs

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
