"""model.head=regression: one output, the score; classes derived from it."""
import math

import pytest
import torch

from models import CORECT, Checkpoint, ModelConfig, StreamingPredictor, save_checkpoint
from registry import EdgeBuilderRegistry

from .helpers import (CONTENT, DIMS, pushed, random_batch, random_dialogues, regression_config,
                      small_config)

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def trained(config, name, params, seed=0):
    """A regression model after a few steps on scores of one speaker."""
    torch.manual_seed(seed)
    model = CORECT(config, REGISTRY.get(name, **params))
    _, features, structure = random_dialogues([9, 4, 12], config.modalities, seed + 100,
                                              speakers=1)
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(3):
        optimiser.zero_grad()
        scores = torch.empty(structure.num_utterances).uniform_(-3, 3).double()
        batch = structure.with_content(features=features)
        model.loss(model(batch), torch.full_like(scores, -1).long(),
                   scores=scores).backward()
        optimiser.step()
    return model.eval()


def test_one_output_whose_class_comes_from_the_view():
    model = CORECT(regression_config(view="sentiment_7"), REGISTRY.get("causal"))
    assert model.classifier[-1].out_features == 1
    assert model.classes(torch.tensor([[-3.7], [-0.5], [0.49], [2.5], [3.2]])).tolist() == \
        [0, 3, 3, 5, 6]
    classifier = CORECT(small_config(), REGISTRY.get("causal"))
    assert classifier.classifier[-1].out_features == 4
    logits = torch.tensor([[0.1, 2.0, -1.0, 0.0]])
    assert classifier.classes(logits).tolist() == [1]


def test_the_loss_is_the_mean_absolute_error_over_known_scores():
    model = CORECT(regression_config(), REGISTRY.get("none"))
    outputs = torch.tensor([[1.0], [-2.0], [0.5], [4.0]])
    scores = torch.tensor([0.0, -1.0, math.nan, 1.0], dtype=torch.float64)
    labels = torch.tensor([1, 0, -1, 1])
    assert model.loss(outputs, labels, scores=scores).item() == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="the regression head trains on scores"):
        model.loss(outputs, labels)
    # The classifier's loss is unchanged: cross-entropy ignoring -1.
    classifier = CORECT(small_config(), REGISTRY.get("none"))
    logits = torch.randn(4, 4)
    expected = torch.nn.functional.cross_entropy(logits[[0, 1, 3]], labels[[0, 1, 3]])
    assert classifier.loss(logits, labels, scores=scores).item() == expected.item()


@pytest.mark.parametrize("head, view, message", [
    ("regression", None, r"head='regression' predicts each utterance's score .* but the "
                         r"corpus has none; use one of sentiment_2, sentiment_2_nonzero, "
                         r"sentiment_7"),
    ("regression", "iemocap_4", r"but the corpus has label view 'iemocap_4'"),
    ("ordinal", None, r"unknown head 'ordinal'; choices: classification, regression"),
])
def test_a_head_without_its_view_is_refused(head, view, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(modalities=DIMS, num_classes=2, head=head, score_view=view)


def test_a_regression_model_trains_toward_planted_scores():
    torch.manual_seed(0)
    model = CORECT(regression_config({"text": 12}), REGISTRY.get("causal"))
    features, structure = random_batch([6, 9, 5], {"text": 12})
    structure.speakers.zero_()
    scores = (features["text"][:, 0] * 1.5).double()
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    losses = []
    for _ in range(60):
        optimiser.zero_grad()
        batch = structure.with_content(features=features)
        loss = model.loss(model(batch), torch.zeros(20).long(), scores=scores)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("name, params", [("causal", {}), ("window", {"past": 2, "future": 0}),
                                          ("speaker", {"future": 0}), ("none", {}),
                                          *CONTENT])
def test_a_regression_head_streams_exactly(name, params):
    model = trained(regression_config(max_speakers=1), name, params)
    dialogues, features, structure = random_dialogues([1, 30, 2, 11], DIMS, 3, speakers=1)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    assert offline.std() > 1e-4
    predictor = StreamingPredictor(model, ["negative", "non-negative"])
    live = torch.cat([pushed(predictor, f, s) for f, s in dialogues])
    torch.testing.assert_close(live, offline, atol=1e-5, rtol=1e-5)
    predictor.reset()
    f, s = dialogues[1]
    prediction = predictor.push(s[0], {m: x[0] for m, x in f.items()})
    assert prediction.score == pytest.approx(float(offline[1, 0]), abs=1e-5)
    assert prediction.label == ("non-negative" if prediction.score >= 0 else "negative")
    assert prediction.probabilities == {} and math.isnan(prediction.probability)


def test_a_regression_checkpoint_round_trips(tmp_path):
    model = trained(regression_config(view="sentiment_7", max_speakers=1), "causal", {})
    labels = ["-3", "-2", "-1", "0", "1", "2", "3"]
    path = tmp_path / "m.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "causal", {}, labels))
    live = StreamingPredictor.from_checkpoint(path)
    assert live.model.config.head == "regression"
    assert live.model.config.score_view == "sentiment_7"
    assert live.push("v", {m: torch.zeros(d) for m, d in DIMS.items()}).label in labels
