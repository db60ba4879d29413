"""Atomic writes: a file or folder appears whole or not at all.

Every output of ergraph (graph files, figures, checkpoints, predictions,
corpora, run directories, reports) goes through these functions.
"""
from __future__ import annotations

import fcntl
import os
import re
import secrets
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


class FolderInUseError(FileExistsError):
    """Another live process is writing the same folder."""


def staging_pattern(folder: Path) -> re.Pattern:
    """Names of the staging folders of :obj:`folder`: ``.NAME.XXXXXXXX.tmp``
    beside it, with exactly eight hex digits, so that no other folder's
    staging (``NAME.x``'s, say) ever matches."""
    return re.compile(rf"\.{re.escape(folder.name)}\.[0-9a-f]{{8}}\.tmp")


@contextmanager
def claim(folder: str | os.PathLike) -> Iterator[None]:
    """Hold ``.NAME.lock`` beside :obj:`folder` for the block.

    The lock is an advisory ``flock``, which the kernel releases when its
    holder dies, even by SIGKILL: whoever holds it owns every staging folder
    of :obj:`folder`, and a staging folder found while holding it was left
    by a process that died.

    Raises:
        FolderInUseError: A live process holds the lock.
    """
    folder = Path(folder)
    lock = folder.parent / f".{folder.name}.lock"
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderInUseError(f"{folder} is being written by another process "
                                   f"(pid {owner}); wait for it or choose another "
                                   "name") from None
        try:  # the previous holder may have removed the file we locked
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        # Unlinked while still held, so a waiting process re-checks the inode.
        lock.unlink(missing_ok=True)
        os.close(fd)


def remove_abandoned(folder: Path) -> list[Path]:
    """Remove the staging folders of :obj:`folder` left by a process that
    died; call only while holding its claim. Returns what was removed."""
    pattern = staging_pattern(folder)
    removed = []
    for entry in folder.parent.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def remove_abandoned_beside(folder: Path) -> list[Path]:
    """Remove what dead processes left beside :obj:`folder` under other
    names (a killed run under a time-stamped name is never staged again):
    each lock file that can be taken, with its staging folders. A live
    process's are left alone, as it holds its lock."""
    removed = []
    for lock in folder.parent.glob(".*.lock"):
        other = folder.parent / lock.name[1:-len(".lock")]
        pattern = staging_pattern(other)
        # Only a lock with staging folders is ours to take; another
        # program's hidden .lock file is left as it is.
        if other.name == folder.name or not any(
                pattern.fullmatch(p.name) for p in folder.parent.iterdir()):
            continue
        try:
            with claim(other):
                removed += remove_abandoned(other)
        except (FolderInUseError, OSError):
            continue
    return removed


@contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """An empty staging folder beside :obj:`folder` (``.NAME.XXXXXXXX.tmp``),
    renamed to :obj:`folder` when the block ends normally and removed when
    it raises, SystemExit and KeyboardInterrupt included.

    While the block runs this process holds a lock on :obj:`folder`'s name.
    A staging folder that a killed process left (SIGKILL runs no cleanup) is
    removed when :obj:`folder` is next staged, and never while its owner
    lives.

    Args:
        folder (str or PathLike): The folder to create. Callers check that
            it does not exist, with their own message; one that appears
            while the block runs is not overwritten.

    Raises:
        FileExistsError: :obj:`folder` appeared while the block ran.
        FolderInUseError: Another live process is staging :obj:`folder`.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with claim(folder):
        if folder.exists():  # finished by another process since the caller looked
            raise FileExistsError(f"{folder} already exists; refusing to overwrite it")
        remove_abandoned(folder)
        remove_abandoned_beside(folder)
        staging = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
        staging.mkdir(mode=FOLDER_MODE)
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
