"""The one exception type for bad input data."""
from __future__ import annotations


class DataError(ValueError):
    """Input data is missing, malformed or inconsistent.

    The message names the file and, where it applies, the line, key,
    dialogue or modality at fault, so that the data can be fixed without a
    debugger. Loaders raise it before returning anything: a corpus is either
    loaded whole or not at all.
    """
