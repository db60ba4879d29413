r"""Is a configuration's difference from a baseline more than noise? A
two-level (hierarchical) bootstrap over training seeds and test dialogues.

Two things make a score vary: the seed a model trained with, and which
dialogues happen to be in the test set. An interval that resamples only the
dialogues, over seed-averaged scores, speaks for these seeds alone: two
seeds 8 points apart can still get a tight interval and a star. So each
resample draws both:

- seeds: each configuration's own :math:`S` runs, :math:`S` times with
  replacement, independently per configuration (a seed number means nothing
  across configurations: the same seed trains another model);
- dialogues: :math:`D` test dialogues with replacement, the same draw for
  both configurations (paired), because a dialogue is hard or easy for
  every model. Utterances of one dialogue are not independent (speakers,
  topic and mood are shared), so the dialogue is the unit.

All seeds score the same test dialogues, so their spread measures training
noise, not the test set's, and redrawing the dialogues on top does not count
the test set twice.
The interval is the percentile interval of

.. math::
    \Delta^{(r)} = \frac{1}{|S_c|}\sum_{s} m^{(r)}_{c,s}\,\mathrm{wF1}(C_s^{(r)})
                 - \frac{1}{|S_b|}\sum_{s} m^{(r)}_{b,s}\,\mathrm{wF1}(B_s^{(r)})

where :math:`m^{(r)}_{c,s}` is how often draw :math:`r` picked seed
:math:`s` of the candidate and :math:`C_s^{(r)}` is that seed's confusion
matrix summed over the dialogues of draw :math:`r` (with their
multiplicities).

A bootstrap over :math:`n` seeds sees their spread shrunk by
:math:`(n-1)/n` and only a handful of distinct draws; with 2 seeds a draw
picks the same seed twice half the time. So a difference is called
significant (starred) only with at least :data:`MIN_SEEDS` seeds per
configuration; with fewer the interval is still given, marked.
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
#: Seeds each configuration needs before its difference may be starred.
MIN_SEEDS = 3
#: The method in words, for the reports under their tables.
METHOD = (f"a two-level bootstrap ({RESAMPLES} resamples) that redraws each "
          "configuration's seeds independently and the test dialogues, the same "
          "dialogues for both configurations, so the interval covers seed-to-seed "
          "and test-set variance")


@dataclass(frozen=True)
class Difference:
    """A configuration's weighted F1 minus the baseline's, in points.

    Args:
        delta (float): The difference on the whole test set, seeds averaged.
        low (float): Lower end of the interval.
        high (float): Upper end of the interval.
        resamples (int): Bootstrap resamples.
        dialogues (int): Test dialogues resampled.
        candidate_seeds (int): Seeds of the configuration.
        baseline_seeds (int): Seeds of the baseline.
    """

    delta: float
    low: float
    high: float
    resamples: int
    dialogues: int
    candidate_seeds: int
    baseline_seeds: int

    @property
    def enough_seeds(self) -> bool:
        """Whether both sides have :data:`MIN_SEEDS` seeds, so that the
        interval may decide significance."""
        return min(self.candidate_seeds, self.baseline_seeds) >= MIN_SEEDS

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval excludes zero, whatever the seeds."""
        return self.low > 0 or self.high < 0

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero with enough seeds to say so."""
        return self.enough_seeds and self.excludes_zero


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
    """The candidate's weighted F1 minus the baseline's, with a two-level
    bootstrap interval over seeds and dialogues (see the module docstring;
    "paired": the dialogues are drawn once for both).

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
    dialogue_counts = multiplicities(dialogues, resamples, generator)  # [R, D]

    def mean_score(runs: Sequence[Tensor]) -> tuple[float, Tensor]:
        whole = torch.stack([weighted_f1(r.sum(0)) for r in runs]).mean()
        flat = torch.stack([r.reshape(dialogues, -1).double() for r in runs])  # [S, D, K²]
        drawn = torch.einsum("rd,sdk->rsk", dialogue_counts, flat).view(
            resamples, len(runs), *runs[0].shape[1:])
        seed_counts = multiplicities(len(runs), resamples, generator)  # [R, S]
        return float(whole), (seed_counts * weighted_f1(drawn)).sum(1) / len(runs)

    whole_c, drawn_c = mean_score(candidate)
    whole_b, drawn_b = mean_score(baseline)
    differences = drawn_c - drawn_b
    tail = (1 - level) / 2
    low, high = torch.quantile(differences, torch.tensor([tail, 1 - tail],
                                                         dtype=torch.double)).tolist()
    return Difference(whole_c - whole_b, low, high, resamples, dialogues,
                      len(candidate), len(baseline))


def multiplicities(items: int, resamples: int, generator: torch.Generator) -> Tensor:
    """How often each of :obj:`items` is picked in each of :obj:`resamples`
    draws of :obj:`items` with replacement, shape :obj:`[resamples, items]`."""
    draws = torch.randint(items, (resamples, items), generator=generator)
    counts = torch.zeros(resamples, items, dtype=torch.double)
    return counts.scatter_add_(1, draws, torch.ones_like(draws, dtype=torch.double))
