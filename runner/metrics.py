"""Classification metrics over labelled utterances, by label name. What a
head adds to them (a regression head's MAE and Pearson r) is the head's:
:meth:`models.heads.Head.metrics`."""
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
    f1, support, present = class_f1(confusion)
    total = support.sum()
    return {
        "accuracy": 100 * float(confusion.diag().double().sum() / total) if total else 0.0,
        "weighted_f1": float(weighted_f1(confusion)),
        "macro_f1": 100 * float(f1[present].mean()) if bool(present.any()) else 0.0,
        "per_class_f1": {name: 100 * float(v) for name, v in zip(label_names, f1)},
        "confusion": confusion.tolist(),
        "support": int(total),
    }


def class_f1(confusion: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class F1 (a fraction), support and presence (the class occurs in
    the labels or the predictions) of confusion matrices.

    Args:
        confusion (Tensor): Counts, shape :obj:`[..., K, K]`, rows true,
            columns predicted.

    Returns:
        Three tensors of shape :obj:`[..., K]`; F1 is 0 for an absent class.
    """
    confusion = confusion.double()
    true_positive = confusion.diagonal(dim1=-2, dim2=-1)
    support = confusion.sum(-1)
    denominator = support + confusion.sum(-2)
    present = denominator > 0
    f1 = torch.where(present, 2 * true_positive / denominator.clamp(min=1),
                     torch.zeros_like(denominator))
    return f1, support, present


def weighted_f1(confusion: Tensor) -> Tensor:
    """Weighted F1 in percent of confusion matrices :obj:`[..., K, K]`,
    batched (the bootstrap scores a thousand at once); 0 where there is no
    utterance.

    Returns:
        Tensor: Shape :obj:`[...]`.
    """
    f1, support, _ = class_f1(confusion)
    total = support.sum(-1)
    return torch.where(total > 0, 100 * (f1 * support).sum(-1) / total.clamp(min=1),
                       torch.zeros_like(total))
