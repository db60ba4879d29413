import pytest
import torch

from graphs import DialogueBatch, EdgeBuilder
from models import CORECT
from registry import EdgeBuilderRegistry

from .helpers import DIMS, random_batch, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)


@pytest.mark.parametrize("modalities", [("text",), ("audio",), ("text", "visual"),
                                        ("text", "audio", "visual")])
@pytest.mark.parametrize("graph", ["corect", "none", "causal"])
def test_output_shape_over_modality_subsets(modalities, graph):
    dims = {m: DIMS[m] for m in modalities}
    model = CORECT(small_config(dims), REGISTRY.get(graph)).eval()
    features, structure = random_batch([4, 1, 6], dims)
    assert model(structure.with_content(features=features)).shape == (11, 4)
    assert (model.crossmodal is not None) == (len(modalities) > 1)


@pytest.mark.parametrize("graph", REGISTRY.names())
def test_every_registered_builder_runs_through_the_model(graph):
    params = {"union": {"parts": {"speaker": {}, "modality": {}}}}.get(graph, {})
    model = CORECT(small_config(), REGISTRY.get(graph, **params))
    features, structure = random_batch([3, 5])
    logits = model(structure.with_content(features=features))
    assert logits.shape == (8, 4) and torch.isfinite(logits).all()


@pytest.mark.parametrize("switches", [{}, {"gnn": False}, {"crossmodal": False}])
def test_gradients_reach_every_parameter(switches):
    model = CORECT(small_config(**switches), REGISTRY.get("corect"))
    features, structure = random_batch([5, 7, 2])
    labels = torch.randint(0, 4, (14,))
    model.loss(model(structure.with_content(features=features)), labels).backward()
    # Every speaker slot appears in the batch, so every parameter must learn.
    assert set(structure.speakers.tolist()) == {0, 1, 2}
    silent = [n for n, p in model.named_parameters()
              if p.grad is None or not p.grad.abs().sum() > 0]
    assert silent == []
    assert (model.rtgcn is None) == (switches.get("gnn") is False)


def test_loss_ignores_unlabelled_utterances():
    model = CORECT(small_config(), REGISTRY.get("none")).eval()
    features, structure = random_batch([3])
    logits = model(structure.with_content(features=features))
    full = model.loss(logits[:2], torch.tensor([1, 2]))
    assert torch.allclose(model.loss(logits, torch.tensor([1, 2, -1])), full)


def test_too_many_speakers_is_refused():
    model = CORECT(small_config(), REGISTRY.get("none"))
    features, _ = random_batch([2])
    with pytest.raises(ValueError, match="speaker id 3.*max_speakers=3"):
        model(DialogueBatch([2], [0, 3], list(DIMS), features=features))


def test_the_graph_is_built_on_cpu_whatever_the_structure_device():
    seen = []

    class Spy(EdgeBuilder):
        causal = True

        def relations(self, modalities):
            return ["self"]

        def edges(self, batch):
            seen.append(batch)
            n = batch.num_nodes
            return torch.arange(n).repeat(2, 1), torch.zeros(n, dtype=torch.long)

    on_cpu = DialogueBatch([2], [0, 1], list(DIMS))

    class Elsewhere(DialogueBatch):
        """Stands for a batch on an accelerator this machine lacks."""
        device = torch.device("meta")

        def to(self, device):
            assert torch.device(device).type == "cpu"
            return on_cpu

    model = CORECT(small_config(), Spy())
    model.graph(on_cpu)
    model.graph(Elsewhere([2], [0, 1], list(DIMS)))
    # Each build sees the builder's view of the CPU batch: its structure, shared.
    assert [type(b) for b in seen] == [DialogueBatch, DialogueBatch]
    assert all(b.speakers is on_cpu.speakers for b in seen)


@pytest.mark.parametrize("graph, bidirectional", [("corect", True), ("speaker", True),
                                                  ("causal", False), ("none", False)])
def test_a_gru_encoder_reads_both_directions_unless_the_graph_is_causal(
        graph, bidirectional):
    model = CORECT(small_config(sequence_encoder="gru", sequence_layers=2),
                   REGISTRY.get(graph))
    text = model.encoders["text"]
    assert (text.gru.bidirectional, text.gru.num_layers) == (bidirectional, 2)
    assert model.encoders["audio"].__class__.__name__ == "MLPEncoder"
    features, structure = random_batch([3, 6])
    assert model(structure.with_content(features=features)).shape == (9, 4)


def test_an_unknown_sequence_encoder_lists_the_choices():
    with pytest.raises(ValueError, match="'lstm'; choices: gru, transformer"):
        small_config(sequence_encoder="lstm")


@pytest.mark.parametrize("graph, params", [
    ("speaker", {}), ("similarity", {"k": 2, "vectors": "states", "weighted": True}),
    ("similarity", {"k": 2, "vectors": "features"})])
def test_the_graph_method_gives_the_graph_forward_runs_on(graph, params):
    """One place builds the graph: forward on the graph that model.graph
    returns is forward on its own, states-reading builders included."""
    model = CORECT(small_config(), REGISTRY.get(graph, **params)).eval()
    features, structure = random_batch([4, 3])
    batch = structure.with_content(features=features)
    built = model.graph(batch)
    assert built.relations == tuple(model.relations)
    with torch.no_grad():
        assert torch.equal(model(batch, built), model(batch))


def test_labels_in_the_batch_do_not_change_the_logits():
    model = CORECT(small_config(), REGISTRY.get("speaker")).eval()
    features, structure = random_batch([4, 3])
    bare = structure.with_content(features=features)
    labelled = DialogueBatch(structure.lengths, structure.speakers, list(DIMS),
                             features=features, labels=torch.zeros(7, dtype=torch.long),
                             dialogue_ids=["a", "b"])
    with torch.no_grad():
        assert torch.equal(model(bare), model(labelled))
