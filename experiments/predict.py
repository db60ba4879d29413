"""Predict with a trained checkpoint:
``python experiments/predict.py checkpoint=RUN/checkpoint.pt dataset.path=DIR split=test out=FILE.csv``

Without ``dataset.path`` it predicts the corpus the checkpoint was trained
on, as its configuration records it. Any corpus whose label names and
modalities match the checkpoint works; its labels may be absent. Dialogues
that the checkpoint trained on or chose its epoch on (its train and dev
splits; under ``cv=K``, most of the corpus) are refused unless
``allow_seen=true``.
"""
from __future__ import annotations

import sys
from pathlib import Path

from runner.cli import Arguments, Command, Option, main as run_command
from runner.predictions import predict_file

COMMAND = Command(
    prog="predict.py",
    summary="Predict every utterance of one split of a corpus with a trained checkpoint.",
    options=(
        Option("checkpoint", Path, help="a run's checkpoint.pt", required=True),
        Option("out", Path, help="the predictions table to write (.csv)", required=True),
        Option("dataset.path", Path | None, None,
               "the corpus; null: the one the checkpoint was trained on"),
        Option("split", str, "test", "the split to predict"),
        Option("dataset.label_view", str | None, None, "relabel through a view"),
        Option("allow_seen", bool, False,
               "also score dialogues the checkpoint trained on or chose its epoch on"),
    ))


def _predict(arguments: Arguments) -> int:
    args = arguments.options
    path = predict_file(args["checkpoint"], args["dataset.path"], args["split"],
                        args["out"], args["dataset.label_view"], args["allow_seen"])
    print(f"predictions written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    # ValueError: a checkpoint that cannot be read as one.
    return run_command(COMMAND, _predict, argv, errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
