import pytest
import torch

from models import CORECT, Checkpoint, load_checkpoint, load_weights, save_checkpoint
from registry import EdgeBuilderRegistry

from .helpers import random_batch, small_config

REGISTRY = EdgeBuilderRegistry(entry_points=False)


def trained_model(graph="speaker", params={"past": 2, "future": 0}, **config):
    torch.manual_seed(0)
    model = CORECT(small_config(**config), REGISTRY.get(graph, **params))
    features, structure = random_batch([4, 6])
    batch = structure.with_content(features=features)
    model.loss(model(batch), torch.randint(0, 4, (10,))).backward()
    torch.optim.SGD(model.parameters(), 0.1).step()
    return model.eval()


@pytest.mark.parametrize("config", [{}, {"sequence_encoder": "gru", "speaker_gru": True}],
                         ids=["default", "speaker_gru"])
def test_round_trip_gives_identical_logits(tmp_path, config):
    model = trained_model(**config)
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "speaker", {"past": 2, "future": 0},
                                                ["a", "b", "c", "d"], {"encoder": "x"}))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    loaded = load_checkpoint(path)
    assert loaded.labels == ["a", "b", "c", "d"]
    assert loaded.metadata == {"encoder": "x"}
    assert loaded.graph["relations"] == model.relations
    rebuilt = loaded.build(REGISTRY)
    assert rebuilt.causal and rebuilt.config == model.config
    features, structure = random_batch([5, 2], seed=3)
    with torch.no_grad():
        batch = structure.with_content(features=features)
        assert torch.equal(rebuilt(batch), model(batch))
    # weights_only: the payload holds tensors and plain types only.
    torch.load(path, weights_only=True)


def test_a_checkpoint_from_before_the_speaker_gru_loads_without_one(tmp_path):
    model = trained_model()
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, Checkpoint.from_model(model, "speaker", {"past": 2, "future": 0},
                                                list("abcd")))
    payload = torch.load(path, weights_only=True)
    del payload["model"]["speaker_gru"]
    torch.save(payload, path)
    rebuilt = load_checkpoint(path).build(REGISTRY)
    assert rebuilt.speaker_encoders is None
    features, structure = random_batch([5, 2], seed=3)
    with torch.no_grad():
        batch = structure.with_content(features=features)
        assert torch.equal(rebuilt(batch), model(batch))


def test_mismatched_configuration_says_what_differs(tmp_path):
    model = trained_model()
    checkpoint = Checkpoint.from_model(model, "speaker", {"past": 2, "future": 0}, list("abcd"))
    other = CORECT(small_config(dropout=0.1), REGISTRY.get("speaker", past=2, future=1))
    assert model.config.dropout == 0.2
    with pytest.raises(ValueError, match=r"dropout: checkpoint 0.2, model 0.1; graph "
                                         r"relations: checkpoint \['text:same:past'"):
        load_weights(other, checkpoint)


def test_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not an ergraph checkpoint"):
        load_checkpoint(tmp_path / "other.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"format": "ergraph-checkpoint/1", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="evil.pt is not a readable ergraph checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
