"""The output head owns what the classifier's outputs mean: their number,
loss, classes, probabilities, scores, metrics and table columns."""
import math

import pytest
import torch
import torch.nn.functional as F

from dialogues import Dialogue
from models import CORECT, ModelConfig
from models.heads import (HEADS, ClassificationHead, Head, RegressionHead,
                          register_head)
from registry import EdgeBuilderRegistry
from runner.predictions import predictions_table

from .helpers import DIMS, random_batch, regression_config, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)
CLASSIFIER_KEYS = ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight",
                   "classifier.3.bias"]


def dialogues(scores):
    """One dialogue per list of scores (None: a dialogue without scores)."""
    out = []
    for i, s in enumerate(scores):
        length = len(s) if s is not None else 2
        out.append(Dialogue(id=f"d{i}", speakers=["a"] * length,
                            labels=torch.zeros(length).long(),
                            features={"text": torch.zeros(length, 3)},
                            turns=list(range(length)), scores=s))
    return out


def test_the_model_asks_its_configured_head():
    classifier = CORECT(small_config(), REGISTRY.get("causal"))
    regressor = CORECT(regression_config(view="sentiment_7"), REGISTRY.get("causal"))
    assert isinstance(classifier.head, ClassificationHead)
    assert isinstance(regressor.head, RegressionHead)
    assert (classifier.head.outputs, regressor.head.outputs) == (4, 1)
    assert classifier.classifier[-1].out_features == classifier.head.outputs
    assert regressor.classifier[-1].out_features == regressor.head.outputs


def test_the_head_holds_no_weights_so_checkpoints_keep_their_keys():
    classifier = CORECT(small_config(), REGISTRY.get("none"))
    regressor = CORECT(regression_config(), REGISTRY.get("none"))
    for model in (classifier, regressor):
        assert [k for k in model.state_dict() if k.startswith("classifier")] == \
            CLASSIFIER_KEYS
    assert list(classifier.state_dict()) == list(regressor.state_dict())


def test_the_classification_head_owns_cross_entropy_argmax_and_softmax():
    head = ClassificationHead(small_config())
    logits = torch.tensor([[0.1, 2.0, -1.0, 0.0], [3.0, 0.0, 0.0, 0.0],
                           [0.0, 0.0, 0.0, 5.0]])
    labels = torch.tensor([1, -1, 2])
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert head.loss(logits, labels).item() == \
        F.cross_entropy(logits[[0, 2]], labels[[0, 2]]).item()
    assert head.loss(logits, labels, weights).item() == \
        F.cross_entropy(logits[[0, 2]], labels[[0, 2]], weight=weights).item()
    assert head.classes(logits).tolist() == [1, 0, 3]
    torch.testing.assert_close(head.probabilities(logits), logits.softmax(-1))
    assert head.predicted_scores(logits) is None
    assert head.metrics(logits, dialogues([None, None])) == {}
    assert head.summary({"accuracy": 50.0}) == ""
    assert (head.gives_probabilities, head.gives_scores, head.weighs_classes) == \
        (True, False, True)


def test_the_regression_head_owns_l1_the_views_classes_and_score_metrics():
    head = RegressionHead(regression_config(view="sentiment_7"))
    outputs = torch.tensor([[-3.7], [-0.5], [0.49], [2.5], [3.2]])
    assert head.classes(outputs).tolist() == [0, 3, 3, 5, 6]
    assert head.probabilities(outputs) is None
    assert head.predicted_scores(outputs).tolist() == outputs[:, 0].tolist()
    scores = torch.tensor([-3.0, math.nan, 0.0, 2.0, 3.0], dtype=torch.float64)
    labels = torch.full((5,), -1)
    assert head.loss(outputs, labels, scores=scores).item() == pytest.approx(
        (0.7 + 0.49 + 0.5 + 0.2) / 4)
    with pytest.raises(ValueError, match="the regression head trains on scores"):
        head.loss(outputs, labels)
    metrics = head.metrics(outputs, dialogues([scores[:3], scores[3:]]))
    assert metrics["scored"] == 4
    assert metrics["mae"] == pytest.approx((0.7 + 0.49 + 0.5 + 0.2) / 4)
    assert metrics["pearson"] == pytest.approx(float(torch.corrcoef(torch.stack(
        [scores[[0, 2, 3, 4]], outputs[[0, 2, 3, 4], 0].double()]))[0, 1]))
    assert head.summary(metrics).startswith(f", MAE {metrics['mae']:.3f}, Pearson ")
    assert head.metrics(outputs[:2], dialogues([None]))["scored"] == 0
    assert (head.gives_probabilities, head.gives_scores, head.weighs_classes) == \
        (False, True, False)


def test_each_head_adds_its_own_columns_to_the_predictions_table():
    names = ["negative", "non-negative"]
    labels = torch.tensor([0, 1, -1])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    classifier = ClassificationHead(ModelConfig(modalities=DIMS, num_classes=2))
    table = predictions_table(dialogues([None, [0.5]]), labels,
                              classifier.predictions(logits, dialogues([None, [0.5]])),
                              names)
    assert table.splitlines() == [
        "dialogue_id,turn,speaker,label,prediction,probability",
        "d0,0,a,negative,negative,0.8808", "d0,1,a,non-negative,non-negative,0.7311",
        "d1,0,a,,negative,0.5000"]
    regressor = RegressionHead(regression_config())
    scores = torch.tensor([[-0.25], [1.5], [0.0]])
    table = predictions_table(dialogues([None, [0.5]]), labels,
                              regressor.predictions(scores, dialogues([None, [0.5]])), names)
    assert table.splitlines() == [
        "dialogue_id,turn,speaker,label,prediction,score,predicted_score",
        "d0,0,a,negative,negative,,-0.2500", "d0,1,a,non-negative,non-negative,,1.5000",
        "d1,0,a,,non-negative,0.5000,0.0000"]


def test_an_unknown_head_lists_the_registered_choices():
    with pytest.raises(ValueError, match=r"unknown head 'ordinal'; choices: "
                                         r"classification, regression$"):
        ModelConfig(modalities=DIMS, num_classes=2, head="ordinal")


def test_registration_refuses_bad_names_and_taken_ones():
    class Nameless(ClassificationHead):
        name = "Not-a-name"

    class Impostor(ClassificationHead):
        name = "regression"

    with pytest.raises(ValueError, match="needs a lowercase name"):
        register_head(Nameless)
    with pytest.raises(ValueError, match="'regression' is taken by RegressionHead"):
        register_head(Impostor)
    assert register_head(RegressionHead) is RegressionHead  # again: a no-op
    assert HEADS["regression"] is RegressionHead


def test_a_head_must_say_what_it_is():
    class Incomplete(Head):
        name = "incomplete"

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(small_config())


def test_model_loss_and_classes_delegate_to_the_head():
    model = CORECT(small_config(), REGISTRY.get("causal"))
    features, structure = random_batch([3, 4])
    logits = model(structure.with_content(features=features))
    labels = torch.tensor([0, 1, 2, 3, -1, 0, 1])
    assert model.loss(logits, labels).item() == model.head.loss(logits, labels).item()
    assert torch.equal(model.classes(logits), model.head.classes(logits))
