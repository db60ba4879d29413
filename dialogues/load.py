"""One entry point for every corpus source."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import yaml

from .corpus import Corpus, choose_modalities
from .errors import DataError
from .open_format import DATASET, FEATURES, UTTERANCES, is_open_format, read_open_format
from .pickles import pickle_name, read_pickle
from .synthetic import SyntheticConfig, synthetic_corpus
from .views import LabelView, ScoreView, apply_label_view

OPEN_FORMAT_FILES = (DATASET, UTTERANCES, FEATURES)


def _select(corpus: Corpus, modalities: Sequence[str] | None, where: str) -> Corpus:
    if modalities is None:
        return corpus
    modalities = choose_modalities(modalities, list(corpus.modalities), where)
    splits = {s: [d.select(modalities=modalities) for d in ds]
              for s, ds in corpus.splits.items()}
    return Corpus(corpus.name, corpus.labels,
                  {m: corpus.modalities[m] for m in modalities}, splits,
                  corpus.metadata)


def load_corpus(path: str | os.PathLike | None = None, *, name: str | None = None,
                modalities: Sequence[str] | None = None,
                label_view: str | LabelView | ScoreView | None = None,
                synthetic: SyntheticConfig | None = None,
                pool: str | None = None) -> Corpus:
    r"""Load a corpus, detecting its format from :obj:`path`.

    * a folder with ``dataset.yaml``, ``utterances.csv`` and
      ``features.npz`` (or one of those files): ergraph's open format
      (:mod:`dialogues.open_format`);
    * a file: a CORECT pickle, a DialogueRNN/COGMEN feature pickle
      (:mod:`dialogues.pickles`) or an MMSA or MulT sentiment pickle
      (:mod:`dialogues.sentiment_pickles`), read without running pickled
      code;
    * :obj:`None`, or ``name="synthetic"``: the synthetic corpus
      (:mod:`dialogues.synthetic`).

    Args:
        path (str or PathLike, optional): Where the corpus is.
        name (str, optional): Corpus name, overriding the one the source
            gives. For pickles it also picks the label names of a known
            corpus (``iemocap``, ``iemocap_4``, ``meld``).
        modalities (Sequence[str], optional): Keep only these modalities, in
            this order. (default: all, in the source's order)
        label_view (str, LabelView or ScoreView, optional): Relabel through
            a view, e.g. ``"iemocap_4"`` or ``"sentiment_2"`` (see
            :mod:`dialogues.views`).
        synthetic (SyntheticConfig, optional): Parameters of the synthetic
            corpus; only with no :obj:`path`.
        pool (str, optional): How a sentiment pickle's per-clip sequences
            become one vector: ``mean`` (the default there), ``last`` or
            ``max``, over the valid rows only. Refused for sources that
            store one vector per utterance.

    Raises:
        DataError: The source is missing, malformed or lacks what was asked.
    """
    if path is None or name == "synthetic":
        if path is not None:
            raise DataError(f"name='synthetic' takes no path, got {os.fspath(path)}")
        if name not in (None, "synthetic"):
            raise DataError(f"no path given for corpus {name!r}; only the "
                            "synthetic corpus needs none")
        if pool is not None:
            raise DataError(f"pool={pool!r} applies to sentiment pickles' sequences; "
                            "the synthetic corpus has one vector per utterance")
        corpus = _select(synthetic_corpus(synthetic), modalities, "synthetic corpus")
    else:
        if synthetic is not None:
            raise DataError("synthetic= applies only to the synthetic corpus, "
                            f"not to {os.fspath(path)}")
        source = Path(path)
        if source.is_file() and source.name in OPEN_FORMAT_FILES:
            source = source.parent  # one of the open format's files: its folder
        if is_open_format(source):
            if pool is not None:
                raise DataError(f"pool={pool!r} applies to sentiment pickles' sequences; "
                                f"{source} stores one vector per utterance")
            corpus = read_open_format(source, modalities)
        elif source.is_dir():
            raise DataError(f"{source}: missing file dataset.yaml; an "
                            "open-format corpus has dataset.yaml, "
                            "utterances.csv and features.npz")
        elif source.is_file():
            corpus = read_pickle(source, name=name, modalities=modalities, pool=pool)
        else:
            raise DataError(f"{source}: no such file or folder")
        if name is not None:
            corpus.name = name
    if label_view is not None:
        corpus = apply_label_view(corpus, label_view)
    return corpus


def corpus_name(path: str | os.PathLike) -> str:
    """The name :func:`load_corpus` gives the corpus at :obj:`path`, read
    without loading it (to name a run before it starts): ``name`` in an
    open-format folder's ``dataset.yaml``, else the folder's name; a
    pickle's name (:func:`~dialogues.pickles.pickle_name`).

    Raises:
        DataError: A pickle's label sidecar that cannot be read.
    """
    source = Path(path)
    if source.is_file() and source.name in OPEN_FORMAT_FILES:
        source = source.parent
    if source.is_file():
        return pickle_name(source)
    try:
        spec = yaml.safe_load((source / DATASET).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        spec = None  # the loader names a missing or broken dataset.yaml
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else source.name
