"""Predict with a trained checkpoint:
``python experiments/predict.py checkpoint=RUN/checkpoint.pt dataset.path=DIR split=test out=FILE.csv``

Any corpus whose label names and modalities match the checkpoint works;
its labels may be absent.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from dialogues import Corpus, DataError


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
    import torch

    from dialogues import load_corpus
    from experiments.runner import predictions_table
    from experiments.training import predict
    from graphs.files import write_text_atomic
    from models import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build()
    corpus = load_corpus(dataset_path or None, modalities=model.modalities,
                         label_view=label_view)
    if list(corpus.labels) != list(checkpoint.labels):
        raise DataError(f"{dataset_path}: labels {list(corpus.labels)} differ from the "
                        f"checkpoint's {list(checkpoint.labels)}")
    check_dimensions(corpus, checkpoint.model.modalities, dataset_path)
    dialogues = corpus.split(split)
    labels, logits = predict(model, dialogues, 16, torch.device("cpu"))
    probabilities, predictions = logits.softmax(-1).max(-1)
    table = predictions_table(dialogues, labels, predictions, list(checkpoint.labels),
                              probabilities)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out_path, table)


USAGE = ("usage: predict.py checkpoint=FILE dataset.path=DIR split=test out=FILE.csv "
         "[dataset.label_view=NAME]")


def main(argv: list[str] | None = None) -> int:
    from dialogues import DataError
    from experiments.config import ConfigError, script_options

    try:
        args = script_options(sys.argv[1:] if argv is None else argv,
                              ("checkpoint", "dataset.path", "split", "out",
                               "dataset.label_view"), ("checkpoint", "out"), USAGE)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        path = predict_file(args["checkpoint"], args.get("dataset.path"),
                            args.get("split", "test"), args["out"],
                            args.get("dataset.label_view"))
    except (DataError, ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"predictions written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
