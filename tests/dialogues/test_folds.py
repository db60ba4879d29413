import pytest
import torch
from hypothesis import given, settings, strategies as st

from dialogues import Corpus, DataError, Dialogue
from dialogues.folds import cross_validation_folds, fold_assignment, session_of


def dialogue(name: str, length: int = 2) -> Dialogue:
    return Dialogue(id=name, speakers=["A"] * length, turns=list(range(length)),
                    features={"text": torch.zeros(length, 2)},
                    labels=torch.zeros(length, dtype=torch.long))


def corpus(ids, splits=("train",)) -> Corpus:
    dialogues = [dialogue(i) for i in ids]
    parts = {s: dialogues[k::len(splits)] for k, s in enumerate(splits)}
    return Corpus("c", ("a",), {"text": 2}, parts)


@settings(max_examples=40, deadline=None)
@given(count=st.integers(2, 60), data=st.data())
def test_k_folds_deal_every_dialogue_once_in_near_equal_folds(count, data):
    k = data.draw(st.integers(2, count))
    dialogues = [dialogue(f"d{i}") for i in range(count)]
    folds = fold_assignment(dialogues, k)
    sizes = [folds.count(f) for f in range(k)]
    assert sorted(set(folds)) == list(range(k))
    assert max(sizes) - min(sizes) <= 1
    assert fold_assignment(dialogues, k) == folds  # fixed, whatever the run's seed


def test_sessions_are_read_from_iemocap_ids():
    ids = ["Ses01F_impro01", "Ses02M_script01_1", "Ses01M_impro02", "Ses05F_a"]
    assert [session_of(i) for i in ids] == [1, 2, 1, 5]
    assert fold_assignment([dialogue(i) for i in ids], "sessions") == [0, 1, 0, 2]


@pytest.mark.parametrize("ids, cv, message", [
    (["dia1", "Ses01F_a"], "sessions", "1 dialogue ids name no session, e.g. 'dia1'; "
                                        "use cv=K instead"),
    (["Ses01F_a", "Ses01M_b"], "sessions", "needs at least two sessions"),
    (["a", "b"], 1, "cv=1: expected a number of folds ≥ 2"),
    (["a", "b"], 3, "cv=3: more folds than the corpus's 2 dialogues"),
])
def test_impossible_folds_are_refused_with_the_reason(ids, cv, message):
    with pytest.raises(DataError, match=message):
        fold_assignment([dialogue(i) for i in ids], cv)


def test_each_fold_tests_its_dialogues_and_carves_dev_from_the_rest():
    ids = [f"Ses0{s}F_{n}" for s in (1, 2, 3) for n in range(5)]
    folds = cross_validation_folds(corpus(ids, ("train", "dev", "test")), "sessions")
    assert len(folds) == 3
    every = sorted(ids)
    for k, fold in enumerate(folds):
        test = [d.id for d in fold.splits["test"]]
        assert all(session_of(i) == k + 1 for i in test) and len(test) == 5
        rest = [d.id for d in fold.splits["dev"] + fold.splits["train"]]
        assert sorted(test + rest) == every
        assert len(fold.splits["dev"]) == 1  # the first tenth of 10, in corpus order
        assert fold.metadata["fold"] == k and fold.metadata["folds"] == 3
