"""Edge builders: the dialogue graph topologies ergraph compares."""
from .batch import DialogueBatch
from .builder import DialogueGraph, EdgeBuilder
from .causal import CausalEdges
from .empty import NoEdges
from .modality import ModalityEdges
from .presets import corect
from .speaker import SpeakerEdges
from .temporal import offset_pairs, per_modality, relation_names
from .union import UnionEdges
from .validate import GraphContractError, validate
from .window import WindowEdges

__all__ = [
    "CausalEdges",
    "DialogueBatch",
    "DialogueGraph",
    "EdgeBuilder",
    "GraphContractError",
    "ModalityEdges",
    "NoEdges",
    "SpeakerEdges",
    "UnionEdges",
    "WindowEdges",
    "corect",
    "offset_pairs",
    "per_modality",
    "relation_names",
    "validate",
]
