"""Label views: named relabellings of a corpus, such as IEMOCAP-4.

A view maps each source label to a target label or drops it. Dropped
utterances leave their dialogues entirely (they are not kept as unlabelled
context), and a dialogue left with no utterance leaves its split: this is
how CORECT's and COGMEN's IEMOCAP-4 data is built. Utterances with an
unknown label (-1) stay, still unknown. Remaining utterances keep their
original turn numbers, so gaps show where utterances were dropped.

**Score views** (:class:`ScoreView`) label each utterance from its
continuous score instead (:attr:`Dialogue.scores`, a sentiment score in
:math:`[-3, 3]` for CMU-MOSEI, CMU-MOSI and CH-SIMS): ``sentiment_2``,
``sentiment_2_nonzero`` and ``sentiment_7``. Their utterances all stay;
one the view cannot label (score unknown, or exactly 0 for
``sentiment_2_nonzero``) is kept unlabelled (-1) with its score, because
the clip is still part of its video and its score still trains a
regression head. A view also says how a *predicted* score becomes a class,
which is how a regression head (``model.head=regression``) is scored.

Add a view by adding a :class:`LabelView` or :class:`ScoreView` to
:data:`LABEL_VIEWS`, or pass one directly to :func:`apply_label_view`.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import torch
from torch import Tensor

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


@dataclass(frozen=True)
class ScoreView:
    r"""A labelling of a corpus from each utterance's continuous score.

    Args:
        name (str): The view's name, e.g. :obj:`"sentiment_2"`.
        labels (tuple[str, ...]): Label names, in index order.
        label (Callable[[Tensor], Tensor]): True scores :obj:`[U]` (float64,
            NaN unknown) to label indices :obj:`[U]`, :obj:`-1` where the
            view gives no label.
        decide (Callable[[Tensor], Tensor]): Predicted scores :obj:`[U]` to
            a class for every utterance, as the view's source evaluates a
            regression model.
        suffix (str): Appended to the corpus name.
    """

    name: str
    labels: tuple[str, ...]
    label: Callable[[Tensor], Tensor]
    decide: Callable[[Tensor], Tensor]
    suffix: str


def _known(scores: Tensor, classes: Tensor) -> Tensor:
    return torch.where(scores.isnan(), -1, classes)


def _negative_or_not(scores: Tensor) -> Tensor:
    # CORECT's 2 classes, and MMSA's "has 0" accuracy: 0 counts as non-negative.
    return (scores >= 0).long()


def _negative_or_positive(scores: Tensor) -> Tensor:
    # MMSA's and MulT's "non-0" accuracy: true 0 is left out; a predicted
    # score is positive only above 0, as they compare it.
    return _known(scores, torch.where(scores == 0, -1, (scores > 0).long()))


def _seven(scores: Tensor) -> Tensor:
    # Rounding halves to even, as numpy's round in MMSA's and MulT's
    # 7-class accuracy does; -3 .. 3 are classes 0 .. 6.
    return scores.clamp(-3, 3).round().long() + 3


#: The sentiment views' label names.
SENTIMENT_2 = ("negative", "non-negative")
SENTIMENT_2_NONZERO = ("negative", "positive")
SENTIMENT_7 = ("-3", "-2", "-1", "0", "1", "2", "3")

SCORE_VIEWS: Mapping[str, ScoreView] = MappingProxyType({
    "sentiment_2": ScoreView(
        "sentiment_2", SENTIMENT_2,
        label=lambda s: _known(s, _negative_or_not(s)),
        decide=_negative_or_not, suffix="_sentiment_2"),
    "sentiment_2_nonzero": ScoreView(
        "sentiment_2_nonzero", SENTIMENT_2_NONZERO,
        label=_negative_or_positive,
        decide=lambda s: (s > 0).long(), suffix="_sentiment_2_nonzero"),
    "sentiment_7": ScoreView(
        "sentiment_7", SENTIMENT_7,
        label=lambda s: _known(s, _seven(s.nan_to_num(0.0))),
        decide=_seven, suffix="_sentiment_7"),
})

LABEL_VIEWS: Mapping[str, LabelView | ScoreView] = MappingProxyType({
    # IEMOCAP-4 as CORECT and COGMEN use it: excited merges into happy,
    # frustrated is dropped.
    "iemocap_4": LabelView(
        name="iemocap_4",
        labels=KNOWN_LABEL_SETS["iemocap_4"],
        mapping=MappingProxyType({"hap": "hap", "sad": "sad", "neu": "neu",
                                  "ang": "ang", "exc": "hap", "fru": None}),
        suffix="_4",
    ),
    **SCORE_VIEWS,
})


def apply_label_view(corpus: Corpus, view: str | LabelView | ScoreView) -> Corpus:
    r"""Relabel a corpus through a view.

    Args:
        corpus (Corpus): The source corpus; it is not modified.
        view (str, LabelView or ScoreView): A name in :data:`LABEL_VIEWS`,
            or a view.

    Returns:
        Corpus: A new corpus with the view's labels, dropped utterances and
        emptied dialogues removed, and ``metadata["label_view"]`` set.

    Raises:
        DataError: The corpus cannot take the view, with the reason: it
            lacks a label the view maps, or (a score view) its utterances
            have no scores.
    """
    if isinstance(view, str):
        if view not in LABEL_VIEWS:
            raise DataError(f"unknown label view {view!r}; known views: "
                            f"{', '.join(sorted(LABEL_VIEWS))}")
        view = LABEL_VIEWS[view]
    if isinstance(view, ScoreView):
        return _apply_score_view(corpus, view)
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


def _apply_score_view(corpus: Corpus, view: ScoreView) -> Corpus:
    unscored = [(split, d.id) for split, ds in corpus.splits.items() for d in ds
                if d.scores is None]
    if unscored:
        split, dialogue = unscored[0]
        raise DataError(
            f"label view {view.name!r} labels each utterance from its sentiment score, "
            f"but corpus {corpus.name!r} has no scores ({split} dialogue {dialogue!r} "
            "has none; scores come from a sentiment pickle or the open format's "
            "score column)")
    splits = {}
    for split, dialogues in corpus.splits.items():
        relabelled = []
        for dialogue in dialogues:
            copy = dialogue.select()
            copy.labels = view.label(dialogue.scores)
            relabelled.append(copy)
        splits[split] = relabelled
    metadata = dict(corpus.metadata)
    metadata["label_view"] = view.name
    return Corpus(name=corpus.name + view.suffix, labels=view.labels,
                  modalities=corpus.modalities, splits=splits, metadata=metadata)
