"""Rebuild the comparison table and plot from existing runs:
``python experiments/compare.py RUN_OR_SWEEP_DIRS... [out=DIR]``"""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from experiments.report import find_runs, summarize, summary_markdown, write_report

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(".")
    paths = []
    for arg in args:
        if arg.startswith("out="):
            out = Path(arg[4:])
        else:
            paths.append(Path(arg))
    if not paths:
        print("usage: compare.py RUN_OR_SWEEP_DIR... [out=DIR]", file=sys.stderr)
        return 2
    try:
        records = find_runs(paths)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    write_report(records, out)
    print(summary_markdown(summarize(records)))
    print(f"summary.csv, summary.md and tradeoff.png written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
