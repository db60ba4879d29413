r"""Is a configuration's difference from a baseline more than noise? A paired
bootstrap over test dialogues.

Utterances of one dialogue are not independent (a dialogue's speakers,
topic and mood are shared), so the unit resampled is the dialogue. Each
resample draws :math:`D` test dialogues with replacement; the candidate and
the baseline are scored on the *same* draw (paired), each averaged over its
seeds, and the difference of their weighted F1 recorded. The interval is
the percentile interval of those differences:

.. math::
    \Delta^{(r)} = \frac{1}{|S_c|}\sum_{s \in S_c} \mathrm{wF1}(C_s^{(r)})
                 - \frac{1}{|S_b|}\sum_{s \in S_b} \mathrm{wF1}(B_s^{(r)})

where :math:`C_s^{(r)}` is the confusion matrix of seed :math:`s` summed
over the dialogues of draw :math:`r` (with their multiplicities).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from .metrics import weighted_f1

#: Resamples of the bootstrap; the page and the summaries state it.
RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Difference:
    """A configuration's weighted F1 minus the baseline's, in points.

    Args:
        delta (float): The difference on the whole test set, seeds averaged.
        low (float): Lower end of the interval.
        high (float): Upper end of the interval.
        resamples (int): Bootstrap resamples.
        dialogues (int): Test dialogues resampled.
    """

    delta: float
    low: float
    high: float
    resamples: int
    dialogues: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low > 0 or self.high < 0


def dialogue_confusions(path: str | Path, label_names: Sequence[str]
                        ) -> tuple[list[str], Tensor]:
    """Per-dialogue confusion matrices of a run's ``predictions.csv``.

    Args:
        path (str or Path): The predictions table (``dialogue_id``,
            ``label``, ``prediction``, ...); unlabelled rows are skipped.
        label_names (Sequence[str]): The run's :obj:`K` labels, in order.

    Returns:
        The dialogue ids in order of first appearance, and their confusion
        matrices, shape :obj:`[D, K, K]`.

    Raises:
        ValueError: A label or prediction that is not one of
            :obj:`label_names`, naming the file and row.
    """
    index = {name: i for i, name in enumerate(label_names)}
    k = len(label_names)
    ids: dict[str, int] = {}
    rows: list[tuple[int, int, int]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            dialogue = ids.setdefault(row["dialogue_id"], len(ids))
            if not row["label"]:
                continue
            try:
                rows.append((dialogue, index[row["label"]], index[row["prediction"]]))
            except KeyError as error:
                raise ValueError(f"{path}, line {line}: {error.args[0]!r} is not one of "
                                 f"the run's labels {list(label_names)}") from None
    confusion = torch.zeros(len(ids) * k * k, dtype=torch.long)
    if rows:
        d, y, p = torch.tensor(rows).T
        confusion += torch.bincount(d * k * k + y * k + p, minlength=len(ids) * k * k)
    return list(ids), confusion.view(len(ids), k, k)


def paired_bootstrap(candidate: Sequence[Tensor], baseline: Sequence[Tensor],
                     resamples: int = RESAMPLES, level: float = LEVEL,
                     seed: int = 0) -> Difference:
    """The candidate's weighted F1 minus the baseline's, with a paired
    bootstrap interval over dialogues (see the module docstring).

    Args:
        candidate (Sequence[Tensor]): One :obj:`[D, K, K]` tensor of
            per-dialogue confusion matrices per seed, dialogues aligned.
        baseline (Sequence[Tensor]): The same for the baseline, over the
            same :obj:`D` dialogues in the same order.
        resamples (int): Bootstrap draws. (default: :obj:`1000`)
        level (float): Coverage of the interval. (default: :obj:`0.95`)
        seed (int): Seeds the draws, so a report is reproducible.

    Raises:
        ValueError: No seeds on a side, or their dialogues do not align.
    """
    if not candidate or not baseline:
        raise ValueError("a paired bootstrap needs at least one run on each side")
    shapes = {tuple(c.shape) for c in (*candidate, *baseline)}
    if len(shapes) != 1:
        raise ValueError(f"runs cover different dialogues or labels: shapes {sorted(shapes)}")
    dialogues = candidate[0].shape[0]
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(dialogues, (resamples, dialogues), generator=generator)
    # Multiplicity of each dialogue in each draw: [R, D].
    counts = torch.zeros(resamples, dialogues, dtype=torch.double)
    counts.scatter_add_(1, draws, torch.ones_like(draws, dtype=torch.double))

    def mean_score(runs: Sequence[Tensor]) -> tuple[float, Tensor]:
        whole = torch.stack([weighted_f1(r.sum(0)) for r in runs]).mean()
        flat = torch.stack([r.reshape(dialogues, -1).double() for r in runs])  # [S, D, K²]
        drawn = torch.einsum("rd,sdk->srk", counts, flat).view(
            len(runs), resamples, *runs[0].shape[1:])
        return float(whole), weighted_f1(drawn).mean(0)

    whole_c, drawn_c = mean_score(candidate)
    whole_b, drawn_b = mean_score(baseline)
    differences = drawn_c - drawn_b
    tail = (1 - level) / 2
    low, high = torch.quantile(differences, torch.tensor([tail, 1 - tail],
                                                         dtype=torch.double)).tolist()
    return Difference(whole_c - whole_b, low, high, resamples, dialogues)
