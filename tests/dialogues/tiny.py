"""A seven-utterance corpus that tests can check by hand."""
from __future__ import annotations

import numpy as np

TINY_ROWS = [
    # dialogue_id, turn, speaker, label, split, text
    ("d1", "0", "Ann", "hap", "train", "hello"),
    ("d1", "1", "Bob", "sad", "train", "oh, no"),
    ("d1", "2", "Ann", "", "train", "well"),
    ("d2", "5", "Cid", "neu", "test", "hi"),
    ("d2", "7", "Ann", "ang", "test", "go away"),
    ("d2", "8", "Bob", "hap", "test", "ha"),
    ("d2", "9", "Cid", "neu", "test", "ok"),
]
TINY_LABELS = ["hap", "sad", "neu", "ang"]


def tiny_features(rows: int = len(TINY_ROWS)) -> dict[str, np.ndarray]:
    """Row ``i`` of modality ``text`` is ``[i, i + 0.5]``; of ``audio``,
    ``[-i, -i, -i]``."""
    i = np.arange(rows, dtype=np.float32)[:, None]
    return {"text": np.hstack([i, i + 0.5]), "audio": np.repeat(-i, 3, axis=1)}
