import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dialogues import load_corpus
from dialogues.open_format import save_corpus
from runner.config import compose, data_root
from experiments.predict import main as predict_main
from experiments.run import main as run_main
from runner.experiment import corpus_from_config
from experiments.stream import main
from runner.replay import (HEADER, StreamError, console_utterances, stream,
                           transcript_utterances)
from models.live import load_live_checkpoint

from .conftest import TINY
from .helpers import fake_encoder, text_checkpoint, text_predictor


def rows_of(text):
    lines = text.splitlines()
    assert tuple(lines[0].split("\t")) == HEADER
    return [dict(zip(HEADER, line.split("\t"))) for line in lines[1:]]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models run several times faster on one thread when the machine
    is shared; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A causal run on the tiny synthetic corpus, and that corpus written in
    the open format (trained once for the module)."""
    tmp_path = tmp_path_factory.mktemp("stream")
    run = tmp_path / "run"
    assert run_main([*TINY, "graph=causal", "graph.self_loops=true", f"out={run}"]) == 0
    corpus = corpus_from_config(compose([*TINY, "graph=causal"])["dataset"])
    return run / "checkpoint.pt", save_corpus(corpus, tmp_path / "corpus"), corpus


def test_replay_predicts_what_predict_py_predicts(tiny_run, tmp_path, capsys):
    checkpoint, folder, corpus = tiny_run
    out = tmp_path / "pred.csv"
    assert predict_main([f"checkpoint={checkpoint}", f"dataset.path={folder}",
                         "split=test", f"out={out}"]) == 0
    with out.open() as f:
        offline = [(r["dialogue_id"], r["turn"], r["speaker"], r["prediction"])
                   for r in csv.DictReader(f)]
    capsys.readouterr()

    assert main([f"checkpoint={checkpoint}", f"input={folder}"]) == 0
    live = rows_of(capsys.readouterr().out)
    # Every dialogue of every split, in file order.
    assert [r["dialogue_id"] for r in live] == [
        d.id for ds in corpus.splits.values() for d in ds for _ in range(len(d))]
    test_ids = {d.id for d in corpus.split("test")}
    assert [(r["dialogue_id"], r["turn"], r["speaker"], r["prediction"])
            for r in live if r["dialogue_id"] in test_ids] == offline
    assert all(0 < float(r["probability"]) <= 1 and float(r["latency_ms"]) > 0
               for r in live)

    # The CSV path and one dialogue.
    first = corpus.split("test")[0]
    assert main([f"checkpoint={checkpoint}", f"input={folder / 'utterances.csv'}",
                 f"dialogue={first.id}"]) == 0
    one = rows_of(capsys.readouterr().out)
    assert [(r["dialogue_id"], r["turn"], r["speaker"], r["prediction"]) for r in one] == \
        offline[:len(first)]


@pytest.mark.parametrize("args, message", [
    ([], "missing checkpoint="),
    (["checkpoint=x.pt"], "missing input="),
    (["checkpoint=x.pt", "input=y", "speed=2"], "unknown key 'speed'; stream.py takes checkpoint, dialogue, input, text_encoder, threads"),
    (["checkpoint=x.pt", "input=y", "threads=0"], "threads=0 is out of range: expected a number ≥ 1"),
    (["checkpoint={checkpoint}", "input=-", "dialogue=a"], "standard input is one live"),
    (["checkpoint={checkpoint}", "input={folder}", "dialogue=nope"], "no dialogue 'nope'"),
    (["checkpoint={checkpoint}", "input={tmp}/missing"], "missing: no such file or folder"),
    (["checkpoint={tmp}/none.pt", "input={folder}"], "no checkpoint at"),
    (["checkpoint={checkpoint}", "input=-"], "holds text only, but the checkpoint needs "
                                             r"modalities \['text', 'audio'\]"),
])
def test_bad_arguments_exit_2_with_a_message(tiny_run, tmp_path, capsys, args, message):
    checkpoint, folder, _ = tiny_run
    argv = [a.format(checkpoint=checkpoint, folder=folder, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("stream.py: ")
    assert "Traceback" not in captured.err
    assert re.search(message, captured.err)


@pytest.mark.slow
def test_runs_as_a_script():
    script = Path(__file__).resolve().parents[2] / "experiments" / "stream.py"
    done = subprocess.run([sys.executable, str(script), "input=-"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "stream.py: error: missing checkpoint=...; see stream.py -h\n"
    assert "Traceback" not in done.stderr


def test_a_non_causal_checkpoint_is_refused(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main([*tiny, "graph=window", f"out={run}"]) == 0
    capsys.readouterr()
    assert main([f"checkpoint={run / 'checkpoint.pt'}", "input=-"]) == 2
    err = capsys.readouterr().err
    assert "graph 'window'" in err and "turns that have not happened yet" in err


def test_console_lines_stream_until_a_blank_line():
    predictor = text_predictor(text_encoder=fake_encoder(12))
    out = io.StringIO()
    lines = ["ann\thello there\n", "bob\thi!\n", "ann\thow are you?\r\n", "\n",
             "bob\tnever read\n"]
    assert stream(predictor, console_utterances(lines), out) == 3
    rows = rows_of(out.getvalue())
    assert [(r["dialogue_id"], r["turn"], r["speaker"]) for r in rows] == [
        ("live", "0", "ann"), ("live", "1", "bob"), ("live", "2", "ann")]
    # The same as pushing the embeddings by hand.
    reference = text_predictor()
    encode = fake_encoder(12)
    for row, (speaker, text) in zip(rows, [("ann", "hello there"), ("bob", "hi!"),
                                           ("ann", "how are you?")]):
        expected = reference.push(speaker, {"text": encode([text])[0]})
        assert row["prediction"] == expected.label
        assert row["probability"] == f"{expected.probability:.4f}"


def test_console_refuses_a_line_without_a_tab():
    with pytest.raises(ValueError, match=r"line 2: expected speaker<TAB>text, got 'oops'"):
        list(console_utterances(["ann\thi\n", "oops\n"]))


def test_stdin_session_ends_cleanly_at_eof_and_on_ctrl_c(tmp_path, capsys):
    path = text_checkpoint(tmp_path)
    out = io.StringIO()
    assert main([f"checkpoint={path}", "input=-"], stdin=io.StringIO("ann\thi\nbob\tyo"),
                stdout=out, text_encoder=fake_encoder(12)) == 0
    assert len(rows_of(out.getvalue())) == 2

    def interrupted():
        yield "ann\thi\n"
        raise KeyboardInterrupt
    out = io.StringIO()
    assert main([f"checkpoint={path}", "input=-"], stdin=interrupted(), stdout=out,
                text_encoder=fake_encoder(12)) == 0
    assert len(rows_of(out.getvalue())) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_transcript_table_is_embedded_turn_by_turn(tmp_path, capsys):
    path = text_checkpoint(tmp_path)
    table = tmp_path / "talk.csv"
    table.write_text("dialogue_id,turn,speaker,text\n"
                     "b,1,cy,second of b\n"
                     "a,0,ann,hello\n"
                     "b,0,dan,first of b\n"
                     "a,1,bob,\"hi, you\"\n")
    out = io.StringIO()
    assert main([f"checkpoint={path}", f"input={table}"], stdout=out,
                text_encoder=fake_encoder(12)) == 0
    rows = rows_of(out.getvalue())
    assert [(r["dialogue_id"], r["turn"], r["speaker"]) for r in rows] == [
        ("b", "0", "dan"), ("b", "1", "cy"), ("a", "0", "ann"), ("a", "1", "bob")]
    reference = text_predictor(text_encoder=fake_encoder(12))
    assert rows[2]["prediction"] == reference.push("ann", text="hello").label


def test_transcript_with_a_repeated_turn_is_refused(tmp_path, capsys):
    table = tmp_path / "talk.csv"
    table.write_text("dialogue_id,turn,speaker,text\na,0,ann,hello\na,0,bob,hi\n")
    assert main([f"checkpoint={text_checkpoint(tmp_path)}", f"input={table}"],
                text_encoder=fake_encoder(12)) == 2
    assert re.search(r"talk.csv, line 3: dialogue 'a' repeats turn 0 \(line 2\)",
                     capsys.readouterr().err)


def test_transcript_without_the_text_extra_names_the_install_command(tmp_path, capsys):
    import importlib.util
    if importlib.util.find_spec("sentence_transformers") is not None:
        pytest.skip("sentence-transformers is installed")
    path = text_checkpoint(tmp_path, {"dataset": {"encoder": "sentence-transformers/"
                                                             "all-MiniLM-L6-v2"}})
    table = tmp_path / "talk.csv"
    table.write_text("dialogue_id,turn,speaker,text\na,0,ann,hello\n")
    assert main([f"checkpoint={path}", f"input={table}"]) == 2
    captured = capsys.readouterr()
    assert "pip install 'ergraph[text]'" in captured.err and captured.out == ""


@pytest.mark.parametrize("script", ["stream", "predict"])
def test_features_of_another_dimension_are_refused_by_name(tiny_run, tmp_path, capsys,
                                                           script):
    checkpoint, _, corpus = tiny_run
    wider = corpus_from_config(compose(
        [*TINY, "dataset.synthetic.modalities={text: 13, audio: 6}"])["dataset"])
    folder = save_corpus(wider, tmp_path / "wider")
    if script == "stream":
        assert main([f"checkpoint={checkpoint}", f"input={folder}"]) == 2
    else:
        assert predict_main([f"checkpoint={checkpoint}", f"dataset.path={folder}",
                             f"out={tmp_path / 'p.csv'}"]) == 2
    assert re.search(r"wider.*: modality 'text' has dimension 13, the checkpoint "
                     r"expects 12", capsys.readouterr().err)


# States-read similarity runs fast; the other builders' runs are slow (each
# builder also streams exactly in tests/models/test_streaming.py).
@pytest.mark.parametrize("graph", [
    pytest.param(["graph=similarity", "graph.k=4", "graph.past_only=true"],
                 marks=pytest.mark.slow),
    ["graph=similarity_causal_weighted", "graph.vectors=states"],
    pytest.param(["graph=mmgcn_causal"], marks=pytest.mark.slow),
    pytest.param(["graph=dag"], marks=pytest.mark.slow)], ids=lambda g: "-".join(g))
def test_a_content_graph_streams_what_predict_py_predicts(graph, tiny_run, tmp_path, capsys):
    _, folder, corpus = tiny_run
    run = tmp_path / "run"
    assert run_main([*TINY, *graph, f"out={run}"]) == 0
    out = tmp_path / "pred.csv"
    assert predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"dataset.path={folder}",
                         "split=test", f"out={out}"]) == 0
    with out.open() as f:
        offline = [(r["dialogue_id"], r["turn"], r["prediction"]) for r in csv.DictReader(f)]
    capsys.readouterr()
    assert main([f"checkpoint={run / 'checkpoint.pt'}", f"input={folder}"]) == 0
    test_ids = {d.id for d in corpus.split("test")}
    live = [(r["dialogue_id"], r["turn"], r["prediction"])
            for r in rows_of(capsys.readouterr().out) if r["dialogue_id"] in test_ids]
    assert live == offline


def test_text_encoder_names_the_model_where_the_checkpoint_records_none(
        tmp_path, capsys, monkeypatch):
    path = text_checkpoint(tmp_path)  # its corpus recorded no encoder
    assert main([f"checkpoint={path}", "input=-"], stdin=io.StringIO("ann\thi\n")) == 2
    err = capsys.readouterr().err
    assert err.startswith("stream.py: error: ") and err.count("\n") == 1
    assert "names no sentence encoder" in err and "text_encoder=NAME" in err

    loaded = []

    def sentence_encoder(name):
        loaded.append(name)
        return fake_encoder(12)
    monkeypatch.setattr("models.live.sentence_encoder", sentence_encoder)
    out = io.StringIO()
    assert main([f"checkpoint={path}", "input=-", "text_encoder=org/model"],
                stdin=io.StringIO("ann\thello there\n"), stdout=out) == 0
    assert loaded == ["org/model"]
    reference = text_predictor(text_encoder=fake_encoder(12))
    assert rows_of(out.getvalue())[0]["prediction"] == reference.push(
        "ann", text="hello there").label


def test_text_encoder_overrides_the_recorded_one(tmp_path, monkeypatch):
    path = text_checkpoint(tmp_path, {"dataset": {"encoder": "recorded/model"}})
    loaded = []
    monkeypatch.setattr("models.live.sentence_encoder",
                        lambda name: loaded.append(name) or fake_encoder(12))
    assert main([f"checkpoint={path}", "input=-"], stdin=io.StringIO("ann\thi\n"),
                stdout=io.StringIO()) == 0
    assert main([f"checkpoint={path}", "input=-", "text_encoder=other/model"],
                stdin=io.StringIO("ann\thi\n"), stdout=io.StringIO()) == 0
    assert loaded == ["recorded/model", "other/model"]


def test_a_run_on_a_corpus_that_records_its_encoder_keeps_it(tmp_path):
    """The shared corpora name their encoder in dataset.yaml; a run on one
    writes it into the checkpoint, where stream.py and serve.py read it."""
    corpus = corpus_from_config(compose([*TINY, "graph=causal"])["dataset"])
    folder = save_corpus(corpus, tmp_path / "corpus")
    info = yaml.safe_load((folder / "dataset.yaml").read_text())
    info["encoder"] = "sentence-transformers/all-MiniLM-L6-v2"
    (folder / "dataset.yaml").write_text(yaml.safe_dump(info))
    assert load_corpus(folder).metadata["encoder"] == info["encoder"]
    model_args = [a for a in TINY if a.startswith(("model.", "train.", "latency.", "device"))]
    run = tmp_path / "run"
    assert run_main([*model_args, "graph=causal", f"dataset.path={folder}",
                     "train.epochs=1", f"out={run}"]) == 0
    assert load_live_checkpoint(run / "checkpoint.pt").encoder_name == info["encoder"]


@pytest.mark.parametrize("corpus", ["iemocap", "meld"])
def test_the_shared_corpora_record_their_encoder(corpus):
    dataset_yaml = data_root() / corpus / "dataset.yaml"
    if not dataset_yaml.is_file():
        pytest.skip(f"{dataset_yaml} is not on this machine")
    assert yaml.safe_load(dataset_yaml.read_text()).get("encoder")


def test_an_unknown_dialogue_names_a_few_close_ids_and_the_count(tmp_path):
    table = tmp_path / "talk.csv"
    table.write_text("dialogue_id,turn,speaker,text\n"
                     + "".join(f"session_{k},0,ann,hello\n" for k in range(200)))
    with pytest.raises(StreamError) as error:
        transcript_utterances(table, "session_1x")
    assert str(error.value).startswith(f"{table} has no dialogue 'session_1x'; it has 200 "
                                       "dialogues, closest: session_1")
    assert str(error.value).count("session_") == 6  # the asked one and five close ones
    with pytest.raises(StreamError, match=r"it has 200 dialogues, first: session_0, "
                                          r"session_1, session_2, session_3, session_4$"):
        transcript_utterances(table, "nope")
