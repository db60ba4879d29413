"""The CORECT backbone shared by every topology."""
from .checkpoint import Checkpoint, load_checkpoint, load_weights, save_checkpoint
from .config import ModelConfig
from .corect import CORECT
from .dialogue_state import DialogueState, Push
from .live import LiveModel, Prediction
from .streaming import StreamingPredictor

__all__ = ["CORECT", "Checkpoint", "DialogueState", "LiveModel", "ModelConfig", "Prediction",
           "Push", "StreamingPredictor", "load_checkpoint", "load_weights", "save_checkpoint"]
