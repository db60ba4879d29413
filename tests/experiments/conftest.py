import pytest

# A corpus and model small enough that a whole run takes a few seconds.
TINY = [
    "dataset.synthetic.num_train=6", "dataset.synthetic.num_dev=2",
    "dataset.synthetic.num_test=2", "dataset.synthetic.min_length=2",
    "dataset.synthetic.max_length=9",
    "dataset.synthetic.modalities={text: 12, audio: 6}",
    "model.hidden=8", "model.gnn_heads=2", "model.sequence_heads=2",
    "model.self_attention_layers=1", "model.crossmodal_layers=1",
    "train.epochs=2", "train.batch_size=3", "latency.repeats=1", "device=cpu",
]


@pytest.fixture
def tiny():
    return list(TINY)
