"""Reading pickles that may come from anywhere, without running their code.

A pickle names the callables that rebuild its objects, and
:func:`pickle.load` calls whatever it names: ``os.system`` included. The
corpora ergraph reads as pickles hold only containers, numbers, strings and
numpy arrays, so :class:`RestrictedUnpickler` resolves exactly the globals
those need and refuses every other one before anything is called.
"""
from __future__ import annotations

import _codecs
import _compat_pickle
import builtins
import collections
import io
import os
import pickle
from typing import Any, BinaryIO

import numpy as np

from .errors import DataError


def _numpy_globals() -> dict[tuple[str, str], Any]:
    # numpy 2 moved numpy.core to numpy._core; pickles written by either
    # name the module they were written with, so accept both spellings and
    # resolve them to the objects of the numpy that is installed, without
    # importing the deprecated alias.
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes",
             "bytearray", "int", "float", "complex", "bool")

#: Every global a pickle may name: (module, name) -> the object it gets.
#: Each one only builds data; none imports, evaluates or touches files.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **{("builtins", name): getattr(builtins, name) for name in _BUILTINS},
    # Protocol 2 pickles written by Python 3 store bytes as
    # _codecs.encode(text, "latin1"), and numpy arrays carry bytes.
    ("_codecs", "encode"): _codecs.encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    **_numpy_globals(),
}


class RestrictedUnpickler(pickle.Unpickler):
    r"""An unpickler that resolves only :data:`ALLOWED_GLOBALS`.

    Args:
        file (BinaryIO): The open pickle.
        source (str): Where the pickle came from, for messages.
    """

    def __init__(self, file: BinaryIO, source: str) -> None:
        # latin1 reads Python 2 pickles' byte strings (numpy array buffers
        # among them) unchanged, and changes nothing in Python 3 pickles.
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Overriding find_class also bypasses the Python 2 name mapping that
        # the default one applies (__builtin__ -> builtins, ...): redo it.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"refusing to unpickle {module}.{name} from {self.source}: "
                "only plain containers, numbers, strings and numpy arrays "
                "are allowed") from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refusing persistent id {pid!r} in {self.source}: "
                        "torch.save archives and other persistent pickles are "
                        "not supported")


def safe_load(path: str | os.PathLike) -> Any:
    """Unpickle a file with :class:`RestrictedUnpickler`.

    Args:
        path (str or PathLike): The pickle file.

    Raises:
        DataError: The file is missing, is not a pickle, or names a global
            outside :data:`ALLOWED_GLOBALS`.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            data = file.read()
    except OSError as error:
        raise DataError(f"cannot read {source}: {error.strerror or error}") from None
    return safe_loads(data, source)


def safe_loads(data: bytes, source: str = "<bytes>") -> Any:
    """Unpickle bytes with :class:`RestrictedUnpickler`; see :func:`safe_load`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source).load()
    except DataError:
        raise
    except Exception as error:  # any parse failure of untrusted bytes
        raise DataError(f"{source} is not a readable pickle: "
                        f"{type(error).__name__}: {error}") from None
