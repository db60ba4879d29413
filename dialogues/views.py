"""Label views: named relabellings of a corpus, such as IEMOCAP-4.

A view maps each source label to a target label or drops it. Dropped
utterances leave their dialogues entirely (they are not kept as unlabelled
context), and a dialogue left with no utterance leaves its split: this is
how CORECT's and COGMEN's IEMOCAP-4 data is built. Utterances with an
unknown label (-1) stay, still unknown. Remaining utterances keep their
original turn numbers, so gaps show where utterances were dropped.

Add a view by adding a :class:`LabelView` to :data:`LABEL_VIEWS`, or pass
one directly to :func:`apply_label_view`.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import torch

from .corpus import Corpus
from .errors import DataError
from .label_sets import KNOWN_LABEL_SETS


@dataclass(frozen=True)
class LabelView:
    r"""A relabelling of a corpus.

    Args:
        name (str): The view's name, e.g. :obj:`"iemocap_4"`.
        labels (tuple[str, ...]): Target label names, in index order.
        mapping (Mapping[str, str | None]): Every source label the view
            needs, mapped to a target label, or to :obj:`None` to drop its
            utterances. A corpus lacking any of these labels is refused.
        suffix (str): Appended to the corpus name, e.g. ``iemocap`` ->
            ``iemocap_4``.
    """

    name: str
    labels: tuple[str, ...]
    mapping: Mapping[str, str | None]
    suffix: str

    def __post_init__(self) -> None:
        unknown = {t for t in self.mapping.values()
                   if t is not None and t not in self.labels}
        if unknown:
            raise ValueError(f"label view {self.name!r} maps to labels "
                             f"{sorted(unknown)} that are not in {self.labels}")


LABEL_VIEWS: Mapping[str, LabelView] = MappingProxyType({
    # IEMOCAP-4 as CORECT and COGMEN use it: excited merges into happy,
    # frustrated is dropped.
    "iemocap_4": LabelView(
        name="iemocap_4",
        labels=KNOWN_LABEL_SETS["iemocap_4"],
        mapping=MappingProxyType({"hap": "hap", "sad": "sad", "neu": "neu",
                                  "ang": "ang", "exc": "hap", "fru": None}),
        suffix="_4",
    ),
})


def apply_label_view(corpus: Corpus, view: str | LabelView) -> Corpus:
    r"""Relabel a corpus through a view.

    Args:
        corpus (Corpus): The source corpus; it is not modified.
        view (str or LabelView): A name in :data:`LABEL_VIEWS`, or a view.

    Returns:
        Corpus: A new corpus with the view's labels, dropped utterances and
        emptied dialogues removed, and ``metadata["label_view"]`` set.
    """
    if isinstance(view, str):
        if view not in LABEL_VIEWS:
            raise DataError(f"unknown label view {view!r}; known views: "
                            f"{', '.join(sorted(LABEL_VIEWS))}")
        view = LABEL_VIEWS[view]
    missing = [label for label in view.mapping if label not in corpus.labels]
    if missing:
        raise DataError(
            f"label view {view.name!r} needs labels {list(view.mapping)} but "
            f"corpus {corpus.name!r} lacks {missing} (its labels: "
            f"{list(corpus.labels)})")
    # Index table: source index -> target index, -2 to drop; the extra last
    # entry sends unknown (-1) to unknown.
    table = [-2] * len(corpus.labels) + [-1]
    for source, target in view.mapping.items():
        table[corpus.labels.index(source)] = (
            -2 if target is None else view.labels.index(target))
    extra = [label for label in corpus.labels if label not in view.mapping]
    if extra:
        raise DataError(
            f"label view {view.name!r} does not say what to do with labels "
            f"{extra} of corpus {corpus.name!r}")
    lookup = torch.tensor(table, dtype=torch.long)

    splits = {}
    for split, dialogues in corpus.splits.items():
        kept = []
        for dialogue in dialogues:
            labels = lookup[dialogue.labels]  # -1 indexes the last entry
            keep = labels != -2
            if not bool(keep.any()):
                continue
            relabelled = dialogue.select(None if bool(keep.all()) else keep)
            relabelled.labels = labels[keep]
            kept.append(relabelled)
        splits[split] = kept
    metadata = dict(corpus.metadata)
    metadata["label_view"] = view.name
    return Corpus(name=corpus.name + view.suffix, labels=view.labels,
                  modalities=corpus.modalities, splits=splits,
                  metadata=metadata)
