"""The regression head: one output, the utterance's score."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from dialogues import Dialogue
from dialogues.views import SCORE_VIEWS

from .base import Head, Predictions

if TYPE_CHECKING:  # the configuration asks the heads to check it
    from models.config import ModelConfig


class RegressionHead(Head):
    r"""One output, the utterance's score (a sentiment score), trained with
    the L1 loss as MulT and MMSA train on CMU-MOSEI; its class is the score
    view's (:data:`dialogues.views.SCORE_VIEWS`, ``ModelConfig.score_view``)
    class of the predicted score. It gives no probabilities.

    A run's record adds the mean absolute error and Pearson correlation of
    the predicted scores (``mae``, ``pearson``, ``scored``); its predictions
    table adds the true ``score`` (empty where unknown) and the
    ``predicted_score``.

    Args:
        config (ModelConfig): The backbone's configuration, with a score
            view.

    Shapes:
        - **logits:** :math:`(U, 1)`
    """

    name = "regression"
    gives_scores = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.view = SCORE_VIEWS[config.score_view]

    @classmethod
    def check(cls, config: ModelConfig) -> None:
        if config.score_view not in SCORE_VIEWS:
            raise ValueError(
                "head='regression' predicts each utterance's score and derives its class "
                "through a score label view, but the corpus has "
                + (f"label view {config.score_view!r}" if config.score_view else "none")
                + f"; use one of {', '.join(SCORE_VIEWS)} (dataset.label_view=...)")
        classes = len(SCORE_VIEWS[config.score_view].labels)
        if config.num_classes != classes:
            raise ValueError(f"num_classes={config.num_classes}, but label view "
                             f"{config.score_view!r} has {classes} classes")

    @classmethod
    def corpus_options(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        """The corpus's label view, through which scores become classes."""
        return {"score_view": metadata.get("label_view")}

    @property
    def outputs(self) -> int:
        return 1

    def loss(self, logits: Tensor, labels: Tensor, class_weights: Tensor | None = None,
             scores: Tensor | None = None) -> Tensor:
        """The mean absolute error of the scores over the utterances whose
        score is known (not NaN); :obj:`labels` and :obj:`class_weights`
        are unused.

        Raises:
            ValueError: No :obj:`scores`.
        """
        if scores is None:
            raise ValueError("the regression head trains on scores; the batch has none")
        scores = scores.to(logits.device, logits.dtype)
        known = ~scores.isnan()
        return F.l1_loss(logits[:, 0][known], scores[known], reduction="sum") / max(
            int(known.sum()), 1)

    def classes(self, logits: Tensor) -> Tensor:
        """The score view's class of each predicted score :obj:`[U]`."""
        return self.view.decide(self.predicted_scores(logits))

    def predicted_scores(self, logits: Tensor) -> Tensor:
        """The one output :obj:`[U]`."""
        return logits[:, 0]

    def predictions(self, logits: Tensor, dialogues: Sequence[Dialogue]) -> Predictions:
        true = _true_scores(dialogues).tolist()
        predicted = self.predicted_scores(logits).tolist()
        return Predictions(self.classes(logits), {
            "score": ["" if s != s else f"{s:.4f}" for s in true],  # NaN: unknown
            "predicted_score": [f"{p:.4f}" for p in predicted]})

    def metrics(self, logits: Tensor, dialogues: Sequence[Dialogue]) -> dict[str, Any]:
        r"""Mean absolute error and Pearson correlation of the predicted
        scores, as MulT and MMSA report them for CMU-MOSEI, over the
        utterances whose true score is known.

        Returns:
            ``mae``, ``pearson`` (NaN when either side is constant) and
            ``scored`` (how many utterances count).
        """
        scores = _true_scores(dialogues)
        known = ~scores.isnan()
        y = scores[known].double()
        p = self.predicted_scores(logits)[known].double()
        if not len(y):
            return {"mae": float("nan"), "pearson": float("nan"), "scored": 0}
        dy, dp = y - y.mean(), p - p.mean()
        spread = float((dy.square().sum() * dp.square().sum()).sqrt())
        return {"mae": float((y - p).abs().mean()),
                "pearson": float((dy * dp).sum()) / spread if spread > 0 else float("nan"),
                "scored": int(known.sum())}

    def summary(self, metrics: dict[str, Any]) -> str:
        return f", MAE {metrics['mae']:.3f}, Pearson {metrics['pearson']:.3f}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(view={self.view.name!r})"


def _true_scores(dialogues: Sequence[Dialogue]) -> Tensor:
    """The dialogues' true scores :obj:`[U]` in order, NaN where unknown."""
    return torch.cat([d.scores if d.scores is not None
                      else torch.full((len(d),), float("nan"), dtype=torch.float64)
                      for d in dialogues])
