"""Pickled corpora from CORECT and from DialogueRNN/COGMEN, and the
multimodal sentiment pickles of MMSA and MulT
(:mod:`dialogues.sentiment_pickles`).

Both are read with :func:`dialogues.safe_pickle.safe_load`, never plain
:func:`pickle.load`.

**CORECT** (``data_iemocap.pkl``, ``data_iemocap_4.pkl``...): a dict with
keys ``train``, ``dev`` and ``test``, each a list of per-dialogue dicts with
``vid``, ``speakers`` (per utterance), ``labels`` (ints), the feature
sequences ``text``, ``audio`` and ``visual`` (any of them; one vector per
utterance) and, optionally, ``sentence`` (the transcripts). Any other key
holding one number per utterance (``reply_to``, ``timestamp``...) is read
as an annotation that edge builders may use; other keys are ignored.

The DialogueRNN/COGMEN tuple has a fixed layout with no place for
annotations; a corpus that needs them is saved in the open format or as a
CORECT pickle.

**DialogueRNN/COGMEN** (``IEMOCAP_features.pkl``): a Python 2 pickle of the
9-tuple ``(videoIDs, videoSpeakers, videoLabels, videoText, videoAudio,
videoVisual, videoSentence, trainVid, testVid)``; the first seven are dicts
keyed by dialogue id. It has no dev split: as CORECT's ``preprocess.py``
does, dev is the *first* ``int(0.1 * len(trainVid))`` ids of ``trainVid`` in
stored order (sorted order if ``trainVid`` is a set), train the rest.

**Label names.** Pickles hold label indices only. Names come from, in
order: a sidecar YAML next to the pickle with the same stem
(``data_iemocap.yaml`` for ``data_iemocap.pkl``) holding ``labels:`` (and
optionally ``name``, ``source``, ``licence``, ``encoder``); else the known
label set (:data:`~dialogues.label_sets.KNOWN_LABEL_SETS`) of the corpus
name, given as ``name=`` or recognised in the file name (``iemocap_4``,
``iemocap``, ``meld``); else ``"0"`` ... ``"K-1"`` with ``K`` one more
than the largest label index.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from .corpus import Corpus, choose_modalities
from .dialogue import Dialogue
from .errors import DataError
from .label_sets import KNOWN_LABEL_SETS, guess_corpus_name
from .safe_pickle import safe_load
from .sentiment_pickles import is_sentiment_pickle, read_sentiment_pickle

PICKLE_MODALITIES = ("text", "audio", "visual")
CORECT_RECORD_KEYS = ("vid", "speakers", "labels", "sentence") + PICKLE_MODALITIES
DIALOGUERNN_FIELDS = ("videoIDs", "videoSpeakers", "videoLabels", "videoText",
                      "videoAudio", "videoVisual", "videoSentence", "trainVid",
                      "testVid")
#: Text features of CORECT's preprocess.py (768-d).
CORECT_TEXT_ENCODER = "sentence-transformers/paraphrase-distilroberta-base-v1"


def read_pickle(path: str | os.PathLike, name: str | None = None,
                modalities: Sequence[str] | None = None,
                pool: str | None = None) -> Corpus:
    r"""Read a CORECT, DialogueRNN/COGMEN, MMSA or MulT pickle, telling them
    apart by their content.

    Args:
        path (str or PathLike): The pickle file.
        name (str, optional): Corpus name; picks the label names of a known
            corpus. Guessed from the file name when :obj:`None`.
        modalities (Sequence[str], optional): Modalities to keep, in this
            order; all that the pickle has when :obj:`None`.
        pool (str, optional): How the sentiment pickles' per-clip sequences
            become one vector (``mean``, ``last``, ``max``; default
            ``mean``). The other layouts store one vector per utterance and
            refuse it.
    """
    path = Path(path)
    data = safe_load(path)
    if is_sentiment_pickle(data):
        return read_sentiment_pickle(path, data, name or pickle_name(path), modalities,
                                     pool)
    if pool is not None:
        raise DataError(f"pool={pool!r}: {path} stores one vector per utterance; "
                        "pooling applies to the sentiment pickles' sequences only")
    reader = _Reader(path, modalities)
    if isinstance(data, dict):
        splits, fmt = reader.corect(data), "corect_pickle"
    elif isinstance(data, (tuple, list)):
        splits, fmt = reader.dialoguernn(data), "dialoguernn_pickle"
    else:
        raise DataError(
            f"{path} holds a {type(data).__name__}: neither a CORECT pickle "
            "(a dict with train/dev/test) nor a DialogueRNN/COGMEN feature "
            "tuple")
    sidecar = _read_sidecar(path)
    name = name or pickle_name(path, sidecar)
    labels = _label_names(path, name, sidecar, splits)
    metadata: dict[str, Any] = {"format": fmt, "path": str(path)}
    if fmt == "corect_pickle" and reader.dims.get("text") == 768:
        metadata["encoder"] = CORECT_TEXT_ENCODER
    metadata.update({k: v for k, v in sidecar.items()
                     if k not in ("name", "labels")})
    return Corpus(name=name, labels=labels, modalities=reader.modalities(),
                  splits=splits, metadata=metadata)


def pickle_name(path: str | os.PathLike, sidecar: dict[str, Any] | None = None) -> str:
    """The name :func:`read_pickle` gives the corpus in :obj:`path`, read
    without unpickling it: its sidecar's ``name``, else the known corpus its
    file name points at, else the file name without its suffix."""
    path = Path(path)
    if sidecar is None:
        sidecar = _read_sidecar(path)
    return sidecar.get("name") or guess_corpus_name(path.name) or path.stem


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".yaml")
    if not sidecar.is_file():
        return {}
    try:
        spec = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DataError(f"cannot read label sidecar {sidecar}: {error}") from None
    labels = spec.get("labels") if isinstance(spec, dict) else None
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise DataError(f"{sidecar}: key 'labels' must be a non-empty list of "
                        "distinct label names")
    return {**spec, "labels": tuple(labels)}


def _label_names(path: Path, name: str, sidecar: dict[str, Any],
                 splits: dict[str, list[Dialogue]]) -> tuple[str, ...]:
    top, where = -1, ""
    for split, dialogues in splits.items():
        for dialogue in dialogues:
            value = int(dialogue.labels.max())
            if value > top:
                top, where = value, f"{split} dialogue {dialogue.id!r}"
    if "labels" in sidecar:
        labels, origin = sidecar["labels"], f"sidecar {path.with_suffix('.yaml')}"
    elif name in KNOWN_LABEL_SETS:
        labels, origin = KNOWN_LABEL_SETS[name], f"the {name!r} label set"
    else:
        return tuple(str(i) for i in range(top + 1))
    if top >= len(labels):
        raise DataError(
            f"{path}: {where} has label {top}, but {origin} names only "
            f"{len(labels)} labels {list(labels)}; pass name= or add a "
            "sidecar .yaml with the right labels")
    return tuple(labels)


class _Reader:
    """Turns per-dialogue records into checked :class:`Dialogue` s,
    tracking feature dimensions across dialogues."""

    def __init__(self, path: Path, modalities: Sequence[str] | None) -> None:
        self.path = path
        self.selected = None if modalities is None else list(modalities)
        self.dims: dict[str, int] = {}
        self.available: list[str] = []

    def modalities(self) -> dict[str, int]:
        names = self.available if self.selected is None else self.selected
        if not all(m in self.dims for m in names):
            raise DataError(f"{self.path}: no dialogues to take feature "
                            "dimensions from")
        return {m: self.dims[m] for m in names}

    def _choose(self, available: list[str], where: str) -> list[str]:
        if not available:
            raise DataError(f"{self.path}: {where} has no features under "
                            f"{', '.join(PICKLE_MODALITIES)}")
        self.available = available
        return choose_modalities(self.selected, available, str(self.path))

    def corect(self, data: dict) -> dict[str, list[Dialogue]]:
        if not any(k in data for k in ("train", "dev", "test")):
            raise DataError(f"{self.path}: a CORECT pickle is a dict with keys "
                            f"train, dev, test; this one has {sorted(map(str, data))}")
        chosen: list[str] | None = None
        splits = {}
        for split, records in data.items():
            if not isinstance(records, (list, tuple)):
                raise DataError(f"{self.path}: split {split!r} is a "
                                f"{type(records).__name__}, not a list of dialogues")
            dialogues = []
            for k, record in enumerate(records):
                where = f"{split}[{k}]"
                if not isinstance(record, dict):
                    raise DataError(f"{self.path}: {where} is a "
                                    f"{type(record).__name__}, not a dict")
                if "vid" in record:
                    where += f" (dialogue {str(record['vid'])!r})"
                for key in ("vid", "speakers", "labels"):
                    if key not in record:
                        raise DataError(f"{self.path}: {where}: missing key {key!r}")
                if chosen is None:
                    chosen = self._choose(
                        [m for m in PICKLE_MODALITIES if m in record], where)
                for m in chosen:
                    if m not in record:
                        raise DataError(f"{self.path}: {where}: missing key {m!r}")
                dialogues.append(self.dialogue(
                    where, record["vid"], record["speakers"], record["labels"],
                    {m: record[m] for m in chosen}, record.get("sentence"),
                    _annotations(record, len(record["speakers"]))))
            splits[str(split)] = dialogues
        if chosen is None:
            raise DataError(f"{self.path}: no dialogues in any split")
        return splits

    def dialoguernn(self, data: tuple | list) -> dict[str, list[Dialogue]]:
        if len(data) != len(DIALOGUERNN_FIELDS):
            raise DataError(
                f"{self.path}: a DialogueRNN/COGMEN feature pickle is a "
                f"{len(DIALOGUERNN_FIELDS)}-tuple ({', '.join(DIALOGUERNN_FIELDS)}); "
                f"this one has {len(data)} elements")
        fields = dict(zip(DIALOGUERNN_FIELDS, data))
        for key in DIALOGUERNN_FIELDS[:7]:
            if not isinstance(fields[key], dict):
                raise DataError(f"{self.path}: {key} is a "
                                f"{type(fields[key]).__name__}, not a dict")
        train, test = (self._ids(fields[k], k) for k in ("trainVid", "testVid"))
        dev_size = int(0.1 * len(train))
        order = {"train": train[dev_size:], "dev": train[:dev_size], "test": test}
        chosen = self._choose([m for m in PICKLE_MODALITIES
                               if fields[f"video{m.capitalize()}"]], "the pickle")

        def entry(key: str, vid: Any) -> Any:
            try:
                return fields[key][vid]
            except KeyError:
                raise DataError(f"{self.path}: {key} has no entry for dialogue "
                                f"{vid!r}") from None

        return {split: [self.dialogue(
            f"{split} dialogue {str(vid)!r}", vid, entry("videoSpeakers", vid),
            entry("videoLabels", vid),
            {m: entry(f"video{m.capitalize()}", vid) for m in chosen},
            fields["videoSentence"].get(vid)) for vid in vids]
            for split, vids in order.items()}

    def _ids(self, ids: Any, key: str) -> list:
        if isinstance(ids, (set, frozenset)):
            return sorted(ids)
        if isinstance(ids, (list, tuple, np.ndarray)):
            return [v.item() if isinstance(v, np.generic) else v for v in ids]
        raise DataError(f"{self.path}: {key} is a {type(ids).__name__}, not a "
                        "list of dialogue ids")

    def dialogue(self, where: str, vid: Any, speakers: Any, labels: Any,
                 features: dict[str, Any], texts: Any,
                 annotations: dict[str, np.ndarray] | None = None) -> Dialogue:
        at = f"{self.path}: {where}"
        speakers = [_speaker(s) for s in speakers]
        length = len(speakers)
        if length == 0:
            raise DataError(f"{at} has no utterances")
        labels = np.asarray(labels)
        if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer)
                                    or (np.issubdtype(labels.dtype, np.floating)
                                        and np.all(labels == np.round(labels)))):
            raise DataError(f"{at}: labels must be a list of integers")
        arrays = {}
        for modality, value in features.items():
            try:
                array = np.asarray(value, dtype=np.float32)
            except (ValueError, TypeError) as error:
                raise DataError(f"{at}: {modality!r} features are not a "
                                f"[{length}, dim] array: {error}") from None
            if array.ndim != 2 or array.shape[0] != length:
                raise DataError(f"{at}: {modality!r} features have shape "
                                f"{list(array.shape)}, expected [{length}, dim]")
            dim = self.dims.setdefault(modality, array.shape[1])
            if array.shape[1] != dim:
                raise DataError(f"{at}: {modality!r} features are {array.shape[1]}-d, "
                                f"earlier dialogues' are {dim}-d")
            finite = np.isfinite(array).all(axis=1)
            if not finite.all():
                row = int(np.flatnonzero(~finite)[0])
                raise DataError(f"{at}: non-finite {modality!r} features at "
                                f"utterance {row}")
            arrays[modality] = array
        if texts is not None:
            texts = [t.decode("latin1") if isinstance(t, bytes) else str(t)
                     for t in texts]
        try:
            return Dialogue(id=str(vid), speakers=speakers,
                            labels=labels.astype(np.int64), features=arrays,
                            turns=list(range(length)), texts=texts,
                            annotations=annotations or {})
        except DataError as error:
            raise DataError(f"{self.path}: {where}: {error}") from None


def _annotations(record: dict, length: int) -> dict[str, np.ndarray]:
    """The record's extra keys that hold one number per utterance."""
    found = {}
    for key, value in record.items():
        if key in CORECT_RECORD_KEYS or not isinstance(key, str) or key == "turn":
            continue
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if array.ndim == 1 and array.shape[0] == length:
            found[key] = array
    return found


def _speaker(value: Any) -> str:
    # MELD's DialogueRNN features give speakers as one-hot vectors.
    if isinstance(value, (str, bytes)):
        return value.decode("latin1") if isinstance(value, bytes) else value
    array = np.asarray(value)
    if array.ndim == 1 and array.size > 1:
        return str(int(array.argmax()))
    return str(array.item() if array.ndim == 0 else value)
