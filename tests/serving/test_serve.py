import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.run import main as run_main
from experiments.serve import main

from ..experiments.conftest import TINY
from ..experiments.helpers import fake_encoder, text_checkpoint
from .helpers import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("args, message", [
    ([], "missing checkpoint="),
    (["checkpoint=x.pt", "speed=2"], "unknown key 'speed'"),
    (["checkpoint=x.pt", "threads=0"], "threads=0 is out of range: expected a number ≥ 1"),
    (["checkpoint=x.pt", "port=70000"], "port=70000 is out of range: expected a number in "
                                         "[0, 65535]"),
    (["checkpoint=x.pt", "backend=gpu"], "backend='gpu': expected one of local, ray"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_busy_port_is_refused_in_one_line_before_the_banner(capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["checkpoint=x.pt", f"port={port}"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"serve.py: error: cannot listen on host=127.0.0.1 port={port}: "
                            "Address already in use\n")


def test_a_non_causal_checkpoint_is_refused(tmp_path, capsys):
    pytest.importorskip("fastapi")
    run = tmp_path / "run"
    assert run_main([*TINY, "graph=window", f"out={run}"]) == 0
    capsys.readouterr()
    assert main([f"checkpoint={run / 'checkpoint.pt'}"]) == 2
    err = capsys.readouterr().err
    assert "graph 'window'" in err and "turns that have not happened yet" in err


@pytest.mark.slow
def test_the_script_serves_until_sigterm(tiny_run):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "serve.py"), f"checkpoint={tiny_run[0]}",
         f"port={port}"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        session = httpx.post(f"{url}/sessions").json()["id"]
        answer = httpx.post(f"{url}/sessions/{session}/utterances",
                            json={"speaker": "ann", "features": {"text": [0.1] * 12,
                                                                 "audio": [0.2] * 6}})
        assert answer.status_code == 200 and answer.json()["turn"] == 0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert f"on http://127.0.0.1:{port}" in server.stderr.read()


def test_text_encoder_serves_text_for_a_checkpoint_that_records_none(
        tmp_path, capsys, monkeypatch):
    """A checkpoint whose corpus named no encoder answers a text push with a
    422 that says text_encoder=; serve.py text_encoder=NAME embeds with NAME."""
    pytest.importorskip("fastapi")
    uvicorn = pytest.importorskip("uvicorn")
    from fastapi.testclient import TestClient  # an optional extra, as above

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(app))
    loaded = []
    monkeypatch.setattr("models.live.sentence_encoder",
                        lambda name: loaded.append(name) or fake_encoder(12))
    path = text_checkpoint(tmp_path)
    push = {"speaker": "ann", "text": "I finally got the job!"}

    assert main([f"checkpoint={path}"]) == 0
    with TestClient(served.pop()) as client:
        session = client.post("/sessions").json()["id"]
        answer = client.post(f"/sessions/{session}/utterances", json=push)
    assert answer.status_code == 422 and "text_encoder=NAME" in answer.text

    assert main([f"checkpoint={path}", "text_encoder=org/model"]) == 0
    assert loaded == ["org/model"]  # loaded at start, not on the first push
    with TestClient(served.pop()) as client:
        session = client.post("/sessions").json()["id"]
        answer = client.post(f"/sessions/{session}/utterances", json=push)
        assert answer.status_code == 200, answer.text
        assert client.get("/model").json()["encoder"] == "org/model"
    capsys.readouterr()
