"""Predictions of a trained model: the table of one split's predictions,
and a checkpoint's predictions for a corpus on disk."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from dialogues import Corpus, DataError, Dialogue, load_corpus
from models import Checkpoint, load_checkpoint
from models.heads import Predictions
from storage.atomic import write_text_atomic

from .config import resolve_dataset_path
from .setup import corpus_from_config
from .training import predict


def predictions_table(dialogues: Sequence[Dialogue], labels: torch.Tensor,
                      predictions: Predictions, label_names: list[str]) -> str:
    """CSV of dialogue_id, turn, speaker, label, prediction and the head's
    own columns (:class:`models.heads.Predictions`; a classifier's
    ``probability``, a regression head's ``score`` and ``predicted_score``),
    one row per utterance in corpus order.

    Args:
        dialogues (Sequence[Dialogue]): The dialogues, in prediction order.
        labels (LongTensor): True labels :obj:`[U]`, ``-1`` unknown.
        predictions (Predictions): The head's classes :obj:`[U]` and columns.
        label_names (list[str]): Class names, in index order.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dialogue_id", "turn", "speaker", "label", "prediction",
                     *predictions.columns])
    cells = list(zip(*predictions.columns.values())) or None
    row = 0
    for dialogue in dialogues:
        for turn, speaker in zip(dialogue.turns, dialogue.speakers):
            label = int(labels[row])
            writer.writerow([dialogue.id, turn, speaker,
                             label_names[label] if label >= 0 else "",
                             label_names[int(predictions.classes[row])],
                             *(cells[row] if cells else ())])
            row += 1
    return out.getvalue()


def check_dimensions(corpus: Corpus, expected: Mapping[str, int], where: Any) -> None:
    """Refuse a corpus whose features do not have the checkpoint's
    dimensions, naming :obj:`where` (the corpus path).

    Args:
        corpus (Corpus): The corpus to predict.
        expected (Mapping[str, int]): Each modality's dimension in the
            checkpoint.
        where (Any): What the corpus is called in the message.

    Raises:
        DataError: A modality of another dimension.
    """
    for m, dim in expected.items():
        if corpus.modalities[m] != dim:
            raise DataError(f"{where}: modality {m!r} has dimension "
                            f"{corpus.modalities[m]}, the checkpoint expects {dim}")


def check_unseen(checkpoint: Checkpoint, corpus: Corpus, dialogues: Sequence[Dialogue],
                 where: str, checkpoint_path: str) -> None:
    """Refuse to score dialogues of the corpus that trained the checkpoint
    or selected its epoch (train and dev, as its metadata records them;
    under ``cv=K``, most of the corpus's standard test split).

    Raises:
        DataError: Naming how many, a few of them, and ``allow_seen=true``.
    """
    seen = checkpoint.metadata.get("seen") or {}
    if seen.get("corpus") != corpus.name:
        return  # another corpus: its ids name other dialogues
    known = set(seen.get("dialogues") or ())
    overlap = [d.id for d in dialogues if d.id in known]
    if overlap:
        raise DataError(f"{where}: checkpoint {checkpoint_path} trained or chose its epoch on "
                        f"{len(overlap)} of these {len(dialogues)} dialogues (such as "
                        f"{', '.join(overlap[:3])}), so their scores would flatter it; "
                        "pass allow_seen=true to score them anyway")


def predict_file(checkpoint_path: str, dataset_path: str | None, split: str, out: str,
                 label_view: str | None = None, allow_seen: bool = False) -> Path:
    """Write the predictions table for one split of a corpus; return it.

    Args:
        checkpoint_path (str): A run's ``checkpoint.pt``.
        dataset_path (str, optional): The corpus; ``None`` for the corpus
            the checkpoint was trained on, as its configuration records it
            (path, synthetic parameters and label view).
        split (str): The split to predict.
        out (str): The table to write (``.csv``), atomically.
        label_view (str, optional): Relabel the corpus through a view.
        allow_seen (bool): Score dialogues the checkpoint trained on too
            (:func:`check_unseen`). (default: :obj:`False`)
    """
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.build()
    corpus, where = _corpus_for(checkpoint, dataset_path, label_view, model.modalities)
    if list(corpus.labels) != list(checkpoint.labels):
        raise DataError(f"{where}: labels {list(corpus.labels)} differ from those of "
                        f"checkpoint {checkpoint_path}, {list(checkpoint.labels)}")
    check_dimensions(corpus, checkpoint.model.modalities, where)
    dialogues = corpus.split(split)
    if not allow_seen:
        check_unseen(checkpoint, corpus, dialogues, where, checkpoint_path)
    labels, logits = predict(model, dialogues, 16, torch.device("cpu"))
    table = predictions_table(dialogues, labels, model.head.predictions(logits, dialogues),
                              list(checkpoint.labels))
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out_path, table)


def _corpus_for(checkpoint: Checkpoint, dataset_path: str | None, label_view: str | None,
                modalities: Sequence[str]) -> tuple[Corpus, str]:
    """The corpus to predict and what to call it in messages: the one at
    :obj:`dataset_path`, else the checkpoint's own."""
    recorded = dict((checkpoint.metadata.get("config") or {}).get("dataset") or {})
    # Features pooled as the model was trained on them (sentiment pickles).
    pool = (checkpoint.metadata.get("dataset") or {}).get("pool", recorded.get("pool"))
    if dataset_path is None:
        recorded["modalities"] = list(modalities)
        if label_view is not None:
            recorded["label_view"] = label_view
        if not recorded:  # a checkpoint that records no configuration
            recorded = {"name": "synthetic", "path": None}
        where = recorded.get("path") or "the synthetic corpus the checkpoint trained on"
        return corpus_from_config(recorded, list(modalities)), str(where)
    corpus = load_corpus(resolve_dataset_path(dataset_path), modalities=modalities,
                         label_view=label_view, pool=pool)
    return corpus, str(dataset_path)
