"""Label names of known corpora, in the order their label indices use.

Pickled corpora store label indices only; these tuples give them names.
The IEMOCAP orders are CORECT's and DialogueRNN's; the MELD names and order
are those of ``data/meld/dataset.yaml`` (neutral=0 ... anger=6, the order of
MELD's DialogueRNN features), so a MELD model reads either source alike.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

KNOWN_LABEL_SETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "iemocap": ("hap", "sad", "neu", "ang", "exc", "fru"),
    "iemocap_4": ("hap", "sad", "neu", "ang"),
    "meld": ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"),
})


def guess_corpus_name(filename: str) -> str | None:
    """The known corpus a file name points at, e.g. ``data_iemocap_4.pkl``
    -> ``"iemocap_4"``, or :obj:`None`."""
    lowered = filename.lower()
    for name in sorted(KNOWN_LABEL_SETS, key=len, reverse=True):
        # Longest first, so "iemocap_4" wins over "iemocap".
        if name in lowered or name.replace("_", "") in lowered:
            return name
    return None
