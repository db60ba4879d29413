"""Live inference: a dialogue pushed turn by turn gets the logits of offline
causal inference over the whole dialogue."""
import importlib.util
import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from graphs import DialogueBatch, EdgeBuilder, Reads
from models import CORECT, Checkpoint, ModelConfig, StreamingPredictor, save_checkpoint
from models.encoders import GRUEncoder
from models.speaker_gru import SpeakerGRU
from registry import EdgeBuilderRegistry

from .helpers import (CAUSAL, CONTENT, DIMS, assert_streams_like_offline, pushed,
                      random_dialogues, small_config, trained)

REGISTRY = EdgeBuilderRegistry(entry_points=False)
# Two modalities without text stream in the slow set only.
MODALITY_SETS = [("text",), pytest.param(("audio", "visual"), marks=pytest.mark.slow),
                 ("text", "audio", "visual")]
LABELS = ["a", "b", "c", "d"]


@pytest.fixture(autouse=True)
def one_thread():
    """Pushes are chains of small ops; on a shared two-core machine a second
    intra-op thread makes each op wait for a descheduled peer, and this
    module ten times slower. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("modalities", MODALITY_SETS, ids="+".join)
@pytest.mark.parametrize("name, params", CAUSAL,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(CAUSAL)])
def test_push_by_push_equals_offline_causal_inference(name, params, modalities):
    config = small_config({m: DIMS[m] for m in modalities})
    model = trained(config, name, params)
    assert StreamingPredictor(model, LABELS).model.step_horizon == model.builder.horizon
    assert_streams_like_offline(model, [1, 110, 2, 17], seed=len(modalities))


@pytest.mark.parametrize("modalities", [("text",), ("text", "audio", "visual")],
                         ids="+".join)
@pytest.mark.parametrize("name, params", [("causal", {}), ("speaker", {"future": 0}),
                                          ("none", {})])
def test_a_gru_encoder_streams_exactly(name, params, modalities):
    config = small_config({m: DIMS[m] for m in modalities}, sequence_encoder="gru",
                          sequence_layers=2)
    model = trained(config, name, params)
    assert isinstance(model.encoders["text"], GRUEncoder)
    assert_streams_like_offline(model, [1, 110, 2, 17], seed=len(modalities))


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
@pytest.mark.parametrize("name, params", [("causal", {}), ("speaker", {"future": 0}),
                                          ("none", {})])
def test_a_speaker_gru_streams_exactly(name, params, encoder):
    # Three speakers in random order, so a speaker's previous turn is often
    # not the previous turn of the dialogue.
    model = trained(small_config(sequence_encoder=encoder, speaker_gru=True), name, params)
    assert not model.speaker_encoders["text"].gru.bidirectional
    assert_streams_like_offline(model, [1, 40, 2, 17], seed=3)


def test_each_sequence_modality_keeps_its_own_speaker_states():
    config = small_config(sequence_encoder="gru", speaker_gru=True,
                          sequence_modalities=("text", "audio"))
    model = trained(config, "speaker", {"future": 0})
    assert sorted(model.speaker_encoders) == ["audio", "text"]
    assert_streams_like_offline(model, [30, 5], seed=4)


def test_a_failed_push_by_a_known_speaker_leaves_their_state_unchanged():
    model = trained(small_config(sequence_encoder="gru", speaker_gru=True), "causal", {})
    dialogues, features, structure = random_dialogues([8], DIMS, seed=6)
    (rows, speakers), = dialogues
    classify = model.classifier.forward
    predictor = StreamingPredictor(model, LABELS)
    live = []
    for t, s in enumerate(speakers):
        if t == 5:
            assert s in speakers[:5]
            # Fails after both GRUs have written the turn's state.
            model.classifier.forward = lambda x: (_ for _ in ()).throw(RuntimeError("boom"))
            with pytest.raises(RuntimeError, match="boom"):
                predictor.push(s, {m: x[t] for m, x in rows.items()})
            model.classifier.forward = classify
            assert predictor.turn == 5
        live.append(predictor.push(s, {m: x[t] for m, x in rows.items()}).logits)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    torch.testing.assert_close(torch.stack(live), offline, atol=1e-5, rtol=1e-5)


def test_a_bidirectional_speaker_gru_is_refused_by_name():
    model = trained(small_config(speaker_gru=True), "causal", {})
    model.speaker_encoders["text"] = SpeakerGRU(DIMS["text"], 8, 0.0, bidirectional=True)
    with pytest.raises(ValueError,
                       match="speaker_encoders.text: a bidirectional GRU cannot stream"):
        StreamingPredictor(model, LABELS)


def test_a_bidirectional_gru_is_refused_by_name():
    model = trained(small_config(sequence_encoder="gru"), "causal", {})
    model.encoders["text"] = GRUEncoder(DIMS["text"], 8, 1, 0.0, bidirectional=True)
    with pytest.raises(ValueError, match="encoders.text: a bidirectional GRU cannot stream"):
        StreamingPredictor(model, LABELS)


@pytest.mark.parametrize("modalities", [("text",), ("text", "audio", "visual")],
                         ids="+".join)
@pytest.mark.parametrize("name, params", CONTENT,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONTENT)])
def test_a_content_reading_builder_streams_exactly(name, params, modalities):
    config = small_config({m: DIMS[m] for m in modalities})
    model = trained(config, name, params)
    assert model.reads.content or name == "dag"
    assert_streams_like_offline(model, [1, 40, 17], seed=len(modalities))


@dataclass
class RepliesTo(EdgeBuilder):
    """Each utterance hears the turn its ``reply_to`` annotation names."""

    @property
    def causal(self):
        return True

    def reads(self, modalities):
        return Reads(annotations=("reply_to", "turn"))

    def relations(self, modalities):
        return [f"{m}:reply" for m in modalities]

    def edges(self, batch):
        reply, turn = batch.annotations["reply_to"], batch.annotations["turn"]
        ok = ~torch.isnan(reply) & (reply < turn)
        target = torch.nonzero(ok).flatten()
        source = target - (turn[target] - reply[target]).long()
        U = batch.num_utterances
        return (torch.cat([torch.stack([source + m * U, target + m * U])
                           for m in range(len(batch.modalities))], 1),
                torch.arange(len(batch.modalities)).repeat_interleave(target.numel()))


def test_an_annotation_reading_builder_streams_exactly():
    torch.manual_seed(0)
    model = CORECT(small_config({"text": 12, "audio": 5}), RepliesTo()).eval()
    dialogues, features, structure = random_dialogues([6, 9], model.config.modalities)
    reply_to = torch.tensor([float("nan"), 0, 0, 1, float("nan"), 2,
                             float("nan"), 0, 1, 1, 3, 0, 7, 5, 2], dtype=torch.float64)
    turn = torch.cat([torch.arange(6), torch.arange(9)]).double()
    structure = structure.with_content(annotations={"reply_to": reply_to, "turn": turn})
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    predictor = StreamingPredictor(model, LABELS)
    live, row = [], 0
    for f, speakers in dialogues:
        predictor.reset()
        for t, s in enumerate(speakers):
            live.append(predictor.push(s, {m: x[t] for m, x in f.items()},
                                       annotations={"reply_to": float(reply_to[row])}).logits)
            row += 1
    torch.testing.assert_close(torch.stack(live), offline, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"reads annotations \['reply_to'\]; pass them with the push"):
        predictor.push(0, {m: torch.zeros(d) for m, d in model.config.modalities.items()})
    with pytest.raises(ValueError, match="annotation 'reply_to' is 'x', not a number"):
        predictor.push(0, {m: torch.zeros(d) for m, d in model.config.modalities.items()},
                       annotations={"reply_to": "x"})
    assert predictor.turn == 9


@pytest.mark.parametrize("name, params", [("causal", {"past": 4, "self_loops": True}),
                                          ("speaker", {"future": 0})])
def test_default_sized_model_streams_exactly(name, params):
    torch.manual_seed(0)
    config = ModelConfig(modalities={"audio": 100, "text": 768, "visual": 512})
    model = CORECT(config, REGISTRY.get(name, **params)).eval()
    assert_streams_like_offline(model, [3, 40])


@dataclass
class SameSpeakerBefore(EdgeBuilder):
    """Each node hears the same speaker's previous utterance, however far
    back: causal, and of no bounded horizon."""

    @property
    def causal(self):
        return True

    def relations(self, modalities):
        return [f"{m}:before" for m in modalities]

    def edges(self, batch):
        sources, targets = [], []
        last = {}
        for u, s in enumerate(batch.speakers.tolist()):
            key = (int(batch.utterance_dialogue[u]), s)
            if key in last:
                sources.append(last[key])
                targets.append(u)
            last[key] = u
        source, target = torch.tensor(sources, dtype=torch.long), torch.tensor(
            targets, dtype=torch.long)
        U = batch.num_utterances
        edge_index = torch.cat([torch.stack([source + m * U, target + m * U])
                                for m in range(len(batch.modalities))], 1)
        edge_type = torch.arange(len(batch.modalities)).repeat_interleave(source.numel())
        return edge_index, edge_type


def test_a_builder_without_horizon_streams_exactly_over_the_whole_prefix():
    registry = EdgeBuilderRegistry(entry_points=False)
    registry.register("before", SameSpeakerBefore)
    torch.manual_seed(0)
    config = small_config({"text": 12, "audio": 5})
    model = CORECT(config, registry.get("before")).eval()
    assert model.builder.horizon is None
    assert_streams_like_offline(model, [30, 5])


def test_a_declared_horizon_bounds_the_streamed_graph():
    declared = SameSpeakerBefore()
    declared.horizon = 7
    model = CORECT(small_config({"text": 12}), declared).eval()
    assert StreamingPredictor(model, LABELS).model.step_horizon == 7
    declared.horizon = -1
    with pytest.raises(ValueError, match="horizon=-1"):
        StreamingPredictor(model, LABELS)


@pytest.mark.parametrize("name, params", [("window", {}), ("corect", {}),
                                          ("speaker", {"future": 1})])
def test_a_model_that_reads_the_future_is_refused(name, params):
    model = CORECT(small_config(), REGISTRY.get(name, **params)).eval()
    with pytest.raises(ValueError, match="not causal: its predictions need turns that "
                                         "have not happened yet"):
        StreamingPredictor(model, LABELS)


def test_a_non_causal_checkpoint_is_refused_and_named(tmp_path):
    model = CORECT(small_config(), REGISTRY.get("corect")).eval()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "corect", {}, LABELS))
    with pytest.raises(ValueError, match=r"graph 'corect' \{\} is not causal"):
        StreamingPredictor.from_checkpoint(path)


def test_from_checkpoint_streams_like_the_saved_model(tmp_path):
    model = trained(small_config(), "speaker", {"past": 2, "future": 0})
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint.from_model(
        model, "speaker", {"past": 2, "future": 0}, LABELS,
        {"dataset": {"encoder": "sentence-transformers/all-MiniLM-L6-v2"}}))
    predictor = StreamingPredictor.from_checkpoint(path)
    assert predictor.encoder_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert predictor.labels == LABELS
    dialogues, features, structure = random_dialogues([8], DIMS, seed=4)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    torch.testing.assert_close(pushed(predictor, *dialogues[0]), offline,
                               atol=1e-5, rtol=1e-5)


def test_a_prediction_reports_label_probabilities_and_latency():
    model = trained(small_config(), "causal", {})
    predictor = StreamingPredictor(model, LABELS)
    row = {m: torch.randn(d) for m, d in DIMS.items()}
    first = predictor.push("ann", row)
    second = predictor.push("bob", {m: x.numpy() for m, x in row.items()})
    assert (first.turn, first.speaker, second.turn, second.speaker) == (0, "ann", 1, "bob")
    assert list(first.probabilities) == LABELS
    assert math.isclose(sum(first.probabilities.values()), 1, rel_tol=1e-5)
    assert first.label == LABELS[int(first.logits.argmax())]
    assert first.probability == max(first.probabilities.values())
    assert first.latency_ms > 0 and first.logits.shape == (4,)


def bad_pushes():
    ok = {m: torch.randn(d) for m, d in DIMS.items()}
    nan = dict(ok, audio=torch.full((DIMS["audio"],), float("nan")))
    inf = dict(ok, visual=ok["visual"].clone().index_fill_(0, torch.tensor([3]), math.inf))
    return [
        ("ann", {m: ok[m] for m in ("text", "audio")}, r"missing \['visual'\]"),
        ("ann", dict(ok, extra=torch.zeros(2)), r"unexpected \['extra'\]"),
        ("ann", dict(ok, text=torch.zeros(DIMS["text"] + 1)),
         r"'text' features have shape \[13\]; the model expects a vector of dimension 12"),
        ("ann", dict(ok, text=torch.zeros(2, DIMS["text"])), r"shape \[2, 12\]"),
        ("ann", nan, r"'audio' features hold nan at index 0"),
        ("ann", inf, r"'visual' features hold inf at index 3"),
        ("ann", dict(ok, text="not a vector"), "not a numeric vector"),
        ("dan", ok, r"speaker 'dan' would be speaker 4 of this dialogue, but the model "
                    r"was sized for max_speakers=3"),
        (["unhashable"], ok, "not hashable"),
        ("ann", None, "push needs exactly the model's modalities"),
        ("ann", ok, None),  # text= on a model whose text is features: see below
    ]


def test_refused_pushes_leave_the_state_unchanged():
    model = trained(small_config(), "speaker", {"future": 0})
    dialogues, features, structure = random_dialogues([12], DIMS, seed=2)
    (rows, speakers), = dialogues
    names = {0: "ann", 1: "bob", 2: "cy"}
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    predictor = StreamingPredictor(model, LABELS)
    live = []
    for t, s in enumerate(speakers):
        if len(set(speakers[:t])) == 3:
            # Three speakers so far: a fourth is one too many.
            for speaker, row, message in bad_pushes():
                before = (predictor.turn, predictor.speakers)
                if message is None:
                    with pytest.raises(ValueError, match="as features or as text, not"):
                        predictor.push(speaker, row, text="hello")
                else:
                    with pytest.raises((ValueError, TypeError), match=message):
                        predictor.push(speaker, row)
                assert (predictor.turn, predictor.speakers) == before
        live.append(predictor.push(names[s], {m: x[t] for m, x in rows.items()}).logits)
    assert len(set(speakers)) == 3
    torch.testing.assert_close(torch.stack(live), offline, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoder, speaker_gru", [("transformer", False), ("gru", False),
                                                 ("gru", True)])
def test_a_failure_inside_the_model_leaves_the_state_unchanged(encoder, speaker_gru):
    # Pairwise relations sized for 2 speakers: the builder refuses a third
    # one half-way through the step, after the encoder caches were written.
    model = trained(small_config(sequence_encoder=encoder, speaker_gru=speaker_gru), "speaker",
                    {"future": 0, "pairwise": True}, speakers=2)
    dialogues, features, structure = random_dialogues([6], DIMS, seed=5, speakers=2)
    (rows, speakers), = dialogues
    predictor = StreamingPredictor(model, LABELS)
    live = []
    for t, s in enumerate(speakers):
        if t == 3:
            with pytest.raises(ValueError, match="num_speakers=2"):
                predictor.push("third", {m: x[t] for m, x in rows.items()})
            assert predictor.turn == 3 and "third" not in predictor.speakers
        live.append(predictor.push(s, {m: x[t] for m, x in rows.items()}).logits)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    torch.testing.assert_close(torch.stack(live), offline, atol=1e-5, rtol=1e-5)


def test_reset_starts_a_new_dialogue():
    model = trained(small_config(), "causal", {"past": None})
    dialogues, features, structure = random_dialogues([7, 5], DIMS, seed=3)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    predictor = StreamingPredictor(model, LABELS)
    pushed(predictor, *dialogues[0])
    predictor.push(0, {m: x[0] for m, x in dialogues[1][0].items()})
    predictor.reset()
    assert predictor.turn == 0 and predictor.speakers == {}
    second = pushed(predictor, *dialogues[1])
    torch.testing.assert_close(second, offline[7:], atol=1e-5, rtol=1e-5)


def test_speakers_get_local_ids_in_order_of_first_appearance():
    model = trained(small_config(), "speaker", {"future": 0})
    names = ["bob", ("ann", 1), "bob", 7, ("ann", 1), 7]
    _, features, _ = random_dialogues([len(names)], DIMS, seed=6)
    structure = DialogueBatch([len(names)], [0, 1, 0, 2, 1, 2], list(DIMS))
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    predictor = StreamingPredictor(model, LABELS)
    live = torch.stack([predictor.push(n, {m: x[t] for m, x in features.items()}).logits
                        for t, n in enumerate(names)])
    assert predictor.speakers == {"bob": 0, ("ann", 1): 1, 7: 2}
    torch.testing.assert_close(live, offline, atol=1e-5, rtol=1e-5)


def fake_encoder(dim):
    """Deterministic text embeddings, no model needed."""
    def encode(texts):
        return np.stack([np.random.default_rng(sum(map(ord, t))).standard_normal(dim)
                         for t in texts]).astype(np.float32)
    return encode


@pytest.mark.parametrize("modalities", [("text",), ("text", "audio")], ids="+".join)
def test_text_is_embedded_by_the_injected_encoder(modalities):
    dims = {m: DIMS[m] for m in modalities}
    model = trained(small_config(dims), "causal", {"self_loops": True})
    texts = ["hello", "hi, how are you?", "fine", "really?", "yes"]
    encode = fake_encoder(dims["text"])
    features = {"text": torch.from_numpy(encode(texts))}
    if "audio" in dims:
        features["audio"] = torch.randn(len(texts), dims["audio"])
    structure = DialogueBatch([5], [0, 1, 0, 1, 0], list(dims))
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    predictor = StreamingPredictor(model, LABELS, text_encoder=encode)
    live = torch.stack([
        predictor.push("ab"[t % 2], {m: x[t] for m, x in features.items() if m != "text"}
                       if len(dims) > 1 else None, text=text).logits
        for t, text in enumerate(texts)])
    torch.testing.assert_close(live, offline, atol=1e-5, rtol=1e-5)


def test_text_errors_say_what_to_do():
    model = trained(small_config({"text": 12}), "causal", {})
    wrong = StreamingPredictor(model, LABELS, text_encoder=fake_encoder(7))
    with pytest.raises(ValueError, match=r"'text' the text encoder's embedding have shape "
                                         r"\[7\]; the model expects a vector of dimension 12"):
        wrong.push("ann", text="hi")
    assert wrong.turn == 0
    unnamed = StreamingPredictor(model, LABELS)
    with pytest.raises(ValueError, match="names no sentence encoder.*text_encoder="):
        unnamed.push("ann", text="hi")
    audio = trained(small_config({"audio": 5}), "causal", {})
    with pytest.raises(ValueError, match="text needs a model with a 'text' modality"):
        StreamingPredictor(audio, LABELS, text_encoder=fake_encoder(12)).push("a", text="x")


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None,
                    reason="sentence-transformers is installed")
def test_without_the_text_extra_the_error_names_the_install_command():
    model = trained(small_config({"text": 12}), "causal", {})
    predictor = StreamingPredictor(model, LABELS,
                                   encoder_name="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(ImportError, match=r"pip install 'ergraph\[text\]'"):
        predictor.push("ann", text="hi")
    assert predictor.turn == 0


@pytest.mark.parametrize("where", ["encoders.text.encoder",
                                   "crossmodal.self_attention.audio"])
def test_a_final_transformer_norm_is_refused(where):
    """Our modules build no TransformerEncoder norm; one added by hand is
    refused when the predictor is built, not streamed wrongly."""
    model = CORECT(small_config(), REGISTRY.get("causal")).eval()
    stack = model.get_submodule(where)
    stack.norm = torch.nn.LayerNorm(stack.layers[0].linear1.in_features)
    with pytest.raises(NotImplementedError, match=f"{where}: streaming supports no "
                                                  "final TransformerEncoder norm"):
        StreamingPredictor(model, LABELS)
