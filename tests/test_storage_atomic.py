import multiprocessing
import os
import signal
import stat

import pytest

from storage.atomic import FolderInUseError, staged_folder, write_atomic, write_text_atomic


def test_a_file_appears_whole_and_readable(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "x\r\ny")
    assert path.read_bytes() == b"x\r\ny"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "a.txt", "old")

    def fail(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(path, fail)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_staged_folder_is_renamed_into_place(tmp_path):
    with staged_folder(tmp_path / "run") as staging:
        (staging / "f").write_text("1")
        assert not (tmp_path / "run").exists()
    assert (tmp_path / "run" / "f").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_failed_block_leaves_nothing(tmp_path):
    with pytest.raises(KeyError):
        with staged_folder(tmp_path / "run") as staging:
            (staging / "f").write_text("1")
            raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_appears_meanwhile_is_not_overwritten(tmp_path):
    with pytest.raises(FileExistsError, match="run appeared while writing"):
        with staged_folder(tmp_path / "run") as staging:
            (staging / "f").write_text("mine")
            (tmp_path / "run").mkdir()
    assert list((tmp_path / "run").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def _stage_and_wait(folder, ready, hold):
    """A child process that stages ``folder`` and waits, as a slow run does."""
    with staged_folder(folder) as staging:
        (staging / "partial").write_text("1")
        ready.set()
        hold.wait(30)


def _child(folder):
    ctx = multiprocessing.get_context("spawn")
    ready, hold = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_stage_and_wait, args=(folder, ready, hold))
    child.start()
    assert ready.wait(60)
    return child, hold


def _hidden(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))


def test_a_folder_left_by_sigkill_is_removed_when_the_name_is_staged_again(tmp_path):
    child, _ = _child(tmp_path / "run")
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    left = [n for n in _hidden(tmp_path) if n.endswith(".tmp")]
    assert len(left) == 1 and (tmp_path / left[0] / "partial").exists()

    with staged_folder(tmp_path / "run") as staging:
        assert _hidden(tmp_path) == sorted([".run.lock", staging.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_live_process_keeps_its_staging_folder(tmp_path):
    child, hold = _child(tmp_path / "run")
    try:
        with pytest.raises(FolderInUseError, match=rf"run is being written by another "
                                                     rf"process \(pid {child.pid}\)"):
            with staged_folder(tmp_path / "run"):
                pass
        assert len([n for n in _hidden(tmp_path) if n.endswith(".tmp")]) == 1
    finally:
        hold.set()
        child.join()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (tmp_path / "run" / "partial").exists()


def test_only_the_folders_own_staging_is_removed(tmp_path):
    for name in (".run.0123abcd.tmp", ".run.x.0123abcd.tmp", ".run.0123abcde.tmp",
                 ".rung.0123abcd.tmp"):
        (tmp_path / name).mkdir()
    with staged_folder(tmp_path / "run"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".run.0123abcde.tmp", ".run.x.0123abcd.tmp", ".rung.0123abcd.tmp", "run"]


def test_leftovers_of_a_killed_run_under_another_name_are_removed_too(tmp_path):
    # A time-stamped run name is never staged again; the next run beside it cleans up.
    child, _ = _child(tmp_path / "run-20261130-1")
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    (tmp_path / ".other.lock").write_text("not ours")
    with staged_folder(tmp_path / "run-20261130-2"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.lock", "run-20261130-2"]


def test_a_folder_finished_by_another_process_meanwhile_is_not_staged(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(FileExistsError, match="run already exists; refusing to overwrite"):
        with staged_folder(tmp_path / "run"):
            pass
