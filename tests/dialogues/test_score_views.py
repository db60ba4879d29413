"""Sentiment label views read each utterance's score."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dialogues import Corpus, DataError, Dialogue, collate, load_corpus
from dialogues.open_format import save_corpus
from dialogues.views import SCORE_VIEWS, apply_label_view

from . import sentiment_files as files
from .tiny import TINY_LABELS, tiny_features

BOUNDARIES = [-0.5, 0.0, 0.49, 3.2, -3.7, math.nan]


def scored_corpus(scores=BOUNDARIES):
    n = len(scores)
    dialogue = Dialogue("v", ["v"] * n, torch.zeros(n, dtype=torch.long),
                        {"text": torch.arange(n, dtype=torch.float32)[:, None]},
                        list(range(n)), scores=scores)
    return Corpus("mosei", ("-3", "-2", "-1", "0", "1", "2", "3"), {"text": 1},
                  {"train": [dialogue]})


@pytest.mark.parametrize("view, labels, names", [
    # negative (< 0) against non-negative (>= 0), as CORECT reports it
    ("sentiment_2", [0, 1, 1, 1, 0, -1], ("negative", "non-negative")),
    # negative against positive; a score of exactly 0 is left unlabelled
    ("sentiment_2_nonzero", [0, -1, 1, 1, 0, -1], ("negative", "positive")),
    # rounded (halves to even, as numpy) and clipped to -3..3 -> classes 0..6
    ("sentiment_7", [3, 3, 3, 6, 0, -1], ("-3", "-2", "-1", "0", "1", "2", "3")),
])
def test_every_view_at_its_boundaries(view, labels, names):
    corpus = apply_label_view(scored_corpus(), view)
    dialogue = corpus.split("train")[0]
    assert corpus.labels == names and corpus.name == f"mosei_{view}"
    assert corpus.metadata["label_view"] == view
    assert dialogue.labels.tolist() == labels
    # Every clip stays, with its score: unlabelled ones are context.
    assert len(dialogue) == 6 and dialogue.scores[:5].tolist() == BOUNDARIES[:5]


@pytest.mark.parametrize("view, predicted, classes", [
    ("sentiment_2", [-0.5, 0.0, 0.49, 3.2, -3.7], [0, 1, 1, 1, 0]),
    ("sentiment_2_nonzero", [-0.5, 0.0, 0.49, 3.2, -3.7], [0, 0, 1, 1, 0]),
    ("sentiment_7", [-0.5, 0.0, 0.49, 3.2, -3.7, 2.5, -2.51], [3, 3, 3, 6, 0, 5, 0]),
])
def test_a_predicted_score_always_gets_a_class(view, predicted, classes):
    assert SCORE_VIEWS[view].decide(torch.tensor(predicted)).tolist() == classes


def test_a_corpus_without_scores_is_refused_with_the_reason():
    corpus = Corpus("iemocap", tuple(TINY_LABELS), {"text": 2}, {"train": [Dialogue(
        "d1", ["a", "b"], [0, 1], {"text": tiny_features(2)["text"]}, [0, 1])]})
    with pytest.raises(DataError, match=r"label view 'sentiment_2' labels each utterance "
                                        r"from its sentiment score, but corpus 'iemocap' "
                                        r"has no scores \(train dialogue 'd1' has none"):
        apply_label_view(corpus, "sentiment_2")


def test_a_sentiment_corpus_refuses_an_emotion_view(tmp_path):
    path = files.write(tmp_path / "m.pkl", files.mmsa_layout(files.draw_clips()))
    with pytest.raises(DataError, match=r"label view 'iemocap_4' needs labels .* but "
                                        r"corpus 'm' lacks"):
        load_corpus(path, label_view="iemocap_4")


def test_scores_survive_select_and_collate():
    corpus = scored_corpus()
    dialogue = corpus.split("train")[0]
    kept = dialogue.select(torch.tensor([True, False, True, True, False, True]))
    assert kept.scores[:3].tolist() == [-0.5, 0.49, 3.2] and math.isnan(kept.scores[3])
    unscored = Dialogue("u", ["a"], [1], {"text": [[7.0]]}, [0])
    batch = collate([kept, unscored], ["text"])
    assert batch.scores[:3].tolist() == [-0.5, 0.49, 3.2]
    assert batch.scores[3:].isnan().tolist() == [True, True]
    assert collate([unscored], ["text"]).scores is None  # class-only corpora as before


def test_scores_must_match_the_utterances():
    with pytest.raises(DataError, match=r"dialogue 'v': scores have shape \[2\], "
                                        r"expected \[3\]"):
        Dialogue("v", ["a"] * 3, [0] * 3, {"text": np.zeros((3, 1))}, [0, 1, 2],
                 scores=[0.5, 1.0])


def test_open_format_score_column(tmp_path):
    folder = save_corpus(scored_corpus(), tmp_path / "c")
    lines = (folder / "utterances.csv").read_text().splitlines()
    assert lines[0] == "dialogue_id,turn,speaker,label,split,score"
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == \
        ["-0.5", "0", "0.49", "3.2", "-3.7", ""]
    back = load_corpus(folder).split("train")[0]
    assert back.scores[:5].tolist() == BOUNDARIES[:5] and math.isnan(back.scores[5])
    assert back.annotations == {}  # a target, never an annotation builders could read
    bad = folder / "utterances.csv"
    bad.write_text("\n".join(lines[:3] + [lines[3].rsplit(",", 1)[0] + ",high"]
                             + lines[4:]) + "\n")
    with pytest.raises(DataError, match=r"utterances.csv, line 4: score 'high' is not a "
                                        "number"):
        load_corpus(folder)
