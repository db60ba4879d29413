"""What a run writes while it goes, so a long run can be watched.

The run directory is assembled in a staging folder beside it
(:func:`storage.atomic.staged_folder`) and appears whole when the run ends;
until then ``train.log`` and ``history.csv`` grow in the staging folder,
whose path the run prints first (``tail -f`` it). With ``log=tensorboard``
the same scalars go to TensorBoard as each epoch ends.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from .tensorboard_log import TensorBoardLog

#: Columns of ``history.csv``, one row per epoch.
HISTORY_COLUMNS = ("epoch", "loss", "dev_weighted_f1", "lr", "seconds")


def epoch_line(row: Mapping[str, Any], epochs: int, best_epoch: int,
               best_f1: float) -> str:
    """One epoch in one line: epoch, train loss, dev weighted F1, best so
    far, seconds."""
    return (f"epoch {row['epoch']}/{epochs}  loss {row['loss']:.4f}  "
            f"dev wF1 {row['dev_weighted_f1']:.2f}  best {best_f1:.2f} (epoch "
            f"{best_epoch})  {row['seconds']:.1f} s")


class RunLog:
    """``train.log`` and ``history.csv`` in :obj:`folder`, flushed line by
    line, and TensorBoard events under ``folder/tensorboard`` with
    :obj:`tensorboard`.

    Args:
        folder (Path): The run's staging folder.
        config_text (str): The resolved configuration, as YAML.
        tensorboard (bool): Also write TensorBoard events.
            (default: :obj:`False`)
        echo (TextIO, optional): Where log lines are repeated as they are
            written (stderr where it is not a terminal, since a terminal
            has the progress bar). (default: :obj:`None`)
        folds (bool): The run cross-validates: ``history.csv`` starts each
            row with its fold. (default: :obj:`False`)
    """

    def __init__(self, folder: Path, config_text: str, tensorboard: bool = False,
                 echo: TextIO | None = None, folds: bool = False) -> None:
        self.folder = Path(folder)
        self.echo = echo
        self._log = open(self.folder / "train.log", "w", encoding="utf-8")
        self._history = None
        self._tensorboard = None
        try:
            self._history = open(self.folder / "history.csv", "w", encoding="utf-8",
                                 newline="")
            self._rows = csv.writer(self._history, lineterminator="\n")
            self._rows.writerow((("fold",) if folds else ()) + HISTORY_COLUMNS)
            self._history.flush()
            if tensorboard:
                self._tensorboard = TensorBoardLog(self.folder / "tensorboard")
                self._tensorboard.config(config_text)
        except BaseException:
            self.close()
            raise

    def line(self, text: str) -> None:
        """Append a time-stamped line to ``train.log`` (and to :attr:`echo`)."""
        stamped = f"{time.strftime('%H:%M:%S')}  {text}"
        self._log.write(stamped + "\n")
        self._log.flush()
        if self.echo is not None:
            print(text, file=self.echo, flush=True)

    def epoch(self, row: Mapping[str, Any], epochs: int, best_epoch: int,
              best_f1: float, fold: int | None = None) -> None:
        """Record one finished epoch: a ``history.csv`` row, a log line and
        TensorBoard scalars; of :obj:`fold` (0-based) in a cross-validated
        run, whose history rows start with the fold."""
        self._rows.writerow(([] if fold is None else [fold + 1])
                            + [row[c] for c in HISTORY_COLUMNS])
        self._history.flush()
        where = "" if fold is None else f"fold {fold + 1}: "
        self.line(where + epoch_line(row, epochs, best_epoch, best_f1))
        if self._tensorboard is not None:
            self._tensorboard.epoch(row, "" if fold is None else f"fold{fold + 1}/")

    def confusion(self, confusion: Sequence[Sequence[int]],
                  label_names: Sequence[str]) -> None:
        """The test confusion matrix, to TensorBoard."""
        if self._tensorboard is not None:
            self._tensorboard.confusion(confusion, label_names)

    def close(self) -> None:
        for stream in (self._log, self._history):
            if stream is not None:
                stream.close()
        if self._tensorboard is not None:
            self._tensorboard.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def default_echo() -> TextIO | None:
    """stderr where it is not a terminal (a pipe, a file, a scheduler's log):
    there the progress bar is off and one line per epoch shows progress."""
    return None if sys.stderr.isatty() else sys.stderr
