"""Replay dialogues through a causal checkpoint as a live stream:
``python experiments/stream.py checkpoint=RUN/checkpoint.pt input=FILE.csv``

``input`` is one of:

* an open-format corpus (the folder, or its ``utterances.csv``): features
  come from ``features.npz``; every dialogue is replayed in file order, or
  only ``dialogue=ID``;
* a transcript table (``dialogue_id``, ``turn``, ``speaker``, ``text``):
  texts are embedded as they arrive, with the checkpoint's sentence encoder
  (``pip install 'ergraph[text]'``, a text-only checkpoint);
* ``-``: ``speaker<TAB>text`` lines from standard input, a live console
  session with a text checkpoint; a blank line or end of input ends it.

One tab-separated line per utterance: dialogue, turn, speaker, predicted
label, its probability (a regression head's predicted score) and the push's
latency. The predictor is reset
between dialogues. ``threads=N`` sets torch's intra-op threads (default 1:
the steadiest latency for a push's small ops). Exit code 0 at the end
of input or on Ctrl-C, 2 on bad arguments or input.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Iterator, Mapping, TextIO

import torch

from dialogues.open_format import (DATASET, FEATURES, UTTERANCES, is_open_format,
                                   read_csv_rows, read_open_format)
from dialogues.text_encoder import TextEncoder
from dialogues.transcripts import TRANSCRIPT_COLUMNS, group_turns
from runner.cli import Arguments, Command, Option, main as run_command
from runner.predictions import check_dimensions
from models import Prediction, StreamingPredictor

COMMAND = Command(
    prog="stream.py",
    summary="Replay dialogues through a causal checkpoint one utterance at a time.",
    options=(
        Option("checkpoint", Path, help="a causal run's checkpoint.pt", required=True),
        Option("input", str, help="an open-format corpus, a transcript .csv, or - for "
                                  "speaker<TAB>text lines on stdin", required=True),
        Option("dialogue", str | None, None, "replay only this dialogue"),
        Option("threads", int, 1, "torch intra-op threads"),
    ),
    details=__doc__.split("\n\n", 1)[1])
HEADER = ("dialogue_id", "turn", "speaker", "prediction", "probability", "latency_ms")
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
            raise StreamError(f"{folder / UTTERANCES} has no dialogue {dialogue!r}; "
                              f"dialogues: {', '.join(order)}")
    # Read and checked above, before anything is printed; yielded lazily.
    return ((d.id, d.turns[k], d.speakers[k], {m: d.features[m][k] for m in modalities},
             None, d.annotations_at(k)) for d in found for k in range(len(d)))


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
            raise StreamError(f"{table} has no dialogue {dialogue!r}; dialogues: "
                              f"{', '.join(groups)}")
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
    for dialogue, turn, speaker, features, text, annotations in utterances:
        if dialogue != current:
            predictor.reset()
            current = dialogue
        try:
            prediction = predictor.push(speaker, features, text=text,
                                        annotations=annotations)
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
        _needs_text(predictor, "standard input")
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
        _needs_text(predictor, str(path))
        return transcript_utterances(path, dialogue)
    return open_format_utterances(folder, predictor.model.config.modalities, dialogue)


def _needs_text(predictor: StreamingPredictor, where: str) -> None:
    if predictor.modalities != ["text"]:
        raise StreamError(f"{where} holds text only, but the checkpoint needs modalities "
                          f"{predictor.modalities}; stream an open-format corpus with "
                          "their features instead")
    predictor.text_encoder  # load it now: a missing extra fails before any output


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, text_encoder: TextEncoder | None = None) -> int:
    """Run the stream; see the module docstring. :obj:`stdin`,
    :obj:`stdout` and :obj:`text_encoder` replace the process's streams and
    the checkpoint's sentence encoder, for embedding in other programs."""
    def replay(arguments: Arguments) -> int:
        args = arguments.options
        if args["threads"] < 1:
            raise StreamError(f"threads={args['threads']}: expected a positive integer")
        threads = torch.get_num_threads()
        try:
            # A push is a chain of small ops: one thread gives the steadiest
            # latency, and leaves the other cores to other streams.
            torch.set_num_threads(args["threads"])
            predictor = StreamingPredictor.from_checkpoint(args["checkpoint"],
                                                           text_encoder=text_encoder)
            utterances = utterances_for(args["input"], predictor,
                                        sys.stdin if stdin is None else stdin,
                                        args["dialogue"])
            stream(predictor, utterances, sys.stdout if stdout is None else stdout)
        except KeyboardInterrupt:  # how a live session ends
            return 0
        except BrokenPipeError:  # e.g. piped into head
            return 0
        finally:
            torch.set_num_threads(threads)
        return 0

    return run_command(COMMAND, replay, argv, errors=(StreamError, ImportError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
