"""Predict with a trained checkpoint:
``python experiments/predict.py checkpoint=RUN/checkpoint.pt dataset.path=DIR split=test out=FILE.csv``

Any corpus whose label names and modalities match the checkpoint works;
its labels may be absent.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

import torch

from dialogues import Corpus, DataError, load_corpus
from runner.cli import Arguments, Command, Option, main as run_command
from runner.experiment import predictions_table
from runner.training import predict
from storage.atomic import write_text_atomic
from models import load_checkpoint


def check_dimensions(corpus: Corpus, expected: Mapping[str, int], where: Any) -> None:
    """Refuse a corpus whose features do not have the checkpoint's
    dimensions, naming :obj:`where` (the corpus path)."""
    for m, dim in expected.items():
        if corpus.modalities[m] != dim:
            raise DataError(f"{where}: modality {m!r} has dimension "
                            f"{corpus.modalities[m]}, the checkpoint expects {dim}")


def predict_file(checkpoint_path: str, dataset_path: str | None, split: str, out: str,
                 label_view: str | None = None) -> Path:
    """Write the predictions table for one split of a corpus; return it."""
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build()
    # Features pooled as the model was trained on them (sentiment pickles).
    pool = (checkpoint.metadata.get("dataset") or {}).get("pool")
    corpus = load_corpus(dataset_path or None, modalities=model.modalities,
                         label_view=label_view, pool=pool)
    if list(corpus.labels) != list(checkpoint.labels):
        raise DataError(f"{dataset_path}: labels {list(corpus.labels)} differ from the "
                        f"checkpoint's {list(checkpoint.labels)}")
    check_dimensions(corpus, checkpoint.model.modalities,
                     dataset_path or "the synthetic corpus")
    dialogues = corpus.split(split)
    labels, logits = predict(model, dialogues, 16, torch.device("cpu"))
    table = predictions_table(dialogues, labels, model.head.predictions(logits, dialogues),
                              list(checkpoint.labels))
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out_path, table)


COMMAND = Command(
    prog="predict.py",
    summary="Predict every utterance of one split of a corpus with a trained checkpoint.",
    options=(
        Option("checkpoint", Path, help="a run's checkpoint.pt", required=True),
        Option("out", Path, help="the predictions table to write (.csv)", required=True),
        Option("dataset.path", Path | None, None,
               "the corpus; null: the synthetic corpus"),
        Option("split", str, "test", "the split to predict"),
        Option("dataset.label_view", str | None, None, "relabel through a view"),
    ))


def _predict(arguments: Arguments) -> int:
    args = arguments.options
    path = predict_file(args["checkpoint"], args["dataset.path"], args["split"],
                        args["out"], args["dataset.label_view"])
    print(f"predictions written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    # ValueError: a checkpoint that cannot be read as one.
    return run_command(COMMAND, _predict, argv, errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
