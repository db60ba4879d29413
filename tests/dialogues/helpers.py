"""Plain helpers that the dialogue tests share: pickles in CORECT's layout,
and an object whose unpickling would run a shell command."""
from __future__ import annotations

import os
import pickle

import numpy as np


def corect_dialogue(vid, speakers, labels, offset=0.0):
    T = len(speakers)
    rows = np.arange(T, dtype=np.float32)[:, None] + offset
    return {"vid": vid, "speakers": speakers, "labels": labels,
            "text": [r for r in np.repeat(rows, 4, 1)],     # list of vectors
            "audio": np.repeat(rows, 2, 1) * 10,             # one array
            "visual": [list(r) for r in np.repeat(rows, 3, 1)],  # nested lists
            "sentence": [f"{vid}-{i}" for i in range(T)]}


def write_corect(path, data):
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


class SystemCall:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
