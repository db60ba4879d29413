"""The live sessions of a server: at most ``max_sessions`` of them, each
expiring after ``idle_seconds`` without a push or a read."""
from __future__ import annotations

import secrets
import time
from typing import Callable

from .engine import Engine, Session


class UnknownSession(KeyError):
    """No live session has this id (never opened, closed, or expired)."""

    def __str__(self) -> str:
        return (f"no live session {self.args[0]!r}: it was never opened, was closed, "
                "or expired after idle_seconds without a push")


class TooManySessions(RuntimeError):
    """The server holds ``max_sessions`` live sessions already."""


class SessionStore:
    r"""Live sessions by id, bounded in number and in idle time.

    Args:
        engine (Engine): Opens the sessions.
        max_sessions (int): Live sessions at most; one more is refused.
        idle_seconds (float): A session without a push or a read for this
            long is closed (at the next :meth:`expire`, which opening and
            looking up run).
        clock (Callable[[], float]): Seconds, monotonic.
            (default: :func:`time.monotonic`)
        id_prefix (str): Starts every session id; names the replica that
            holds a session when several do. (default: :obj:`""`)
    """

    def __init__(self, engine: Engine, max_sessions: int, idle_seconds: float,
                 clock: Callable[[], float] = time.monotonic, id_prefix: str = "") -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions={max_sessions}: expected a positive integer")
        if not idle_seconds > 0:
            raise ValueError(f"idle_seconds={idle_seconds}: expected a positive number")
        self.engine = engine
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self.id_prefix = id_prefix
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self):
        return iter(list(self._sessions.values()))

    def open(self) -> Session:
        """A new session.

        Raises:
            TooManySessions: :attr:`max_sessions` are live.
        """
        self.expire()
        if len(self._sessions) >= self.max_sessions:
            raise TooManySessions(
                f"the server holds {len(self._sessions)} live sessions, its "
                f"max_sessions; close one (DELETE /sessions/ID) or retry once idle "
                f"ones expire (idle_seconds={self.idle_seconds:g})")
        session_id = self.id_prefix + secrets.token_hex(8)
        while session_id in self._sessions:
            session_id = self.id_prefix + secrets.token_hex(8)
        session = self.engine.open(session_id)
        session.last_used = self.clock()
        self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The live session :obj:`session_id`, marked as used now.

        Raises:
            UnknownSession: There is none.
        """
        self.expire()
        session = self._sessions.get(session_id)
        if session is None:
            raise UnknownSession(session_id)
        session.last_used = self.clock()
        return session

    def close(self, session_id: str) -> Session:
        """Forget :obj:`session_id`; return it.

        Raises:
            UnknownSession: There is none.
        """
        session = self._sessions.pop(session_id, None)
        if session is None:
            raise UnknownSession(session_id)
        session.closed = True
        return session

    def expire(self) -> list[str]:
        """Close every session idle for :attr:`idle_seconds` or longer
        (not one with a push in flight); return their ids."""
        cutoff = self.clock() - self.idle_seconds
        idle = [s.id for s in self._sessions.values()
                if s.last_used <= cutoff and not s.in_flight]
        for session_id in idle:
            self._sessions.pop(session_id).closed = True
        return idle
