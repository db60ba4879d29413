from graphs import DialogueBatch, ModalityEdges, validate


def test_three_modalities_link_every_ordered_pair():
    batch = DialogueBatch([1, 1], [0, 0], ("text", "audio", "visual"))
    g = validate(ModalityEdges(), batch)
    assert g.relations == ("text->audio", "text->visual", "audio->text",
                           "audio->visual", "visual->text", "visual->audio")
    # Utterance 0: nodes 0 (text), 2 (audio), 4 (visual); utterance 1: 1, 3, 5.
    assert g.edge_index.tolist() == [[0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5],
                                     [2, 3, 4, 5, 0, 1, 4, 5, 0, 1, 2, 3]]
    assert g.edge_type.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert ModalityEdges().causal


def test_self_loops_and_single_modality(two_dialogues):
    g = validate(ModalityEdges(self_loops=True), two_dialogues)
    assert g.relations == ("text->audio", "audio->text", "text:self", "audio:self")
    assert g.edge_type.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    single = DialogueBatch([2], [0, 1], ("text",))
    assert validate(ModalityEdges(), single).edge_index.tolist() == [[], []]
