"""Atomic writes: a file or folder appears whole or not at all.

Every output of ergraph (graph files, figures, checkpoints, predictions,
corpora, run directories, reports) goes through these two functions. They
live here because ``graphs`` is the package every other one imports.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

# mkstemp and mkdtemp make private entries; outputs are for everyone who
# may read the folder, as files written with open() would be.
FILE_MODE = 0o644
FOLDER_MODE = 0o755


def write_atomic(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside :obj:`path`, then
    rename it onto :obj:`path`. If :obj:`write` fails, the temporary file
    is removed and :obj:`path` is left as it was.

    Args:
        path (str or PathLike): The file to write; its folder must exist.
        write (Callable[[str], None]): Writes the whole content to the
            path it is given.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """:func:`write_atomic` of a text file (UTF-8, newlines as given)."""
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return write_atomic(path, write)


@contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """An empty temporary folder beside :obj:`folder`, renamed to
    :obj:`folder` when the block ends normally and removed when it raises.

    Args:
        folder (str or PathLike): The folder to create. Callers check that
            it does not exist, with their own message; one that appears
            while the block runs is not overwritten.

    Raises:
        FileExistsError: :obj:`folder` appeared while the block ran.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.",
                                    suffix=".tmp"))
    try:
        yield staging
        if folder.exists():
            raise FileExistsError(f"{folder} appeared while writing; refusing to "
                                  "overwrite it")
        os.chmod(staging, FOLDER_MODE)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
