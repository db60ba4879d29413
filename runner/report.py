"""Comparison tables and the accuracy-latency plot, from run directories."""
from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from matplotlib.figure import Figure

from storage.atomic import write_atomic, write_text_atomic

from .figures import dev_curves
from .record import METRICS_FILE, RunMetrics
from .significance import (METHOD, MIN_SEEDS, Difference, dialogue_confusions,
                           paired_bootstrap)

METRICS = ("accuracy", "weighted_f1", "macro_f1")
#: What a regression head adds; tables show them only when a run has them.
SCORE_METRICS = ("mae", "pearson")


@dataclass
class RunRecord:
    """One run of a sweep, finished or failed.

    Args:
        label (str): Its row (:func:`configuration_labels`).
        seed (int, optional): Its seed.
        metrics (RunMetrics, optional): Its record; none for a failed run.
        error (str, optional): Why it failed.
        path (str, optional): Its run directory.
        config (dict, optional): Its resolved configuration.
    """
    label: str
    seed: int | None
    metrics: RunMetrics | None = None
    error: str | None = None
    path: str | None = None
    config: dict | None = None


def topology_label(config: dict) -> str:
    """``graph(params)`` plus the dataset, which is what a row compares."""
    graph = dict(config["graph"])
    name = graph.pop("name")
    params = ",".join(f"{k}={v}" for k, v in graph.items())
    return f"{config['dataset']['name']}/{name}" + (f"({params})" if params else "")


#: Settings that say how a run was launched, repeated, logged or timed, not
#: what it trained: the seed, the log, and the sweep's own keys
#: (:data:`runner.sweep.SWEEP_KEYS`, which a report does not import: sweeps
#: write reports, not the other way round).
LAUNCH_KEYS = ("seed", "log", "jobs", "launcher", "ray_address", "out")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested configuration as dotted keys: ``{"train.lr": 0.001}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def configuration_labels(configs: list[dict]) -> list[str]:
    """A row label for each run: its :func:`topology_label`, then every other
    setting that differs between runs on the same dataset, as ``key=value``.

    Without the settings, a sweep over ``model.dropout`` or
    ``train.ema_decay`` would pool its values into one row as if they were
    seeds. Seeds and launch settings never separate rows; nor do the
    settings of two different datasets, which the label already names.
    """
    flat = [flatten(c) for c in configs]
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for config, settings in zip(configs, flat):
        by_dataset.setdefault(config["dataset"]["name"], []).append(settings)
    keys = sorted({k for settings in flat for k in settings})
    separating = [k for k in keys
                  if not k.startswith(("graph.", "latency.")) and k not in LAUNCH_KEYS
                  and any(len({repr(s.get(k)) for s in group}) > 1
                          for group in by_dataset.values())]
    return [topology_label(config) + "".join(f" {k}={settings.get(k)}" for k in separating)
            for config, settings in zip(configs, flat)]


def find_runs(paths: Iterable[Path]) -> list[RunRecord]:
    """Every run under :obj:`paths` (run or sweep directories), plus the
    failures a sweep recorded in ``failures.json``, labelled by
    :func:`configuration_labels` over all the finished runs together."""
    run_dirs, failed = [], []
    for path in map(Path, paths):
        if (path / METRICS_FILE).exists():
            run_dirs.append(path)
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is neither a run nor a sweep directory")
        run_dirs += [metrics.parent for metrics in sorted(path.glob(f"*/{METRICS_FILE}"))]
        failures = path / "failures.json"
        if failures.exists():
            failed += [RunRecord(**r) for r in json.loads(failures.read_text())]
    configs = [yaml.safe_load((d / "config.yaml").read_text()) for d in run_dirs]
    return [RunRecord(label, config.get("seed"), RunMetrics.read(run_dir), path=str(run_dir),
                      config=config)
            for label, config, run_dir in zip(configuration_labels(configs), configs, run_dirs)
            ] + failed


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation; the deviation is NaN for one
    value, where there is no spread to speak of (not a spread of 0)."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1
                                      else float("nan"))


@dataclass
class Row:
    label: str
    runs: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)
    causal: bool | None = None
    edges_per_utterance: float | None = None
    #: Weighted F1 minus the baseline row's, with its bootstrap interval.
    difference: Difference | None = None
    baseline: str | None = None
    #: Intra-op threads each run's latency was timed at, where recorded.
    latency_threads: list[int] = field(default_factory=list)
    #: Runs timed while the machine's load exceeded its cores.
    timed_under_load: int = 0


#: The graph every configuration is compared with, unless told otherwise.
DEFAULT_BASELINE = "none"


def summarize(records: list[RunRecord], baseline: str = DEFAULT_BASELINE) -> list[Row]:
    """One row per configuration (all seeds together), sorted by label, the
    numbers in it by value, each with its difference in weighted F1 from
    the baseline row of its group (:func:`compare_with_baseline`)."""
    rows: dict[str, Row] = {}
    for record in records:
        row = rows.setdefault(record.label, Row(record.label))
        if record.metrics is None:
            row.failed += 1
            row.errors.append(f"seed {record.seed}: {record.error}")
        else:
            row.runs += 1
    for label, row in rows.items():
        done = [r.metrics for r in records if r.label == label and r.metrics]
        for metric in METRICS:
            row.stats[metric] = _mean_std([getattr(m.test, metric) for m in done])
        for metric in SCORE_METRICS:
            row.stats[metric] = _mean_std([getattr(m.test, metric) for m in done
                                           if getattr(m.test, metric) is not None])
        row.stats["dev_weighted_f1"] = _mean_std([m.dev.weighted_f1 for m in done])
        row.stats["ms_per_utterance"] = _mean_std([m.latency.ms_per_utterance for m in done])
        # Causal runs time a live push (older runs did not).
        row.stats["stream_ms"] = _mean_std(
            [m.latency.stream_ms for m in done if m.latency.stream_ms is not None])
        # Runs from before the latency kept its threads were timed in the
        # process that trained, at the threads the run recorded.
        row.latency_threads = [m.latency.threads or m.threads for m in done
                               if (m.latency.threads or m.threads) is not None]
        row.timed_under_load = sum(bool(m.latency.under_load) for m in done)
        if done:
            row.causal = done[0].graph.causal
            row.edges_per_utterance = done[0].graph.edges_per_utterance
    compare_with_baseline(rows, records, baseline)
    return [rows[label] for label in sorted(rows, key=natural_order)]


def baseline_candidates(records: list[RunRecord]) -> list[str]:
    """What ``baseline=`` may name among :obj:`records`: their graphs'
    names and their configuration labels, sorted."""
    names = {r.label for r in records}
    names |= {r.config["graph"]["name"] for r in records if r.config}
    return sorted(names, key=natural_order)


def _group(record: RunRecord) -> tuple[str, str]:
    """Rows compared with one baseline: the same dataset and the same
    settings outside the graph (the label's part after the topology)."""
    topology = topology_label(record.config)
    return record.config["dataset"]["name"], record.label[len(topology):]


def compare_with_baseline(rows: dict[str, Row], records: list[RunRecord],
                          baseline: str) -> None:
    """Set each row's :attr:`Row.difference` from the baseline of its group:
    the row whose graph is named :obj:`baseline` (or whose label is it), on
    the same dataset with the same other settings. Rows without a baseline,
    or whose runs scored other test dialogues, get none."""
    finished = [r for r in records if r.metrics and r.config and r.path
                and (Path(r.path) / "predictions.csv").exists()]
    by_label: dict[str, list[RunRecord]] = {}
    for record in finished:
        by_label.setdefault(record.label, []).append(record)
    groups: dict[tuple[str, str], list[str]] = {}
    for label, runs in by_label.items():
        groups.setdefault(_group(runs[0]), []).append(label)
    for labels in groups.values():
        bases = [label for label in labels if label == baseline] or [
            label for label in labels
            if by_label[label][0].config["graph"]["name"] == baseline]
        if len(bases) != 1:
            continue  # none, or several (say speaker at two pasts): ambiguous
        ids, base = _confusions(by_label[bases[0]])
        rows[bases[0]].baseline = bases[0]
        for label in labels:
            if label == bases[0]:
                continue
            other_ids, runs = _confusions(by_label[label])
            if sorted(other_ids) != sorted(ids):
                continue
            position = {i: k for k, i in enumerate(other_ids)}
            order = [position[i] for i in ids]
            rows[label].difference = paired_bootstrap([r[order] for r in runs], base)
            rows[label].baseline = bases[0]


def _confusions(runs: list[RunRecord]) -> tuple[list[str], list]:
    """Per-dialogue confusions of each seed's test predictions, dialogues in
    the first seed's order."""
    ids, out = None, []
    for run in runs:
        run_ids, confusion = dialogue_confusions(Path(run.path) / "predictions.csv",
                                                 run.metrics.dataset.labels)
        if ids is None:
            ids = run_ids
        position = {i: k for k, i in enumerate(run_ids)}
        out.append(confusion[[position[i] for i in ids]])
    return ids, out


#: Follows an interval from fewer than :data:`MIN_SEEDS` seeds a side.
FEW_SEEDS = f"(<{MIN_SEEDS} seeds)"


def format_difference(row: Row) -> str:
    """``+2.31 [+0.85, +3.70] *``, the star where the interval excludes
    zero with enough seeds, :data:`FEW_SEEDS` in its place without them;
    ``baseline`` for the baseline itself, ``—`` without one."""
    if row.baseline == row.label:
        return "baseline"
    d = row.difference
    if d is None:
        return "—"
    mark = " *" if d.significant else "" if d.enough_seeds else f" {FEW_SEEDS}"
    return f"{d.delta:+.2f} [{d.low:+.2f}, {d.high:+.2f}]" + mark


def difference_note(baselines: str) -> str:
    """What the Δ column means and how its interval was made."""
    return (f"Δ: test weighted F1 minus that of the baseline ({baselines}) on the same "
            f"dataset with the same other settings, seeds averaged; the 95% interval is "
            f"{METHOD}; * marks an interval that excludes 0, given only with at least "
            f"{MIN_SEEDS} seeds per configuration; {FEW_SEEDS} marks an interval from "
            "fewer, which cannot be starred.")


def natural_order(label: str) -> list:
    """Sort key that orders ``past=4`` before ``past=16``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def format_mean_std(mean_std: tuple[float, float], digits: int = 2) -> str:
    """``mean ± std`` with :obj:`digits` decimals; the mean alone for a NaN
    std (one run); ``—`` for a NaN mean."""
    mean, std = mean_std
    if mean != mean:
        return "—"
    return f"{mean:.{digits}f}" + ("" if std != std else f" ± {std:.{digits}f}")


#: Marks a latency cell timed, at least in part, at another thread count
#: than most of its column.
OTHER_THREADS = "†"
#: Marks a latency cell with a run timed on a machine under load.
UNDER_LOAD = "‡"


def usual_threads(rows: list[Row]) -> int | None:
    """The thread count most of the rows' runs were timed at (the fewer
    threads on a tie); None when all runs were timed at one count, or none
    was recorded, so that there is nothing to mark."""
    counts = Counter(t for r in rows for t in r.latency_threads)
    if len(counts) < 2:
        return None
    return max(counts, key=lambda threads: (counts[threads], -threads))


def latency_marks(rows: list[Row]) -> dict[str, str]:
    """Each row's marks for its latency cells: :data:`OTHER_THREADS` where
    the column mixes thread counts and a run of the row was timed at other
    than the most common, :data:`UNDER_LOAD` where a run was timed while
    the machine's 1-minute load average exceeded its cores."""
    usual = usual_threads(rows)
    return {r.label: ("" if usual is None or set(r.latency_threads) <= {usual}
                      else OTHER_THREADS) + (UNDER_LOAD if r.timed_under_load else "")
            for r in rows}


def latency_notes(rows: list[Row]) -> list[str]:
    """A line under the table for each mark :func:`latency_marks` used."""
    marks = "".join(latency_marks(rows).values())
    notes = []
    if OTHER_THREADS in marks:
        counts = Counter(t for r in rows for t in r.latency_threads)
        mixed = "; ".join(f"{t} thread{'s' if t > 1 else ''}: {n} run{'s' if n > 1 else ''}"
                          for t, n in sorted(counts.items()))
        notes.append(f"{OTHER_THREADS} The latency columns mix intra-op thread counts "
                     f"({mixed}; a sweep resumed with another jobs= does this): a marked "
                     "cell was timed, at least in part, at another count than the column's "
                     f"most common, {usual_threads(rows)}, and does not compare with the "
                     "others.")
    if UNDER_LOAD in marks:
        runs = sum(r.timed_under_load for r in rows)
        notes.append(f"{UNDER_LOAD} {runs} run{'s were' if runs > 1 else ' was'} timed "
                     "while the machine's 1-minute load average exceeded its CPU cores: "
                     "threads waited for a CPU, so a marked cell overstates the model's "
                     "latency.")
    return notes


def format_latency(row: Row, metric: str, marks: dict[str, str], digits: int) -> str:
    """The row's ``mean ± std`` of latency :obj:`metric`, with its marks."""
    cell = format_mean_std(row.stats[metric], digits)
    return cell if cell == "—" or not marks[row.label] else f"{cell} {marks[row.label]}"


def _scored(rows: list[Row]) -> bool:
    """Whether any row has a regression head's score metrics."""
    return any(not math.isnan(r.stats.get("mae", (math.nan,))[0]) for r in rows)


def summary_markdown(rows: list[Row]) -> str:
    scored = _scored(rows)
    lines = ["| configuration | runs | accuracy | weighted F1 | Δ wF1 vs baseline [95% CI] "
             "| macro F1 | " + ("MAE | Pearson r | " if scored else "")
             + "ms/utterance | ms/push | edges/utterance | causal |",
             "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if scored else "")]
    marks = latency_marks(rows)
    for r in rows:
        runs = f"{r.runs}" + (f" ({r.failed} failed)" if r.failed else "")
        edges = "—" if r.edges_per_utterance is None else f"{r.edges_per_utterance:.1f}"
        causal = "—" if r.causal is None else ("yes" if r.causal else "no")
        scores = (f"{format_mean_std(r.stats['mae'], 3)} | "
                  f"{format_mean_std(r.stats['pearson'], 3)} | " if scored else "")
        lines.append(f"| {r.label} | {runs} | {format_mean_std(r.stats['accuracy'])} | "
                     f"{format_mean_std(r.stats['weighted_f1'])} | {format_difference(r)} | "
                     f"{format_mean_std(r.stats['macro_f1'])} | {scores}"
                     f"{format_latency(r, 'ms_per_utterance', marks, 3)} | "
                     f"{format_latency(r, 'stream_ms', marks, 2)} | {edges} | {causal} |")
    bases = sorted({r.baseline for r in rows if r.baseline})
    lines += ["", "ms/utterance: offline, batch size 1, graph and forward pass; ms/push: a "
              "causal model's live push of turn 50 (or a shorter dialogue's last) on CPU."]
    for note in latency_notes(rows):
        lines += ["", note]
    if bases:
        lines += ["", difference_note(", ".join(bases))]
    errors = [f"- {r.label}, {e}" for r in rows for e in r.errors]
    if errors:
        lines += ["", "Failed runs:", *errors]
    return "\n".join(lines) + "\n"


def summary_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [*METRICS, *(SCORE_METRICS if _scored(rows) else ()), "ms_per_utterance",
               "stream_ms"]
    writer.writerow(["configuration", "runs", "failed",
                     *[f"{c}_{s}" for c in columns for s in ("mean", "std")],
                     "edges_per_utterance", "causal", "baseline", "wf1_delta", "wf1_delta_low",
                     "wf1_delta_high", "significant", "wf1_delta_fewest_seeds",
                     "latency_threads", "timed_under_load", "errors"])
    for r in rows:
        d = r.difference
        delta = (["", "", "", "", ""] if d is None else
                 [f"{d.delta:.4f}", f"{d.low:.4f}", f"{d.high:.4f}", d.significant,
                  min(d.candidate_seeds, d.baseline_seeds)])
        if r.baseline == r.label:
            delta = ["0.0000", "", "", "", ""]
        writer.writerow([r.label, r.runs, r.failed,
                         *[f"{v:.4f}" for c in columns for v in r.stats[c]],
                         "" if r.edges_per_utterance is None else f"{r.edges_per_utterance:.3f}",
                         "" if r.causal is None else r.causal, r.baseline or "", *delta,
                         ";".join(map(str, sorted(set(r.latency_threads)))),
                         r.timed_under_load, " | ".join(r.errors)])
    return out.getvalue()


def tradeoff_plot(rows: list[Row], path: Path) -> None:
    """Weighted F1 against ms per utterance, with error bars, per row."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for r in rows:
        (x, dx), (y, dy) = r.stats["ms_per_utterance"], r.stats["weighted_f1"]
        if x != x:
            continue
        marker = "o" if r.causal else "s"
        # One run has no spread: no error bar.
        ax.errorbar(x, y, xerr=dx if dx == dx else None, yerr=dy if dy == dy else None,
                    fmt=marker, capsize=3,
                    label=f"{r.label} ({'causal' if r.causal else 'bidirectional'})")
    ax.set_xlabel("latency (ms per utterance, batch size 1)")
    ax.set_ylabel("test weighted F1 (%)")
    ax.set_title("Accuracy against latency by topology")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))


def write_report(records: list[RunRecord], directory: Path,
                 baseline: str = DEFAULT_BASELINE) -> None:
    """``summary.csv``, ``summary.md``, ``tradeoff.png`` and
    ``dev_curves.png`` (every run's dev curve) in :obj:`directory`, each
    configuration compared with :obj:`baseline`."""
    rows = summarize(records, baseline)
    write_text_atomic(directory / "summary.csv", summary_csv(rows))
    write_text_atomic(directory / "summary.md", summary_markdown(rows))
    tradeoff_plot(rows, directory / "tradeoff.png")
    # A cross-validated run has a dev curve per fold.
    curves = [(r.label, history) for r in records if r.metrics
              for history in ([f.history for f in r.metrics.folds or []]
                              or [r.metrics.history]) if history]
    if curves:
        dev_curves(curves, directory / "dev_curves.png",
                   title="dev weighted F1 of every run, by configuration")


def describe_run(run_dir: Path) -> str:
    """A few lines on a finished run, for the terminal.

    Args:
        run_dir (Path): The run directory.
    """
    metrics = RunMetrics.read(run_dir)
    t, lat, g = metrics.test, metrics.latency, metrics.graph
    return (f"run written to {run_dir}\n"
            f"test accuracy {t.accuracy:.2f}  weighted F1 {t.weighted_f1:.2f}  "
            f"macro F1 {t.macro_f1:.2f}  (best dev epoch {metrics.best_epoch})\n"
            + (f"scores: MAE {t.mae:.3f}  Pearson r {t.pearson:.3f}\n"
               if t.mae is not None else "") +
            f"graph {g.name}: causal={g.causal}, {g.num_relations} relations, "
            f"{g.edges_per_utterance:.1f} edges/utterance\n"
            f"latency {lat.ms_per_utterance:.3f} ms/utterance "
            f"(graph {lat.graph_ms_per_dialogue:.3f} + forward "
            f"{lat.forward_ms_per_dialogue:.3f} ms/dialogue)")
