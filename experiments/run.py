"""Train and evaluate: ``python experiments/run.py graph=causal``.

``group=option`` picks a config file, ``a.b=value`` overrides a key, and
``-m`` turns comma-separated values into a sweep over their cross product
(``python experiments/run.py -m graph=none,causal seed=0,1,2 jobs=2``).
Rerunning a sweep with the same ``out=`` runs only the combinations that
have not completed.
"""
from __future__ import annotations

import sys

from experiments.cli import Arguments, Command, main as run_command
from experiments.config import compose, dump
from experiments.report import describe_run
from experiments.runner import run_experiment
from experiments.sweep import run_sweep

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
