"""The API on Ray Serve session replicas (``serve.py backend=ray``): the
routing over replicas in this process, then a real local Ray instance
started by serve.py, one of whose replicas is killed."""
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
websockets_sync = pytest.importorskip("websockets.sync.client")

from fastapi.testclient import TestClient  # noqa: E402

from experiments.serve import main as serve_main  # noqa: E402
from serving import Engine, ServeConfig  # noqa: E402
from serving.app import create_api, create_app  # noqa: E402
from serving.ray_app import ReplicaSessions, SessionReplica  # noqa: E402

from .conftest import SPLITS  # noqa: E402
from .helpers import features_of, first_push, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class LocalHandle:
    """A session replica's handle, the replica in this process: its
    ``call.remote(verb, *args)`` awaits what Ray Serve's would."""

    def __init__(self, replica):
        self.replica = replica
        self.call = self
        self.down = False

    def remote(self, verb, *args):
        if self.down:
            async def fail():
                raise ray.exceptions.RayError("the replica died")
            return fail()
        return self.replica.call(verb, *args)


def local_replicas(checkpoint, count, config=ServeConfig()):
    return [LocalHandle(SessionReplica.func_or_class(str(checkpoint), k, config, 1000, 1))
            for k in range(count)]


def strip(answers):
    return [{k: v for k, v in a.items() if k != "latency_ms"} for a in answers]


def replay_all(client_for, dialogues, modalities):
    """Every dialogue's k-th turn pushed at once, for every k, by the
    client that :obj:`client_for()` makes in the event loop."""
    async def main():
        async with client_for() as client:
            return await replay(client)

    async def replay(client):
        ids = {d.id: (await client.post("/sessions")).json()["id"] for d in dialogues}
        answers = {d.id: [] for d in dialogues}
        for k in range(max(len(d) for d in dialogues)):
            live = [d for d in dialogues if k < len(d)]
            responses = await asyncio.gather(*(
                client.post(f"/sessions/{ids[d.id]}/utterances",
                            json={"speaker": d.speakers[k],
                                  "features": features_of(d, k, modalities)})
                for d in live))
            for d, response in zip(live, responses):
                assert response.status_code == 200, response.text
                answers[d.id].append(response.json())
        return ids, answers
    return asyncio.run(main())


def assert_offline(answers, offline):
    for dialogue_id, live in answers.items():
        assert [(a["turn"], a["speaker"], a["label"]) for a in live] == [
            (k, speaker, label) for k, (_, speaker, label, _) in enumerate(offline[dialogue_id])]
        for answer, (*_, probability) in zip(live, offline[dialogue_id]):
            assert abs(answer["probability"] - probability) <= 5.1e-5  # predict.py's 4 places


# -- the routing, with the replicas in this process ------------------------------

def test_sessions_spread_over_replicas_predict_what_predict_py_predicts(tiny_run):
    checkpoint, corpus, offline = tiny_run
    sessions = ReplicaSessions(local_replicas(checkpoint, 3))
    modalities = list(Engine.from_checkpoint(checkpoint).modalities)
    dialogues = [d for split in SPLITS for d in corpus.split(split)]
    app = create_api(sessions)
    ids, answers = replay_all(lambda: httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"), dialogues, modalities)
    assert_offline(answers, offline)
    holders = [session_id[:3] for session_id in ids.values()]
    assert holders[:4] == ["r0-", "r1-", "r2-", "r0-"]  # round the replicas
    health = asyncio.run(sessions.health())
    assert health["status"] == "ok"
    assert health["sessions"] == len(dialogues)
    assert health["pushes"] == sum(len(d) for d in dialogues)
    assert [r["sessions"] for r in health["replicas"]] == [
        holders.count(f"r{k}-") for k in range(3)]


def test_new_sessions_skip_full_replicas_and_all_full_is_a_503(tiny_run):
    sessions = ReplicaSessions(local_replicas(tiny_run[0], 2, ServeConfig(max_sessions=1,
                                                                         idle_seconds=30)))
    with TestClient(create_api(sessions)) as client:
        first, second = (client.post("/sessions").json()["id"] for _ in range(2))
        assert (first[:3], second[:3]) == ("r0-", "r1-")
        refused = client.post("/sessions")
        assert refused.status_code == 503
        assert refused.json()["detail"].startswith(
            "all 2 session replicas are full or unavailable; the last said: the server "
            "holds 1 live sessions, its max_sessions")
        assert refused.headers["retry-after"] == "30"
        assert client.delete(f"/sessions/{first}").status_code == 204
        assert client.post("/sessions").json()["id"][:3] == "r0-"


@pytest.mark.parametrize("session_id", ["nope", "r2-0123", "r1-0123", "r-1"])
def test_an_id_no_replica_holds_is_a_404_by_name(tiny_run, session_id):
    sessions = ReplicaSessions(local_replicas(tiny_run[0], 2))
    with TestClient(create_api(sessions)) as client:
        for response in (client.get(f"/sessions/{session_id}"),
                         client.delete(f"/sessions/{session_id}"),
                         client.post(f"/sessions/{session_id}/utterances",
                                     json={"speaker": "a", "features": {}})):
            assert response.status_code == 404
            assert response.json()["detail"] == (
                f"no live session {session_id!r}: it was never opened, was closed, or "
                "expired after idle_seconds without a push")


def test_refused_pushes_cross_from_the_replica_unchanged(tiny_run):
    replicas = local_replicas(tiny_run[0], 2)
    engine = Engine.from_checkpoint(tiny_run[0])
    with TestClient(create_api(ReplicaSessions(replicas), ServeConfig(max_body=4096))) as ray_client, \
            TestClient(create_app(engine, ServeConfig(max_body=4096))) as local_client:
        bad = [{"speaker": "a", "features": {"text": [0.0] * 3}},
               {"speaker": "a", "features": {"text": [0.0] * 12}},
               {"speaker": "a", "features": {"text": [0.0] * 2000}},
               {"speaker": 3, "features": {}}]
        for client in (ray_client, local_client):
            session = client.post("/sessions").json()["id"]
            answers = [client.post(f"/sessions/{session}/utterances", json=body)
                       for body in bad]
            client.post(f"/sessions/{session}/utterances", json=first_push(engine))
            for speaker in ("b", "c"):  # one speaker too many
                answers.append(client.post(f"/sessions/{session}/utterances",
                                           json={**first_push(engine), "speaker": speaker}))
            assert client.get(f"/sessions/{session}").json()["turns"] == 2
            seen = [(a.status_code, a.json().get("detail", a.json().get("label")))
                    for a in answers]
            if client is ray_client:
                from_ray = seen
            else:
                here = seen
        assert [status for status, _ in from_ray] == [422, 422, 413, 422, 200, 422]
        assert from_ray == here


def test_an_unavailable_replica_is_a_503_and_health_says_degraded(tiny_run):
    replicas = local_replicas(tiny_run[0], 2)
    with TestClient(create_api(ReplicaSessions(replicas))) as client:
        first, second = (client.post("/sessions").json()["id"] for _ in range(2))
        replicas[1].down = True
        refused = client.get(f"/sessions/{second}")
        assert refused.status_code == 503
        assert refused.json()["detail"] == (
            "session replica r1 is unavailable (RayError); retry, and if the session is "
            "gone (404) replay its turns into a new one")
        assert client.get(f"/sessions/{first}").status_code == 200
        health = client.get("/health").json()
        assert health["status"] == "degraded"
        assert [r["status"] for r in health["replicas"]] == ["ok", "unavailable"]
        # New sessions go where there is room.
        assert [client.post("/sessions").json()["id"][:3] for _ in range(2)] == ["r0-", "r0-"]
        assert client.get("/model").json()["labels"] == Engine.from_checkpoint(
            tiny_run[0]).labels


@pytest.mark.parametrize("args, message", [
    (["replicas=0"], "replicas=0 is out of range: expected a number ≥ 1"),
    ([f"replicas={os.cpu_count() + 1}"],
     f"replicas={os.cpu_count() + 1} with threads=1 reserve {os.cpu_count() + 1} CPUs; "
     f"this machine has {os.cpu_count()}"),
])
def test_serve_py_refuses_replicas_it_cannot_start(tiny_run, capsys, args, message):
    assert serve_main([f"checkpoint={tiny_run[0]}", "backend=ray", *args]) == 2
    assert message in capsys.readouterr().err
    assert not ray.is_initialized()


# -- a local Ray instance, started by serve.py -----------------------------------

@pytest.fixture(scope="module")
def ray_server(tiny_run, tmp_path_factory):
    """``serve.py backend=ray replicas=2`` on a free port: its URL, the Ray
    address it printed; stopped by SIGTERM after the module's tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("ray_serve") / "serve.log"
    with log.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, str(ROOT / "experiments" / "serve.py"),
             f"checkpoint={tiny_run[0]}", f"port={port}", "backend=ray", "replicas=2"],
            cwd=ROOT, stdout=err, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while "Ray Serve session replicas" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no server in 240 s:\n{log.read_text()}"
            time.sleep(0.5)
        address = re.search(r"Ray at (\S+)\)", log.read_text()).group(1)
        assert address.startswith("127.0.0.1:"), address  # see tests/conftest.py
        yield url, address
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
    assert code == 0, log.read_text()


@pytest.mark.slow
def test_ray_serve_sessions_predict_what_predict_py_predicts(tiny_run, ray_server):
    url, _ = ray_server
    checkpoint, corpus, offline = tiny_run
    modalities = list(Engine.from_checkpoint(checkpoint).modalities)
    dialogues = [d for split in SPLITS for d in corpus.split(split)]
    ids, answers = replay_all(lambda: httpx.AsyncClient(base_url=url, timeout=60),
                              dialogues, modalities)
    assert_offline(answers, offline)
    assert {session_id[:3] for session_id in ids.values()} == {"r0-", "r1-"}
    health = httpx.get(f"{url}/health").json()
    assert [r["replica"] for r in health["replicas"]] == ["r0", "r1"]
    assert health["pushes"] >= sum(len(d) for d in dialogues)
    with httpx.Client(base_url=url) as client:
        kept = client.get(f"/sessions/{ids[dialogues[0].id]}").json()
    assert kept["predictions"] == answers[dialogues[0].id]


@pytest.mark.slow
def test_a_websocket_reaches_the_replica_of_its_session(tiny_run, ray_server):
    url, _ = ray_server
    engine = Engine.from_checkpoint(tiny_run[0])
    _, corpus, _ = tiny_run
    dialogue = max(corpus.split("test"), key=len)
    assert len(dialogue) >= 4
    pushes = [{"speaker": dialogue.speakers[k],
               "features": features_of(dialogue, k, list(engine.modalities))}
              for k in range(4)]
    with httpx.Client(base_url=url) as client:
        sessions = [client.post("/sessions").json()["id"] for _ in range(2)]
        assert {s[:3] for s in sessions} == {"r0-", "r1-"}
        by_post = [client.post(f"/sessions/{sessions[0]}/utterances", json=p).json()
                   for p in pushes]
    with websockets_sync.connect(f"ws{url[4:]}/sessions/{sessions[1]}/stream") as socket:
        by_socket = []
        for k, push in enumerate(pushes):
            socket.send(json.dumps(push))
            by_socket.append(json.loads(socket.recv()))
            if k == 1:  # a refused push leaves the socket open and the session as it was
                socket.send(json.dumps({"speaker": "a", "features": {"text": [1.0]}}))
                refused = json.loads(socket.recv())
    assert refused["status"] == 422
    assert strip(by_socket) == strip(by_post)


@pytest.mark.slow
def test_a_killed_replica_restarts_empty_and_a_replay_restores_its_session(tiny_run,
                                                                             ray_server):
    url, _ = ray_server
    _, corpus, _ = tiny_run
    engine = Engine.from_checkpoint(tiny_run[0])
    dialogue = max(corpus.split("test"), key=len)
    pushes = [{"speaker": dialogue.speakers[k],
               "features": features_of(dialogue, k, list(engine.modalities))}
              for k in range(len(dialogue))]
    half = len(pushes) // 2
    with TestClient(create_app(engine)) as reference:
        session = reference.post("/sessions").json()["id"]
        expected = [reference.post(f"/sessions/{session}/utterances", json=p).json()
                    for p in pushes]
    client = httpx.Client(base_url=url, timeout=60)
    held = {}
    while len(held) < 2:  # one session on each replica
        session = client.post("/sessions").json()["id"]
        held.setdefault(session[:2], session)
    for session in held.values():
        for push in pushes[:half]:
            assert client.post(f"/sessions/{session}/utterances", json=push).status_code == 200

    # A crash: the process of replica r1 dies.
    replicas = client.get("/health").json()["replicas"]
    assert [r["replica"] for r in replicas] == ["r0", "r1"]
    os.kill(replicas[1]["pid"], signal.SIGKILL)

    # r1's sessions are gone once Ray Serve has started it again (503 meanwhile).
    deadline = time.monotonic() + 180
    while True:
        status = client.get(f"/sessions/{held['r1']}").status_code
        if status == 404:
            break
        assert status in (200, 503), status
        assert time.monotonic() < deadline, "r1 was not restarted in 180 s"
        time.sleep(1)
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["replicas"][1]["pid"] != replicas[1]["pid"]
    # r0's session goes on as if nothing happened.
    rest = [client.post(f"/sessions/{held['r0']}/utterances", json=p).json()
            for p in pushes[half:]]
    assert strip(rest) == strip(expected[half:])
    # The client restores r1's session by replaying what it sent.
    restored = client.post("/sessions").json()["id"]
    replayed = [client.post(f"/sessions/{restored}/utterances", json=p).json()
                for p in pushes]
    assert strip(replayed) == strip(expected)
