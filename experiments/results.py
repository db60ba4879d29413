"""Write ``docs/results.md`` from the topology study's sweep directories.

    python experiments/results.py iemocap_finetuned=study/iemocap_finetuned \\
        meld_finetuned=study/meld_finetuned out=docs/results.md

The page's words live in the study folder (``study=``, by default
``experiments/study`` beside this script): ``page.md`` is the page, with
``$placeholders`` that this script fills in, and ``study.yaml`` holds the
section titles, the targets and the notes shown for the sweeps that need
them. Every number is read from what the runs recorded (``metrics.json``,
``config.yaml``, ``predictions.csv``, ``sweep.json``): no corpus and no
checkpoint is loaded, so the page cannot drift from the runs.

A section is titled by its corpus, its features (frozen or fine-tuned, as
the runs recorded them), its test protocol and any sweep argument beyond the
study's own; its commands are each sweep's recorded arguments.
"""
from __future__ import annotations

import sys
from pathlib import Path

from runner.cli import Arguments, Command, Option, main as run_command
from runner.study import STUDY_FOLDER, StudyText, write_results

COMMAND = Command(
    prog="results.py",
    summary="Write the topology study's page from its sweep directories.",
    named="NAME=SWEEP_DIR",
    options=(Option("out", Path, "docs/results.md", "the page to write"),
             Option("data", Path, "../shared/data", "the corpora's folder, for the page"),
             Option("study", Path, STUDY_FOLDER,
                    "the folder with the page template (page.md) and study.yaml")),
    details=__doc__.split("\n\n", 1)[1])


def _write(arguments: Arguments) -> int:
    sweeps = {name: Path(path) for name, path in arguments.named.items()}
    missing = [f"{name}={path}" for name, path in sweeps.items() if not path.is_dir()]
    if missing:
        raise FileNotFoundError(f"no sweep directory at {', '.join(missing)}")
    study = StudyText.read(Path(arguments.options["study"]))
    out = Path(arguments.options["out"])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results(sweeps, out, str(arguments.options["data"]), study)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, _write, argv)


if __name__ == "__main__":
    sys.exit(main())
