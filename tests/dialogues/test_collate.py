"""Dialogue checks, local speaker ids, collate and batches."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues import DataError, Dialogue, batches, collate, structure_of
from graphs import DialogueBatch, EdgeBuilder, Reads, validate
from graphs.builder import empty_edges


def make(id: str, speakers: list[str], labels: list[int], dim: int = 2,
         offset: float = 0.0) -> Dialogue:
    T = len(speakers)
    x = torch.arange(T * dim, dtype=torch.float32).view(T, dim) + offset
    return Dialogue(id, speakers, torch.tensor(labels), {"text": x, "audio": -x[:, :1]},
                    turns=list(range(T)))


def test_collate_packs_dialogue_major():
    a = make("a", ["B", "A", "B"], [0, -1, 2])
    b = make("b", ["Z", "Y"], [1, 1], offset=100)
    batch = collate([a, b], ["text", "audio"])
    assert isinstance(batch, DialogueBatch)
    assert batch.lengths.tolist() == [3, 2]
    assert batch.speakers.tolist() == [0, 1, 0, 0, 1]
    assert batch.modalities == ("text", "audio")
    assert batch.labels.tolist() == [0, -1, 2, 1, 1]
    assert batch.dialogue_ids == ("a", "b")
    assert batch.features["text"].tolist() == [[0, 1], [2, 3], [4, 5], [100, 101], [102, 103]]
    assert batch.features["audio"].tolist() == [[-0.0], [-2], [-4], [-100], [-102]]
    assert batch.num_utterances == 5


def test_structure_of_is_the_collated_batch_without_features_or_targets():
    dialogues = [make("a", ["B", "A", "B"], [0, -1, 2]), make("b", ["Z", "Y"], [1, 1])]
    structure = structure_of(dialogues, ["audio"])
    collated = collate(dialogues, ["audio"])
    assert structure.lengths.tolist() == collated.lengths.tolist() == [3, 2]
    assert structure.speakers.tolist() == collated.speakers.tolist() == [0, 1, 0, 0, 1]
    assert structure.modalities == collated.modalities == ("audio",)
    assert structure.annotations.keys() == collated.annotations.keys()
    assert not structure.features and not structure.has_targets


def test_a_builder_is_never_handed_the_labels():
    """The collated batch carries labels, scores and ids; the builder's view
    of it carries none of them, whatever the builder declares it reads."""
    batch = collate([make("a", ["B", "A", "B"], [0, -1, 2])], ["text", "audio"])
    assert batch.has_targets
    seen = []

    class Peeking(EdgeBuilder):
        causal = True

        def relations(self, modalities):
            return []

        def reads(self, modalities):
            return Reads(features=("text",), annotations=("turn",))

        def edges(self, batch):
            seen.append(batch)
            return empty_edges()

    Peeking()(batch)
    validate(Peeking(), batch)
    assert seen and all(b.labels is None and b.scores is None and b.dialogue_ids is None
                        and list(b.features) == ["text"] for b in seen)


def test_collate_modality_order_and_subset():
    batch = collate([make("a", ["x"], [0])], ["audio"])
    assert list(batch.features) == ["audio"]
    assert batch.modalities == ("audio",)


def test_collate_refuses_missing_modality():
    with pytest.raises(DataError, match=r"dialogue 'a' has no 'visual' features; "
                                        r"it has \['audio', 'text'\]"):
        collate([make("a", ["x"], [0])], ["text", "visual"])


def test_collate_refuses_empty():
    with pytest.raises(DataError, match="at least one dialogue"):
        collate([], ["text"])


def test_batch_to_moves_every_tensor():
    batch = collate([make("a", ["x", "y"], [0, 1])], ["text"])
    moved = batch.to("meta")
    assert moved.labels.device.type == "meta"
    assert moved.features["text"].device.type == "meta"
    for name in ("lengths", "speakers", "ptr", "node_speaker", "node_turn"):
        assert getattr(moved, name).device.type == "meta"
    assert moved.modalities == ("text",)
    assert moved.dialogue_ids == ("a",)
    assert batch.labels.device.type == "cpu"  # the original stays


def test_batches_in_order_and_sizes():
    dialogues = [make(str(i), ["x"] * (i + 1), [0] * (i + 1)) for i in range(5)]
    got = list(batches(dialogues, ["text"], batch_size=2))
    assert [b.dialogue_ids for b in got] == [("0", "1"), ("2", "3"), ("4",)]
    assert [b.lengths.tolist() for b in got] == [[1, 2], [3, 4], [5]]


def test_batches_shuffle_is_reproducible():
    dialogues = [make(str(i), ["x"], [0]) for i in range(7)]

    def order(seed):
        gen = torch.Generator().manual_seed(seed)
        return [i for b in batches(dialogues, ["text"], 3, shuffle=True, generator=gen)
                for i in b.dialogue_ids]
    assert order(1) == order(1)
    assert sorted(order(1)) == [str(i) for i in range(7)]
    expected = [str(i) for i in torch.randperm(7, generator=torch.Generator().manual_seed(1)).tolist()]
    assert order(1) == expected


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_batches_refuses_bad_batch_size(size):
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        batches([make("a", ["x"], [0])], ["text"], size)


def test_dialogue_checks_lengths():
    x = torch.zeros(2, 3)
    with pytest.raises(DataError, match="dialogue 'd' has no utterances"):
        Dialogue("d", [], torch.tensor([]), {}, [])
    with pytest.raises(DataError, match=r"dialogue 'd': 1 labels for 2 utterances"):
        Dialogue("d", ["a", "b"], torch.tensor([0]), {"text": x}, [0, 1])
    with pytest.raises(DataError, match=r"'text' features have shape \[2, 3\], expected \[3, dim\]"):
        Dialogue("d", ["a", "b", "a"], torch.tensor([0, 0, 0]), {"text": x}, [0, 1, 2])
    with pytest.raises(DataError, match=r"turns must strictly increase, got \[0, 0\]"):
        Dialogue("d", ["a", "b"], torch.tensor([0, 0]), {"text": x}, [0, 0])
    with pytest.raises(DataError, match="label indices must be >= -1"):
        Dialogue("d", ["a", "b"], torch.tensor([0, -2]), {"text": x}, [0, 1])
    with pytest.raises(DataError, match="1 texts for 2 utterances"):
        Dialogue("d", ["a", "b"], torch.tensor([0, 0]), {"text": x}, [0, 1], texts=["x"])


def test_dialogue_select():
    d = make("d", ["a", "b", "a", "c"], [0, 1, 2, 3])
    d.texts = ["w", "x", "y", "z"]
    kept = d.select(torch.tensor([False, True, True, True]), modalities=["audio"])
    assert kept.speakers == ["b", "a", "c"]
    assert kept.speaker_ids.tolist() == [0, 1, 2]
    assert kept.labels.tolist() == [1, 2, 3]
    assert kept.turns == [1, 2, 3]
    assert kept.texts == ["x", "y", "z"]
    assert list(kept.features) == ["audio"]
    assert kept.features["audio"].flatten().tolist() == [-2, -4, -6]
    shared = d.select(modalities=["text"])
    assert shared.features["text"].data_ptr() == d.features["text"].data_ptr()


speaker_lists = st.lists(st.sampled_from("ABCDEFG"), min_size=1, max_size=30)


@given(speaker_lists)
def test_speaker_ids_are_order_of_first_appearance(speakers):
    d = make("d", speakers, [0] * len(speakers))
    first_seen = list(dict.fromkeys(speakers))
    assert d.speaker_ids.tolist() == [first_seen.index(s) for s in speakers]
    assert d.num_speakers == len(first_seen)


@settings(max_examples=50, deadline=None)
@given(st.lists(speaker_lists, min_size=1, max_size=6), st.integers(1, 4))
def test_batches_pack_every_dialogue_once(speaker_sets, batch_size):
    dialogues = [make(f"d{i}", s, list(range(len(s))), offset=1000 * i)
                 for i, s in enumerate(speaker_sets)]
    got = list(batches(dialogues, ["text", "audio"], batch_size))
    assert [i for b in got for i in b.dialogue_ids] == [d.id for d in dialogues]
    packed_labels = torch.cat([b.labels for b in got]).tolist()
    assert packed_labels == [t for d in dialogues for t in d.labels.tolist()]
    packed = torch.cat([b.features["text"] for b in got])
    assert packed.tolist() == torch.cat([d.features["text"] for d in dialogues]).tolist()
    speakers = torch.cat([b.speakers for b in got]).tolist()
    assert speakers == [s for d in dialogues for s in d.speaker_ids.tolist()]
    for b in got:
        assert b.num_nodes == 2 * b.labels.numel()
