"""Progress of a long phase (embedding, fine-tuning) on stderr: a tqdm bar
on a terminal; elsewhere (a log file, a pipe, a scheduler) one line when
the phase starts, one per further tenth and one when it ends, as a run
prints one line per epoch, where a bar's carriage-return frames would
pile up in the log."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

from tqdm import tqdm

Item = TypeVar("Item")


class ProgressLines:
    """A plain-text stand-in for a tqdm bar: :meth:`update` and
    :meth:`close`, printing whole lines.

    Args:
        total (int): Steps in the phase.
        desc (str): The phase, e.g. ``embedding``.
        unit (str): What a step is, e.g. ``batch``.
        stream (TextIO): Where the lines go.
    """

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.done, self.tenths = 0, 0
        self.started = time.perf_counter()
        self.closed = False
        self._line(f"{total} {unit}{'es' if unit.endswith('h') else 's'}")

    def _line(self, text: str) -> None:
        print(f"{self.desc}: {text}", file=self.stream, flush=True)

    def update(self, steps: int = 1) -> None:
        self.done += steps
        tenths = min(10, self.done * 10 // max(self.total, 1))
        if tenths > self.tenths and tenths < 10:
            self.tenths = tenths
            seconds = time.perf_counter() - self.started
            self._line(f"{tenths * 10}% ({self.done}/{self.total}, {seconds:.0f}s)")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            seconds = time.perf_counter() - self.started
            self._line(f"done, {self.done}/{self.total} in {seconds:.0f}s")


def progress_bar(total: int, desc: str, unit: str, enabled: bool = True,
                 stream: TextIO | None = None) -> tqdm | ProgressLines:
    """A tqdm bar on a terminal, :class:`ProgressLines` elsewhere, a silent
    bar when not :obj:`enabled`.

    Args:
        total (int): Steps in the phase.
        desc (str): The phase.
        unit (str): What a step is.
        enabled (bool): Show progress at all. (default: :obj:`True`)
        stream (TextIO, optional): Where it goes. (default: stderr)
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream)
    return ProgressLines(total, desc, unit, stream)


def tracked(items: Iterable[Item], total: int, desc: str, unit: str,
            enabled: bool = True) -> Iterator[Item]:
    """:obj:`items`, counting each through :func:`progress_bar`."""
    bar = progress_bar(total, desc, unit, enabled)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
