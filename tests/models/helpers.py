"""Small models and random dialogues that the model tests share."""
import torch

from graphs import DialogueBatch
from models import CORECT, ModelConfig, StreamingPredictor
from registry import EdgeBuilderRegistry

REGISTRY = EdgeBuilderRegistry(entry_points=False)
DIMS = {"text": 12, "audio": 5, "visual": 7}


def small_config(modalities=DIMS, **kwargs) -> ModelConfig:
    return ModelConfig(modalities=dict(modalities), num_classes=4, max_speakers=3,
                       hidden=8, gnn_heads=2, crossmodal_heads=2,
                       self_attention_heads=2, sequence_heads=2, **kwargs)


def regression_config(modalities=DIMS, view="sentiment_2", max_speakers=3) -> ModelConfig:
    """small_config's sizes, with the regression head of a score view."""
    classes = {"sentiment_2": 2, "sentiment_2_nonzero": 2, "sentiment_7": 7}[view]
    return ModelConfig(modalities=dict(modalities), num_classes=classes,
                       max_speakers=max_speakers, hidden=8, gnn_heads=2,
                       crossmodal_heads=2, self_attention_heads=2, sequence_heads=2,
                       head="regression", score_view=view)


def random_batch(lengths, modalities=DIMS, seed=0):
    g = torch.Generator().manual_seed(seed)
    speakers = torch.randint(0, 3, (sum(lengths),), generator=g)
    features = {m: torch.randn(sum(lengths), d, generator=g) for m, d in modalities.items()}
    return features, DialogueBatch(lengths, speakers, list(modalities))


CAUSAL = [("causal", {}), ("causal", {"past": None, "self_loops": True}),
          ("window", {"past": 2, "future": 0}), ("speaker", {"future": 0}),
          ("speaker", {"future": 0, "pairwise": True, "num_speakers": 3}),
          ("modality", {}), ("none", {}),
          ("union", {"parts": {"causal": {}, "modality": {}}})]
# Builders that read content besides structure.
CONTENT = [("dag", {}), ("similarity", {"k": 3, "past_only": True}),
           ("similarity", {"k": 2, "past_only": True, "weighted": True, "modality": "text"}),
           ("similarity", {"k": 2, "vectors": "states", "past_only": True}),
           ("mmgcn", {"past_only": True})]


def local_ids(raw):
    """Speaker ids numbered by first appearance, as dialogues/ does."""
    index = {}
    return [index.setdefault(s, len(index)) for s in raw]


def random_dialogues(lengths, dims, seed=0, speakers=3):
    """Features and local speaker ids per dialogue, and the batch of all."""
    g = torch.Generator().manual_seed(seed)
    dialogues = []
    for n in lengths:
        raw = torch.randint(0, speakers, (n,), generator=g).tolist()
        features = {m: torch.randn(n, d, generator=g) for m, d in dims.items()}
        dialogues.append((features, local_ids(raw)))
    batch_features = {m: torch.cat([f[m] for f, _ in dialogues]) for m in dims}
    structure = DialogueBatch(lengths, [s for _, ss in dialogues for s in ss], list(dims))
    return dialogues, batch_features, structure


def trained(config, name, params, seed=0, speakers=3):
    """A model after a few steps, so BatchNorm's running statistics and the
    weights are far from their initial values."""
    torch.manual_seed(seed)
    model = CORECT(config, REGISTRY.get(name, **params))
    _, features, structure = random_dialogues([9, 4, 12], config.modalities, seed + 100,
                                              speakers)
    optimiser = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(3):
        optimiser.zero_grad()
        labels = torch.randint(0, config.num_classes, (structure.num_utterances,))
        model.loss(model(structure.with_content(features=features)), labels).backward()
        optimiser.step()
    return model.eval()


def pushed(predictor, features, speakers):
    predictor.reset()
    return torch.stack([
        predictor.push(s, {m: x[t] for m, x in features.items()}).logits
        for t, s in enumerate(speakers)])


def assert_streams_like_offline(model, lengths, seed=0):
    dialogues, features, structure = random_dialogues(
        lengths, model.config.modalities, seed, speakers=model.config.max_speakers)
    with torch.no_grad():
        offline = model(structure.with_content(features=features))
    assert offline.std(0).min() > 1e-4  # a collapsed model would match anything
    predictor = StreamingPredictor(model, [f"c{i}" for i in range(model.config.num_classes)])
    live = torch.cat([pushed(predictor, f, s) for f, s in dialogues])
    torch.testing.assert_close(live, offline, atol=1e-5, rtol=1e-5)
