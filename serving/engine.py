"""One causal checkpoint serving many live dialogues at once.

The model and its stacked attention weights are loaded once; each live
dialogue (a :class:`Session`) holds only its own
:class:`~models.dialogue_state.DialogueState`. Pushes are checked against
the model before they reach it (:meth:`Engine.prepare`), so a refused push
leaves its session as it was; the checked pushes of several sessions are
then stepped together (:meth:`Engine.step`): their texts embedded in one
call of the sentence encoder, their dialogues advanced in one model step.
Both are the live front's (:class:`~models.live.LiveModel`), which
:class:`~models.StreamingPredictor` runs for one dialogue; the engine adds
the server's limits and sessions.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from dialogues.text_encoder import TextEncoder
from models import CORECT, DialogueState, Prediction
from models.live import CheckedPush, LiveFront, LiveModel, PushError, load_live_checkpoint

__all__ = ["Engine", "PushError", "Session"]


@dataclass
class Session:
    r"""One live dialogue: its state and its predictions.

    Args:
        id (str): The session's id.
        state (DialogueState): Its caches and speakers.
        predictions (list[dict]): Each turn's prediction as the API answers
            it (:meth:`~models.live.Prediction.to_json`, without the logits
            tensor a session need not keep).
        last_used (float): When it last took a push or was read, on the
            store's clock.
        in_flight (int): Pushes waiting or running; while there are any,
            the session does not expire.
        closed (bool): Closed or expired; pushes still waiting are refused.
        lock (asyncio.Lock): Held by the push in progress, so that the
            session's pushes run one at a time, in arrival order.
    """

    id: str
    state: DialogueState = field(default_factory=DialogueState)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    last_used: float = 0.0
    in_flight: int = 0
    closed: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def turns(self) -> int:
        return self.state.length

    @property
    def speakers(self) -> dict[str, int]:
        """Local id of every speaker so far."""
        return dict(self.state.speaker_ids)

    def nbytes(self) -> int:
        """Bytes held by the session's tensor caches (their allocated
        buffers, which double as they fill)."""
        return self.state.nbytes()


class Engine(LiveFront):
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
        if max_turns < 1:
            raise ValueError(f"max_turns={max_turns}: expected a positive integer")
        # Refuses a model that is not causal.
        self.live = LiveModel(model, labels, text_encoder=text_encoder,
                              encoder_name=encoder_name)
        head = self.live.head
        if not head.gives_probabilities:
            # A regression head's one output is a score, which a softmax
            # would turn into a certain first class.
            raise ValueError(f"this checkpoint's head predicts "
                             f"{'a score' if head.gives_scores else 'no probabilities'} "
                             f"(model.head={head.name}); the server answers with class "
                             "probabilities and serves heads that give them only")
        self.max_turns = max_turns
        self.info = {
            "labels": self.labels,
            "modalities": self.modalities,
            "max_speakers": model.config.max_speakers,
            "causal": True,
            "encoder": encoder_name,
            **dict(info or {}),
        }

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *,
                        text_encoder: TextEncoder | None = None,
                        encoder_name: str | None = None,
                        max_turns: int = 1000) -> "Engine":
        """Load a run's ``checkpoint.pt``. :obj:`encoder_name` names the
        sentence-transformers model of text pushes where the checkpoint's
        corpus did not record one, and overrides the recorded one.

        Raises:
            ValueError: The checkpoint's graph is not causal, or the file is
                not a checkpoint.
        """
        loaded = load_live_checkpoint(path)
        return cls(loaded.model, loaded.labels, text_encoder=text_encoder,
                   encoder_name=encoder_name or loaded.encoder_name, max_turns=max_turns,
                   info=loaded.info)

    @property
    def modalities(self) -> dict[str, int]:
        return self.live.modalities

    def open(self, session_id: str) -> Session:
        """A new, empty session."""
        return Session(session_id)

    def prepare(self, session: Session, speaker: str,
                features: Mapping[str, Any] | None = None, text: str | None = None,
                annotations: Mapping[str, Any] | None = None) -> CheckedPush:
        """Check one push against the model and the session's state.

        Raises:
            PushError: Wrong modalities, dimension or type, a non-finite
                value, one speaker too many, or a full session.
        """
        if session.turns >= self.max_turns:
            raise PushError(f"session {session.id} holds max_turns={self.max_turns} "
                            "turns; open a new session")
        if not isinstance(speaker, str) or not speaker:
            raise PushError(f"speaker must be a non-empty string, got {speaker!r}")
        try:
            return self.live.check(session.state, speaker, features, text, annotations)
        except (TypeError, ValueError) as error:
            raise PushError(str(error)) from None

    def step(self, pushes: list[tuple[Session, CheckedPush]]
             ) -> list[Prediction | Exception]:
        r"""Step each session by its push (:meth:`~models.live.LiveModel.step`):
        texts embedded in one encoder call, the dialogues advanced in one
        model step, or one by one should that fail, so that only a faulty
        push is refused. Each session takes at most one push per call.

        Returns:
            list: Per push its :class:`~models.live.Prediction` (its
            :meth:`~models.live.Prediction.to_json` appended to its session),
            or the exception that refused it (its session unchanged).
        """
        results = self.live.step([(session.state, checked) for session, checked in pushes])
        for (session, _), result in zip(pushes, results):
            if isinstance(result, Prediction):
                session.predictions.append(result.to_json())
        return results
