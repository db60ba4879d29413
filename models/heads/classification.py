"""The classification head: one logit per class, cross-entropy."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor

from dialogues import Dialogue

from .base import Head, Predictions


class ClassificationHead(Head):
    r"""One logit per class, trained with cross-entropy over the labelled
    utterances (label ``-1`` is ignored), optionally weighed by class.

    Its predictions table adds ``probability``, the probability of the
    predicted class.

    Args:
        config (ModelConfig): The backbone's configuration.

    Shapes:
        - **logits:** :math:`(U, C)`
    """

    name = "classification"
    gives_probabilities = True
    weighs_classes = True

    @property
    def outputs(self) -> int:
        return self.num_classes

    def loss(self, logits: Tensor, labels: Tensor, class_weights: Tensor | None = None,
             scores: Tensor | None = None) -> Tensor:
        """Cross-entropy over labelled utterances; :obj:`scores` is unused."""
        return F.cross_entropy(logits, labels.to(logits.device), weight=class_weights,
                               ignore_index=-1)

    def classes(self, logits: Tensor) -> Tensor:
        """The largest logit :obj:`[U]`."""
        return logits.argmax(-1)

    def probabilities(self, logits: Tensor) -> Tensor:
        """The softmax of the logits :math:`(U, C)`."""
        return logits.softmax(-1)

    def predictions(self, logits: Tensor, dialogues: Sequence[Dialogue]) -> Predictions:
        # The class is the most probable one, read off the probabilities the
        # table shows (runs have always scored it so; it is the largest
        # logit except where the softmax rounds two logits to one value).
        probability, classes = self.probabilities(logits).max(-1)
        return Predictions(classes, {"probability": [f"{p:.4f}" for p in probability.tolist()]})
