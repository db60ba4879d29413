"""``model=corect_paper``: CORECT's own architecture (leson502/CORECT_EMNLP2023,
IEMOCAP-6 script), parameter for parameter; see docs/corect-paper.md."""
from types import SimpleNamespace

import pytest
import torch

from runner.config import compose
from graphs import DialogueBatch
from runner.experiment import build_model
from models import CORECT, Checkpoint, ModelConfig, load_checkpoint, save_checkpoint
from models.attention_blocks import StackedBlocks
from models.crossmodal import PairwiseCrossModal
from models.history import History
from registry import EdgeBuilderRegistry

from .helpers import assert_streams_like_offline, random_batch, random_dialogues, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)
# CORECT's IEMOCAP feature dims (train.py's dataset_embedding_dims), in its
# modality order after UnimodalEncoder's (text, audio, visual) return.
IEMOCAP = {"text": 768, "audio": 100, "visual": 512}
CORECT_PARAMETERS = 17_719_987
# CORECT's Classifier also builds lin_7 (100 -> 7, MOSEI's 7-class head) and
# linear (2700 -> 6), which IEMOCAP-6 never calls.
UNUSED_CLASSIFIER_HEADS = (100 * 7 + 7) + (2700 * 6 + 6)
# CORECT's modules with these dims, worked out from its code:
#   encoder: audio 100-100-100 MLP; visual 512-100-100 MLP; text 2 post-norm
#     TransformerEncoderLayer(768, 8 heads, ff 2048) + Linear(768, 100)
#   graph: RGCNConv(100, 100, 15 relations) + TransformerConv(100, 100 x 7)
#     + BatchNorm1d(700)
#   crossmodal: 6 pairs x 2 MulT layers (width 100) and 3 targets x 3 layers
#     (width 200), ff 4x, one LayerNorm per stack
#   classifier: Linear(2700, 100) + Linear(100, 6)
THEIRS = {
    "encoders.audio": 2 * (100 * 100 + 100),
    "encoders.visual": (512 * 100 + 100) + (100 * 100 + 100),
    "encoders.text": 2 * (3 * 768 * 769 + 768 * 769 + 768 * 2048 + 2048 + 2048 * 768
                          + 768 + 4 * 768) + 768 * 100 + 100,
    "speaker_embedding": 2 * 100,
    "rtgcn": (15 * 100 * 100 + 100 * 100 + 100) + 4 * (100 * 700 + 700) + 2 * 700,
    "crossmodal": 6 * (2 * (4 * 100 * 101 + 100 * 401 + 400 * 101 + 4 * 100) + 2 * 100)
                  + 3 * (3 * (4 * 200 * 201 + 200 * 801 + 800 * 201 + 4 * 200) + 2 * 200),
    "classifier": (2700 * 100 + 100) + (100 * 6 + 6),
}


def paper_model(graph="corect", dims=IEMOCAP):
    """The model as a run builds it: composed config, corpus-sized."""
    config = compose(["model=corect_paper", f"graph={graph}"])
    corpus = SimpleNamespace(modalities=dict(dims), labels=[f"c{i}" for i in range(6)],
                             max_speakers=2, metadata={})
    return build_model(config, corpus, REGISTRY)


def by_module(model):
    counts = {}
    for name, p in model.named_parameters():
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] == "encoders" else parts[0]
        counts[key] = counts.get(key, 0) + p.numel()
    return counts


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return paper_model()


def test_parameters_match_corect_module_by_module(model):
    assert sum(THEIRS.values()) + UNUSED_CLASSIFIER_HEADS == CORECT_PARAMETERS
    assert by_module(model) == THEIRS
    total = sum(p.numel() for p in model.parameters())
    assert total == 17_703_074 == CORECT_PARAMETERS - UNUSED_CLASSIFIER_HEADS


def test_on_the_shared_text_features_it_has_the_size_docs_quote():
    """docs/corect-paper.md's accuracy runs: IEMOCAP's 384-d MiniLM text only."""
    model = paper_model(dims={"text": 384})
    assert sum(p.numel() for p in model.parameters()) == 4_770_090


def test_the_constructor_gives_the_same_model_as_the_runner(model):
    config = compose(["model=corect_paper", "graph=corect"])
    built = CORECT(ModelConfig(modalities=IEMOCAP, num_classes=6, max_speakers=2,
                               **config["model"]), REGISTRY.get("corect", past=4, future=11))
    assert built.config == model.config
    assert [(n, p.shape) for n, p in built.named_parameters()] == [
        (n, p.shape) for n, p in model.named_parameters()]


def test_the_default_backbone_is_unchanged():
    """The new options default to the ergraph backbone: same size, same
    parameter names, so older checkpoints load."""
    config = compose(["model=corect", "graph=corect"])
    model = CORECT(ModelConfig(modalities=IEMOCAP, **config["model"]), REGISTRY.get("corect"))
    assert sum(p.numel() for p in model.parameters()) == 4_833_166
    names = set(model.state_dict())
    assert {"encoders.text.project.0.weight", "encoders.text.project.1.weight",
            "encoders.text.norm.weight", "encoders.audio.net.0.weight",
            "encoders.audio.net.4.weight",
            "crossmodal.cross.text->audio.0.norm_memory.weight"} <= names
    assert not any(n.startswith(("crossmodal.cross_norm", "crossmodal.self_norm",
                                 "encoders.text.output")) for n in names)


def test_forward_shape_and_every_parameter_learns(model):
    g = torch.Generator().manual_seed(0)
    lengths = [3, 5]
    structure = DialogueBatch(lengths, [0, 1, 0, 1, 1, 0, 0, 1], list(IEMOCAP))
    features = {m: torch.randn(8, d, generator=g) for m, d in IEMOCAP.items()}
    model.train()
    logits = model(structure.with_content(features=features))
    assert logits.shape == (8, 6)
    model.loss(logits, torch.randint(0, 6, (8,), generator=g)).backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0)
               for p in model.parameters())
    model.zero_grad(set_to_none=True)
    model.eval()
    with torch.no_grad():
        assert model(structure.with_content(features=features)).shape == (8, 6)


def test_dropout_sits_where_corect_puts_it(model):
    assert model.config.dropout == 0.5
    text = model.encoders["text"].encoder.layers
    assert all(layer.dropout.p == 0.5 and not layer.norm_first for layer in text)
    assert model.encoders["audio"].net[3].p == 0.0  # none inside the MLPs
    assert model.classifier[2].p == 0.5
    assert set(model.config.dropout_sites) == {"sequence", "classifier"}
    # The MLP encoders are deterministic in training mode.
    model.train()
    x = torch.randn(4, 100)
    assert torch.equal(model.encoders["audio"](x), model.encoders["audio"](x))
    model.eval()


def test_causal_corect_paper_streams_exactly():
    torch.manual_seed(0)
    model = paper_model("causal")
    assert model.causal
    # A few steps, so BatchNorm's statistics and the weights move.
    _, features, structure = random_dialogues([9, 4, 12], IEMOCAP, 100, speakers=2)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    for _ in range(2):
        optimiser.zero_grad()
        labels = torch.randint(0, 6, (structure.num_utterances,))
        model.loss(model(structure.with_content(features=features)), labels).backward()
        optimiser.step()
    assert_streams_like_offline(model.eval(), [2, 17])


@pytest.mark.parametrize("norm_first", [True, False])
def test_stacked_blocks_step_a_transformer_layer_of_either_norm(norm_first):
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(12, 3, 20, 0.0, batch_first=True,
                                             norm_first=norm_first).eval()
    with torch.no_grad():  # norms of their own, not the identity
        for norm in (layer.norm1, layer.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
    x = torch.randn(1, 7, 12)
    mask = torch.ones(7, 7, dtype=torch.bool).triu(1)
    with torch.no_grad():
        offline = layer(x, src_mask=mask)
        blocks, history = StackedBlocks([layer], "layer"), History()
        live = []
        for t in range(7):
            live.append(blocks.step(x[:, t:t + 1], [history], "k")[0])
            history.commit()
    torch.testing.assert_close(torch.cat(live), offline[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_pcm_with_corect_options_is_mults_stacks_run_one_by_one(causal):
    """Batched P-CM with CORECT's options equals each MulT stack run on its
    own: inputs scaled by sqrt(width), one norm for query and key/value,
    feed-forward 4x, a LayerNorm after every stack."""
    torch.manual_seed(0)
    modalities, hidden, lengths = ["text", "audio", "visual"], 8, [5, 2, 4]
    pcm = PairwiseCrossModal(modalities, hidden, 2, 2, 2, 2, 0.0, ff=4, shared_norm=True,
                             final_norm=True, scale=True).eval()
    with torch.no_grad():  # norms of their own, not the identity
        for module in pcm.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_()
    padding = torch.arange(max(lengths))[None] >= torch.tensor(lengths)[:, None]
    keep = ~padding
    mask = torch.ones(padding.size(1), padding.size(1), dtype=torch.bool).triu(1) \
        if causal else None
    x = {m: torch.randn(sum(lengths), hidden) for m in modalities}

    def dense(rows):
        out = torch.zeros(*padding.shape, rows.size(-1))
        out[keep] = rows
        return out

    with torch.no_grad():
        targets = []
        for dst in modalities:
            crossed = []
            for src in modalities:
                if src == dst:
                    continue
                h, memory = dense(x[dst]) * hidden ** 0.5, dense(x[src]) * hidden ** 0.5
                for layer in pcm.cross[f"{src}->{dst}"]:
                    h = layer(h, memory, padding, mask)
                crossed.append(pcm.cross_norm[f"{src}->{dst}"](h))
            h = torch.cat(crossed, -1) * (2 * hidden) ** 0.5
            for layer in pcm.self_attention[dst].layers:
                h = layer(h, src_mask=mask, src_key_padding_mask=padding)
            targets.append(pcm.self_norm[dst](h)[keep])
        expected = torch.cat(targets, -1)
        torch.testing.assert_close(pcm(x, padding, causal), expected, atol=1e-5, rtol=1e-5)


def test_the_options_round_trip_through_a_checkpoint(tmp_path):
    options = {k: v for k, v in compose(["model=corect_paper"])["model"].items()
               if k not in ("hidden", "gnn_heads", "crossmodal_heads", "sequence_heads",
                            "self_attention_heads", "sequence_ff")}
    config = small_config(**{**options, "sequence_ff": 16})
    torch.manual_seed(0)
    model = CORECT(config, REGISTRY.get("causal")).eval()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "causal", {}, list("abcd")))
    rebuilt = load_checkpoint(path).build(REGISTRY)
    assert rebuilt.config == model.config
    assert rebuilt.config.dropout_sites == ("sequence", "classifier")
    features, structure = random_batch([5, 2], seed=3)
    with torch.no_grad():
        batch = structure.with_content(features=features)
        assert torch.equal(rebuilt(batch), model(batch))


def test_bad_options_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="feature width 12, which is not divisible by "
                                         "sequence_heads=5"):
        ModelConfig(modalities={"text": 12}, hidden=10, sequence_heads=5,
                    sequence_width="input")
    with pytest.raises(ValueError, match=r"unknown dropout_sites \['rtgcn'\]"):
        small_config(dropout_sites=["rtgcn"])
    with pytest.raises(ValueError, match="unknown sequence_width"):
        small_config(sequence_width="feature")
    with pytest.raises(ValueError, match="crossmodal_ff must be a positive int"):
        small_config(crossmodal_ff=0)
