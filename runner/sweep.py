"""Sweeps: the cross product of comma-separated values, run locally in
parallel processes or as Ray tasks, ending in the comparison report.

A sweep directory records its resolved configurations in ``sweep.json``
before any run starts. Rerunning the same command with the same ``out=``
resumes it: the combinations whose completed run has the same resolved
configuration are kept, the missing and failed ones run, and the report is
rewritten. A different command with that ``out=`` is refused, naming what
differs.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from storage.atomic import claim, write_text_atomic

from .config import ConfigError, RunConfig, compose, parse_args, run_config
from .launchers import Outcome, launcher, threads_per_run
from .options import split_values
from .record import METRICS_FILE
from .report import RunRecord, configuration_labels, find_runs, flatten, write_report
from .setup import resolve_device
from .tensorboard_log import require_tensorboard

#: Keys that shape a sweep itself rather than any one run: one value each.
SWEEP_KEYS = ("jobs", "launcher", "ray_address", "out")


def expand(args: list[str]) -> tuple[list[list[str]], list[str], dict[str, str]]:
    """Every combination of the swept values as argument lists, each
    combination's name (its swept values only), and the sweep-level
    settings."""
    settings, axes = {}, []
    for key, value in parse_args(args):
        values = [v.strip() for v in split_values(value)]
        if key in SWEEP_KEYS:
            if len(values) > 1:
                raise ConfigError(f"{key}={value!r}: {key} sets the sweep itself and takes "
                                  "one value")
            settings[key] = value
        else:
            axes.append([f"{key}={v}" for v in values])
    combos = [list(combo) for combo in itertools.product(*axes)]
    swept = [len(axis) > 1 for axis in axes]
    names = [_slug([a for a, varies in zip(combo, swept) if varies]) for combo in combos]
    # A name cut short, or that only differs in characters a folder name
    # cannot hold, gets its combination's hash.
    counts = {n: names.count(n) for n in names}
    names = [f"{n}_{_digest(c)}" if counts[n] > 1 else n for n, c in zip(names, combos)]
    return combos, names, settings


def _slug(args: list[str]) -> str:
    text = "_".join(args) or "run"
    slug = re.sub(r"[^A-Za-z0-9_=.,+-]+", "-", text)
    return slug if len(slug) <= 120 else f"{slug[:111]}_{_digest(args)}"


def _digest(args: list[str]) -> str:
    return hashlib.sha1("\0".join(args).encode()).hexdigest()[:8]


#: Settings that change how a run is launched, logged or timed, not what it
#: learns: a resumed sweep may change them.
NOT_TRAINING = (*SWEEP_KEYS, "log", "latency")


#: Settings added after runs had been recorded without them, each with the
#: value that does what those runs did: a run that lacks one ran with it.
ADDED_SETTINGS = {"model.speaker_gru": False, "model.head": "classification",
                  "dataset.pool": None}


def _what_trains(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide a run's results, as dotted keys."""
    settings = flatten({k: v for k, v in config.items() if k not in NOT_TRAINING})
    for key, value in ADDED_SETTINGS.items():
        settings.setdefault(key, value)
    return settings


def _key(config: dict[str, Any]) -> str:
    return json.dumps(_what_trains(config), sort_keys=True, default=str)


def _differences(before: list[dict], now: list[dict]) -> str:
    """What changed between two sweeps' resolved configurations, key by
    key: ``seed: 0,1,2 before, 0,1 now``."""
    def values(configs: list[dict]) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = {}
        for config in configs:
            for key, value in _what_trains(config).items():
                text = json.dumps(value, default=str)
                if text not in seen.setdefault(key, []):
                    seen[key].append(text)
        return seen

    old, new = values(before), values(now)
    changes = [f"{key}: {','.join(old.get(key, ['(absent)']))} before, "
               f"{','.join(new.get(key, ['(absent)']))} now"
               for key in sorted(old.keys() | new.keys())
               if sorted(old.get(key, [])) != sorted(new.get(key, []))]
    return "; ".join(changes) or "the same values, combined differently"


def _completed(sweep_dir: Path) -> dict[str, Path]:
    """Completed runs of a sweep directory by what they trained (their
    resolved configuration), whatever their folders are called."""
    done = {}
    for metrics in sorted(sweep_dir.glob(f"*/{METRICS_FILE}")):
        config = yaml.safe_load((metrics.parent / "config.yaml").read_text())
        done[_key(config)] = metrics.parent
    return done


def _check_resumable(sweep_dir: Path, configs: list[dict]) -> dict[str, Any]:
    """Refuse to resume a sweep directory made by another command.

    Returns:
        dict: The sweep's record (``sweep.json``).

    Raises:
        FileExistsError: The folder holds something else than a sweep.
        ConfigError: Its sweep resolved to other configurations; names what
            differs.
    """
    record = sweep_dir / "sweep.json"
    if not record.is_file():
        raise FileExistsError(f"{sweep_dir} is not empty and holds no sweep.json, so it "
                              "is not a sweep to resume; choose another out=")
    previous = json.loads(record.read_text())
    before = previous.get("configs")
    if before is None:
        raise FileExistsError(f"{record} was written by an older ergraph without the "
                              "configurations it resumes by; choose another out=")
    if sorted(map(_key, before)) != sorted(map(_key, configs)):
        raise ConfigError(f"{sweep_dir} holds a sweep of another command; "
                          f"{_differences(before, configs)}. Rerun the same command to "
                          "resume it, or choose another out=")
    return previous


def run_sweep(args: list[str]) -> Path:
    """Run the cross product of :obj:`args`; return the sweep directory
    holding one run directory per combination and the report.

    Every combination is composed first, so a bad argument fails before any
    training. A run that fails is recorded, with its error, in
    ``failures.json`` and the summary; the others complete. An existing
    sweep directory of the same command is resumed (see the module
    docstring).
    """
    combos, names, settings = expand(args)
    base = run_config(compose([f"{k}={v}" for k, v in settings.items()]))
    jobs = max(base.jobs, 1)
    sweep_dir = base.out or Path("multirun") / time.strftime("%Y%m%d-%H%M%S")
    configs = []
    for combo, name in zip(combos, names):
        config = compose(combo)
        config.update(jobs=jobs, launcher=base.launcher, ray_address=base.ray_address)
        config["out"] = str(sweep_dir / name)
        configs.append(config)
    # Settings the machine cannot serve fail once here, not once per run.
    for device in sorted({c["device"] for c in configs}):
        resolve_device(device)
    if any(c.get("log") == "tensorboard" for c in configs):
        require_tensorboard()
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise ConfigError(f"out={sweep_dir} is a file, not a sweep directory")
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    with claim(sweep_dir):  # one sweep process per folder
        return _run_claimed(args, sweep_dir, configs, names, base, jobs)


def _run_claimed(args: list[str], sweep_dir: Path, configs: list[dict], names: list[str],
                 base: RunConfig, jobs: int) -> Path:
    resuming = sweep_dir.exists() and any(sweep_dir.iterdir())
    previous: dict[str, Any] = {}
    if resuming:
        previous = _check_resumable(sweep_dir, configs)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    done = _completed(sweep_dir) if resuming else {}
    todo = [i for i, c in enumerate(configs) if _key(c) not in done]
    if resuming:
        print(f"resuming {sweep_dir}: {len(configs) - len(todo)} of {len(configs)} runs "
              f"already complete, {len(todo)} to run", file=sys.stderr, flush=True)
        before = previous.get("jobs")
        if todo and before and threads_per_run(before) != threads_per_run(jobs):
            print(f"note: the kept runs had {threads_per_run(before)} threads each and new "
                  f"ones get {threads_per_run(jobs)} (jobs={jobs}); CPU results are "
                  "bit-exact only at the same thread count", file=sys.stderr, flush=True)
    record = {"args": args, "runs": len(configs), "jobs": jobs,
              "launcher": base.launcher, "complete": False,
              "wall_seconds": previous.get("wall_seconds", 0.0), "configs": configs}
    write_text_atomic(sweep_dir / "sweep.json", json.dumps(record, indent=2, default=str))
    started = time.time()

    outcomes: dict[int, Outcome] = {}

    def report(position: int, outcome: Outcome) -> None:
        index = todo[position]
        outcomes[index] = outcome
        status = f"failed: {outcome[1]}" if outcome[1] else f"done: {outcome[0]}"
        print(f"[{len(outcomes)}/{len(todo)}] {names[index]} {status}",
              file=sys.stderr, flush=True)

    launcher(base.launcher, base.ray_address).launch([configs[i] for i in todo], jobs, report)

    labels = configuration_labels(configs)
    failures = [RunRecord(labels[i], configs[i].get("seed"), error=error)
                for i, (_, error) in sorted(outcomes.items()) if error]
    failures_file = sweep_dir / "failures.json"
    if failures:
        write_text_atomic(failures_file, json.dumps([f.__dict__ for f in failures],
                                                    indent=2))
    else:
        failures_file.unlink(missing_ok=True)
    # Wall time adds up over the invocations that ran this sweep.
    record.update(failed=len(failures), reused=len(configs) - len(todo), complete=True,
                  wall_seconds=round(record["wall_seconds"] + time.time() - started, 1))
    write_text_atomic(sweep_dir / "sweep.json", json.dumps(record, indent=2, default=str))
    write_report(find_runs([sweep_dir]), sweep_dir)
    return sweep_dir


