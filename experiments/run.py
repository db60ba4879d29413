"""Train and evaluate: ``python experiments/run.py graph=causal``.

``group=option`` picks a config file, ``a.b=value`` overrides a key, and
``-m`` turns comma-separated values into a sweep over their cross product
(``python experiments/run.py -m graph=none,causal seed=0,1,2 jobs=2``).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from dialogues import DataError
    from experiments.config import ConfigError, compose, dump
    from experiments.runner import run_experiment
    from experiments.sweep import run_sweep
    from graphs import GraphBuildError, GraphContractError

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if "-m" in args or "--multirun" in args:
            args = [a for a in args if a not in ("-m", "--multirun")]
            sweep_dir = run_sweep(args)
            print(f"sweep written to {sweep_dir}")
            print((sweep_dir / "summary.md").read_text())
            return 0
        config = compose(args)
        print(dump(config), flush=True)
        run_dir = run_experiment(config)
    except (ConfigError, DataError, FileExistsError, GraphContractError,
            GraphBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from experiments.report import describe_run
    print(describe_run(run_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
