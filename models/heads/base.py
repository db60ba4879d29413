"""The abstract output head: what the backbone's last layer means."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Sequence

from torch import Tensor

from dialogues import Dialogue

if TYPE_CHECKING:  # the configuration asks the heads to check it
    from models.config import ModelConfig


class Predictions(NamedTuple):
    """What a head predicts for a run's test dialogues.

    Args:
        classes (LongTensor): The predicted class of every utterance,
            shape :obj:`[U]`, which the run's classification metrics score.
        columns (dict[str, list[str]]): The head's own columns of the
            predictions table, after ``prediction``: column name -> one
            formatted cell per utterance.
    """

    classes: Tensor
    columns: dict[str, list[str]]


class Head(ABC):
    r"""How the classifier's outputs are trained and read: how many there
    are, their loss, the class, probabilities and score they give, and what
    they add to a run's record and predictions table.

    A head holds no parameters (the classifier's last layer is
    :class:`~models.CORECT`'s, sized by :attr:`outputs`), so checkpoints
    keep their weights whatever the head. Register a new one with
    :func:`models.heads.register_head` and select it with
    ``model.head=NAME``.

    Args:
        config (ModelConfig): The backbone's configuration, already checked
            by :meth:`check`.

    Shapes:
        - **logits:** the classifier's outputs :math:`(U, O)`, with
          :math:`O` = :attr:`outputs`
    """

    #: The name ``model.head`` selects it by.
    name: ClassVar[str]
    #: Whether :meth:`probabilities` gives class probabilities; a server
    #: that answers with them refuses a head without.
    gives_probabilities: ClassVar[bool] = False
    #: Whether :meth:`predicted_scores` gives a score per utterance.
    gives_scores: ClassVar[bool] = False
    #: Whether :meth:`loss` weighs the classes (``train.class_weights``).
    weighs_classes: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        self.num_classes = config.num_classes

    @classmethod
    def check(cls, config: ModelConfig) -> None:
        """Refuse a configuration this head cannot work with.

        Raises:
            ValueError: Saying what is missing.
        """

    @classmethod
    def corpus_options(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        """The :class:`~models.ModelConfig` fields this head takes from the
        corpus's metadata (the score view it decides classes through, say),
        besides the classes every head takes."""
        return {}

    @property
    @abstractmethod
    def outputs(self) -> int:
        """The classifier's output width :math:`O`."""

    @abstractmethod
    def loss(self, logits: Tensor, labels: Tensor, class_weights: Tensor | None = None,
             scores: Tensor | None = None) -> Tensor:
        """The training loss of a batch, a scalar.

        Args:
            logits (Tensor): The classifier's outputs :math:`(U, O)`.
            labels (LongTensor): Labels :obj:`[U]`, ``-1`` unknown.
            class_weights (Tensor, optional): One weight per class
                :obj:`[C]`, where :attr:`weighs_classes`.
            scores (Tensor, optional): True scores :obj:`[U]`, NaN unknown.
        """

    @abstractmethod
    def classes(self, logits: Tensor) -> Tensor:
        """The predicted class of every utterance :obj:`[U]`, from the
        outputs :math:`(U, O)`; what dev selection and live pushes use."""

    def probabilities(self, logits: Tensor) -> Tensor | None:
        """Class probabilities :math:`(U, C)`, or :obj:`None` where the head
        gives none (see :attr:`gives_probabilities`)."""
        return None

    def predicted_scores(self, logits: Tensor) -> Tensor | None:
        """The predicted score of every utterance :obj:`[U]`, or :obj:`None`
        where the head gives none (see :attr:`gives_scores`)."""
        return None

    @abstractmethod
    def predictions(self, logits: Tensor, dialogues: Sequence[Dialogue]) -> Predictions:
        """The classes and predictions-table columns of :obj:`dialogues`,
        whose utterances, in order, gave :obj:`logits` :math:`(U, O)`."""

    def metrics(self, logits: Tensor, dialogues: Sequence[Dialogue]) -> dict[str, Any]:
        """What the head adds to the classification metrics of a run's
        record, over :obj:`dialogues` and their :obj:`logits`
        :math:`(U, O)`; none by default."""
        return {}

    def summary(self, metrics: dict[str, Any]) -> str:
        """The part of a run's test log line that :meth:`metrics` adds,
        from the record :obj:`metrics` (``", MAE 0.812, ..."``), or ``""``."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes})"
