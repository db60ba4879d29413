"""The synthetic corpus: determinism, speed, and its planted structure."""
from __future__ import annotations

import time

import pytest
import torch

from dialogues import SyntheticConfig, load_corpus, synthetic_corpus


def every(corpus):
    return [d for ds in corpus.splits.values() for d in ds]


def test_defaults_look_like_iemocap_and_are_fast():
    synthetic_corpus(SyntheticConfig(num_train=1, num_dev=0, num_test=0))  # warm up torch
    start = time.perf_counter()
    corpus = synthetic_corpus()
    assert time.perf_counter() - start < 2.0
    assert corpus.name == "synthetic"
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 120, "dev": 12, "test": 31}
    assert corpus.labels == ("c0", "c1", "c2", "c3", "c4", "c5")
    assert list(corpus.modalities.items()) == [("audio", 100), ("text", 768), ("visual", 512)]
    lengths = [len(d) for d in every(corpus)]
    assert min(lengths) >= 8 and max(lengths) <= 110
    assert corpus.max_speakers == 2
    d = corpus.split("train")[0]
    assert d.features["text"].shape == (len(d), 768)
    assert d.features["text"].dtype == torch.float32
    assert d.turns == list(range(len(d)))
    assert all(set(d.speakers) <= {"S0", "S1"} for d in every(corpus))


def test_is_a_function_of_the_seed():
    small = dict(num_train=5, num_dev=2, num_test=2, modalities={"text": 4})
    a = synthetic_corpus(SyntheticConfig(seed=3, **small))
    b = synthetic_corpus(SyntheticConfig(seed=3, **small))
    c = synthetic_corpus(SyntheticConfig(seed=4, **small))
    for x, y in zip(every(a), every(b)):
        assert (x.id, x.speakers, x.labels.tolist()) == (y.id, y.speakers, y.labels.tolist())
        assert torch.equal(x.features["text"], y.features["text"])
    assert [d.labels.tolist() for d in every(a)] != [d.labels.tolist() for d in every(c)]


def test_config_is_honoured():
    config = SyntheticConfig(seed=1, num_train=4, num_dev=0, num_test=3, min_length=5,
                             max_length=6, num_speakers=4, num_classes=3,
                             modalities={"text": 7, "audio": 2})
    corpus = synthetic_corpus(config)
    assert {k: len(v) for k, v in corpus.splits.items()} == {"train": 4, "test": 3}
    assert corpus.labels == ("c0", "c1", "c2")
    assert corpus.modalities == {"text": 7, "audio": 2}
    assert all(len(d) in (5, 6) for d in every(corpus))
    assert all(0 <= int(d.labels.min()) and int(d.labels.max()) < 3 for d in every(corpus))
    assert corpus.max_speakers <= 4
    assert corpus.metadata["config"] == config


def test_load_corpus_defaults_to_synthetic_and_selects_modalities():
    config = SyntheticConfig(num_train=3, num_dev=1, num_test=1)
    full = load_corpus(synthetic=config)
    text = load_corpus(name="synthetic", synthetic=config, modalities=["text"])
    assert text.modalities == {"text": 768}
    assert torch.equal(text.split("dev")[0].features["text"],
                       full.split("dev")[0].features["text"])


@pytest.mark.parametrize("bad", [dict(inertia=0.7, contagion=0.5), dict(min_length=0),
                                 dict(num_classes=1), dict(num_train=0, num_dev=0, num_test=0),
                                 dict(modalities={"text": 0})])
def test_invalid_config(bad):
    with pytest.raises(ValueError):
        SyntheticConfig(**bad)


def test_full_inertia_freezes_each_speaker():
    corpus = synthetic_corpus(SyntheticConfig(seed=2, inertia=1.0, contagion=0.0,
                                              num_speakers=3, modalities={"text": 2}))
    for d in every(corpus):
        first = {}
        for s, y in zip(d.speakers, d.labels.tolist()):
            assert first.setdefault(s, y) == y


def test_full_contagion_copies_the_latest_other_speaker():
    corpus = synthetic_corpus(SyntheticConfig(seed=2, inertia=0.0, contagion=1.0,
                                              num_speakers=3, modalities={"text": 2}))
    copied = 0
    for d in every(corpus):
        last_by = {}
        for t, (s, y) in enumerate(zip(d.speakers, d.labels.tolist())):
            others = [(when, label) for who, (when, label) in last_by.items() if who != s]
            if others:
                assert max(others)[1] == y
                copied += 1
            last_by[s] = (t, y)
    assert copied > 5000


def test_no_persistence_gives_uniform_labels():
    corpus = synthetic_corpus(SyntheticConfig(seed=5, inertia=0.0, contagion=0.0,
                                              modalities={"text": 2}))
    labels = torch.cat([d.labels for d in every(corpus)])
    share = torch.bincount(labels, minlength=6).double() / labels.numel()
    assert bool((share - 1 / 6).abs().max() < 0.02)


def test_next_turn_carries_the_cue():
    # Without noise and own signal, turn t+1's features are a function of
    # y_t alone, and the first turn has none.
    corpus = synthetic_corpus(SyntheticConfig(seed=0, current_signal=0.0, noise={"text": 0.0},
                                              modalities={"text": 8}, num_train=20,
                                              num_dev=0, num_test=0))
    seen = {}
    for d in every(corpus):
        x = d.features["text"]
        assert x[0].abs().max().item() == 0.0
        for y, row in zip(d.labels.tolist(), x[1:]):
            assert torch.equal(seen.setdefault(y, row), row)
    assert sorted(seen) == [0, 1, 2, 3, 4, 5]


def _contexts(dialogues, kind):
    rows, labels = [], []
    for d in dialogues:
        x = d.features["text"]
        zero = torch.zeros(1, x.size(1))
        previous, following = torch.cat([zero, x[:-1]]), torch.cat([x[1:], zero])
        last, same = {}, []
        for t, s in enumerate(d.speaker_ids.tolist()):
            same.append(last.get(s, -1))
            last[s] = t
        same = torch.tensor(same)
        own_previous = torch.where((same >= 0)[:, None], x[same.clamp(min=0)], zero)
        parts = {"none": [x], "causal": [x, previous],
                 "causal_speaker": [x, previous, own_previous],
                 "window": [x, previous, following]}[kind]
        rows.append(torch.cat(parts + [torch.ones(len(x), 1)], dim=1))
        labels.append(d.labels)
    return torch.cat(rows).double(), torch.cat(labels)


def _ridge_accuracy(corpus, kind):
    x, y = _contexts(corpus.split("train"), kind)
    target = torch.nn.functional.one_hot(y, corpus.num_classes).double()
    weight = torch.linalg.solve(x.T @ x + 10 * torch.eye(x.size(1), dtype=x.dtype),
                                x.T @ target)
    x, y = _contexts(corpus.split("test"), kind)
    return ((x @ weight).argmax(1) == y).double().mean().item()


def test_context_ranks_as_documented():
    # A linear probe over concatenated neighbour features stands in for a
    # graph: no context < causal < causal with the speaker's own previous
    # turn < bidirectional window.
    corpus = synthetic_corpus(SyntheticConfig(seed=0, modalities={"text": 16}))
    accuracy = {k: _ridge_accuracy(corpus, k)
                for k in ("none", "causal", "causal_speaker", "window")}
    assert accuracy["none"] < 0.6
    assert accuracy["none"] + 0.05 < accuracy["causal"]
    assert accuracy["causal"] < accuracy["causal_speaker"]
    assert accuracy["causal_speaker"] + 0.05 < accuracy["window"]
    # The figures docs/data-format.md quotes.
    assert {k: round(v, 2) for k, v in accuracy.items()} == {
        "none": 0.51, "causal": 0.62, "causal_speaker": 0.65, "window": 0.73}
