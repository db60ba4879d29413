"""Rebuild the comparison table and plots from existing runs:
``python experiments/compare.py RUN_OR_SWEEP_DIR... [out=DIR]``"""
from __future__ import annotations

import sys
from pathlib import Path

from runner.cli import Arguments, Command, ConfigError, Option, main as run_command
from runner.report import (DEFAULT_BASELINE, baseline_candidates, find_runs, summarize,
                           summary_markdown, write_report)

COMMAND = Command(
    prog="compare.py",
    summary="Rebuild summary.csv, summary.md, tradeoff.png and dev_curves.png from run "
            "or sweep directories.",
    positional="RUN_OR_SWEEP_DIR",
    options=(Option("out", Path | None, None,
                    "where to write the report; null: the compared directory "
                    "(required when comparing several)"),
             Option("baseline", str | None, None,
                    "the graph (or configuration label) every row is compared with; "
                    f"null: {DEFAULT_BASELINE}, where the runs include it")))


def _compare(arguments: Arguments) -> int:
    paths = [Path(p) for p in arguments.positional]
    out = arguments.options["out"]
    if out is None:
        if len(paths) > 1:
            raise ConfigError(f"{len(paths)} directories compared; say where the report "
                              "goes with out=DIR")
        out = paths[0]
    records = find_runs(paths)
    baseline = arguments.options["baseline"]
    if baseline is None:
        baseline = DEFAULT_BASELINE
    elif baseline not in (present := baseline_candidates(records)):
        raise ConfigError(f"baseline={baseline!r} is not among the runs compared; their "
                          f"graphs and configurations: {', '.join(present)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_report(records, out, baseline)
    print(summary_markdown(summarize(records, baseline)))
    print(f"summary.csv, summary.md, tradeoff.png and dev_curves.png written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, _compare, argv)


if __name__ == "__main__":
    sys.exit(main())
