"""Edge builders: the dialogue graph topologies ergraph compares."""
from .batch import DialogueBatch
from .builder import DialogueGraph, EdgeBuilder
from .causal import CausalEdges
from .dag import DagEdges
from .empty import NoEdges
from .modality import ModalityEdges
from .presets import corect, mmgcn
from .reads import Reads
from .similarity import SimilarityEdges, angular_similarity, nearest_pairs
from .speaker import SpeakerEdges
from .temporal import offset_pairs, per_modality, relation_names
from .temporal_window import TemporalWindow
from .union import UnionEdges
from .validate import GraphBuildError, GraphContractError, validate
from .window import WindowEdges

__all__ = [
    "CausalEdges",
    "DagEdges",
    "DialogueBatch",
    "DialogueGraph",
    "EdgeBuilder",
    "GraphBuildError",
    "GraphContractError",
    "ModalityEdges",
    "NoEdges",
    "Reads",
    "SimilarityEdges",
    "SpeakerEdges",
    "TemporalWindow",
    "UnionEdges",
    "WindowEdges",
    "angular_similarity",
    "corect",
    "mmgcn",
    "nearest_pairs",
    "offset_pairs",
    "per_modality",
    "relation_names",
    "validate",
]
