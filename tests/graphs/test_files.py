import stat

import pytest

from graphs.files import staged_folder, write_atomic, write_text_atomic


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
