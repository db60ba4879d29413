"""Atomic writes: every file and folder ergraph writes appears whole or not at all."""
from .atomic import (FolderInUseError, claim, remove_abandoned, remove_abandoned_beside,
                     staged_folder, write_atomic, write_text_atomic)

__all__ = ["FolderInUseError", "claim", "remove_abandoned", "remove_abandoned_beside",
           "staged_folder", "write_atomic", "write_text_atomic"]
