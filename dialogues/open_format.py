"""ergraph's open corpus format: a folder anyone can write.

``dataset.yaml``
    ``name`` (str), ``labels`` (list of label names, index order) and
    ``modalities`` (mapping of modality name to feature dimension) are
    required; any other key (``features``, ``source``, ``licence``,
    ``encoder``...) is kept in :attr:`Corpus.metadata`.
``utterances.csv``
    UTF-8 CSV with a header and columns ``dialogue_id``, ``turn``,
    ``speaker``, ``label``, ``split`` and optionally ``text`` and
    ``score`` (the continuous score behind the label, such as a sentiment
    score; empty where unknown), one row per utterance. A dialogue's rows are contiguous, its turns strictly
    increase and its split is the same on every row; an empty label means
    unknown. Any other column whose cells are all numbers (or empty) is an
    annotation, a per-utterance value that edge builders may read
    (``reply_to``, ``timestamp``...); empty cells are missing (NaN).
    Other columns are kept out and listed in the metadata under
    ``non_numeric_columns``.
``features.npz``
    One float array per modality, named as in ``modalities``, of shape
    ``[rows, dim]``: row ``i`` belongs to data row ``i`` of the CSV.

Messages give CSV positions as 1-based line numbers of the file, the
header being line 1 (a quoted text spanning lines counts all of them).
See ``docs/data-format.md``.
"""
from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml

from storage.atomic import staged_folder

from .corpus import Corpus, choose_modalities
from .dialogue import Dialogue
from .errors import DataError

UTTERANCES = "utterances.csv"
FEATURES = "features.npz"
DATASET = "dataset.yaml"
REQUIRED_COLUMNS = ("dialogue_id", "turn", "speaker", "label", "split")
REQUIRED_KEYS = ("name", "labels", "modalities")
OPTIONAL_COLUMNS = ("text", "score")


def is_open_format(path: Path) -> bool:
    """Whether :obj:`path` is a folder holding an open-format corpus (or
    meant to: any of its three files is there)."""
    return path.is_dir() and any((path / f).exists()
                                 for f in (UTTERANCES, FEATURES, DATASET))


def read_dataset_yaml(path: Path) -> dict[str, Any]:
    """Read and check ``dataset.yaml``.

    Returns:
        dict: The file's mapping with ``labels`` as a tuple and
        ``modalities`` as a dict of positive ints.
    """
    try:
        with open(path, encoding="utf-8") as file:
            spec = yaml.safe_load(file)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise DataError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(spec, dict):
        raise DataError(f"{path} must hold a mapping with keys "
                        f"{', '.join(REQUIRED_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in spec:
            raise DataError(f"{path}: missing key {key!r}")
    if not isinstance(spec["name"], str) or not spec["name"]:
        raise DataError(f"{path}: key 'name' must be a non-empty string")
    labels = spec["labels"]
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(x, str) and x for x in labels)):
        raise DataError(f"{path}: key 'labels' must be a non-empty list of "
                        f"label names, got {labels!r}")
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise DataError(f"{path}: key 'labels' repeats {repeated}")
    modalities = spec["modalities"]
    if (not isinstance(modalities, dict) or not modalities
            or not all(isinstance(k, str) and k and isinstance(v, int)
                       and not isinstance(v, bool) and v > 0
                       for k, v in modalities.items())):
        raise DataError(f"{path}: key 'modalities' must map modality names to "
                        f"positive dimensions, got {modalities!r}")
    return {**spec, "labels": tuple(labels), "modalities": dict(modalities)}


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Read a CSV file whole.

    Returns:
        tuple: The header (stripped names), the data rows, and each data
        row's first line number in the file (header = line 1).
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            reader = csv.reader(file, strict=True)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path} is empty; line 1 must be the header")
            rows, starts, end = [], [], reader.line_num
            for row in reader:
                rows.append(row)
                starts.append(end + 1)
                end = reader.line_num
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8: {error}") from None
    except csv.Error as error:
        raise DataError(f"{path}, line {reader.line_num}: {error}") from None
    return [h.strip() for h in header], rows, starts


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def read_open_format(folder: str | os.PathLike,
                     modalities: Sequence[str] | None = None) -> Corpus:
    r"""Read an open-format corpus folder.

    Args:
        folder (str or PathLike): The folder with ``dataset.yaml``,
            ``utterances.csv`` and ``features.npz``.
        modalities (Sequence[str], optional): Modalities to load, in this
            order; all of ``dataset.yaml``'s when :obj:`None`. Unselected
            arrays are not read.

    Raises:
        DataError: A file is missing or malformed, or the files disagree.
    """
    folder = Path(folder)
    for name in (DATASET, UTTERANCES, FEATURES):
        if not (folder / name).is_file():
            raise DataError(f"{folder}: missing file {name}; an open-format "
                            f"corpus has {DATASET}, {UTTERANCES} and {FEATURES}")
    yaml_path, csv_path = folder / DATASET, folder / UTTERANCES
    spec = read_dataset_yaml(yaml_path)
    label_names: tuple[str, ...] = spec["labels"]
    dims: dict[str, int] = spec["modalities"]
    selected = choose_modalities(modalities, list(dims),
                                 f"{yaml_path}: corpus {spec['name']!r}")

    header, rows, starts = read_csv_rows(csv_path)
    absent = [c for c in REQUIRED_COLUMNS if c not in header]
    if absent:
        raise DataError(f"{csv_path}, line 1 (header): missing column(s) "
                        f"{', '.join(absent)}; required: "
                        f"{', '.join(REQUIRED_COLUMNS)}, optional: "
                        f"{', '.join(OPTIONAL_COLUMNS)}")
    if not rows:
        raise DataError(f"{csv_path}: no utterances after the header")
    width = len(header)
    ragged = [i for i, row in enumerate(rows) if len(row) != width]
    if ragged:
        i = ragged[0]
        raise DataError(f"{csv_path}, line {starts[i]}: {len(rows[i])} fields, "
                        f"the header has {width}")
    columns = dict(zip(header, zip(*rows)))
    line = np.asarray(starts)
    n = len(rows)

    def fail(i: int, message: str) -> DataError:
        return DataError(f"{csv_path}, line {int(line[i])}: {message}")

    ids = np.asarray(columns["dialogue_id"], dtype=object)
    speakers = columns["speaker"]
    splits = np.asarray(columns["split"], dtype=object)
    for column, values in (("dialogue_id", ids), ("speaker", speakers),
                           ("split", splits)):
        empty = np.asarray([not v for v in values])
        if empty.any():
            raise fail(_first(empty), f"empty {column}")

    # Blocks of equal dialogue_id; the same id in two blocks is an error.
    new_block = np.ones(n, dtype=bool)
    new_block[1:] = ids[1:] != ids[:-1]
    block_starts = np.flatnonzero(new_block)
    if len(set(ids[block_starts])) != len(block_starts):
        seen: dict[str, int] = {}
        for s in block_starts.tolist():
            if ids[s] in seen:
                raise fail(s, f"dialogue {ids[s]!r} appears again; its rows "
                              f"must be contiguous (first block at line "
                              f"{int(line[seen[ids[s]]])})")
            seen[ids[s]] = s
    bounds = np.append(block_starts, n)

    try:
        turns = np.fromiter(map(int, columns["turn"]), dtype=np.int64, count=n)
    except ValueError:
        for i, value in enumerate(columns["turn"]):
            try:
                int(value)
            except ValueError:
                raise fail(i, f"turn {value!r} is not an integer") from None
        raise
    bad = ~new_block[1:] & (turns[1:] <= turns[:-1])
    if bad.any():
        i = _first(bad) + 1
        kind = "repeats" if turns[i] == turns[i - 1] else "is lower than"
        raise fail(i, f"dialogue {ids[i]!r}: turn {int(turns[i])} {kind} the "
                      f"previous turn {int(turns[i - 1])} (line "
                      f"{int(line[i - 1])}); turns must strictly increase")
    block_split = np.repeat(splits[block_starts], np.diff(bounds))
    bad = splits != block_split
    if bad.any():
        i = _first(bad)
        raise fail(i, f"dialogue {ids[i]!r} is in split {splits[i]!r} here but "
                      f"{block_split[i]!r} on its first row")

    index = {name: k for k, name in enumerate(label_names)}
    index[""] = -1
    labels = np.fromiter((index.get(v, -2) for v in columns["label"]),
                         dtype=np.int64, count=n)
    if (labels == -2).any():
        i = _first(labels == -2)
        raise fail(i, f"label {columns['label'][i]!r} is not in {yaml_path} "
                      f"labels {list(label_names)}")

    scores = None
    if "score" in columns:
        scores = np.empty(n, dtype=np.float64)
        for i, cell in enumerate(columns["score"]):
            cell = cell.strip()
            try:
                scores[i] = float(cell) if cell else np.nan
            except ValueError:
                raise fail(i, f"score {cell!r} is not a number") from None
        if np.isinf(scores).any():
            raise fail(_first(np.isinf(scores)), "score is infinite")
        scores = torch.from_numpy(scores)
    features = _read_features(folder / FEATURES, selected, dims, n, csv_path,
                              line, ids, turns)
    annotations, non_numeric = _read_annotations(header, columns)
    labels_t = torch.from_numpy(labels)
    texts = columns.get("text")
    split_dialogues: dict[str, list[Dialogue]] = {}
    turn_list = turns.tolist()
    for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        split_dialogues.setdefault(splits[s], []).append(Dialogue(
            id=ids[s],
            speakers=list(speakers[s:e]),
            labels=labels_t[s:e],
            features={m: x[s:e] for m, x in features.items()},
            turns=turn_list[s:e],
            texts=None if texts is None else list(texts[s:e]),
            annotations={name: values[s:e] for name, values in annotations.items()},
            scores=None if scores is None else scores[s:e],
        ))
    metadata = {k: v for k, v in spec.items() if k not in REQUIRED_KEYS}
    if non_numeric:
        metadata["non_numeric_columns"] = non_numeric
    metadata.update(format="open", path=str(folder))
    return Corpus(name=spec["name"], labels=label_names,
                  modalities={m: dims[m] for m in selected},
                  splits=split_dialogues, metadata=metadata)


def _read_annotations(header: list[str], columns: dict[str, tuple[str, ...]]
                      ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The numeric extra columns as float64 tensors (NaN where empty), and
    for every other extra column the first cell that is not a number."""
    annotations, non_numeric = {}, {}
    for name in header:
        if name in REQUIRED_COLUMNS or name in OPTIONAL_COLUMNS:
            continue
        values = np.empty(len(columns[name]), dtype=np.float64)
        for i, cell in enumerate(columns[name]):
            cell = cell.strip()
            try:
                values[i] = float(cell) if cell else np.nan
            except ValueError:
                non_numeric[name] = f"row {i + 1}: {cell[:40]!r} is not a number"
                break
        else:
            annotations[name] = torch.from_numpy(values)
    return annotations, non_numeric


def _read_features(path: Path, selected: list[str], dims: dict[str, int],
                   n: int, csv_path: Path, line: np.ndarray, ids: np.ndarray,
                   turns: np.ndarray) -> dict[str, torch.Tensor]:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz archive: {error}") from None
    features = {}
    with archive:
        for modality in selected:
            if modality not in archive.files:
                raise DataError(f"{path}: no array {modality!r} (it has "
                                f"{', '.join(archive.files) or 'none'})")
            try:
                array = archive[modality]
            except (OSError, ValueError, zipfile.BadZipFile) as error:
                raise DataError(f"{path}: cannot read array {modality!r}: "
                                f"{error}") from None
            where = f"{path}: array {modality!r}"
            if array.ndim != 2 or array.shape[1] != dims[modality]:
                raise DataError(f"{where} has shape {list(array.shape)}, "
                                f"expected [{n}, {dims[modality]}] "
                                "(dim from dataset.yaml)")
            if array.shape[0] != n:
                raise DataError(f"{where} has {array.shape[0]} rows but "
                                f"{csv_path} has {n} utterances")
            if not np.issubdtype(array.dtype, np.floating):
                raise DataError(f"{where} has dtype {array.dtype}; "
                                "features must be floats")
            array = array.astype(np.float32, copy=False)
            finite = np.isfinite(array).all(axis=1)
            if not finite.all():
                i = _first(~finite)
                value = array[i][~np.isfinite(array[i])][0]
                raise DataError(f"{where}, row {i} ({csv_path} line "
                                f"{int(line[i])}, dialogue {ids[i]!r} turn "
                                f"{int(turns[i])}): {value} in {modality!r} "
                                "features")
            features[modality] = torch.from_numpy(array)
    return features


def save_corpus(corpus: Corpus, folder: str | os.PathLike) -> Path:
    r"""Write a corpus in the open format, atomically.

    Files are written to a temporary folder next to :obj:`folder`, which
    is renamed into place only once everything is written, so an
    interrupted save leaves nothing at :obj:`folder`.

    Args:
        corpus (Corpus): The corpus; ``metadata`` entries that YAML can
            hold (except ``format`` and ``path``) go to ``dataset.yaml``.
        folder (str or PathLike): The folder to create; it must not exist.

    Returns:
        Path: :obj:`folder`.
    """
    folder = Path(folder)
    if folder.exists():
        raise DataError(f"{folder} already exists; refusing to overwrite it")
    with staged_folder(folder) as staging:
        _write(corpus, staging)
    return folder


def _write(corpus: Corpus, folder: Path) -> None:
    dialogues = [(split, d) for split, ds in corpus.splits.items() for d in ds]
    has_text = any(d.texts is not None for _, d in dialogues)
    has_scores = any(d.scores is not None for _, d in dialogues)
    annotation_names = sorted({name for _, d in dialogues for name in d.annotations})
    spec: dict[str, Any] = {"name": corpus.name, "labels": list(corpus.labels),
                            "modalities": dict(corpus.modalities)}
    for key, value in corpus.metadata.items():
        if (key not in ("format", "path", "non_numeric_columns") and key not in spec
                and _yaml_safe(value)):
            spec[key] = value
    with open(folder / DATASET, "w", encoding="utf-8") as file:
        yaml.safe_dump(spec, file, sort_keys=False, allow_unicode=True)
    with open(folder / UTTERANCES, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(REQUIRED_COLUMNS + (("text",) if has_text else ())
                        + (("score",) if has_scores else ()) + tuple(annotation_names))
        for split, d in dialogues:
            names = [corpus.labels[i] if i >= 0 else "" for i in d.labels.tolist()]
            texts = d.texts if d.texts is not None else [""] * len(d)
            scores = ([_cell(v) for v in d.scores.tolist()] if d.scores is not None
                      else [""] * len(d))
            extra = [[_cell(v) for v in d.annotations[a].tolist()] if a in d.annotations
                     else [""] * len(d) for a in annotation_names]
            for k in range(len(d)):
                row = [d.id, d.turns[k], d.speakers[k], names[k], split]
                writer.writerow(row + ([texts[k]] if has_text else [])
                                + ([scores[k]] if has_scores else [])
                                + [column[k] for column in extra])
    arrays = {m: (torch.cat([d.features[m] for _, d in dialogues]).numpy()
                  if dialogues else np.zeros((0, dim), np.float32))
              for m, dim in corpus.modalities.items()}
    np.savez_compressed(folder / FEATURES, **arrays)


def _cell(value: float) -> str:
    """An annotation as a CSV cell: empty for NaN, integers without '.0',
    and otherwise the shortest text that reads back to the same float."""
    if np.isnan(value):
        return ""
    return str(int(value)) if np.isfinite(value) and value == int(value) else repr(value)


def _yaml_safe(value: Any) -> bool:
    try:
        yaml.safe_dump(value)
    except yaml.YAMLError:
        return False
    return True
