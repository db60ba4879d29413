"""The window of turns that the temporal builders share."""
from __future__ import annotations

from typing import Sequence

from torch import Tensor

from .batch import DialogueBatch
from .temporal import check_window, per_modality, relation_names, temporal_kinds, temporal_pairs


class TemporalWindow:
    r"""Mixin of the builders whose edges come from a window of turns: a
    node receives from up to :obj:`past` turns earlier and :obj:`future`
    turns later (:obj:`None`: all of them), and, with :obj:`self_loops`,
    from itself. It holds the arithmetic every such builder shares: the
    checks, the :attr:`horizon`, causality, the kinds of edge and their
    pairs, and the plain per-modality window's relations and edges, which a
    builder that splits the window further (by speaker, say) overrides.

    A subclass is a dataclass with fields :obj:`past` and :obj:`self_loops`
    and, unless it only looks back, :obj:`future`; it lists the mixin
    before :class:`~graphs.EdgeBuilder`. The mixin is no dataclass, so it
    adds no field: a builder's parameters stay its own.
    """

    past: int | None
    #: Later turns received from; a past-only builder leaves it at 0.
    future: int | None = 0
    self_loops: bool

    def __post_init__(self) -> None:
        check_window("past", self.past)
        check_window("future", self.future)

    @property
    def horizon(self) -> int | None:
        """No edge reaches back further than the window."""
        return self.past

    @property
    def causal(self) -> bool:
        """A window without later turns never carries one to an earlier."""
        return self.future == 0

    def window_kinds(self, self_loops: bool) -> list[str]:
        """The window's kinds of edge (``past``, ``future``, ``self``), in
        relation order; a side of width 0 has none.

        Args:
            self_loops (bool): Whether ``self`` is one of them.
        """
        return temporal_kinds(self.past, self.future, self_loops)

    def window_pairs(self, batch: DialogueBatch,
                     self_loops: bool) -> dict[str, tuple[Tensor, Tensor]]:
        """The :obj:`(source [P], target [P])` utterance pairs of each of
        :meth:`window_kinds`, in its order.

        Args:
            batch (DialogueBatch): The batch structure.
            self_loops (bool): Whether ``self`` pairs are included.
        """
        return temporal_pairs(batch, self.past, self.future, self_loops)

    def relations(self, modalities: Sequence[str]) -> list[str]:
        """One relation per modality and kind of edge, modality-major."""
        return relation_names(modalities, self.window_kinds(self.self_loops))

    def edges(self, batch: DialogueBatch) -> tuple[Tensor, Tensor]:
        """The window's pairs inside every modality."""
        pairs = self.window_pairs(batch, self.self_loops)
        return per_modality(batch, list(pairs.values()))
