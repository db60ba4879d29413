"""Cross-validation folds over every dialogue of a corpus, whatever its
split.

``cv=K`` deals the dialogues into :obj:`K` folds in an order shuffled once
with a fixed seed, so every configuration and every run seed of a study
tests on the same folds and their predictions pair dialogue by dialogue.
``cv="sessions"`` holds out one IEMOCAP session at a time (dialogue ids
``Ses01F_impro01`` ... ``Ses05M_script03``), the protocol of many IEMOCAP
papers. In each fold the remaining dialogues train, and dev is carved from
them by the dev rule of CORECT's preprocessing (the first tenth, in corpus
order; :mod:`dialogues.pickles`).
"""
from __future__ import annotations

import re
from typing import Literal

import torch

from .corpus import Corpus
from .dialogue import Dialogue
from .errors import DataError

#: Seeds the one shuffle that deals dialogues into folds; fixed, so folds do
#: not change with a run's seed.
FOLD_SEED = 0
SESSION = re.compile(r"Ses0*(\d+)[FM]?_")


def deal(count: int, folds: int, seed: int) -> list[int]:
    """The group (0-based) of each of :obj:`count` items, dealt round the
    :obj:`folds` groups in an order shuffled by :obj:`seed`, so group sizes
    differ by at most one."""
    shuffled = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    groups = [0] * count
    for position, index in enumerate(shuffled.tolist()):
        groups[index] = position % folds
    return groups


def session_of(dialogue_id: str) -> int | None:
    """The IEMOCAP session a dialogue id names (``Ses03M_impro02`` -> 3)."""
    match = SESSION.match(dialogue_id)
    return int(match.group(1)) if match else None


def fold_assignment(dialogues: list[Dialogue], cv: int | Literal["sessions"]
                    ) -> list[int]:
    """The fold (0-based) of each dialogue.

    Args:
        dialogues (list[Dialogue]): Every dialogue, in corpus order.
        cv (int or "sessions"): The number of folds, or IEMOCAP's sessions.

    Raises:
        DataError: Fewer dialogues than folds, fewer than two folds, or a
            dialogue id that names no session, with the reason.
    """
    if cv == "sessions":
        sessions = [session_of(d.id) for d in dialogues]
        unnamed = [d.id for d, s in zip(dialogues, sessions) if s is None]
        if unnamed:
            raise DataError(f"cv=sessions holds out IEMOCAP sessions, read from dialogue "
                            f"ids like 'Ses01F_impro01'; {len(unnamed)} dialogue ids name "
                            f"no session, e.g. {unnamed[0]!r}; use cv=K instead")
        order = sorted(set(sessions))
        if len(order) < 2:
            raise DataError(f"cv=sessions needs at least two sessions; the corpus has "
                            f"only session {order[0]}")
        return [order.index(s) for s in sessions]
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise DataError(f"cv={cv!r}: expected a number of folds ≥ 2, or sessions")
    if cv > len(dialogues):
        raise DataError(f"cv={cv}: more folds than the corpus's {len(dialogues)} dialogues")
    return deal(len(dialogues), cv, FOLD_SEED)


def cross_validation_folds(corpus: Corpus, cv: int | Literal["sessions"]) -> list[Corpus]:
    """One corpus per fold, with ``train``, ``dev`` and ``test`` splits.

    Args:
        corpus (Corpus): Every split's dialogues take part.
        cv (int or "sessions"): See :func:`fold_assignment`.

    Returns:
        list[Corpus]: Fold :obj:`k` tests on the dialogues dealt to it and
        trains on the others, the first tenth of which (at least one) form
        its dev split.
    """
    dialogues = [d for split in corpus.splits.values() for d in split]
    folds = fold_assignment(dialogues, cv)
    out = []
    for k in range(max(folds) + 1):
        test = [d for d, f in zip(dialogues, folds) if f == k]
        rest = [d for d, f in zip(dialogues, folds) if f != k]
        dev_size = max(1, int(0.1 * len(rest)))
        out.append(Corpus(corpus.name, corpus.labels, dict(corpus.modalities),
                          {"train": rest[dev_size:], "dev": rest[:dev_size], "test": test},
                          {**corpus.metadata, "fold": k, "folds": max(folds) + 1}))
    return out
