"""The real corpora in ../shared/data, when they are there."""
from __future__ import annotations

import pytest

from dialogues import batches, load_corpus


def sizes(corpus):
    return {k: (len(v), sum(len(d) for d in v)) for k, v in corpus.splits.items()}


def test_iemocap(shared_data):
    corpus = load_corpus(shared_data / "iemocap")
    assert corpus.name == "iemocap"
    assert corpus.labels == ("hap", "sad", "neu", "ang", "exc", "fru")
    assert corpus.modalities == {"text": 384}
    assert sizes(corpus) == {"train": (108, 5163), "dev": (12, 647), "test": (31, 1623)}
    assert corpus.max_speakers == 2
    d = corpus.split("test")[0]
    assert d.id == "Ses05F_impro01"
    assert d.speakers[:4] == ["F", "M", "F", "F"]
    assert d.speaker_ids[:4].tolist() == [0, 1, 0, 0]
    assert d.labels[:4].tolist() == [2, 2, 5, 5]
    assert d.texts[0] == "Hi, I need an ID."


def test_iemocap_4(shared_data):
    corpus = load_corpus(shared_data / "iemocap", label_view="iemocap_4")
    assert corpus.labels == ("hap", "sad", "neu", "ang")
    assert sizes(corpus) == {"train": (108, 3867), "dev": (12, 475), "test": (31, 1242)}
    counts = [0] * 4
    for ds in corpus.splits.values():
        for d in ds:
            for y in d.labels.tolist():
                counts[y] += 1
    assert counts == [648 + 1041, 1084, 1708, 1103]


def test_meld(shared_data):
    corpus = load_corpus(shared_data / "meld")
    assert corpus.labels == ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
    assert sizes(corpus) == {"train": (1038, 9989), "dev": (114, 1109), "test": (280, 2610)}
    assert corpus.max_speakers == 9
    d = corpus.split("test")[0]
    assert d.speakers == ["Mark", "Rachel", "Rachel"]
    assert d.speaker_ids.tolist() == [0, 1, 1]
    assert d.labels.tolist() == [1, 6, 0]
    total = sum(b.num_utterances for b in batches(corpus.split("train"), ["text"], 32))
    assert total == 9989


@pytest.mark.parametrize("corpus", ["iemocap", "meld"])
def test_metadata_is_kept(shared_data, corpus):
    loaded = load_corpus(shared_data / corpus)
    assert loaded.metadata["format"] == "open"
    assert "licence" in loaded.metadata and "source" in loaded.metadata
