"""Small MMSA and MulT sentiment pickles, written here in their layouts.

Features are random except for a planted sentiment: every valid row of a
clip's sequence adds ``score / 3`` times a fixed unit direction per
modality, so a model that reads the features beats chance. Sequences are
zero-padded after their valid rows (MMSA) or before them (MulT, as the
CMU-MultimodalSDK aligns), and stored in shuffled clip order, with clips 9
and 10 in every long video, so that only a numeric clip order is right.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np

DIMS = {"text": 6, "audio": 4, "visual": 3}
STEPS = 5
#: Videos per split and clips per video: the first video of each split has
#: 11 clips (0 .. 10), the others 1 .. 4.
SPLITS = {"train": 24, "valid": 6, "test": 6}


@dataclass
class Clips:
    """One split's clips in stored (shuffled) order."""
    videos: list[str]
    clips: list[int]
    scores: np.ndarray                  # [N]
    sequences: dict[str, np.ndarray]    # modality -> [N, STEPS, dim], padding zero
    lengths: dict[str, np.ndarray]      # modality -> [N] valid rows (first ones)


def draw_clips(seed: int = 0, videos: dict[str, int] | None = None,
               steps: int = STEPS, dims: dict[str, int] | None = None,
               signal: float = 1.0) -> dict[str, Clips]:
    g = np.random.default_rng(seed)
    dims = dims or DIMS
    directions = {m: (lambda v: v / np.linalg.norm(v))(g.normal(size=d))
                  for m, d in dims.items()}
    out = {}
    for split, count in (videos or SPLITS).items():
        rows = []
        for v in range(count):
            clips = 11 if v == 0 else int(g.integers(1, 5))
            rows += [(f"{split}-v{v}", c) for c in range(clips)]
        order = g.permutation(len(rows))
        rows = [rows[i] for i in order]
        n = len(rows)
        scores = np.round(g.uniform(-3, 3, n), 1)
        sequences, lengths = {}, {}
        for m, d in dims.items():
            length = g.integers(1, steps + 1, n)
            x = g.normal(size=(n, steps, d)).astype(np.float32)
            x += (signal * scores / 3)[:, None, None] * directions[m].astype(np.float32)
            x[np.arange(steps)[None, :] >= length[:, None]] = 0
            sequences[m], lengths[m] = x, length
        out[split] = Clips([v for v, _ in rows], [c for _, c in rows], scores,
                           sequences, lengths)
    return out


def mmsa_layout(clips: dict[str, Clips], aligned: bool = False) -> dict:
    """MMSA's ``aligned_50.pkl``/``unaligned_50.pkl``: ids ``video$_$clip``;
    text with ``text_bert`` (ids, attention mask, segments) whose mask gives
    text's lengths; audio and vision lengths where unaligned."""
    data = {}
    for split, c in clips.items():
        n, steps = len(c.scores), c.sequences["text"].shape[1]
        mask = (np.arange(steps)[None, :] < c.lengths["text"][:, None]).astype(np.float32)
        arrays = {
            "raw_text": np.array([f"{v} clip {k}" for v, k in zip(c.videos, c.clips)],
                                 dtype=object),
            "text": c.sequences["text"],
            "text_bert": np.stack([mask * 101, mask, np.zeros_like(mask)], 1),
            "audio": c.sequences["audio"].astype(np.float64),
            "vision": c.sequences["visual"],
            "id": np.array([f"{v}$_${k}" for v, k in zip(c.videos, c.clips)], dtype=object),
            "regression_labels": c.scores.astype(np.float32),
            "classification_labels": (c.scores > 0).astype(np.float32),
        }
        if not aligned:
            arrays["audio_lengths"] = list(c.lengths["audio"])
            arrays["vision_lengths"] = list(c.lengths["visual"])
        assert n == len(arrays["id"])
        data[split] = arrays
    return data


def mult_layout(clips: dict[str, Clips]) -> dict:
    """MulT's ``mosei_senti_data.pkl``: labels ``[N, 1, 1]``, ids ``[N, 3]``
    of bytes (video, start, end), sequences padded at the front."""
    data = {}
    for split, c in clips.items():
        front = {m: _pad_front(x, c.lengths[m]) for m, x in c.sequences.items()}
        ids = np.array([[v.encode(), f"{2.5 * k:g}".encode(), f"{2.5 * k + 2:g}".encode()]
                        for v, k in zip(c.videos, c.clips)])
        data[split] = {"text": front["text"], "audio": front["audio"],
                       "vision": front["visual"],
                       "labels": c.scores.astype(np.float32).reshape(-1, 1, 1), "id": ids}
    return data


def _pad_front(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x)
    for i, n in enumerate(lengths):
        out[i, x.shape[1] - n:] = x[i, :n]
    return out


def write(path, data, protocol: int = 4):
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path
