import pytest
import torch

from runner.metrics import classification_metrics, weighted_f1
from runner.significance import dialogue_confusions, paired_bootstrap

LABELS = ["a", "b", "c"]


def confusions(accuracy: float, dialogues: int, seed: int, length: int = 10) -> torch.Tensor:
    """Per-dialogue confusions of a classifier right with probability
    ``accuracy`` (else a random wrong class), on random labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(3, (dialogues, length), generator=g)
    right = torch.rand(dialogues, length, generator=g) < accuracy
    wrong = (labels + torch.randint(1, 3, labels.shape, generator=g)) % 3
    predictions = torch.where(right, labels, wrong)
    out = torch.zeros(dialogues, 3, 3, dtype=torch.long)
    for d in range(dialogues):
        out[d] = torch.bincount(labels[d] * 3 + predictions[d], minlength=9).view(3, 3)
    return out


def test_weighted_f1_is_batched_and_checked_by_hand():
    # a: tp 2, support 3, predicted 2 -> F1 4/5; b: tp 1, support 1, predicted 2 -> 2/3.
    one = torch.tensor([[2, 1], [0, 1]])
    batch = torch.stack([one, torch.zeros(2, 2, dtype=torch.long), one.T.contiguous()])
    expected = 100 * (0.8 * 3 + 2 / 3 * 1) / 4
    got = weighted_f1(batch)
    assert got.shape == (3,) and float(got[1]) == 0.0
    assert abs(float(got[0]) - expected) < 1e-12
    labels, predictions = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1])
    assert abs(classification_metrics(labels, predictions, ["a", "b"])["weighted_f1"]
               - expected) < 1e-12


def seeded_runs(accuracy: float, shifts: list[float], run_seed: int,
                dialogues: int = 200, length: int = 10) -> list[torch.Tensor]:
    """One configuration's runs on one fixed test set: the labels and each
    dialogue's difficulty are the same for every configuration and seed (the
    dialogue-level signal); seed :obj:`s` is right with probability
    ``accuracy + difficulty + shifts[s]``."""
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(3, (dialogues, length), generator=g)
    difficulty = torch.rand(dialogues, 1, generator=g) * 0.4 - 0.2
    wrong = (labels + torch.randint(1, 3, labels.shape, generator=g)) % 3
    runs = []
    for k, shift in enumerate(shifts):
        g = torch.Generator().manual_seed(run_seed + k)
        chance = (accuracy + difficulty + shift).clamp(0.05, 0.95)
        predictions = torch.where(torch.rand(labels.shape, generator=g) < chance,
                                  labels, wrong)
        cells = torch.arange(dialogues)[:, None] * 9 + labels * 3 + predictions
        runs.append(torch.bincount(cells.flatten(), minlength=dialogues * 9)
                    .view(dialogues, 3, 3))
    return runs


# Seed-to-seed shifts of up to 10 points, so that the means differ by 2 to 8
# points: the former dialogue-only bootstrap over seed-averaged scores
# starred every one of these (its intervals were about ±1.5 points wide).
CANDIDATE_SHIFTS = [0.10, -0.04, 0.06, -0.08, 0.02]
BASELINE_SHIFTS = [-0.06, 0.08, -0.10, 0.04, 0.00]


@pytest.mark.parametrize("seeds", [2, 3, 4, 5])
def test_configurations_that_differ_only_by_seed_noise_are_not_starred(seeds):
    candidate = seeded_runs(0.6, CANDIDATE_SHIFTS[:seeds], run_seed=100)
    baseline = seeded_runs(0.6, BASELINE_SHIFTS[:seeds], run_seed=200)
    difference = paired_bootstrap(candidate, baseline)
    assert abs(difference.delta) > 1.5  # the seeds' means do differ
    assert not difference.significant
    if seeds >= 3:
        assert difference.low < 0 < difference.high


@pytest.mark.parametrize("seeds", [3, 5])
def test_a_real_difference_stays_starred_with_three_seeds(seeds):
    shifts = [0.02, -0.02, 0.0, 0.01, -0.01][:seeds]
    difference = paired_bootstrap(seeded_runs(0.75, shifts, run_seed=100),
                                  seeded_runs(0.6, shifts, run_seed=200))
    assert difference.significant and difference.low > 8
    assert difference.low < difference.delta < difference.high
    assert (difference.candidate_seeds, difference.baseline_seeds) == (seeds, seeds)


def test_fewer_than_three_seeds_get_an_interval_but_no_star():
    better = [confusions(0.8, 40, seed=s) for s in (0, 1)]
    worse = [confusions(0.5, 40, seed=s + 10) for s in (0, 1, 2)]
    difference = paired_bootstrap(better, worse)
    assert difference.excludes_zero and difference.low > 10
    assert not difference.enough_seeds and not difference.significant


def test_seeds_are_resampled_one_configuration_at_a_time():
    # Identical seeds on both sides: a paired draw of seeds would give 0
    # every time; drawn independently, the seeds' spread widens the interval.
    runs = seeded_runs(0.6, [0.1, -0.1, 0.0], run_seed=300)
    difference = paired_bootstrap(runs, [r.clone() for r in runs])
    assert difference.delta == 0.0
    assert difference.low < -2 and difference.high > 2 and not difference.significant


def test_identical_predictions_give_an_interval_around_zero():
    runs = [confusions(0.6, 30, seed=3)]
    difference = paired_bootstrap(runs, [r.clone() for r in runs])
    assert (difference.delta, difference.low, difference.high) == (0.0, 0.0, 0.0)
    assert not difference.significant


def test_the_interval_narrows_as_dialogues_are_added():
    a, b = confusions(0.62, 20, seed=5), confusions(0.6, 20, seed=6)
    few = paired_bootstrap([a], [b])
    many = paired_bootstrap([a.repeat(4, 1, 1)], [b.repeat(4, 1, 1)])
    assert many.delta == few.delta
    assert (many.high - many.low) < 0.7 * (few.high - few.low)


def test_the_same_seed_gives_the_same_interval():
    a, b = [confusions(0.7, 15, seed=7)], [confusions(0.6, 15, seed=8)]
    assert paired_bootstrap(a, b) == paired_bootstrap(a, b)
    many_a, many_b = seeded_runs(0.7, [0.0, 0.05, -0.05], 1), seeded_runs(0.6, [0.0, 0.1], 9)
    assert paired_bootstrap(many_a, many_b) == paired_bootstrap(many_a, many_b)


def test_predictions_tables_become_per_dialogue_confusions(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text("dialogue_id,turn,speaker,label,prediction,probability\n"
                    "d1,0,A,a,a,0.9\nd1,1,B,b,c,0.5\nd2,0,A,,b,0.4\nd2,1,A,c,c,0.8\n")
    ids, c = dialogue_confusions(path, LABELS)
    assert ids == ["d1", "d2"]
    assert c.tolist() == [[[1, 0, 0], [0, 0, 1], [0, 0, 0]],
                          [[0, 0, 0], [0, 0, 0], [0, 0, 1]]]
