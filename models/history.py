"""Per-turn caches of a live dialogue, committed one turn at a time."""
from __future__ import annotations

from torch import Tensor


class History:
    """Per-turn rows of every cached tensor, keyed by name.

    Rows of turn :attr:`length` may be written during a step; they only
    count once :meth:`commit` runs, so a step that fails half-way leaves
    the committed state as it was. Buffers double when full.
    """

    def __init__(self) -> None:
        self.rows: dict[str, Tensor] = {}
        self.length = 0

    def put(self, key: str, row: Tensor, dim: int = 0) -> Tensor:
        """Write :obj:`row` as the current turn's; return all rows so far,
        stacked along :obj:`dim` (:obj:`length + 1` of them).

        Args:
            key (str): The cache's name.
            row (Tensor): The current turn's row.
            dim (int): The turn axis of the stacked rows. (default: :obj:`0`)
        """
        t = self.length
        buffer = self.rows.get(key)
        if buffer is None or buffer.size(dim) <= t:
            shape = list(row.shape)
            shape.insert(dim, max(16, 2 * t))
            grown = row.new_empty(shape)
            if buffer is not None:
                grown.narrow(dim, 0, t).copy_(buffer.narrow(dim, 0, t))
            self.rows[key] = buffer = grown
        buffer.select(dim, t).copy_(row)
        return buffer.narrow(dim, 0, t + 1)

    def commit(self) -> None:
        """Make the current turn's rows part of the history."""
        self.length += 1

    def clear(self) -> None:
        """Forget every turn."""
        self.rows.clear()
        self.length = 0
