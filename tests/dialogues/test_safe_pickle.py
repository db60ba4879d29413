"""The restricted unpickler refuses code and reads data."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from dialogues import DataError, load_corpus
from dialogues.safe_pickle import safe_load, safe_loads

from .helpers import SystemCall


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_refuses_os_system_without_running_it(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_iemocap.pkl"
    path.write_bytes(pickle.dumps({"train": [SystemCall(marker)]}, protocol=protocol))
    system = os.system.__module__  # posix on Linux, nt on Windows
    with pytest.raises(DataError, match=rf"refusing to unpickle {system}\.system from "
                                        rf".*data_iemocap.pkl"):
        load_corpus(path)
    assert not marker.exists()
    # Sanity: the same bytes do run the command under plain pickle.
    code = f"import pickle; pickle.loads(open({str(path)!r}, 'rb').read())"
    subprocess.run([sys.executable, "-c", code], check=False)
    assert marker.exists()


@pytest.mark.parametrize("target", [
    ("builtins", "eval"), ("builtins", "getattr"), ("builtins", "__import__"),
    ("subprocess", "Popen"), ("numpy", "load"), ("torch", "load"),
    ("__builtin__", "eval"),   # Python 2 spelling
])
def test_refuses_other_globals(target):
    module, name = target
    data = f"c{module}\n{name}\n(S'1'\ntR.".encode()
    expected = "builtins" if module == "__builtin__" else module
    with pytest.raises(DataError, match=rf"refusing to unpickle {expected}\.{name} from <bytes>"):
        safe_loads(data)


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_reads_plain_data_and_numpy(protocol):
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": {1, 2},
             "t": ("x", 1.5, None, True), "b": b"\x00\xff", "n": np.int64(7),
             "f": np.float32(0.5), "l": [np.zeros(2)], "o": np.array([1, 2], np.int16)}
    back = safe_loads(pickle.dumps(value, protocol=protocol))
    assert back["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and back["a"].dtype == np.float32
    assert back["s"] == {1, 2} and back["t"] == ("x", 1.5, None, True)
    assert back["b"] == b"\x00\xff" and back["n"] == 7 and back["f"] == 0.5
    assert back["o"].dtype == np.int16 and back["o"].tolist() == [1, 2]


def test_reads_python2_numpy_names():
    # Python 2 era pickles name numpy.core (not numpy._core) and __builtin__.
    blob = pickle.dumps({"x": np.ones(2, np.float32), "s": {1}}, protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    back = safe_loads(blob)
    assert back["x"].tolist() == [1.0, 1.0] and back["s"] == {1}


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"cannot read .*nope.pkl"):
        safe_load(tmp_path / "nope.pkl")


def test_refuses_persistent_ids():
    class Persist(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage" if obj == "x" else None
    import io
    buffer = io.BytesIO()
    Persist(buffer, protocol=2).dump(["x"])
    with pytest.raises(DataError, match="refusing persistent id 'storage'"):
        safe_loads(buffer.getvalue())
