"""Classification metrics over labelled utterances, by label name."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def classification_metrics(labels: Tensor, predictions: Tensor,
                           label_names: Sequence[str]) -> dict:
    r"""Accuracy, weighted and macro F1, per-class F1 and the confusion matrix.

    Utterances labelled ``-1`` (unknown) are left out. Weighted F1 weights
    each class by its support, as is standard in ERC; macro F1 averages the
    classes that occur in the labels or the predictions (as scikit-learn
    does), so a class absent from both does not count as a zero.

    Args:
        labels (LongTensor): True labels, shape :obj:`[U]`, ``-1`` unknown.
        predictions (LongTensor): Predicted labels, shape :obj:`[U]`.
        label_names (Sequence[str]): Names of the :obj:`K` classes.

    Returns:
        ``accuracy``, ``weighted_f1``, ``macro_f1`` (in percent),
        ``per_class_f1`` (name -> percent), ``confusion`` (``K × K`` list,
        rows true, columns predicted) and ``support``.
    """
    known = labels >= 0
    y, p = labels[known].long(), predictions[known].long()
    k = len(label_names)
    confusion = torch.bincount(y * k + p, minlength=k * k).view(k, k)
    true_positive = confusion.diag().double()
    support = confusion.sum(1).double()
    predicted = confusion.sum(0).double()
    denominator = support + predicted
    f1 = torch.where(denominator > 0, 2 * true_positive / denominator.clamp(min=1),
                     torch.zeros_like(denominator))
    present = denominator > 0
    total = support.sum()
    return {
        "accuracy": 100 * float(true_positive.sum() / total) if total else 0.0,
        "weighted_f1": 100 * float((f1 * support).sum() / total) if total else 0.0,
        "macro_f1": 100 * float(f1[present].mean()) if bool(present.any()) else 0.0,
        "per_class_f1": {name: 100 * float(v) for name, v in zip(label_names, f1)},
        "confusion": confusion.tolist(),
        "support": int(total),
    }
