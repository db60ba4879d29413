"""Small live models and a stand-in sentence encoder for the command tests."""
import numpy as np
import torch

from models import CORECT, Checkpoint, ModelConfig, StreamingPredictor, save_checkpoint
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def fake_encoder(dim):
    """A deterministic stand-in for a sentence encoder: each text's vector
    is drawn from a generator seeded by its characters."""
    def encode(texts):
        return np.stack([np.random.default_rng(sum(map(ord, t))).standard_normal(dim)
                         for t in texts]).astype(np.float32)
    return encode


def text_predictor(**kwargs):
    """A tiny causal text-only predictor with fixed weights."""
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities={"text": 12}, num_classes=3, hidden=8,
                               gnn_heads=2, sequence_heads=2, dropout=0.1),
                   REGISTRY.get("causal", past=2)).eval()
    return StreamingPredictor(model, ["neg", "neu", "pos"], **kwargs)


def text_checkpoint(tmp_path, metadata=None):
    """:func:`text_predictor`'s model saved as a causal checkpoint."""
    predictor = text_predictor()
    path = tmp_path / "text.pt"
    save_checkpoint(path, Checkpoint.from_model(predictor.model, "causal", {"past": 2},
                                                predictor.labels, metadata or {}))
    return path
