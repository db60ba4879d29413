"""Replaying dialogues through a live model, one utterance at a time
(``experiments/stream.py`` is its command): the utterances of an
open-format corpus, a transcript table or console lines, pushed in order,
one tab-separated line printed per push.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable, Iterator, Mapping, TextIO

from dialogues.open_format import (DATASET, FEATURES, UTTERANCES, is_open_format,
                                   read_csv_rows, read_open_format)
from dialogues.transcripts import TRANSCRIPT_COLUMNS, group_turns
from models import Prediction, StreamingPredictor

from .predictions import check_dimensions

#: The columns of a classifier's output lines.
HEADER = ("dialogue_id", "turn", "speaker", "prediction", "probability", "latency_ms")
#: The dialogue id of a console session.
LIVE = "live"

# One utterance to push: (dialogue id, turn, speaker, features or None, text or None,
# annotations: the source's turn number and its annotation columns).
Utterance = tuple[str, int, str, "dict[str, Any] | None", "str | None", "dict[str, float]"]


class StreamError(ValueError):
    """Input that cannot be streamed; the message says where and why."""


#: A regression head's line gives its predicted score where a classifier's
#: gives the label's probability.
SCORE_HEADER = tuple("score" if column == "probability" else column for column in HEADER)


def format_line(dialogue: str, turn: int | str, prediction: Prediction) -> str:
    """One output line, tab-separated in :data:`HEADER` (or, for a
    regression head, :data:`SCORE_HEADER`) order."""
    value = prediction.probability if prediction.score is None else prediction.score
    return "\t".join([str(dialogue), str(turn), str(prediction.speaker), prediction.label,
                      f"{value:.4f}", f"{prediction.latency_ms:.2f}"])


def open_format_utterances(folder: Path, dims: Mapping[str, int],
                           dialogue: str | None = None) -> Iterator[Utterance]:
    r"""The utterances of an open-format corpus, dialogue by dialogue in file
    order (all splits), with their feature rows.

    Args:
        folder (Path): The corpus folder.
        dims (Mapping[str, int]): The modalities to read and the dimensions
            they must have: the model's.
        dialogue (str, optional): Only this dialogue.
    """
    modalities = list(dims)
    corpus = read_open_format(folder, modalities)
    check_dimensions(corpus, dims, folder / DATASET)
    # The corpus groups dialogues by split; the CSV has their file order.
    header, rows, _ = read_csv_rows(folder / UTTERANCES)
    column = header.index("dialogue_id")
    order: dict[str, int] = {}
    for row in rows:
        order.setdefault(row[column], len(order))
    found = sorted((d for ds in corpus.splits.values() for d in ds),
                   key=lambda d: order[d.id])
    if dialogue is not None:
        found = [d for d in found if d.id == dialogue]
        if not found:
            raise StreamError(f"{folder / UTTERANCES} has no dialogue {dialogue!r}"
                              + _nearest(dialogue, list(order)))
    # Read and checked above, before anything is printed; yielded lazily.
    return ((d.id, d.turns[k], d.speakers[k], {m: d.features[m][k] for m in modalities},
             None, d.annotations_at(k)) for d in found for k in range(len(d)))


def _nearest(dialogue: str, ids: list[str], shown: int = 5) -> str:
    """``; it has N dialogues, e.g. a, b, c``: the ids closest to
    :obj:`dialogue` (else the first few), never all of a large corpus's."""
    close = difflib.get_close_matches(dialogue, ids, n=shown, cutoff=0.5)
    which = "closest" if close else "first"
    return f"; it has {len(ids)} dialogues, {which}: {', '.join(close or ids[:shown])}"


def transcript_utterances(table: Path, dialogue: str | None = None) -> Iterator[Utterance]:
    """The utterances of a transcript table, grouped by dialogue in order of
    first appearance and sorted by turn (as ``prepare.py`` reads it)."""
    header, rows, lines = read_csv_rows(table)
    absent = [c for c in TRANSCRIPT_COLUMNS if c not in header]
    if absent:
        raise StreamError(f"{table}, line 1 (header): missing column(s) "
                          f"{', '.join(absent)}; a transcript has "
                          f"{', '.join(TRANSCRIPT_COLUMNS)} (or give an open-format "
                          f"corpus folder with {DATASET}, {UTTERANCES}, {FEATURES})")
    col = {c: header.index(c) for c in TRANSCRIPT_COLUMNS}
    groups = group_turns(table, header, rows, lines)
    if dialogue is not None:
        if dialogue not in groups:
            raise StreamError(f"{table} has no dialogue {dialogue!r}"
                              + _nearest(dialogue, list(groups)))
        groups = {dialogue: groups[dialogue]}
    return ((dialogue_id, turn, rows[i][col["speaker"]].strip(), None, rows[i][col["text"]],
             {"turn": float(turn)})
            for dialogue_id, members in groups.items() for turn, i in members)


def console_utterances(lines: Iterable[str]) -> Iterator[Utterance]:
    """``speaker<TAB>text`` lines until a blank line or the end of input."""
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            return
        speaker, sep, text = line.partition("\t")
        if not sep or not speaker.strip():
            raise StreamError(f"standard input, line {number}: expected "
                              f"speaker<TAB>text, got {line!r}")
        yield LIVE, number - 1, speaker.strip(), None, text, {}


def stream(predictor: StreamingPredictor, utterances: Iterable[Utterance],
           out: TextIO) -> int:
    r"""Push :obj:`utterances` one by one and print a line for each,
    resetting the predictor whenever the dialogue changes.

    Args:
        predictor (StreamingPredictor): The live model.
        utterances (Iterable[Utterance]): ``(dialogue id, turn, speaker,
            features or None, text or None, annotations)``, in order.
        out (TextIO): Where the lines go; flushed after each.

    Returns:
        int: Utterances streamed.
    """
    current, count = None, 0
    regression = predictor.live.head.gives_scores
    print("\t".join(SCORE_HEADER if regression else HEADER), file=out, flush=True)
    for dialogue, turn, speaker, features, text, values in utterances:
        if dialogue != current:
            predictor.reset()
            current = dialogue
        try:
            prediction = predictor.push(speaker, features, text=text,
                                        annotations=values)
        except (ValueError, TypeError) as error:
            raise StreamError(f"dialogue {dialogue!r}, turn {turn}: {error}") from None
        print(format_line(dialogue, turn, prediction), file=out, flush=True)
        count += 1
    return count


def utterances_for(source: str, predictor: StreamingPredictor, stdin: TextIO,
                   dialogue: str | None) -> Iterator[Utterance]:
    """Pick the reader for ``input=`` and check it suits the model."""
    if source == "-":
        if dialogue is not None:
            raise StreamError("dialogue= picks a dialogue of a file; standard input is "
                              "one live dialogue")
        needs_text(predictor, "standard input")
        return console_utterances(stdin)
    path = Path(source)
    if path.is_dir():
        if not is_open_format(path):
            raise StreamError(f"{path} is not an open-format corpus (it needs {DATASET}, "
                              f"{UTTERANCES} and {FEATURES})")
        folder = path
    elif path.is_file():
        folder = path.parent if (path.name == UTTERANCES
                                 and (path.parent / DATASET).is_file()) else None
    else:
        raise StreamError(f"{path}: no such file or folder")
    if folder is None:
        needs_text(predictor, str(path))
        return transcript_utterances(path, dialogue)
    return open_format_utterances(folder, predictor.model.config.modalities, dialogue)


def needs_text(predictor: StreamingPredictor, where: str) -> None:
    """Refuse a text-only source for a model that needs other modalities,
    and load the sentence encoder now, so that a missing extra fails before
    any output.

    Args:
        predictor (StreamingPredictor): The live model.
        where (str): The source, for the message.

    Raises:
        StreamError: The model reads other modalities than text.
    """
    if predictor.modalities != ["text"]:
        raise StreamError(f"{where} holds text only, but the checkpoint needs modalities "
                          f"{predictor.modalities}; stream an open-format corpus with "
                          "their features instead")
    predictor.text_encoder  # load it now: a missing extra fails before any output
