"""What an edge builder declares it reads besides structure."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reads:
    r"""The content a builder reads besides structure; empty for a
    structure-only builder. Labels are never offered.

    Args:
        features (tuple[str, ...]): Modalities whose input features
            :obj:`[U, F_m]` it reads.
        states (tuple[str, ...]): Modalities whose encoder states
            :obj:`[U, H]` it reads: the backbone's utterance states after
            the unimodal encoders (speaker embedding added), detached, so
            the topology follows the model as it trains.
        annotations (tuple[str, ...]): Per-utterance annotation columns
            (extra columns of ``utterances.csv``, such as ``reply_to``;
            ``turn`` is always there).
    """

    features: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for kind in ("features", "states", "annotations"):
            value = getattr(self, kind)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise TypeError(f"Reads.{kind} must be a tuple of names, got {value!r}")
            object.__setattr__(self, kind, tuple(dict.fromkeys(value)))

    @property
    def content(self) -> bool:
        """Whether anything beyond structure is read."""
        return bool(self.features or self.states or self.annotations)

    def __or__(self, other: "Reads") -> "Reads":
        return Reads(*(getattr(self, k) + getattr(other, k)
                       for k in ("features", "states", "annotations")))
