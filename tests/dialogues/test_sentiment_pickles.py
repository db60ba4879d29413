"""MMSA's and MulT's sentiment pickles, written here in their layouts."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dialogues import DataError, load_corpus
from dialogues.open_format import save_corpus
from dialogues.sentiment_pickles import pool_sequences

from . import sentiment_files as files
from .helpers import SystemCall


@pytest.fixture(scope="module")
def clips():
    return files.draw_clips()


@pytest.fixture
def mmsa(tmp_path, clips):
    return files.write(tmp_path / "unaligned_50.pkl", files.mmsa_layout(clips))


@pytest.fixture
def mult(tmp_path, clips):
    return files.write(tmp_path / "mosei_senti_data.pkl", files.mult_layout(clips))


def expected_pool(clips, split, modality, row, pool="mean"):
    c = clips[split]
    valid = c.sequences[modality][row, :c.lengths[modality][row]]
    return {"mean": valid.mean(0), "max": valid.max(0), "last": valid[-1]}[pool]


def rows_of(clips, split, video):
    """Stored rows of a video's clips, in clip order."""
    c = clips[split]
    return sorted((k for k, v in enumerate(c.videos) if v == video),
                  key=lambda k: c.clips[k])


@pytest.mark.parametrize("aligned", [False, True])
def test_mmsa_videos_become_monologues_in_numeric_clip_order(tmp_path, clips, aligned):
    path = files.write(tmp_path / "aligned_50.pkl", files.mmsa_layout(clips, aligned))
    corpus = load_corpus(path)
    assert corpus.name == "aligned_50" and corpus.metadata["format"] == "mmsa_pickle"
    assert corpus.labels == ("-3", "-2", "-1", "0", "1", "2", "3")
    assert list(corpus.modalities.items()) == [("text", 6), ("audio", 4), ("visual", 3)]
    assert list(corpus.splits) == ["train", "dev", "test"]  # valid is dev
    assert [len(corpus.splits[s]) for s in corpus.splits] == [24, 6, 6]
    long = next(d for d in corpus.split("train") if d.id == "train-v0")
    assert long.turns == list(range(11))  # clip 10 after clip 9, not after clip 1
    assert long.speakers == ["train-v0"] * 11 and long.num_speakers == 1
    assert long.texts == [f"train-v0 clip {k}" for k in range(11)]
    rows = rows_of(clips, "train", "train-v0")
    scores = clips["train"].scores[rows].astype(np.float32).astype(np.float64)
    assert long.scores.tolist() == scores.tolist()
    assert long.labels.tolist() == (np.clip(np.round(scores), -3, 3) + 3).astype(int).tolist()
    for turn, row in enumerate(rows):
        for m in ("text", "audio", "visual"):
            np.testing.assert_allclose(long.features[m][turn].numpy(),
                                       expected_pool(clips, "train", m, row), rtol=1e-5,
                                       atol=1e-6)


def test_mult_clips_order_by_start_seconds_as_numbers(mult, clips):
    corpus = load_corpus(mult)
    assert corpus.metadata["format"] == "mult_pickle"
    long = next(d for d in corpus.split("test") if d.id == "test-v0")
    # Starts 7.5 then 10: ordered as text they would swap.
    assert long.annotations["start"].tolist() == [2.5 * k for k in range(11)]
    assert long.annotations["end"].tolist() == [2.5 * k + 2 for k in range(11)]
    assert long.turns == list(range(11)) and long.texts is None
    rows = rows_of(clips, "test", "test-v0")
    for turn, row in enumerate(rows):  # padded at the front: all-zero rows left out
        for m in ("text", "audio", "visual"):
            np.testing.assert_allclose(long.features[m][turn].numpy(),
                                       expected_pool(clips, "test", m, row), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("pool", ["mean", "max", "last"])
def test_pool_option_reaches_the_loader(mmsa, clips, pool):
    corpus = load_corpus(mmsa, pool=pool)
    assert corpus.metadata["pool"] == pool
    row = rows_of(clips, "valid", "valid-v0")[3]
    d = next(d for d in corpus.split("dev") if d.id == "valid-v0")
    np.testing.assert_allclose(d.features["audio"][3].numpy(),
                               expected_pool(clips, "valid", "audio", row, pool), rtol=1e-5)


def test_pooling_excludes_padding_exactly():
    x = np.array([[[1, 2], [3, 4], [50, 60]],       # last row is padding
                  [[0, 0], [0, 0], [0, 0]],         # nothing valid
                  [[-1, 5], [-3, 1], [7, -9]]], np.float32)
    valid = np.array([[True, True, False], [False, False, False], [True, True, True]])
    assert pool_sequences(x, valid, "mean").tolist() == [[2, 3], [0, 0], [1, -1]]
    assert pool_sequences(x, valid, "max").tolist() == [[3, 4], [0, 0], [7, 5]]
    assert pool_sequences(x, valid, "last").tolist() == [[3, 4], [0, 0], [7, -9]]


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, (4, 6, 3), elements=st.floats(-1e3, 1e3, width=32)),
       hnp.arrays(bool, (4, 6)))
def test_padding_never_changes_the_pooled_vector(x, valid):
    noisy = np.where(valid[:, :, None], x, np.float32(1e6))
    for pool in ("mean", "max", "last"):
        assert pool_sequences(noisy, valid, pool).tolist() == \
            pool_sequences(x, valid, pool).tolist()
    for i in range(4):
        if valid[i].any():
            np.testing.assert_allclose(pool_sequences(x, valid, "mean")[i],
                                       x[i][valid[i]].mean(0), rtol=1e-4, atol=1e-2)


def test_stored_lengths_exclude_padding_whatever_it_holds(tmp_path, clips):
    data = files.mmsa_layout(clips)
    audio = data["train"]["audio"]
    audio[audio == 0] = 9.0   # padding rows now hold nines
    audio[0, 0, 0] = -np.inf  # COVAREP's -inf reads as 0, as MMSA's loader does
    corpus = load_corpus(files.write(tmp_path / "m.pkl", data))
    video, clip = clips["train"].videos[0], clips["train"].clips[0]
    d = next(d for d in corpus.split("train") if d.id == video)
    n = clips["train"].lengths["audio"][0]
    expected = audio[0, :n].copy()
    expected[0, 0] = 0
    np.testing.assert_allclose(d.features["audio"][d.turns.index(clip)].numpy(),
                               expected.mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["mmsa", "mult"])
def test_round_trip_into_the_open_format(tmp_path, clips, layout):
    data = files.mmsa_layout(clips) if layout == "mmsa" else files.mult_layout(clips)
    source = load_corpus(files.write(tmp_path / "s.pkl", data), label_view="sentiment_2")
    back = load_corpus(save_corpus(source, tmp_path / "open"))
    assert back.labels == source.labels == ("negative", "non-negative")
    assert back.modalities == source.modalities
    for split in source.splits:
        for a, b in zip(source.splits[split], back.splits[split], strict=True):
            assert (a.id, a.speakers, a.turns, a.texts) == (b.id, b.speakers, b.turns,
                                                            b.texts)
            assert a.labels.tolist() == b.labels.tolist()
            assert a.scores.tolist() == b.scores.tolist()
            assert {k: v.tolist() for k, v in a.annotations.items()} == \
                {k: v.tolist() for k, v in b.annotations.items()}
            for m in a.features:
                assert torch.equal(a.features[m], b.features[m])
    # The score views relabel the open-format copy as they do the pickle.
    again = load_corpus(tmp_path / "open", label_view="sentiment_7")
    seven = load_corpus(files.write(tmp_path / "s7.pkl", data), label_view="sentiment_7")
    assert [d.labels.tolist() for d in again.split("test")] == \
        [d.labels.tolist() for d in seven.split("test")]


@pytest.mark.parametrize("layout", ["mmsa", "mult"])
def test_a_malicious_pickle_in_each_layout_is_refused_unrun(tmp_path, clips, layout):
    marker = tmp_path / "pwned"
    data = files.mmsa_layout(clips) if layout == "mmsa" else files.mult_layout(clips)
    data["test"]["id"] = SystemCall(marker)
    path = files.write(tmp_path / "evil.pkl", data)
    with pytest.raises(DataError, match=rf"refusing to unpickle {os.system.__module__}"
                                        rf"\.system from .*evil.pkl"):
        load_corpus(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, pickle.HIGHEST_PROTOCOL])
def test_every_pickle_protocol_reads_alike(tmp_path, clips, protocol):
    data = files.mmsa_layout(clips)
    corpus = load_corpus(files.write(tmp_path / "p.pkl", data, protocol))
    assert corpus.split("train")[0].texts is not None


def edit(data, split, key, value):
    data[split][key] = value
    return data


def drop(data, split, key):
    del data[split][key]
    return data


@pytest.mark.parametrize("layout, change, message", [
    ("mmsa", lambda d: edit(d, "valid", "audio", d["valid"]["audio"][:3]),
     r"split 'valid', key 'audio': shape \[3, 5, 4\], expected \d+ rows"),
    ("mmsa", lambda d: drop(d, "test", "id"),
     r"split 'test': missing key 'id'"),
    ("mmsa", lambda d: edit(d, "train", "id", np.array(
        ["v$_$1"] * (len(d["train"]["id"]) - 1) + ["no-clip"], dtype=object)),
     r"key 'id': row \d+: 'no-clip' is not 'videoid\$_\$clip'"),
    ("mmsa", lambda d: edit(d, "train", "id", np.array(
        ["v$_$1"] * len(d["train"]["id"]), dtype=object)),
     r"key 'id': rows \d+ and \d+ are the same clip 1 of video 'v'"),
    ("mmsa", lambda d: edit(d, "train", "audio_lengths",
                            [9] * len(d["train"]["audio_lengths"])),
     r"key 'audio_lengths': row 0: length 9.0 is not a whole number of steps in 0..5"),
    ("mmsa", lambda d: edit(d, "test", "regression_labels",
                            np.full(len(d["test"]["id"]), np.nan)),
     r"split 'test', key 'regression_labels': row 0: score nan is not finite"),
    ("mmsa", lambda d: {s: drop(d, s, "text")[s] for s in d},
     r"has text_bert .* but no text features; read the other modalities"),
    ("mult", lambda d: edit(d, "train", "labels", np.zeros((len(d["train"]["id"]), 4, 2))),
     r"key 'labels': shape \[\d+, 4, 2\]: expected one sentiment score per clip"),
    ("mult", lambda d: edit(d, "test", "id", d["test"]["id"][:, :2]),
     r"key 'id': shape \[\d+, 2\], expected \[N, 3\]: video id, clip start, clip end"),
    ("mult", lambda d: edit(d, "train", "vision", np.where(
        np.arange(5)[None, :, None] == 4, np.nan, d["train"]["vision"] + 1)),
     r"split 'train', key 'vision': row 0, position 4: non-finite feature"),
    ("mult", lambda d: {"train": d["train"], "valid": d["valid"], "dev": d["valid"]},
     r"splits 'valid' and 'dev' both present; 'valid' is read as 'dev'"),
    ("mult", lambda d: {**d, "test": [1, 2]},
     r"split 'test' is a list, not a dict of arrays"),
])
def test_bad_input_names_file_split_key_and_row(tmp_path, clips, layout, change, message):
    data = files.mmsa_layout(clips) if layout == "mmsa" else files.mult_layout(clips)
    path = files.write(tmp_path / "bad.pkl", change(data))
    with pytest.raises(DataError, match=message) as error:
        load_corpus(path)
    assert str(path) in str(error.value)


def test_text_bert_alone_is_fine_without_the_text_modality(tmp_path, clips):
    data = files.mmsa_layout(clips)
    for split in data.values():
        del split["text"]
    corpus = load_corpus(files.write(tmp_path / "m.pkl", data),
                         modalities=["audio", "visual"])
    assert list(corpus.modalities) == ["audio", "visual"]


def test_pool_is_refused_where_there_is_nothing_to_pool(tmp_path, mmsa):
    corect = tmp_path / "data_iemocap.pkl"
    corect.write_bytes(pickle.dumps({"train": [{"vid": "a", "speakers": ["M"],
                                                "labels": [0],
                                                "text": [np.zeros(2)]}]}))
    with pytest.raises(DataError, match="stores one vector per utterance"):
        load_corpus(corect, pool="max")
    with pytest.raises(DataError, match="synthetic corpus has one vector per utterance"):
        load_corpus(pool="mean")
    with pytest.raises(DataError, match=r"pool='median': choices: mean, last, max"):
        load_corpus(mmsa, pool="median")
    folder = save_corpus(load_corpus(mmsa), tmp_path / "open")
    with pytest.raises(DataError, match=rf"{folder} stores one vector per utterance"):
        load_corpus(folder, pool="mean")
