import dataclasses

import pytest
import torch

from graphs import DialogueBatch


def test_node_attributes_are_modality_major(two_dialogues):
    b = two_dialogues
    assert b.num_nodes == 10
    assert b.ptr.tolist() == [0, 3, 5]
    assert b.node_dialogue.tolist() == [0, 0, 0, 1, 1] * 2
    assert b.node_turn.tolist() == [0, 1, 2, 0, 1] * 2
    assert b.node_speaker.tolist() == [0, 1, 0, 0, 1] * 2
    assert b.node_modality.tolist() == [0] * 5 + [1] * 5
    assert b.node_utterance.tolist() == [0, 1, 2, 3, 4] * 2
    assert b.node_index("audio", torch.tensor([0, 4])).tolist() == [5, 9]


@pytest.mark.parametrize("lengths, speakers, modalities, match", [
    ([], [], ("text",), "at least one dialogue"),
    ([2, 0], [0, 1], ("text",), "dialogue 1 of the batch has 0"),
    ([2], [0], ("text",), "1 speaker ids for 2 utterances"),
    ([1], [-1], ("text",), "non-negative"),
    ([1], [0], (), "non-empty"),
    ([1], [0], ("text", "text"), "distinct"),
])
def test_bad_structure_is_refused(lengths, speakers, modalities, match):
    with pytest.raises(ValueError, match=match):
        DialogueBatch(lengths, speakers, modalities)


def tensor_fields(batch: DialogueBatch) -> list[str]:
    return [f.name for f in dataclasses.fields(batch)
            if isinstance(getattr(batch, f.name), torch.Tensor)]


def test_to_moves_every_tensor_and_nothing_else(two_dialogues):
    b = two_dialogues
    names = tensor_fields(b)
    assert len(names) == 10
    same = b.to("cpu")
    assert same is not b and same.modalities == b.modalities
    for name in names:
        assert torch.equal(getattr(same, name), getattr(b, name))
    moved = b.to("meta")
    assert moved.device.type == "meta" and moved.modalities == ("text", "audio")
    for name in names:
        got, original = getattr(moved, name), getattr(b, name)
        assert got.device.type == "meta", name
        assert (got.shape, got.dtype) == (original.shape, original.dtype)
        assert original.device.type == "cpu"  # the original stays
    assert repr(moved) == repr(b)


def test_derived_tensors_follow_lengths_not_the_default_device(two_dialogues):
    lengths, speakers = torch.tensor([3, 2]), torch.tensor([0, 1, 0, 0, 1])
    with torch.device("meta"):
        built = [DialogueBatch(lengths, [0, 1, 0, 0, 1], ("text", "audio")),
                 DialogueBatch([3, 2], speakers, ("text", "audio"))]
    for b in built:
        assert b.device.type == "cpu"
        for name in tensor_fields(b):
            assert torch.equal(getattr(b, name), getattr(two_dialogues, name)), name


def test_content_rows_and_names_are_checked():
    import pytest
    import torch

    from graphs import DialogueBatch, GraphContractError, Reads
    batch = DialogueBatch([2, 1], [0, 1, 0], ("text",))
    with pytest.raises(ValueError, match=r"features 'text' has shape \[2, 4\]; the batch "
                                         r"has 3 utterances"):
        batch.with_content(features={"text": torch.zeros(2, 4)})
    with pytest.raises(ValueError, match=r"states 'audio': the batch has no such modality"):
        batch.with_content(states={"audio": torch.zeros(3, 4)})
    full = batch.with_content(features={"text": torch.ones(3, 4)},
                              annotations={"reply_to": torch.zeros(3)})
    assert full.restricted(Reads()).features == {} and full.restricted(Reads()).annotations == {}
    assert full.restricted(Reads(annotations=("reply_to",))).annotations["reply_to"].tolist() \
        == [0.0, 0.0, 0.0]
    view = batch.restricted(Reads())
    assert view.restricted(Reads()) is view  # a builder's view is not copied again
    with pytest.raises(GraphContractError, match=r"^reader X: reads features 'text', which "
                                                 r"its reads\(\) does not declare \(it "
                                                 r"declares features none\)"):
        full.restricted(Reads(), "reader X").features["text"]
    with pytest.raises(ValueError, match=r"reader X reads annotations \['turn'\], which this "
                                         r"batch does not carry \(it carries \['reply_to'\]\)"):
        full.restricted(Reads(annotations=("turn",)), "reader X")
    moved = full.to("cpu")
    assert moved.features["text"].tolist() == full.features["text"].tolist()
