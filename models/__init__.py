"""The CORECT backbone shared by every topology."""
from .checkpoint import Checkpoint, load_checkpoint, load_weights, save_checkpoint
from .config import ModelConfig
from .corect import CORECT
from .streaming import Prediction, StreamingPredictor

__all__ = ["CORECT", "Checkpoint", "ModelConfig", "Prediction", "StreamingPredictor",
           "load_checkpoint", "load_weights", "save_checkpoint"]
