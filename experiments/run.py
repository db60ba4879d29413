"""Train and evaluate: ``python experiments/run.py graph=causal``.

``group=option`` picks a config file, ``a.b=value`` overrides a key, and
``-m`` turns comma-separated values into a sweep over their cross product
(``python experiments/run.py -m graph=none,causal seed=0,1,2 jobs=2``).
Rerunning a sweep with the same ``out=`` runs only the combinations that
have not completed.
"""
from __future__ import annotations

import json
import sys

from runner.cli import Arguments, Command, main as run_command
from runner.config import compose, dump
from runner.report import describe_run
from runner.experiment import run_experiment
from runner.sweep import run_sweep

#: Exit status of a sweep in which some run failed (the others completed).
EXIT_FAILED_RUNS = 1

COMMAND = Command(
    prog="run.py",
    summary="Train and evaluate one configuration; with -m, sweep the cross product "
            "of comma-separated values and end in a comparison table and plots.",
    configures_run=True, multirun=True,
    details="examples:\n  python experiments/run.py graph=causal\n"
            "  python experiments/run.py -m graph=corect,causal seed=0,1,2 jobs=2 "
            "out=multirun/causal")


def _run(arguments: Arguments) -> int:
    if arguments.multirun:
        sweep_dir = run_sweep(arguments.config)
        print(f"sweep written to {sweep_dir}")
        print((sweep_dir / "summary.md").read_text())
        failed = json.loads((sweep_dir / "sweep.json").read_text())["failed"]
        if failed:  # so that scripts and schedulers notice
            print(f"run.py: {failed} run(s) failed; see {sweep_dir / 'failures.json'}",
                  file=sys.stderr)
            return EXIT_FAILED_RUNS
        return 0
    config = compose(arguments.config)
    print(dump(config), flush=True)
    run_dir = run_experiment(config)
    print(describe_run(run_dir))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
