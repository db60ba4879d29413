"""Corpora for emotion recognition in conversation, batched for a model.

>>> from dialogues import load_corpus, batches
>>> corpus = load_corpus("../shared/data/iemocap", label_view="iemocap_4")
>>> for batch in batches(corpus.split("train"), ["text"], batch_size=32):
...     batch.lengths, batch.features["text"], batch.labels

Formats are documented in ``docs/data-format.md``.
"""
from .batch import batches, collate, structure_of
from .corpus import Corpus
from .dialogue import Dialogue
from .errors import DataError
from .load import corpus_name, load_corpus
from .synthetic import SyntheticConfig, synthetic_corpus

__all__ = [
    "Corpus",
    "DataError",
    "Dialogue",
    "SyntheticConfig",
    "batches",
    "collate",
    "corpus_name",
    "load_corpus",
    "structure_of",
    "synthetic_corpus",
]
