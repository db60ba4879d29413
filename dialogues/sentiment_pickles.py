"""Multimodal sentiment pickles (CMU-MOSEI, CMU-MOSI, CH-SIMS) as monologues.

Two preprocessed layouts are common; both are a dict of splits (``train``,
``valid``, ``test``), each a dict of arrays with one row per clip, read with
:func:`dialogues.safe_pickle.safe_load`:

**MMSA** (``aligned_50.pkl``, ``unaligned_50.pkl``; MMSA's
``MMDataLoader``): ``text`` (features ``[N, L, 768]``; ``text_bert`` holds
BERT's token ids, attention mask and segment ids ``[N, 3, L]``), ``audio``
and ``vision`` ``[N, L, dim]``, ``audio_lengths`` and ``vision_lengths``
``[N]`` where unaligned, ``regression_labels`` ``[N]``, ``id``
(``videoid$_$clip``) and ``raw_text`` where present.

**MulT / CMU-MultimodalSDK** (``mosei_senti_data.pkl``; MulT's
``Multimodal_Datasets``): ``text``, ``audio``, ``vision`` ``[N, L, dim]``,
``labels`` ``[N, 1, 1]`` and ``id`` ``[N, 3]``: video id, clip start and
end in seconds.

**Clips to dialogues.** A video is a dialogue with one speaker (named by
the video id); its clips are its turns, in clip order (MMSA: the integer
clip index, which is the turn number; MulT: the start time, turns
numbered 0, 1, ... with ``start`` and ``end`` kept as annotations). Split
``valid`` is named ``dev``.

**Sequences to vectors.** Each clip's ``[L, dim]`` sequence becomes one
vector by pooling over its valid rows (:data:`POOLS`): ``mean`` (the
default), ``max``, or the ``last`` valid row. Valid rows are the first
``length`` rows where a length is stored (``audio_lengths``,
``vision_lengths``, and for ``text`` the attention mask in ``text_bert``),
and otherwise the rows that are not all zero (both layouts pad with zero
rows). A clip with no valid row pools to zeros, what its padding holds.
As both loaders do, ``-inf`` in ``audio`` (COVAREP's log of silence) reads
as 0. Any other non-finite value in a valid row is an error.

**Labels.** The score (``regression_labels``, ``labels``), in
:math:`[-3, 3]`, is kept per utterance (:attr:`Dialogue.scores`); the
labels are its 7 classes (:data:`~dialogues.views.SENTIMENT_7`) until a
label view (``sentiment_2``, ``sentiment_2_nonzero``, ``sentiment_7``)
relabels them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .corpus import Corpus, choose_modalities
from .dialogue import Dialogue
from .errors import DataError
from .views import SCORE_VIEWS, SENTIMENT_7

#: How a clip's sequence becomes one vector.
POOLS = ("mean", "last", "max")
#: ergraph's modality name -> the layouts' key.
MODALITY_KEYS = {"text": "text", "audio": "audio", "visual": "vision"}
#: MMSA's stored lengths, by modality; text's come from ``text_bert``'s mask.
MMSA_LENGTHS = {"audio": "audio_lengths", "visual": "vision_lengths"}
CLIP_SEPARATOR = "$_$"
SPLIT_NAMES = {"valid": "dev"}
#: Clips pooled at once: bounds the copies of a ``[N, L, dim]`` array.
CHUNK = 512


def is_sentiment_pickle(data: Any) -> bool:
    """Whether unpickled :obj:`data` has the sentiment layouts' shape: a dict
    of splits that are dicts of arrays (CORECT's splits are lists)."""
    return isinstance(data, dict) and any(isinstance(v, dict) for v in data.values())


def pool_sequences(x: np.ndarray, valid: np.ndarray, pool: str) -> np.ndarray:
    r"""One vector per sequence from its valid rows.

    Args:
        x (ndarray): Sequences, shape :obj:`[N, L, dim]`.
        valid (ndarray): Which rows are not padding, bool :obj:`[N, L]`.
        pool (str): ``"mean"``, ``"max"`` or ``"last"`` (the last valid row).

    Returns:
        ndarray: float32 :obj:`[N, dim]`; zeros for a sequence with no
        valid row. Padding rows never count, whatever they hold.
    """
    x = np.where(valid[:, :, None], x, 0).astype(np.float32, copy=False)
    count = valid.sum(1)
    if pool == "mean":
        return (x.sum(1) / np.maximum(count, 1)[:, None]).astype(np.float32)
    if pool == "max":
        top = np.where(valid[:, :, None], x, -np.inf).max(1)
        return np.where(count[:, None] > 0, top, 0).astype(np.float32)
    if pool == "last":
        last = x.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
        return x[np.arange(len(x)), last]  # zeros when nothing is valid
    raise ValueError(f"unknown pool {pool!r}; choices: {', '.join(POOLS)}")


def read_sentiment_pickle(path: Path, data: dict, name: str,
                          modalities: Sequence[str] | None = None,
                          pool: str | None = None) -> Corpus:
    r"""Read an unpickled MMSA or MulT sentiment pickle (see the module).

    Args:
        path (Path): The file, for messages and metadata.
        data (dict): Its content, from the restricted unpickler.
        name (str): The corpus name.
        modalities (Sequence[str], optional): Modalities to read, in this
            order, among ``text``, ``audio``, ``visual``. (default: all)
        pool (str, optional): ``mean``, ``last`` or ``max``. (default:
            ``mean``)

    Raises:
        DataError: Naming the file, split, key and row at fault.
    """
    pool = "mean" if pool is None else pool
    if pool not in POOLS:
        raise DataError(f"pool={pool!r}: choices: {', '.join(POOLS)}")
    reader = _SentimentReader(path, pool)
    layout = reader.layout(data)
    for source, target in SPLIT_NAMES.items():
        if source in data and target in data:
            raise DataError(f"{path}: splits {source!r} and {target!r} both present; "
                            f"{source!r} is read as {target!r}")
    first = next(iter(data.values()))
    available = [m for m, key in MODALITY_KEYS.items()
                 if key in first or (m == "text" and "text_bert" in first)]
    chosen = choose_modalities(modalities, available, str(path))
    if "text" in chosen and "text" not in first and "text_bert" in first:
        raise DataError(f"{path}: split {next(iter(data))!r} has text_bert (BERT's token "
                        "ids, mask and segment ids) but no text features; read the other "
                        "modalities (dataset.modalities=audio,visual) or add text features")
    # Messages name the file's own split names.
    dialogues = {SPLIT_NAMES.get(str(split), str(split)):
                 reader.split(str(split), arrays, layout, chosen)
                 for split, arrays in data.items()}
    metadata: dict[str, Any] = {"format": f"{layout}_pickle", "path": str(path),
                                "pool": pool}
    if reader.empty:
        metadata["empty_sequences"] = dict(reader.empty)
    return Corpus(name=name, labels=SENTIMENT_7,
                  modalities={m: reader.dims[m] for m in chosen},
                  splits=dialogues, metadata=metadata)


class _SentimentReader:
    """Turns one split's arrays into monologue :class:`Dialogue` s."""

    def __init__(self, path: Path, pool: str) -> None:
        self.path = path
        self.pool = pool
        self.dims: dict[str, int] = {}
        self.empty: dict[str, int] = {}

    def layout(self, data: dict) -> str:
        for split, arrays in data.items():
            if not isinstance(arrays, dict):
                raise DataError(f"{self.path}: split {split!r} is a {type(arrays).__name__}, "
                                "not a dict of arrays as in MMSA's and MulT's pickles")
        keys = set().union(*(map(str, a) for a in data.values()))
        if "regression_labels" in keys:
            return "mmsa"
        if "labels" in keys:
            return "mult"
        raise DataError(f"{self.path}: a sentiment pickle's splits hold "
                        "regression_labels (MMSA) or labels (MulT); these hold "
                        f"{sorted(keys)}")

    def fail(self, split: str, key: str, message: str) -> DataError:
        return DataError(f"{self.path}: split {split!r}, key {key!r}: {message}")

    def array(self, split: str, arrays: dict, key: str, rows: int | None) -> np.ndarray:
        if key not in arrays:
            raise DataError(f"{self.path}: split {split!r}: missing key {key!r} "
                            f"(it has {', '.join(sorted(map(str, arrays)))})")
        try:
            value = np.asarray(arrays[key])
        except (TypeError, ValueError) as error:
            raise self.fail(split, key, f"not an array: {error}") from None
        if value.ndim == 0 or (rows is not None and value.shape[0] != rows):
            raise self.fail(split, key, f"shape {list(value.shape)}, expected {rows} rows "
                                        "(one per clip)")
        return value

    def split(self, split: str, arrays: dict, layout: str,
              modalities: list[str]) -> list[Dialogue]:
        scores = self.scores(split, arrays, layout)
        rows = len(scores)
        ids = self.array(split, arrays, "id", rows)
        clips = (self.mmsa_clips if layout == "mmsa" else self.mult_clips)(split, ids)
        features = {m: self.features(split, arrays, layout, m, rows) for m in modalities}
        texts = None
        if layout == "mmsa" and "raw_text" in arrays:
            texts = [str(t) for t in self.array(split, arrays, "raw_text", rows)]
        videos: dict[str, list[int]] = {}
        for row, (video, _, _) in enumerate(clips):
            videos.setdefault(video, []).append(row)
        dialogues = []
        for video, members in videos.items():
            members.sort(key=lambda row: clips[row][1])
            for a, b in zip(members, members[1:]):
                if clips[a][1] == clips[b][1]:
                    raise self.fail(split, "id", f"rows {a} and {b} are the same clip "
                                                 f"{clips[a][1]} of video {video!r}")
            keep = np.asarray(members)
            annotations = {}
            if layout == "mult":
                annotations = {"start": [clips[r][1] for r in members],
                               "end": [clips[r][2] for r in members]}
            turns = ([int(clips[r][1]) for r in members] if layout == "mmsa"
                     else list(range(len(members))))
            dialogues.append(Dialogue(
                id=video, speakers=[video] * len(members),
                labels=SCORE_VIEWS["sentiment_7"].label(torch.from_numpy(scores[keep])),
                features={m: torch.from_numpy(x[keep]) for m, x in features.items()},
                turns=turns, texts=None if texts is None else [texts[r] for r in members],
                annotations=annotations, scores=torch.from_numpy(scores[keep])))
        return dialogues

    def scores(self, split: str, arrays: dict, layout: str) -> np.ndarray:
        key = "regression_labels" if layout == "mmsa" else "labels"
        value = self.array(split, arrays, key, None)
        # MulT's are [N, 1, 1] and MMSA's [N]; MulT's IEMOCAP emotion labels
        # ([N, 4, 2]) are not scores.
        if any(d != 1 for d in value.shape[1:]):
            raise self.fail(split, key, f"shape {list(value.shape)}: expected one sentiment "
                                        "score per clip ([N], [N, 1] or [N, 1, 1])")
        try:
            scores = value.reshape(-1).astype(np.float64)
        except (TypeError, ValueError) as error:
            raise self.fail(split, key, f"not numbers: {error}") from None
        bad = ~np.isfinite(scores)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise self.fail(split, key, f"row {row}: score {scores[row]} is not finite")
        return scores

    def mmsa_clips(self, split: str, ids: np.ndarray) -> list[tuple[str, int, None]]:
        clips = []
        for row, value in enumerate(ids.reshape(-1)):
            text = _text(value)
            video, separator, clip = text.rpartition(CLIP_SEPARATOR)
            try:
                index = int(clip)
            except ValueError:
                index = None
            if not separator or not video or index is None:
                raise self.fail(split, "id", f"row {row}: {text!r} is not "
                                             f"'videoid{CLIP_SEPARATOR}clip' with an "
                                             "integer clip index")
            clips.append((video, index, None))
        return clips

    def mult_clips(self, split: str, ids: np.ndarray) -> list[tuple[str, float, float]]:
        if ids.ndim != 2 or ids.shape[1] != 3:
            raise self.fail(split, "id", f"shape {list(ids.shape)}, expected [N, 3]: "
                                         "video id, clip start, clip end")
        clips = []
        for row, (video, start, end) in enumerate(ids):
            try:
                clips.append((_text(video), float(_text(start)), float(_text(end))))
            except ValueError:
                raise self.fail(split, "id", f"row {row}: start {_text(start)!r} and end "
                                             f"{_text(end)!r} must be seconds") from None
        return clips

    def features(self, split: str, arrays: dict, layout: str, modality: str,
                 rows: int) -> np.ndarray:
        key = MODALITY_KEYS[modality]
        x = self.array(split, arrays, key, rows)
        if x.ndim not in (2, 3) or not np.issubdtype(x.dtype, np.number):
            raise self.fail(split, key, f"{x.dtype} array of shape {list(x.shape)}; "
                                        "expected numbers, [N, L, dim] or [N, dim]")
        if x.ndim == 2:
            x = x[:, None, :]
        dim = self.dims.setdefault(modality, x.shape[2])
        if x.shape[2] != dim:
            raise self.fail(split, key, f"{x.shape[2]}-d, earlier splits' are {dim}-d")
        lengths = self.lengths(split, arrays, layout, modality, x.shape[:2])
        out = np.empty((rows, dim), np.float32)
        for start in range(0, rows, CHUNK):
            chunk = x[start:start + CHUNK].astype(np.float32)
            if modality == "audio":
                chunk[chunk == -np.inf] = 0
            valid = (np.any(chunk != 0, axis=2) if lengths is None else
                     np.arange(chunk.shape[1]) < lengths[start:start + CHUNK, None])
            bad = valid & ~np.isfinite(chunk).all(axis=2)
            if bad.any():
                row, step = (int(i[0]) for i in np.nonzero(bad))
                raise self.fail(split, key, f"row {start + row}, position {step}: "
                                            "non-finite feature")
            out[start:start + CHUNK] = pool_sequences(chunk, valid, self.pool)
            empty = int((~valid.any(1)).sum())
            if empty:
                self.empty[modality] = self.empty.get(modality, 0) + empty
        return out

    def lengths(self, split: str, arrays: dict, layout: str, modality: str,
                shape: tuple[int, int]) -> np.ndarray | None:
        """Stored valid lengths, or None to find padding as all-zero rows."""
        rows, steps = shape
        if layout != "mmsa":
            return None
        if modality == "text":
            if "text_bert" not in arrays:
                return None
            key, tokens = "text_bert", self.array(split, arrays, "text_bert", rows)
            if tokens.shape[1:] != (3, steps):
                raise self.fail(split, key, f"shape {list(tokens.shape)}, expected "
                                            f"[{rows}, 3, {steps}] (ids, mask, segments) "
                                            "beside text's length")
            lengths = tokens[:, 1, :].sum(1)
        elif MMSA_LENGTHS[modality] in arrays:
            key = MMSA_LENGTHS[modality]
            lengths = self.array(split, arrays, key, rows).reshape(rows)
        else:
            return None  # aligned: padded with zero rows
        if not np.issubdtype(np.asarray(lengths).dtype, np.number):
            raise self.fail(split, key, "lengths must be numbers")
        lengths = np.asarray(lengths, dtype=np.float64)
        bad = (lengths != np.round(lengths)) | (lengths < 0) | (lengths > steps)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise self.fail(split, key, f"row {row}: length {lengths[row]} is not a whole "
                                        f"number of steps in 0..{steps}")
        return lengths.astype(np.int64)


def _text(value: Any) -> str:
    """An id field as text: the layouts store str, bytes or numpy scalars."""
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    return str(value)
