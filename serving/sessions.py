"""The API's verbs on the live sessions of one process.

:class:`LocalSessions` is what a server's routes call: open, push, read,
close, health. It answers with plain data or raises :class:`ApiError`, so
the same verbs can be called in this process (``serve.py``) or on a
replica of a Ray Serve deployment (:mod:`serving.ray_app`) and turned into
the same HTTP answers.
"""
from __future__ import annotations

import asyncio
import math
import os
from typing import Any, Mapping

from .batcher import Batcher
from .config import ServeConfig
from .engine import Engine, PushError, Session
from .store import SessionStore, TooManySessions, UnknownSession


class ApiError(Exception):
    r"""A refused request, as the API answers it.

    Args:
        status (int): The HTTP status (4xx, or 503 when full).
        detail (Any): Why, for the answer's ``detail``.
        headers (dict[str, str], optional): Extra response headers.
    """

    def __init__(self, status: int, detail: Any,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        """What crosses a process boundary: status, detail, headers."""
        return {"status": self.status, "detail": self.detail, "headers": self.headers}


def session_record(session: Session) -> dict[str, Any]:
    """``GET /sessions/{id}``'s answer."""
    return {"id": session.id, "turns": session.turns, "speakers": list(session.speakers),
            "predictions": session.predictions}


class LocalSessions:
    r"""Live sessions of one engine in this process: pushes of different
    sessions batched (:class:`~serving.batcher.Batcher`), each session's in
    arrival order.

    Args:
        engine (Engine): The model.
        config (ServeConfig): Limits.
        store (SessionStore, optional): The live sessions; by default one
            with :obj:`config`'s limits and the monotonic clock.
    """

    def __init__(self, engine: Engine, config: ServeConfig = ServeConfig(),
                 store: SessionStore | None = None) -> None:
        self.engine = engine
        self.config = config
        if store is None:
            store = SessionStore(engine, config.max_sessions, config.idle_seconds)
        self.store = store
        self.batcher: Batcher = Batcher(engine.step, config.max_batch)
        self._sweeper: asyncio.Task | None = None

    async def describe(self) -> dict[str, Any]:
        """``GET /model``'s answer: the checkpoint's graph, labels,
        modalities and version."""
        return self.engine.info

    async def start(self) -> None:
        """Expire idle sessions in the background, also when no request comes
        (lookups expire them too)."""
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(self.store.idle_seconds, 60.0) / 2)
                self.store.expire()

        if self._sweeper is None:
            self._sweeper = asyncio.create_task(sweep())

    async def stop(self) -> None:
        """Stop the sweeper and the batcher (after the step in progress)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await self.batcher.stop()

    def _lookup(self, session_id: str) -> Session:
        try:
            return self.store.get(session_id)
        except UnknownSession as error:
            raise ApiError(404, str(error)) from None

    async def open(self) -> str:
        """A new session's id.

        Raises:
            ApiError: 503, with ``Retry-After``, when ``max_sessions`` are live.
        """
        try:
            return self.store.open().id
        except TooManySessions as error:
            raise ApiError(503, str(error), {
                "Retry-After": str(math.ceil(self.store.idle_seconds))}) from None

    async def push(self, session_id: str, speaker: str,
                   features: Mapping[str, Any] | None = None, text: str | None = None,
                   annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check and step one push; its prediction, as the API answers it
        (:meth:`~models.live.Prediction.to_json`).

        Raises:
            ApiError: 404 for no such session, 422 for a push the model
                cannot take (the session unchanged), 501 for text without
                ``ergraph[text]``, 500 when the encoder or the model fails
                (the session unchanged too).
        """
        session = self._lookup(session_id)
        session.in_flight += 1
        try:
            async with session.lock:
                if session.closed:  # while this push waited for the one before
                    raise ApiError(404, str(UnknownSession(session.id)))
                try:
                    checked = self.engine.prepare(session, speaker, features, text,
                                                  annotations)
                    prediction = await self.batcher.submit((session, checked))
                except PushError as error:
                    raise ApiError(422, str(error)) from None
                except ImportError as error:
                    raise ApiError(501, str(error)) from None
                except Exception as error:  # noqa: BLE001 - the server's failure, said
                    # The text encoder or the model failed on a push that
                    # passed every check; the step committed nothing.
                    raise ApiError(500, f"the server could not step this push "
                                        f"({type(error).__name__}: {error}); the session "
                                        "is as it was") from error
                return prediction.to_json()
        finally:
            session.in_flight -= 1
            session.last_used = self.store.clock()

    async def touch(self, session_id: str) -> None:
        """Mark the session as used now.

        Raises:
            ApiError: 404 for no such session.
        """
        self._lookup(session_id)

    async def read(self, session_id: str) -> dict[str, Any]:
        """The session's turns, speakers and predictions so far."""
        return session_record(self._lookup(session_id))

    async def close(self, session_id: str) -> None:
        """Close the session and free its state."""
        try:
            self.store.close(session_id)
        except UnknownSession as error:
            raise ApiError(404, str(error)) from None

    async def health(self) -> dict[str, Any]:
        """Live sessions, how pushes were batched, and the process holding
        them."""
        self.store.expire()
        return {"status": "ok", "pid": os.getpid(), "sessions": len(self.store),
                "max_sessions": self.store.max_sessions,
                "pushes": self.batcher.items, "model_steps": self.batcher.calls}
