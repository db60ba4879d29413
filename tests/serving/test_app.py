import asyncio
import json
import math
import os

import pytest
import torch

from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from serving import Engine, ServeConfig, SessionStore  # noqa: E402
from serving.app import create_app  # noqa: E402

from .conftest import SPLITS  # noqa: E402
from .helpers import CountingEncoder, features_of, first_push  # noqa: E402


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_async(app, body):
    """``body(client)`` against :obj:`app` on one event loop, so that
    concurrent requests really arrive together."""
    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await body(client)
    return asyncio.run(main())


@pytest.fixture
def engine(tiny_run):
    return Engine.from_checkpoint(tiny_run[0])


@pytest.fixture
def client(engine):
    with TestClient(create_app(engine, ServeConfig(max_body=4096))) as client:
        yield client


@pytest.mark.parametrize("max_batch", [1, 8])
def test_interleaved_sessions_predict_what_predict_py_predicts(tiny_run, engine, max_batch):
    _, corpus, offline = tiny_run
    app = create_app(engine, ServeConfig(max_batch=max_batch))
    dialogues = [d for split in SPLITS for d in corpus.split(split)]
    assert len(dialogues) >= 4

    async def replay(client):
        ids = {d.id: (await client.post("/sessions")).json()["id"] for d in dialogues}
        answers = {d.id: [] for d in dialogues}
        for k in range(max(len(d) for d in dialogues)):
            live = [d for d in dialogues if k < len(d)]
            # Every live dialogue's k-th turn at once, in a shuffled order.
            live = live[k % len(live):] + live[:k % len(live)]
            responses = await asyncio.gather(*(
                client.post(f"/sessions/{ids[d.id]}/utterances",
                            json={"speaker": d.speakers[k],
                                  "features": features_of(d, k, engine.modalities)})
                for d in live))
            for d, response in zip(live, responses):
                assert response.status_code == 200, response.text
                answers[d.id].append(response.json())
        kept = {d.id: (await client.get(f"/sessions/{ids[d.id]}")).json() for d in dialogues}
        return answers, kept

    answers, kept = run_async(app, replay)
    for d in dialogues:
        live = answers[d.id]
        assert [(a["turn"], a["speaker"], a["label"]) for a in live] == [
            (k, speaker, label) for k, (_, speaker, label, _) in enumerate(offline[d.id])]
        assert [turn for turn, *_ in offline[d.id]] == list(d.turns)
        for answer, (*_, probability) in zip(live, offline[d.id]):
            # predict.py writes four decimals.
            assert abs(answer["probability"] - probability) <= 5.1e-5
            assert answer["probability"] == max(answer["probabilities"].values())
            assert math.isclose(sum(answer["probabilities"].values()), 1, rel_tol=1e-5)
            assert answer["latency_ms"] > 0
        assert kept[d.id]["turns"] == len(d)
        assert kept[d.id]["predictions"] == live
    batcher = app.state.sessions.batcher
    assert batcher.items == sum(len(d) for d in dialogues)
    if max_batch == 1:
        assert batcher.calls == batcher.items
    else:  # the pushes that arrived together were stepped together
        assert batcher.calls < batcher.items


def test_pushes_to_one_session_run_in_arrival_order(tiny_run, engine):
    _, corpus, offline = tiny_run
    dialogue = corpus.split("test")[0]
    app = create_app(engine)

    async def flood(client):
        session = (await client.post("/sessions")).json()["id"]
        # All turns of one dialogue sent at once: the second push waits
        # for the first, and so on.
        return await asyncio.gather(*(
            client.post(f"/sessions/{session}/utterances",
                        json={"speaker": dialogue.speakers[k],
                              "features": features_of(dialogue, k, engine.modalities)})
            for k in range(len(dialogue))))

    answers = [r.json() for r in run_async(app, flood)]
    assert [(a["turn"], a["speaker"], a["label"]) for a in answers] == [
        (k, speaker, label) for k, (_, speaker, label, _) in enumerate(offline[dialogue.id])]


def bad_bodies(engine):
    text, audio = engine.modalities["text"], engine.modalities["audio"]
    good = {"text": [0.1] * text, "audio": [0.2] * audio}
    return {
        "wrong modality": ({"speaker": "a", "features": {**good, "video": [0.0] * 3}},
                           422, "unexpected ['video']"),
        "missing modality": ({"speaker": "a", "features": {"text": good["text"]}},
                             422, "missing ['audio']"),
        "wrong dimension": ({"speaker": "a", "features": {**good, "audio": [0.2] * (audio + 1)}},
                            422, f"'audio' features have shape [{audio + 1}]; the model "
                                 f"expects a vector of dimension {audio}"),
        "wrong type": ({"speaker": "a", "features": {**good, "text": "hello"}},
                       422, "valid list"),
        "speaker not a string": ({"speaker": 3, "features": good}, 422, "valid string"),
        "unknown key": ({"speaker": "a", "features": good, "mood": "x"}, 422,
                        "Extra inputs are not permitted"),
        "no text encoder": ({"speaker": "a", "text": "hi", "features": {"audio": good["audio"]}},
                            422, "names no sentence encoder"),
        "empty text": ({"speaker": "a", "text": " ", "features": {"audio": good["audio"]}},
                       422, "'text' is empty; a turn's text needs at least one non-space"),
    }


@pytest.mark.parametrize("case", ["wrong modality", "missing modality", "wrong dimension",
                                  "wrong type", "speaker not a string", "unknown key",
                                  "no text encoder", "empty text", "NaN", "Infinity", "too large",
                                  "one speaker too many"])
def test_bad_input_gets_a_4xx_with_a_message_and_changes_nothing(engine, client, case):
    session = client.post("/sessions").json()["id"]
    url = f"/sessions/{session}/utterances"
    assert client.post(url, json=first_push(engine)).status_code == 200
    before = client.get(f"/sessions/{session}").json()
    limit = engine.info["max_speakers"]
    if case in ("NaN", "Infinity"):
        body = json.dumps(first_push(engine)).replace("0.5", case, 1)
        response = client.post(url, content=body,
                               headers={"content-type": "application/json"})
        status, message = 422, "finite number"
    elif case == "too large":
        response = client.post(url, json={"speaker": "a", "text": "x" * 5000})
        status, message = 413, "max_body=4096 bytes"
    elif case == "one speaker too many":
        for k in range(1, limit):
            assert client.post(url, json=first_push(engine, f"s{k}")).status_code == 200
        before = client.get(f"/sessions/{session}").json()
        response = client.post(url, json=first_push(engine, "intruder"))
        status, message = 422, (f"speaker 'intruder' would be speaker {limit + 1} of this "
                                f"dialogue, but the model was sized for max_speakers={limit}")
    else:
        body, status, message = bad_bodies(engine)[case]
        response = client.post(url, json=body)
    assert response.status_code == status, response.text
    assert message in json.dumps(response.json()["detail"]).replace('\\"', '"'), \
        response.text
    assert client.get(f"/sessions/{session}").json() == before
    # The session goes on as if the bad push never came.
    following = client.post(url, json=first_push(engine)).json()
    assert following["turn"] == before["turns"]


def test_a_refused_push_does_not_change_later_predictions(engine, client):
    def replay(bad):
        session = client.post("/sessions").json()["id"]
        url = f"/sessions/{session}/utterances"
        out = []
        for k in range(4):
            if bad:
                assert client.post(url, json={"speaker": "zed", "features": {}}
                                   ).status_code == 422
            body = first_push(engine, "ab"[k % 2])
            body["features"]["text"][0] = float(k)
            out.append(client.post(url, json=body).json()["probabilities"])
        return out

    assert replay(bad=True) == replay(bad=False)


def test_unknown_sessions_get_a_404(client):
    for response in (client.post("/sessions/nope/utterances", json={"speaker": "a"}),
                     client.get("/sessions/nope"), client.delete("/sessions/nope")):
        assert response.status_code == 404
        assert response.json()["detail"] == (
            "no live session 'nope': it was never opened, was closed, or expired "
            "after idle_seconds without a push")
    session = client.post("/sessions").json()["id"]
    assert client.delete(f"/sessions/{session}").status_code == 204
    assert client.get(f"/sessions/{session}").status_code == 404


def test_sessions_are_capped_with_a_503(engine):
    clock = Clock()
    store = SessionStore(engine, max_sessions=2, idle_seconds=30, clock=clock)
    with TestClient(create_app(engine, store=store)) as client:
        first, _ = (client.post("/sessions").json()["id"] for _ in range(2))
        refused = client.post("/sessions")
        assert refused.status_code == 503
        assert refused.json()["detail"] == (
            "the server holds 2 live sessions, its max_sessions; close one "
            "(DELETE /sessions/ID) or retry once idle ones expire (idle_seconds=30)")
        assert refused.headers["retry-after"] == "30"
        client.delete(f"/sessions/{first}")
        assert client.post("/sessions").status_code == 201
        assert client.get("/health").json()["sessions"] == 2


def test_idle_sessions_expire(engine):
    clock = Clock()
    store = SessionStore(engine, max_sessions=2, idle_seconds=30, clock=clock)
    with TestClient(create_app(engine, store=store)) as client:
        idle, used = (client.post("/sessions").json()["id"] for _ in range(2))
        clock.now = 20
        assert client.post(f"/sessions/{used}/utterances",
                           json=first_push(engine)).status_code == 200
        clock.now = 30
        assert client.get(f"/sessions/{idle}").status_code == 404
        assert client.get(f"/sessions/{used}").json()["turns"] == 1
        # Reading counts as use; and the freed place can be taken.
        assert client.post("/sessions").status_code == 201
        clock.now = 45
        assert client.get(f"/sessions/{used}").status_code == 200
        clock.now = 59.9
        assert client.get("/health").json()["sessions"] == 2
        clock.now = 60
        assert client.get("/health").json()["sessions"] == 1
        assert client.get(f"/sessions/{used}").status_code == 200


def test_a_full_session_is_refused_by_name(tiny_run):
    engine = Engine.from_checkpoint(tiny_run[0], max_turns=2)
    with TestClient(create_app(engine)) as client:
        session = client.post("/sessions").json()["id"]
        url = f"/sessions/{session}/utterances"
        for _ in range(2):
            assert client.post(url, json=first_push(engine)).status_code == 200
        response = client.post(url, json=first_push(engine))
        assert response.status_code == 422
        assert response.json()["detail"] == (f"session {session} holds max_turns=2 turns; "
                                             "open a new session")


def test_model_health_and_schema(engine, client):
    model = client.get("/model").json()
    assert model == {"labels": engine.labels, "modalities": {"text": 12, "audio": 6},
                     "max_speakers": engine.model.config.max_speakers, "causal": True,
                     "encoder": None, "graph": {"name": "causal",
                                                "params": {"past": 4,
                                                           "self_loops": True}},
                     "version": engine.info["version"], "checkpoint": "checkpoint.pt"}
    assert client.get("/health").json() == {"status": "ok", "pid": os.getpid(),
                                            "sessions": 0, "max_sessions": 1000,
                                            "pushes": 0, "model_steps": 0}
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/sessions", "/sessions/{session_id}",
                                    "/sessions/{session_id}/utterances", "/health", "/model"}
    assert set(schema["components"]["schemas"]["UtteranceIn"]["properties"]) == {
        "speaker", "text", "features", "annotations"}


def test_the_websocket_pushes_as_http_does(engine, client):
    pushes = [first_push(engine, s) for s in "abab"]
    for k, push in enumerate(pushes):
        push["features"]["audio"][0] = float(k)
    by_http = client.post("/sessions").json()["id"]
    expected = [client.post(f"/sessions/{by_http}/utterances", json=p).json()
                for p in pushes]
    session = client.post("/sessions").json()["id"]
    with client.websocket_connect(f"/sessions/{session}/stream") as socket:
        answers = []
        for k, push in enumerate(pushes):
            socket.send_text(json.dumps(push))
            answers.append(socket.receive_json())
            if k == 1:  # a bad message in between is answered and changes nothing
                socket.send_text('{"speaker": "a", "features": {"audio": [1]}}')
                refused = socket.receive_json()
                assert refused["status"] == 422 and "missing ['text']" in refused["detail"]
                socket.send_text("not json")
                assert socket.receive_json()["status"] == 422
                socket.send_text(json.dumps({"speaker": "a", "text": "x" * 5000}))
                assert socket.receive_json()["status"] == 413
    assert [{k: v for k, v in a.items() if k != "latency_ms"} for a in answers] == \
        [{k: v for k, v in e.items() if k != "latency_ms"} for e in expected]
    # Both answer with the fields of one Prediction, in the API's order.
    fields = ["turn", "speaker", "label", "probability", "probabilities", "latency_ms"]
    assert all(list(a) == fields for a in answers + expected)
    read = client.get(f"/sessions/{session}").json()
    assert read["turns"] == 4 and all(list(p) == fields for p in read["predictions"])


def test_a_websocket_to_an_unknown_session_is_closed_with_a_reason(client):
    with client.websocket_connect("/sessions/nope/stream") as socket:
        assert socket.receive_json()["status"] == 404
        with pytest.raises(Exception) as closed:
            socket.receive_json()
    assert getattr(closed.value, "code", None) == 4404


def test_the_page_fetches_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text
    for path in ("/sessions", "/model", "/utterances"):
        assert path in page.text


def test_a_session_is_restored_on_another_server_by_replay(tiny_run):
    _, corpus, _ = tiny_run
    dialogue = max(corpus.split("test"), key=len)
    modalities = list(Engine.from_checkpoint(tiny_run[0]).modalities)
    pushes = [{"speaker": dialogue.speakers[k],
               "features": features_of(dialogue, k, modalities)}
              for k in range(len(dialogue))]
    died_after = len(pushes) // 2

    def server():
        return TestClient(create_app(Engine.from_checkpoint(tiny_run[0])))

    with server() as first:
        session = first.post("/sessions").json()["id"]
        before = [first.post(f"/sessions/{session}/utterances", json=p).json()
                  for p in pushes[:died_after]]
    # The first server is gone; its client replays the turns it sent.
    with server() as second:
        session = second.post("/sessions").json()["id"]
        replayed = [second.post(f"/sessions/{session}/utterances", json=p).json()
                    for p in pushes]
    with server() as reference:
        session = reference.post("/sessions").json()["id"]
        expected = [reference.post(f"/sessions/{session}/utterances", json=p).json()
                    for p in pushes]

    def strip(answers):
        return [{k: v for k, v in a.items() if k != "latency_ms"} for a in answers]

    assert strip(replayed[:died_after]) == strip(before)
    assert strip(replayed) == strip(expected)


def test_a_push_waiting_on_a_closed_session_is_refused(engine):
    app = create_app(engine)

    async def close_while_waiting(client):
        session = (await client.post("/sessions")).json()["id"]
        url = f"/sessions/{session}/utterances"
        # The second push waits for the first; the session closes meanwhile.
        return await asyncio.gather(client.post(url, json=first_push(engine)),
                                    client.post(url, json=first_push(engine)),
                                    client.delete(f"/sessions/{session}"))

    first, waiting, closed = run_async(app, close_while_waiting)
    assert (first.status_code, closed.status_code) == (200, 204)
    assert waiting.status_code == 404, waiting.text


class FailingEncoder(CountingEncoder):
    """Fails on one text, as an encoder out of memory would."""

    def __call__(self, texts):
        if "boom" in texts:
            raise RuntimeError("the encoder ran out of memory")
        return super().__call__(texts)


def test_a_failing_encoder_is_a_500_that_says_why_and_changes_nothing():
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities={"text": 12}, num_classes=3, hidden=8,
                               gnn_heads=2, sequence_heads=2),
                   EdgeBuilderRegistry(entry_points=False).get("causal", past=2))
    engine = Engine(model, ["neg", "neu", "pos"], text_encoder=FailingEncoder(12))
    with TestClient(create_app(engine)) as client:
        session = client.post("/sessions").json()["id"]
        url = f"/sessions/{session}/utterances"
        assert client.post(url, json={"speaker": "a", "text": "hello"}).status_code == 200
        failed = client.post(url, json={"speaker": "b", "text": "boom"})
        assert failed.status_code == 500
        assert failed.json()["detail"] == (
            "the server could not step this push (RuntimeError: the encoder ran out of "
            "memory); the session is as it was")
        kept = client.get(f"/sessions/{session}").json()
        assert (kept["turns"], kept["speakers"]) == (1, ["a"])
        assert client.post(url, json={"speaker": "b", "text": "fine"}).json()["turn"] == 1
