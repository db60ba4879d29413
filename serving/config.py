"""The server's limits, in one place."""
from __future__ import annotations

import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeConfig:
    r"""What a server accepts and how long it keeps it.

    Args:
        max_sessions (int): Live sessions at most; one more gets a 503.
            (default: :obj:`1000`)
        idle_seconds (float): A session without a push or a read for this
            long is closed. (default: :obj:`600`)
        max_batch (int): Pushes of different sessions stepped together at
            most; 1 steps them one by one. (default: :obj:`64`)
        max_body (int): Bytes of a request body or WebSocket message at
            most; more gets a 413. (default: :obj:`262144`)
    """

    max_sessions: int = 1000
    idle_seconds: float = 600.0
    max_batch: int = 64
    max_body: int = 262144

    def __post_init__(self) -> None:
        for name in ("max_sessions", "max_batch", "max_body"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer")
        if not self.idle_seconds > 0:
            raise ValueError(f"idle_seconds={self.idle_seconds!r}: expected a positive "
                             "number")


def port_problem(host: str, port: int) -> str | None:
    """Why :obj:`port` on :obj:`host` cannot be listened on (in use, not
    permitted, an unknown host), or :obj:`None` where it can: asked before
    a server says it is up, since uvicorn would say so only after the
    banner, with a traceback. Port 0 (any free port) always can."""
    if port == 0:
        return None
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port,
                                                      type=socket.SOCK_STREAM)[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As uvicorn binds: SO_REUSEADDR, so a port in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        return None
    except OSError as error:
        return error.strerror or str(error)
