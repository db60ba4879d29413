"""Transcript tables: ``dialogue_id``, ``turn``, ``speaker``, ``text`` and
optionally ``label`` and ``split``, read, grouped into dialogues and
embedded into a corpus.

Rows may come in any order: they are grouped by dialogue, in order of first
appearance, and sorted by turn. ``experiments/prepare.py`` writes such a
corpus in the open format; ``experiments/stream.py`` replays a table live.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .corpus import Corpus
from .dialogue import Dialogue
from .errors import DataError
from .finetune import FeatureMaker
from .label_sets import KNOWN_LABEL_SETS
from .progress import tracked
from .open_format import read_csv_rows, save_corpus
from .text_encoder import TextEncoder

#: The columns every transcript table has.
TRANSCRIPT_COLUMNS = ("dialogue_id", "turn", "speaker", "text")


def embed(texts: Sequence[str], encode: TextEncoder, batch_size: int = 64,
          progress: bool = True) -> np.ndarray:
    r"""Embed texts in batches.

    Args:
        texts (Sequence[str]): :obj:`n` texts.
        encode (Callable): Maps a list of texts to an array :obj:`[len, dim]`.
        batch_size (int): Texts per call of :obj:`encode`.
        progress (bool): Show a progress bar (tqdm) on stderr.

    Returns:
        ndarray: float32 embeddings, shape :obj:`[n, dim]`.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be positive, got {batch_size}")
    starts = tracked(range(0, len(texts), batch_size), -(-len(texts) // batch_size),
                     "embedding", "batch", progress)
    parts = []
    for start in starts:
        chunk = list(texts[start:start + batch_size])
        vectors = np.asarray(encode(chunk), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(chunk):
            raise DataError(f"the encoder returned shape {list(vectors.shape)} "
                            f"for {len(chunk)} texts")
        parts.append(vectors)
    if not parts:
        raise DataError("no texts to embed")
    vectors = np.concatenate(parts)
    if not np.isfinite(vectors).all():
        raise DataError("the encoder returned non-finite values")
    return vectors


def find_table(path: Path) -> Path:
    """The transcript CSV named by :obj:`path` (a file or a folder)."""
    if path.is_file():
        return path
    if path.is_dir():
        if (path / "utterances.csv").is_file():
            return path / "utterances.csv"
        tables = sorted(path.glob("*.csv"))
        if len(tables) == 1:
            return tables[0]
        raise DataError(f"{path}: expected utterances.csv or exactly one .csv "
                        f"file, found {[t.name for t in tables]}")
    raise DataError(f"{path}: no such file or folder")


def group_turns(table: Path, header: list[str], rows: list[list[str]],
                lines: list[int]) -> dict[str, list[tuple[int, int]]]:
    """The rows of a transcript table grouped by dialogue, in order of first
    appearance, as ``(turn, row index)`` sorted by turn. Every row must have
    the header's fields, a dialogue id, a speaker and an integer turn that
    its dialogue does not repeat.

    Args:
        table (Path): The CSV, for messages.
        header (list[str]): Its column names (with ``dialogue_id``,
            ``turn`` and ``speaker``).
        rows (list[list[str]]): Its rows.
        lines (list[int]): The line each row starts on.

    Raises:
        DataError: Naming the file and line.
    """
    col = {c: header.index(c) for c in ("dialogue_id", "turn", "speaker")}
    groups: dict[str, list[tuple[int, int]]] = {}
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"{table}, line {lines[i]}: {len(row)} fields, the header "
                            f"has {len(header)}")
        for column in ("dialogue_id", "speaker"):
            if not row[col[column]].strip():
                raise DataError(f"{table}, line {lines[i]}: empty {column}")
        turn = row[col["turn"]].strip()
        try:
            groups.setdefault(row[col["dialogue_id"]].strip(), []).append((int(turn), i))
        except ValueError:
            raise DataError(f"{table}, line {lines[i]}: turn {turn!r} is not an "
                            "integer") from None
    for dialogue, members in groups.items():
        members.sort()
        for (t0, i0), (t1, i1) in zip(members, members[1:]):
            if t0 == t1:
                raise DataError(f"{table}, line {lines[i1]}: dialogue {dialogue!r} "
                                f"repeats turn {t1} (line {lines[i0]})")
    return groups


def build_corpus(table: Path, encode: TextEncoder | None, *, name: str,
                 labels: Sequence[str] | None = None, split: str = "test",
                 batch_size: int = 64, encoder: str | None = None,
                 progress: bool = True, metadata: dict | None = None,
                 finetune: FeatureMaker | None = None) -> Corpus:
    r"""Read a transcript table and embed its texts.

    Args:
        table (Path): The CSV (see the module docstring for its columns).
        encode (Callable): ``encode(texts) -> ndarray [len, dim]``.
        name (str): Corpus name.
        labels (Sequence[str], optional): Label names in index order.
        split (str): Split of every dialogue when there is no ``split``
            column.
        batch_size (int): Texts per :obj:`encode` call.
        encoder (str, optional): Name of the encoder, for ``dataset.yaml``.
        progress (bool): Show a progress bar.
        metadata (dict, optional): More ``dataset.yaml`` entries.
        finetune (FeatureMaker, optional): Make the features with a
            fine-tuned, cross-fitted encoder instead of :obj:`encode`
            (:mod:`dialogues.finetune`); the table then needs ``label`` and
            ``split`` columns.
    """
    header, rows, lines = read_csv_rows(table)
    absent = [c for c in TRANSCRIPT_COLUMNS if c not in header]
    if absent:
        raise DataError(f"{table}, line 1 (header): missing column(s) "
                        f"{', '.join(absent)}; required: {', '.join(TRANSCRIPT_COLUMNS)}, "
                        "optional: label, split")
    if not rows:
        raise DataError(f"{table}: no utterances after the header")
    col = {c: header.index(c) for c in header}
    groups = group_turns(table, header, rows, lines)

    def value(i: int, column: str, default: str = "") -> str:
        return rows[i][col[column]].strip() if column in col else default

    if labels is None:
        if name in KNOWN_LABEL_SETS:
            labels = KNOWN_LABEL_SETS[name]
        else:
            labels = sorted({value(i, "label") for i in range(len(rows))} - {""})
    labels = tuple(labels)
    if not labels:
        raise DataError(f"{table} has no labels; pass labels=a,b,c with the "
                        "label names the corpus should know")
    index = {label: k for k, label in enumerate(labels)}
    index[""] = -1

    split_of, codes = {}, {}
    for dialogue, members in groups.items():
        ids = [i for _, i in members]
        split_names = {value(i, "split", split) for i in ids}
        if len(split_names) != 1 or "" in split_names:
            raise DataError(f"{table}, line {lines[ids[0]]}: dialogue "
                            f"{dialogue!r} needs one non-empty split, has "
                            f"{sorted(split_names)}")
        split_of[dialogue] = split_names.pop()
        for i in ids:
            label = value(i, "label")
            if label not in index:
                raise DataError(f"{table}, line {lines[i]}: label {label!r} is "
                                f"not one of {list(labels)}")
            codes[i] = index[label]

    order = [i for members in groups.values() for _, i in members]
    texts = [rows[i][col["text"]] for i in order]
    if finetune is None:
        vectors = embed(texts, encode, batch_size, progress)
    else:
        missing = [c for c in ("label", "split") if c not in col]
        if missing:
            raise DataError(f"{table}, line 1 (header): fine-tuning reads the training "
                            f"split's labels, but the table has no {' or '.join(missing)} "
                            "column")
        dialogue_of = {i: k for k, members in enumerate(groups.values()) for _, i in members}
        training = [split_of[d] == "train" for d, members in groups.items() for _ in members]
        try:
            vectors = finetune(texts, [codes[i] for i in order], training,
                               [dialogue_of[i] for i in order], len(labels))
        except ValueError as error:
            raise DataError(f"{table}: {error}") from None
    position = {i: k for k, i in enumerate(order)}
    splits: dict[str, list[Dialogue]] = {}
    for dialogue, members in groups.items():
        ids = [i for _, i in members]
        rows_at = [position[i] for i in ids]
        splits.setdefault(split_of[dialogue], []).append(Dialogue(
            id=dialogue,
            speakers=[value(i, "speaker") for i in ids],
            labels=[codes[i] for i in ids],
            features={"text": vectors[rows_at[0]:rows_at[-1] + 1]},
            turns=[t for t, _ in members],
            texts=[rows[i][col["text"]] for i in ids],
        ))
    dim = vectors.shape[1]
    made = (f"{encoder or 'sentence'} embedding" if finetune is None else
            "embedding by a sentence encoder fine-tuned on the training split's labels, "
            "cross-fitted (see finetune)")
    info = {"features": {"text": f"{made} of the utterance text ({dim}-d, float32)"}}
    if encoder:
        info["encoder"] = encoder
    info.update(metadata or {})
    return Corpus(name=name, labels=labels, modalities={"text": dim},
                  splits=splits, metadata=info)


def prepare_corpus(input: str | Path, out: str | Path, encode: TextEncoder | None, *,
            name: str | None = None, labels: Sequence[str] | None = None,
            split: str = "test", batch_size: int = 64,
            encoder: str | None = None, progress: bool = True,
            metadata: dict | None = None, finetune: FeatureMaker | None = None) -> Path:
    """Read, embed and write atomically; see :func:`build_corpus` for the
    arguments. Returns :obj:`out`."""
    out = Path(out)
    if out.exists():  # checked before the slow embedding, and again on save
        raise DataError(f"{out} already exists; refusing to overwrite it")
    table = find_table(Path(input))
    corpus = build_corpus(table, encode, name=name or out.name, labels=labels,
                          split=split, batch_size=batch_size, encoder=encoder,
                          progress=progress, finetune=finetune,
                          metadata={"source": f"prepared from {table.name}",
                                    **(metadata or {})})
    return save_corpus(corpus, out)
