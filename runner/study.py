"""The topology study's page, ``docs/results.md``, from its sweep
directories (``experiments/results.py`` is its command).

The page's words live in the study folder (:data:`STUDY_FOLDER` by
default): ``page.md`` is the page, with ``$placeholders`` that
:func:`write_results` fills in, and ``study.yaml`` holds the section
titles, the targets and the notes shown for the sweeps that need them.
Every number is read from what the runs recorded (``metrics.json``,
``config.yaml``, ``predictions.csv``, ``sweep.json``): no corpus and no
checkpoint is loaded, so the page cannot drift from the runs.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import yaml

from storage.atomic import write_text_atomic

from .config import ConfigError
from .launchers import threads_per_run
from .report import (FEW_SEEDS, LAUNCH_KEYS, Row, RunRecord, find_runs, format_difference,
                     format_latency, format_mean_std, latency_marks, latency_notes, summarize)
from .significance import METHOD, MIN_SEEDS, RESAMPLES

#: The study's words, beside the results command in experiments/.
STUDY_FOLDER = Path(__file__).resolve().parents[1] / "experiments" / "study"
PAGE, STUDY = "page.md", "study.yaml"

# Sweep arguments every study sweep has; any other one is what sets a sweep
# apart, so it goes into the section title.
STUDY_KEYS = ("dataset", "dataset.path", "graph", "cv", *LAUNCH_KEYS)


@dataclass(frozen=True)
class Target:
    r"""A bar for the mean test weighted F1 of dev's choice.

    Args:
        dataset (str): The corpus name it applies to.
        kind (str): ``"any"`` topology, or only ``"causal"`` ones.
        at_least (float): The bar, in points.
    """

    dataset: str
    kind: Literal["any", "causal"]
    at_least: float


@dataclass(frozen=True)
class Note:
    r"""A paragraph shown when some sweep was run with an argument starting
    with :obj:`when`."""

    when: str
    text: str


@dataclass(frozen=True)
class StudyText:
    r"""The study's words: the page template and ``study.yaml``.

    Args:
        page (string.Template): The page, with ``$placeholders``.
        titles (dict[str, str]): Section titles by corpus name.
        targets (tuple[Target, ...]): The study's bars.
        notes (tuple[Note, ...]): Conditional notes.
        folder (Path): Where they were read from, for errors.
    """

    page: string.Template
    titles: dict[str, str]
    targets: tuple[Target, ...]
    notes: tuple[Note, ...]
    folder: Path

    @classmethod
    def read(cls, folder: Path) -> "StudyText":
        page_path, study_path = folder / PAGE, folder / STUDY
        for path in (page_path, study_path):
            if not path.is_file():
                raise FileNotFoundError(f"the study folder {folder} has no {path.name}")
        spec = yaml.safe_load(study_path.read_text()) or {}
        unknown = sorted(set(spec) - {"titles", "targets", "notes"})
        if unknown:
            raise ConfigError(f"{study_path}: unknown keys {unknown}; "
                              "known: notes, targets, titles")
        try:
            targets = tuple(Target(**t) for t in spec.get("targets") or [])
            notes = tuple(Note(**n) for n in spec.get("notes") or [])
        except TypeError as error:
            raise ConfigError(f"{study_path}: {error}") from None
        for target in targets:
            if target.kind not in ("any", "causal"):
                raise ConfigError(f"{study_path}: target kind {target.kind!r} is neither "
                                  "'any' nor 'causal'")
        return cls(string.Template(page_path.read_text()), dict(spec.get("titles") or {}),
                   targets, notes, folder)

    def fill(self, values: dict[str, str]) -> str:
        """The page with every placeholder filled in."""
        try:
            return self.page.substitute(values)
        except KeyError as error:
            raise ConfigError(f"{self.folder / PAGE} has the placeholder ${error.args[0]}; "
                              f"known: {', '.join('$' + k for k in sorted(values))}") from None
        except ValueError as error:  # a lone $
            raise ConfigError(f"{self.folder / PAGE}: {error}; write $$ for a dollar sign"
                              ) from None


def features_of(records: list[RunRecord]) -> str | None:
    """``"fine-tuned"`` or ``"frozen"`` features, as the runs recorded them;
    :obj:`None` for runs that did not record it."""
    recorded = next((r.metrics.dataset for r in records if r.metrics), None)
    if recorded is None or not recorded.recorded("finetune"):
        return None
    return "fine-tuned" if recorded.finetune else "frozen"


def protocol_of(cv: int | str | None) -> str:
    if cv is None:
        return "test split"
    return "leave one session out" if cv == "sessions" else f"{cv}-fold cross-validation"


@dataclass(frozen=True)
class Sweep:
    r"""One sweep directory, read once.

    Args:
        name (str): Its name on the command line (``iemocap=DIR``).
        path (Path): The directory.
        info (dict, optional): Its ``sweep.json`` (arguments, runs, wall
            time), when it has one.
        records (list[RunRecord]): Its runs.
        rows (list[Row]): Their summary, one row per configuration.
    """

    name: str
    path: Path
    info: dict | None
    records: list[RunRecord]
    rows: list[Row]

    @classmethod
    def read(cls, name: str, path: Path) -> "Sweep":
        info_path = path / "sweep.json"
        records = find_runs([path])
        return cls(name, path,
                   json.loads(info_path.read_text()) if info_path.exists() else None,
                   records, summarize(records))

    @property
    def config(self) -> dict | None:
        """The configuration of one of its runs."""
        return next((r.config for r in self.records if r.config), None)

    @property
    def dataset(self) -> str:
        return self.config["dataset"]["name"] if self.config else self.name

    @property
    def cv(self) -> int | str | None:
        return self.config.get("cv") if self.config else None

    @property
    def args(self) -> list[str]:
        """The arguments it was run with; empty when not recorded."""
        return self.info["args"] if self.info else []

    def title(self, titles: dict[str, str], extras: bool = True) -> str:
        """Corpus, features and protocol, then (with :obj:`extras`) the
        sweep's arguments beyond the study's own."""
        features = features_of(self.records)
        parts = [titles.get(self.dataset, self.dataset),
                 *([f"{features} features"] if features else []), protocol_of(self.cv)]
        others = [a for a in self.args if a.partition("=")[0] not in STUDY_KEYS]
        return ", ".join(parts) + (f" ({', '.join(others)})" if others and extras else "")

    def command(self) -> str:
        return ("python experiments/run.py -m " + " ".join(self.args) if self.info
                else f"# {self.path}: no sweep.json, so its command was not recorded")


def topology(row: Row) -> str:
    """The row's label without its corpus."""
    return row.label.split("/", 1)[1]


def dev_choice(rows: list[Row], causal_only: bool = False) -> Row | None:
    """The row with the highest mean dev weighted F1, among causal rows
    when :obj:`causal_only`."""
    candidates = [r for r in rows if r.runs and (r.causal or not causal_only)
                  and r.stats["dev_weighted_f1"][0] == r.stats["dev_weighted_f1"][0]]
    return max(candidates, key=lambda r: r.stats["dev_weighted_f1"][0], default=None)


def live_push(row: Row) -> str:
    if not row.causal:
        return "offline only"
    mean = row.stats["stream_ms"][0]
    return "not timed" if mean != mean else f"{mean:.2f} ms"


def lead_table(sweeps: list[Sweep], titles: dict[str, str]) -> list[str]:
    """Per sweep, dev's choice, and dev's causal choice where it differs."""
    lines = ["| section | topology chosen on dev | causal | seeds | test wF1 | "
             "Δ wF1 vs none [95% CI] | live push at turn 50 |",
             "|---|---|---|---|---|---|---|"]
    for sweep in sweeps:
        chosen = dev_choice(sweep.rows)
        causal = dev_choice(sweep.rows, causal_only=True)
        for row in [chosen] + ([causal] if causal is not chosen else []):
            if row is None:
                continue
            lines.append(
                f"| {sweep.title(titles, extras=False)} | `{topology(row)}` | "
                f"{'yes' if row.causal else 'no'} | {row.runs} | "
                f"{format_mean_std(row.stats['weighted_f1'], 1)} | "
                f"{format_difference(row)} | {live_push(row)} |")
    return lines


def significant_rows(rows: list[Row]) -> str:
    found = [f"`{topology(r)}` ({format_difference(r).rstrip(' *')})"
             for r in rows if r.difference is not None and r.difference.significant]
    return ", ".join(found) if found else "none"


def target_lines(sweeps: list[Sweep], study: StudyText) -> list[str]:
    """Each target against dev's choice in every sweep it applies to, with
    what the significance columns say at that level."""
    lines = []
    for target in study.targets:
        for sweep in sweeps:
            if sweep.dataset != target.dataset or sweep.cv is not None:
                continue
            row = dev_choice(sweep.rows, causal_only=target.kind == "causal")
            if row is None:
                continue
            mean = row.stats["weighted_f1"][0]
            verdict = ("**met**" if mean >= target.at_least
                       else f"**not met**, by {target.at_least - mean:.1f}")
            kind = "causal topology" if target.kind == "causal" else "topology"
            difference = ("it is `none` itself" if row.baseline == row.label
                          else f"its difference from `none` is {format_difference(row)}")
            lines.append(
                f"- {sweep.title(study.titles, extras=False)}: best {kind} ≥ "
                f"{target.at_least:.1f}. Dev chooses `{topology(row)}`: {mean:.1f} mean "
                f"test weighted F1 over {row.runs} seed{'s' if row.runs > 1 else ''}, "
                f"{verdict}; {difference}. Differences from `none` that exclude 0 in "
                f"this section: {significant_rows(sweep.rows)}.")
    return lines


def dataset_section(sweep: Sweep, titles: dict[str, str]) -> list[str]:
    """The sweep's table, from what its runs recorded."""
    lines = [f"### {sweep.title(titles)}", "",
             "| topology | causal | seeds | dev wF1 | accuracy | weighted F1 | macro F1 | "
             "Δ wF1 vs none [95% CI] | edges/utt | offline ms/utt | streaming ms at turn 50 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    marks = latency_marks(sweep.rows)
    for r in sweep.rows:
        stream = format_latency(r, "stream_ms", marks, 2) if r.causal else "—"
        lines.append(
            f"| `{topology(r)}` | {'yes' if r.causal else 'no'} | {r.runs}"
            f"{f' ({r.failed} failed)' if r.failed else ''} | "
            f"{format_mean_std(r.stats['dev_weighted_f1'], 1)} | "
            f"{format_mean_std(r.stats['accuracy'], 1)} | "
            f"{format_mean_std(r.stats['weighted_f1'], 1)} | "
            f"{format_mean_std(r.stats['macro_f1'], 1)} | {format_difference(r)} | "
            f"{'—' if r.edges_per_utterance is None else f'{r.edges_per_utterance:.1f}'} | "
            f"{format_latency(r, 'ms_per_utterance', marks, 2)} | {stream} |")
    for note in latency_notes(sweep.rows):
        lines += ["", note]
    info = sweep.info
    if info:
        lines += ["", f"{info['runs']} runs ({info['failed']} failed), {info['jobs']} "
                  f"parallel jobs, {info['wall_seconds'] / 60:.0f} minutes of wall time"
                  + ("." if info.get("complete", True) else "; **the sweep is incomplete**.")]
    return lines + [""]


def features_sentence(sweeps: list[Sweep]) -> str:
    """What each kind of features is, as the runs recorded it."""
    described: dict[str, str] = {}
    for sweep in sweeps:
        recorded = next((r.metrics.dataset for r in sweep.records if r.metrics), None)
        kind = features_of(sweep.records)
        if kind is None or kind in described:
            continue
        text = "; ".join(f"{m}: {d}" for m, d in (recorded.features or {}).items())
        recipe = recorded.finetune
        if recipe:
            text += " (recipe: " + ", ".join(f"{k} {v}" for k, v in recipe.items()) + ")"
        described[kind] = f"{kind[0].upper()}{kind[1:]} features: {text or 'not described'}."
    return " ".join(described.values())


def write_results(paths: dict[str, Path], out: Path, data: str, study: StudyText) -> None:
    """Write the page to :obj:`out` (and the first sweep's ``tradeoff.png``
    beside it).

    Args:
        paths (dict[str, Path]): Sweep directories by their names on the
            command line, in page order.
        out (Path): The page.
        data (str): The corpora's folder, as the page names it.
        study (StudyText): The page's words.
    """
    sweeps = [Sweep.read(name, path) for name, path in paths.items()]
    sections = [line for sweep in sweeps for line in dataset_section(sweep, study.titles)]
    infos = [sweep.info for sweep in sweeps if sweep.info]
    if infos:
        sections.append(f"All {len(infos)} sweeps: {sum(i['runs'] for i in infos)} runs, "
                        f"{sum(i['wall_seconds'] for i in infos) / 60:.0f} minutes of wall "
                        "time.")
    jobs = {i["jobs"] for i in infos}
    threads = "" if len(jobs) != 1 else (
        "- Training on CPU is deterministic at a given number of intra-op threads, and "
        "only there. A sweep gives each run cores/jobs threads: with "
        f"`jobs={min(jobs)}` on these {os.cpu_count()} cores, "
        f"{threads_per_run(min(jobs))}. Rerun the commands with as many "
        "threads per run to get the same digits; other thread counts give other draws "
        "from the same seed-to-seed spread.")
    plot = ""
    first = sweeps[0]
    if (first.path / "tradeoff.png").exists():
        shutil.copyfile(first.path / "tradeoff.png", out.parent / "tradeoff.png")
        plot = (f"## Accuracy against latency ({first.title(study.titles, extras=False)})\n\n"
                "![weighted F1 against latency](tradeoff.png)")
    config = first.config or {}
    targets = target_lines(sweeps, study)
    swept = [a for sweep in sweeps for a in sweep.args]
    page = study.fill({
        "lead": "\n".join(lead_table(sweeps, study.titles)),
        "targets": "\n".join(["## Targets", "",
                              "Each target is held against the topology that dev "
                              "chooses in each section it applies to; test was not "
                              "looked at to choose.", "", *targets]) if targets else "",
        "features": features_sentence(sweeps),
        "machine": ", ".join([" ".join(filter(None, (platform.machine(),
                                                      platform.processor()))),
                              f"{os.cpu_count()} CPU cores",
                              f"Python {platform.python_version()}",
                              f"torch {torch.__version__}."]),
        "threads": threads,
        "resamples": str(RESAMPLES),
        "method": METHOD,
        "min_seeds": str(MIN_SEEDS),
        "few_seeds": FEW_SEEDS,
        "settings": yaml.safe_dump({k: config[k] for k in ("model", "train") if k in config},
                                   sort_keys=False).rstrip(),
        "sections": "\n".join(sections),
        "plot": plot,
        "data": data,
        "commands": "\n".join(
            ["pip install torch==2.13.0 && pip install -e '.[test,text]'",
             *[sweep.command() for sweep in sweeps],
             "python experiments/results.py "
             + " ".join(f"{n}={s}" for n, s in paths.items()) + f" out={out}"]),
        "notes": "\n".join(f"- {note.text}" for note in study.notes
                           if any(a.startswith(note.when) for a in swept)),
    })
    write_text_atomic(out, page)
