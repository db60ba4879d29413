"""Sweeps: the cross product of comma-separated values, run locally in
parallel processes or as Ray tasks, ending in the comparison report."""
from __future__ import annotations

import itertools
import json
import os
import re
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from .config import ConfigError, compose, parse_args
from .report import SWEEP_KEYS, RunRecord, configuration_labels, find_runs, write_report


def split_values(value: str) -> list[str]:
    """Split on commas outside brackets, so ``[text,audio]`` stays whole."""
    parts, depth, current = [], 0, ""
    for char in value:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def expand(args: list[str]) -> tuple[list[list[str]], list[str], dict[str, str]]:
    """Every combination of the swept values as argument lists, each
    combination's name (its swept values only), and the sweep-level
    settings."""
    settings, axes = {}, []
    for key, value in parse_args(args):
        if key in SWEEP_KEYS:
            settings[key] = value
        else:
            axes.append([f"{key}={v}" for v in split_values(value)])
    combos = [list(combo) for combo in itertools.product(*axes)]
    swept = [len(axis) > 1 for axis in axes]
    names = [_slug([a for a, varies in zip(combo, swept) if varies]) for combo in combos]
    return combos, names, settings


def _slug(args: list[str]) -> str:
    text = "_".join(args) or "run"
    return re.sub(r"[^A-Za-z0-9_=.,+-]+", "-", text)[:120]


def _run_one(config: dict[str, Any], threads: int) -> str:
    """A sweep worker: one experiment in its own process."""
    import torch

    from .runner import run_experiment
    torch.set_num_threads(threads)
    return str(run_experiment(config))


def run_sweep(args: list[str]) -> Path:
    """Run the cross product of :obj:`args`; return the sweep directory
    holding one run directory per combination and the report.

    Every combination is composed first, so a bad argument fails before any
    training. A run that fails is recorded, with its error, in
    ``failures.json`` and the summary; the others complete.
    """
    combos, names, settings = expand(args)
    base = compose([f"{k}={v}" for k, v in settings.items()])
    jobs = max(int(base["jobs"]), 1)
    sweep_dir = Path(base["out"] or Path("multirun") / time.strftime("%Y%m%d-%H%M%S"))
    if sweep_dir.exists() and any(sweep_dir.iterdir()):
        raise FileExistsError(f"sweep directory {sweep_dir} already exists and is not empty")
    configs = []
    for combo, name in zip(combos, names):
        config = compose(combo)
        config.update(jobs=jobs, launcher=base["launcher"], ray_address=base["ray_address"])
        config["out"] = str(sweep_dir / name)
        configs.append(config)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    if base["launcher"] == "ray":
        outcomes = _launch_ray(configs, base["ray_address"], jobs)
    elif base["launcher"] == "local":
        outcomes = _launch_local(configs, jobs)
    else:
        raise ConfigError(f"unknown launcher {base['launcher']!r}; choices: local, ray")

    failures = [RunRecord(label, c.get("seed"), error=error)
                for label, c, (_, error) in zip(configuration_labels(configs), configs, outcomes)
                if error]
    if failures:
        (sweep_dir / "failures.json").write_text(
            json.dumps([f.__dict__ for f in failures], indent=2))
    (sweep_dir / "sweep.json").write_text(json.dumps({
        "args": args, "runs": len(configs), "failed": len(failures), "jobs": jobs,
        "launcher": base["launcher"], "wall_seconds": round(time.time() - started, 1),
    }, indent=2))
    write_report(find_runs([sweep_dir]), sweep_dir)
    return sweep_dir


def threads_per_run(jobs: int) -> int:
    """Intra-op threads a local sweep gives each of its :obj:`jobs` runs:
    the cores shared out, so parallel runs do not contend for them."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _launch_local(configs: list[dict], jobs: int) -> list[tuple[str | None, str | None]]:
    threads = threads_per_run(jobs)
    if jobs == 1:
        return [_guard(_run_one, config, threads) for config in configs]
    # Spawned, not forked: each run starts clean, whatever the parent did.
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_guard, _run_one, config, threads) for config in configs]
        return [f.result() for f in futures]


def _guard(fn, *args) -> tuple[str | None, str | None]:
    try:
        return fn(*args), None
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return None, f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"


def _launch_ray(configs: list[dict], address: str | None,
                jobs: int) -> list[tuple[str | None, str | None]]:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("launcher=ray needs Ray: pip install 'ergraph[ray]'") from exc
    started = not ray.is_initialized()
    if started:
        # Ray workers must import this project; the working directory is
        # shipped only when it is not installed where the workers run.
        ray.init(address=address or None, num_cpus=None if address else jobs,
                 include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_guard)
        return ray.get([task.remote(_run_one, c, 1) for c in configs])
    finally:
        if started:
            ray.shutdown()
