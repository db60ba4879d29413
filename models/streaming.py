"""Live inference for one dialogue: a causal checkpoint fed one utterance at a time.

>>> predictor = StreamingPredictor.from_checkpoint("runs/causal/checkpoint.pt")
>>> predictor.push("ann", {"text": text_vector, "audio": audio_vector}).label
>>> predictor.push("bob", text="Really?")  # a text-only model, ergraph[text]
>>> predictor.reset()  # the next push starts a new dialogue

The predictor is the case :math:`K = 1` of the live front that the server
uses too (:class:`~models.live.LiveModel`): it holds one
:class:`~models.dialogue_state.DialogueState`, and each push is one
:meth:`~models.CORECT.step`, whose logits equal those of the whole dialogue
run offline.
"""
from __future__ import annotations

import os
from typing import Any, Hashable, Mapping, Sequence

from dialogues.text_encoder import TextEncoder

from .corect import CORECT
from .dialogue_state import DialogueState
from .live import LiveFront, LiveModel, Prediction, load_live_checkpoint

__all__ = ["Prediction", "StreamingPredictor", "TextEncoder"]


class StreamingPredictor(LiveFront):
    r"""Emotion predictions for a live dialogue, one utterance at a time.

    Speakers may be any hashable ids; they get local ids 0, 1, ... in order
    of first appearance, as in training
    (:func:`dialogues.dialogue.local_speaker_ids`). A push that is refused
    (wrong modalities or dimension, non-finite values, one speaker too many)
    raises before anything changes, and one on which the model fails leaves
    the dialogue as it was. The attention weights are copied into stacked
    form when the predictor is built: build a new one after changing the
    model's weights.

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
        self.live = LiveModel(model, labels, text_encoder=text_encoder,
                              encoder_name=encoder_name)
        self.state = DialogueState()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *,
                        text_encoder: TextEncoder | None = None,
                        encoder_name: str | None = None,
                        registry=None) -> "StreamingPredictor":
        """Load a checkpoint written by a run (``RUN/checkpoint.pt``); the
        arguments are :meth:`~models.live.LiveModel.from_checkpoint`'s.

        Raises:
            ValueError: The checkpoint's graph is not causal.
        """
        loaded = load_live_checkpoint(path, registry)
        return cls(loaded.model, loaded.labels, text_encoder=text_encoder,
                   encoder_name=encoder_name or loaded.encoder_name)

    @property
    def turn(self) -> int:
        """Utterances pushed since the last :meth:`reset`."""
        return self.state.length

    @property
    def speakers(self) -> dict[Hashable, int]:
        """Local id of every speaker of the live dialogue."""
        return dict(self.state.speaker_ids)

    @property
    def modalities(self) -> list[str]:
        return list(self.model.modalities)

    def reset(self) -> None:
        """Start a new dialogue."""
        self.state.clear()

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
        checked = self.live.check(self.state, speaker, features, text, annotations)
        prediction, = self.live.step([(self.state, checked)])
        if isinstance(prediction, Exception):
            raise prediction
        return prediction
