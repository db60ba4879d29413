"""Plain helpers that the serving tests share."""
import socket

import numpy as np


class CountingEncoder:
    """A stand-in sentence encoder: a fixed vector per text, and a record
    of every call."""

    def __init__(self, dim):
        self.dim = dim
        self.calls = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return np.stack([np.random.default_rng(sum(map(ord, t))).standard_normal(self.dim)
                         for t in texts]).astype(np.float32)


def features_of(dialogue, k, modalities):
    return {m: dialogue.features[m][k].tolist() for m in modalities}


def first_push(engine, speaker="a"):
    return {"speaker": speaker, "features": {m: [0.5] * dim
                                             for m, dim in engine.modalities.items()}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
