"""Live emotion recognition as a service: many dialogues, one causal
checkpoint. :mod:`serving.app` (the HTTP API) needs ``pip install 'ergraph[serve]'``."""
from .batcher import Batcher
from .config import ServeConfig, port_problem
from .engine import Engine, PushError, Session
from .store import SessionStore, TooManySessions, UnknownSession

__all__ = ["Batcher", "Engine", "PushError", "ServeConfig", "Session", "SessionStore",
           "TooManySessions", "UnknownSession", "port_problem"]
