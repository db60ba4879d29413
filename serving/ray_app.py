"""The same API as a Ray Serve application, for more dialogues than one
process can step (``pip install 'ergraph[serve,ray-serve]'``).

An ingress deployment speaks HTTP and WebSocket and holds no session; the
sessions live on ``replicas`` session replicas, each a deployment of one
replica running :class:`~serving.sessions.LocalSessions` on its own copy
of the model. A session's id starts with its replica's name (``r1-...``),
so every push of a session reaches the replica that holds its caches:
Ray Serve routes a deployment's requests to any of its replicas, which
suits stateless models, not live dialogues. New sessions go round the
replicas, skipping full ones.

When a replica dies Ray Serve starts it again, empty: its sessions answer
404, and a client restores one by replaying its turns into a new session
(see ``docs/serving.md``). Until it is back, its sessions answer 503.
"""
from __future__ import annotations

import asyncio
import re
from typing import Any, Mapping, Sequence

import ray
import torch
from ray import serve
from ray.serve.handle import DeploymentHandle

from .app import create_api
from .config import ServeConfig
from .engine import Engine
from .sessions import ApiError, LocalSessions
from .store import SessionStore, UnknownSession

APP_NAME = "ergraph"
# Requests one replica takes at once: a batch gathers the pushes that wait,
# so the replica must let them in (Ray Serve's default is 5).
MAX_ONGOING_REQUESTS = 1024
REPLICA_ID = re.compile(r"r(\d+)-")
# No log line per request (one in the ingress, one in a replica): at
# hundreds of pushes a second they would bury the lifecycle messages and
# errors, which remain.
QUIET = {"enable_access_log": False}


def replica_name(index: int) -> str:
    """The deployment name of session replica :obj:`index`."""
    return f"sessions_{index}"


@serve.deployment(max_ongoing_requests=MAX_ONGOING_REQUESTS, logging_config=QUIET)
class SessionReplica:
    r"""The sessions of one replica: a model and its live dialogues.

    Args:
        checkpoint (str): A causal run's ``checkpoint.pt``, readable where
            the replica runs.
        index (int): The replica's place; its sessions' ids start ``r{index}-``.
        config (ServeConfig): Limits, :obj:`max_sessions` per replica.
        max_turns (int): Turns per session at most.
        threads (int): torch intra-op threads.
        encoder_name (str, optional): The sentence-transformers model of
            text pushes, over the one the checkpoint records.
    """

    def __init__(self, checkpoint: str, index: int, config: ServeConfig, max_turns: int,
                 threads: int, encoder_name: str | None = None) -> None:
        torch.set_num_threads(threads)
        engine = Engine.from_checkpoint(checkpoint, max_turns=max_turns,
                                        encoder_name=encoder_name)
        store = SessionStore(engine, config.max_sessions, config.idle_seconds,
                             id_prefix=f"r{index}-")
        self.sessions = LocalSessions(engine, config, store)

    async def call(self, verb: str, *args: Any) -> dict[str, Any]:
        """Run :class:`~serving.sessions.LocalSessions`' :obj:`verb`:
        ``{"ok": answer}``, or ``{"error": ApiError.as_dict()}``, which
        crosses to the ingress as data."""
        await self.sessions.start()  # in the replica's own event loop
        try:
            return {"ok": await getattr(self.sessions, verb)(*args)}
        except ApiError as error:
            return {"error": error.as_dict()}


class ReplicaSessions:
    r"""The API's verbs over session replicas: each session's at the replica
    its id names.

    Args:
        replicas (Sequence[DeploymentHandle]): One handle per session
            replica, in index order.
    """

    def __init__(self, replicas: Sequence[DeploymentHandle]) -> None:
        if not replicas:
            raise ValueError("ReplicaSessions needs at least one replica")
        self.replicas = list(replicas)
        self._next = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def _call(self, index: int, verb: str, *args: Any) -> Any:
        try:
            answer = await self.replicas[index].call.remote(verb, *args)
        except ray.exceptions.RayError as error:
            raise ApiError(503, f"session replica r{index} is unavailable "
                                f"({type(error).__name__}); retry, and if the session "
                                "is gone (404) replay its turns into a new one") from None
        if "error" in answer:
            raise ApiError(**answer["error"])
        return answer["ok"]

    def _holder(self, session_id: str) -> int:
        found = REPLICA_ID.match(session_id)
        if found is None or int(found.group(1)) >= len(self.replicas):
            raise ApiError(404, str(UnknownSession(session_id)))
        return int(found.group(1))

    async def open(self) -> str:
        """A new session on the next replica with room.

        Raises:
            ApiError: 503 when every replica holds ``max_sessions``.
        """
        full = None
        for _ in range(len(self.replicas)):
            index, self._next = self._next, (self._next + 1) % len(self.replicas)
            try:
                return await self._call(index, "open")
            except ApiError as error:
                if error.status != 503:
                    raise
                full = error
        raise ApiError(503, f"all {len(self.replicas)} session replicas are full or "
                            f"unavailable; the last said: {full.detail}", full.headers)

    async def push(self, session_id: str, speaker: str,
                   features: Mapping[str, Any] | None = None, text: str | None = None,
                   annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await self._call(self._holder(session_id), "push", session_id, speaker,
                                features, text, annotations)

    async def touch(self, session_id: str) -> None:
        await self._call(self._holder(session_id), "touch", session_id)

    async def read(self, session_id: str) -> dict[str, Any]:
        return await self._call(self._holder(session_id), "read", session_id)

    async def close(self, session_id: str) -> None:
        await self._call(self._holder(session_id), "close", session_id)

    async def health(self) -> dict[str, Any]:
        """The replicas' health added up, and each one's."""
        async def one(index: int) -> dict[str, Any]:
            try:
                return {"replica": f"r{index}", **await self._call(index, "health")}
            except ApiError as error:
                return {"replica": f"r{index}", "status": "unavailable",
                        "detail": error.detail}

        # Asked together: a replica that is slow to answer holds up only itself.
        replicas = await asyncio.gather(*(one(k) for k in range(len(self.replicas))))
        up = [r for r in replicas if r["status"] == "ok"]
        return {"status": "ok" if len(up) == len(replicas) else "degraded",
                **{key: sum(r[key] for r in up)
                   for key in ("sessions", "max_sessions", "pushes", "model_steps")},
                "replicas": replicas}

    async def describe(self) -> dict[str, Any]:
        for index in range(len(self.replicas)):
            try:
                return await self._call(index, "describe")
            except ApiError:
                continue
        raise ApiError(503, "no session replica is available")


@serve.deployment(max_ongoing_requests=MAX_ONGOING_REQUESTS, logging_config=QUIET,
                  # Parsing and forwarding; the replicas do the work.
                  ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Ingress:
    r"""HTTP and WebSocket in front of the session replicas.

    Args:
        config (ServeConfig): Limits (the ingress enforces :obj:`max_body`).
        *replicas (DeploymentHandle): The session replicas, in index order.
    """

    def __init__(self, config: ServeConfig, *replicas: DeploymentHandle) -> None:
        self.config = config
        self.replicas = replicas

    def __serve_build_asgi_app__(self):
        return create_api(ReplicaSessions(self.replicas), self.config)


def application(checkpoint: str, config: ServeConfig = ServeConfig(), *, replicas: int = 2,
                max_turns: int = 1000, threads: int = 1,
                encoder_name: str | None = None) -> serve.Application:
    r"""The Ray Serve application: an ingress and :obj:`replicas` session
    replicas, each reserving :obj:`threads` CPUs. Run it with
    ``serve.run(application(...), name=APP_NAME)``.

    Args:
        checkpoint (str): A causal run's ``checkpoint.pt``, readable where
            the replicas run. Checked here first, so a bad one is refused
            before any replica starts.
        config (ServeConfig): Limits; :obj:`max_sessions` per replica.
        replicas (int): Session replicas. (default: :obj:`2`)
        max_turns (int): Turns per session at most. (default: :obj:`1000`)
        threads (int): torch intra-op threads per replica. (default: :obj:`1`)
        encoder_name (str, optional): The sentence-transformers model of
            text pushes, over the one the checkpoint records.
    """
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas={replicas!r}: expected a positive integer")
    # Refuses non-causal ones.
    Engine.from_checkpoint(checkpoint, max_turns=max_turns, encoder_name=encoder_name)
    bound = [SessionReplica.options(name=replica_name(k),
                                    ray_actor_options={"num_cpus": threads})
             .bind(str(checkpoint), k, config, max_turns, threads, encoder_name)
             for k in range(replicas)]
    return Ingress.bind(config, *bound)
