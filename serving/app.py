"""The HTTP and WebSocket API of a live server (``pip install 'ergraph[serve]'``).

====================================  ==========================================
``POST /sessions``                    open a live dialogue; its id
``POST /sessions/{id}/utterances``    push ``{"speaker", "text" | "features"}``;
                                      the turn's prediction
``GET /sessions/{id}``                the predictions so far
``DELETE /sessions/{id}``             close it
``WS /sessions/{id}/stream``          pushes and predictions over one socket
``GET /health``, ``GET /model``       liveness; the checkpoint's graph, labels,
                                      modalities and version
``GET /``                             a page to try it
====================================  ==========================================

Every refused request gets a 4xx whose ``detail`` says why, and leaves its
session as it was. A session's pushes run in the order they arrive; pushes
of different sessions are stepped together (:class:`~serving.batcher.Batcher`).
The routes call the verbs of :class:`Sessions`: in this process
(:func:`create_app`) or on Ray Serve replicas (:mod:`serving.ray_app`).
"""
from __future__ import annotations

from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any, Mapping, Protocol

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from models.live import Prediction

from .config import ServeConfig
from .engine import Engine
from .sessions import ApiError, LocalSessions
from .store import SessionStore

API_VERSION = "1"


class UtteranceIn(BaseModel):
    """One utterance of a live dialogue: its speaker, and its text or its
    feature vector per modality (or both, text standing for ``features.text``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    speaker: str = Field(min_length=1, max_length=200)
    text: str | None = None
    features: dict[str, list[float]] | None = None
    annotations: dict[str, float] | None = Field(
        None, description="values the graph's builder reads, e.g. reply_to")


#: The schema of :meth:`models.live.Prediction.to_json`, which the routes answer with.
PredictionOut = create_model(
    "PredictionOut", **{name: (kind, Field(description=description))
                        for name, (kind, description) in Prediction.API_FIELDS.items()})


class SessionOut(BaseModel):
    id: str
    turns: int
    speakers: list[str]
    predictions: list[PredictionOut]


class OpenedOut(BaseModel):
    id: str


def _errors(errors) -> list[dict[str, Any]]:
    """Pydantic's validation errors: where, what, and the rule broken."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]


class BodyLimit:
    """ASGI middleware: a 413 for an HTTP body over :obj:`max_body` bytes,
    read up to the limit and no further."""

    def __init__(self, app, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return await self._refuse(scope, receive, send, int(declared))
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await self._refuse(scope, receive, send, size, "over ")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send, size: int, over: str = "") -> None:
        response = JSONResponse(
            {"detail": f"request body of {over}{size} bytes; this server takes at most "
                       f"max_body={self.max_body} bytes"}, status_code=413)
        await response(scope, receive, send)


class Sessions(Protocol):
    """The verbs the routes call; :class:`~serving.sessions.LocalSessions`
    in this process, :class:`~serving.ray_app.ReplicaSessions` over Ray Serve
    replicas. Each answers with plain data or raises
    :class:`~serving.sessions.ApiError`."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def open(self) -> str: ...

    async def push(self, session_id: str, speaker: str,
                   features: Mapping[str, Any] | None = None, text: str | None = None,
                   annotations: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    async def touch(self, session_id: str) -> None: ...

    async def read(self, session_id: str) -> dict[str, Any]: ...

    async def close(self, session_id: str) -> None: ...

    async def health(self) -> dict[str, Any]: ...

    async def describe(self) -> dict[str, Any]: ...


def create_app(engine: Engine, config: ServeConfig = ServeConfig(), *,
               store: SessionStore | None = None) -> FastAPI:
    r"""The API of a server on :obj:`engine`, its sessions in this process.

    Args:
        engine (Engine): The model.
        config (ServeConfig): Limits.
        store (SessionStore, optional): The live sessions; by default one
            with :obj:`config`'s limits and the monotonic clock.
    """
    return create_api(LocalSessions(engine, config, store), config)


def create_api(sessions: Sessions, config: ServeConfig = ServeConfig()) -> FastAPI:
    r"""The API's routes on :obj:`sessions`.

    Args:
        sessions (Sessions): Where the sessions live.
        config (ServeConfig): Limits; the routes enforce :obj:`max_body`.
    """
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await sessions.start()
        yield
        await sessions.stop()

    app = FastAPI(title="ergraph live emotion recognition", version=API_VERSION,
                  summary="Emotion predictions for live dialogues, one utterance at a "
                          "time, from a causal ergraph checkpoint.",
                  lifespan=lifespan)
    app.state.sessions = sessions

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError) -> JSONResponse:
        # Without the offending input, which may be a NaN that JSON cannot
        # carry back, or megabytes.
        return JSONResponse({"detail": _errors(error.errors())}, status_code=422)

    @app.exception_handler(ApiError)
    async def refused(request, error: ApiError) -> JSONResponse:
        return JSONResponse({"detail": error.detail}, status_code=error.status,
                            headers=error.headers)

    async def push(session_id: str, utterance: UtteranceIn) -> dict[str, Any]:
        return await sessions.push(session_id, utterance.speaker, utterance.features,
                                   utterance.text, utterance.annotations)

    @app.post("/sessions", status_code=201, response_model=OpenedOut,
              responses={503: {"description": "max_sessions are live"}})
    async def open_session() -> dict[str, str]:
        """Open a live dialogue."""
        return {"id": await sessions.open()}

    @app.post("/sessions/{session_id}/utterances", response_model=PredictionOut,
              responses={404: {"description": "no such live session"},
                         413: {"description": "body over max_body"},
                         422: {"description": "a push the model cannot take"}})
    async def push_utterance(session_id: str, utterance: UtteranceIn) -> dict[str, Any]:
        """Add the next utterance; its predicted emotion."""
        return await push(session_id, utterance)

    @app.get("/sessions/{session_id}", response_model=SessionOut)
    async def read_session(session_id: str) -> dict[str, Any]:
        """The session's predictions so far."""
        return await sessions.read(session_id)

    @app.delete("/sessions/{session_id}", status_code=204)
    async def close_session(session_id: str) -> None:
        """Close the session and free its state."""
        await sessions.close(session_id)

    @app.websocket("/sessions/{session_id}/stream")
    async def stream(socket: WebSocket, session_id: str) -> None:
        """Each text message is a push (the body of ``POST .../utterances``);
        each reply its prediction, or ``{"status": 4xx, "detail": ...}``."""
        await socket.accept()
        try:
            await sessions.touch(session_id)
        except ApiError as error:
            await socket.send_json({"status": error.status, "detail": error.detail})
            await socket.close(code=4404)
            return
        try:
            while True:
                message = await socket.receive_text()
                await socket.send_json(await _socket_push(session_id, message))
        except WebSocketDisconnect:
            pass

    async def _socket_push(session_id: str, message: str) -> dict[str, Any]:
        if len(message.encode()) > config.max_body:
            return {"status": 413, "detail": f"message of {len(message.encode())} bytes; "
                    f"this server takes at most max_body={config.max_body} bytes"}
        try:
            utterance = UtteranceIn.model_validate_json(message)
        except ValidationError as error:
            return {"status": 422, "detail": _errors(error.errors())}
        try:
            return await push(session_id, utterance)
        except ApiError as error:
            return {"status": error.status, "detail": error.detail}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, live sessions, and how pushes were batched."""
        return await sessions.health()

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The checkpoint's graph, labels, modalities and version."""
        return await sessions.describe()

    page = files("serving").joinpath("page.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    app.add_middleware(BodyLimit, max_body=config.max_body)
    return app
