"""Many live dialogues against a local server, at a given utterance rate:
``python benchmarks/serve_load.py checkpoint=RUN/checkpoint.pt corpus=DIR dialogues=200 rate=1``

Starts ``experiments/serve.py`` on a free localhost port (or drives a server
already running at ``url=http://127.0.0.1:PORT``; other hosts are refused),
then runs ``dialogues`` concurrent live dialogues for ``seconds``: each
replays corpus dialogues (their feature rows, one session per dialogue)
at ``rate`` utterances per second, on a fixed schedule with the dialogues'
phases spread evenly. A dialogue sends its next utterance only after the
previous one's answer, as a live one would; its latency counts from when
the utterance was due, so a server that falls behind is not flattered.

Prints one JSON object: pushes sent and answered, errors, lost turns (a
push whose connection failed, or a session whose kept turns differ from
its answers), pushes still unanswered when the bound came, reordered turns (an answer whose turn is not the next one),
throughput, p50/p99 latency (client round trip from the due time, and the
server's own ``latency_ms``), the mean number of pushes per model step,
and the server's resident memory. The run is bounded: ``seconds`` of load
plus at most ``drain`` seconds for the last answers.

``measure=memory`` instead opens ``dialogues`` sessions in this process,
pushes ``turns`` utterances into each and prints the bytes per session:
its tensor caches, and the growth of the process's resident memory.
``measure=steps`` times the engine alone in this process: ``dialogues``
sessions at turn ``turns``, each round's pushes stepped ``max_batch`` at a
time and one at a time, alternately, and prints pushes per second of both.
"""
from __future__ import annotations

import asyncio
import csv
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dialogues.open_format import UTTERANCES, read_open_format  # noqa: E402
from runner.cli import Arguments, Command, Option, main as run_command  # noqa: E402
from models import load_checkpoint  # noqa: E402
from serving import Engine  # noqa: E402

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

COMMAND = Command(
    prog="serve_load.py",
    summary="Drive concurrent live dialogues against a local server; print latency "
            "and throughput as JSON.",
    options=(
        Option("checkpoint", Path, help="a causal run's checkpoint.pt", required=True),
        Option("corpus", Path, help="an open-format corpus whose dialogues are replayed",
               required=True),
        Option("dialogues", int, 200, "concurrent live dialogues"),
        Option("rate", float, 1.0, "utterances per second per dialogue"),
        Option("seconds", float, 30.0, "seconds of load"),
        Option("drain", float, 30.0, "seconds at most to wait for the last answers"),
        Option("max_batch", int, 64, "the started server's max_batch (1: no batching)"),
        Option("url", str | None, None, "a running local server instead of starting one"),
        Option("send", str, "features", "features (the corpus's rows), or text (its "
                                        "text column, embedded by the server)"),
        Option("measure", str, "load", "load; memory: bytes per session; steps: the "
                                       "engine's pushes/s batched and one by one"),
        Option("turns", int, 100, "measure=memory: turns per session"),
    ),
    details=__doc__.split("\n\n", 1)[1])


class LoadError(ValueError):
    """Arguments the benchmark cannot run with."""


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def replay_bodies(corpus: Path, modalities: list[str], send: str) -> list[list[bytes]]:
    """Each corpus dialogue as the JSON bodies of its pushes, serialised
    once so the client spends its time sending: its feature rows, or the
    texts of ``utterances.csv`` (``send=text``)."""
    if send == "text":
        with (corpus / UTTERANCES).open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if not rows or "text" not in rows[0]:
            raise LoadError(f"{corpus / UTTERANCES} has no text column")
        grouped: dict[str, list[bytes]] = {}
        for row in rows:
            grouped.setdefault(row["dialogue_id"], []).append(json.dumps(
                {"speaker": row["speaker"], "text": row["text"]}).encode())
        return list(grouped.values())
    read = read_open_format(corpus, modalities)
    dialogues = [d for split in read.splits.values() for d in split]
    if not dialogues:
        raise LoadError(f"{corpus} holds no dialogues")
    return [[json.dumps({"speaker": d.speakers[k],
                         "features": {m: d.features[m][k].tolist() for m in modalities}}
                        ).encode() for k in range(len(d))] for d in dialogues]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: Path, max_batch: int, sessions: int) -> tuple[subprocess.Popen, str]:
    import httpx  # an optional extra (serve), like the server itself
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "serve.py"), f"checkpoint={checkpoint}",
         f"port={port}", f"max_batch={max_batch}", f"max_sessions={sessions}"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/health").raise_for_status()
            return server, url
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise LoadError("the server did not start; see its messages above") from None
            time.sleep(0.2)


class Connection:
    """One keep-alive HTTP/1.1 connection, spoken by hand: httpx costs the
    client several times the server's CPU per request, and the client shares
    the machine with the server."""

    #: Reconnect after this long unused: uvicorn closes a keep-alive
    #: connection after 5 s, and a push sent as it does so would be lost.
    IDLE_SECONDS = 3.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        """Status and JSON body (None when empty)."""
        if self.writer is not None and time.monotonic() - self.used > self.IDLE_SECONDS:
            await self.close()
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nhost: {self.host}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        self.used = time.monotonic()
        return status, json.loads(payload) if payload else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.reader = self.writer = None


async def drive(url: str, bodies: list[list[bytes]], dialogues: int, rate: float,
                seconds: float, drain: float) -> dict[str, Any]:
    stats: dict[str, Any] = {"sent": 0, "answered": 0, "errors": 0, "lost": 0,
                             "reordered": 0, "late_sends": 0, "sessions": 0,
                             "unanswered_at_end": 0,
                             "error_examples": []}
    latencies: list[float] = []
    server_ms: list[float] = []
    where = urlsplit(url)
    connections = [Connection(where.hostname, where.port) for _ in range(dialogues)]
    start = time.perf_counter() + 1.0
    stop = start + seconds

    def failed(what: str) -> None:
        stats["errors"] += 1
        if len(stats["error_examples"]) < 5:
            stats["error_examples"].append(what)

    async def live(i: int) -> None:
        client = connections[i]
        n = 0  # utterances of this live dialogue so far, across sessions
        j = 0
        while True:
            script = bodies[(i + j * dialogues) % len(bodies)]
            j += 1
            due = start + i / (dialogues * rate) + n / rate
            if due >= stop:
                return
            status, opened = await client.request("POST", "/sessions")
            if status != 201:
                failed(f"POST /sessions: {status} {opened}")
                return
            session = opened["id"]
            stats["sessions"] += 1
            answered = 0
            for k, body in enumerate(script):
                due = start + i / (dialogues * rate) + n / rate
                if due >= stop:
                    break
                n += 1
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.01:
                    stats["late_sends"] += 1
                stats["sent"] += 1
                try:
                    status, answer = await client.request(
                        "POST", f"/sessions/{session}/utterances", body)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    stats["lost"] += 1
                    failed(f"push: {type(error).__name__}: {error}")
                    return
                latencies.append(1e3 * (time.perf_counter() - due))
                if status != 200:
                    failed(f"push: {status} {answer}")
                    break
                stats["answered"] += 1
                answered += 1
                server_ms.append(answer["latency_ms"])
                if answer["turn"] != k:
                    stats["reordered"] += 1
            status, kept = await client.request("GET", f"/sessions/{session}")
            if status != 200 or kept["turns"] != answered:
                stats["lost"] += 1
                failed(f"session {session} kept {status} {str(kept)[:200]} after "
                       f"{answered} answers")
            await client.request("DELETE", f"/sessions/{session}")

    tasks = [asyncio.create_task(live(i)) for i in range(dialogues)]
    _, unfinished = await asyncio.wait(tasks, timeout=1.0 + seconds + drain)
    for task in unfinished:  # the run's bound
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    stats["unanswered_at_end"] = stats["sent"] - stats["answered"] - stats["errors"]
    stats["unfinished_dialogues"] = len(unfinished)
    elapsed = min(time.perf_counter(), stop + drain) - start
    for connection in connections:
        await connection.close()
    probe = Connection(where.hostname, where.port)
    _, health = await probe.request("GET", "/health")
    await probe.close()
    stats.update(
        seconds=round(elapsed, 2),
        throughput_per_s=round(stats["answered"] / elapsed, 1),
        latency_ms={"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                    "max": max(latencies, default=None)},
        server_latency_ms={"p50": percentile(server_ms, 50),
                           "p99": percentile(server_ms, 99)},
        pushes_per_model_step=round(health["pushes"] / max(health["model_steps"], 1), 2))
    return stats


def measure_memory(checkpoint: Path, corpus: Path, sessions: int, turns: int) -> dict:
    """Bytes per live session after :obj:`turns` pushes, in this process."""
    engine = Engine.from_checkpoint(checkpoint, max_turns=turns)
    modalities = list(engine.modalities)
    read = read_open_format(corpus, modalities)
    rows = [d for split in read.splits.values() for d in split][0]
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    live = [engine.open(str(i)) for i in range(sessions)]
    for k in range(turns):
        pushes = [(s, engine.prepare(s, rows.speakers[k % len(rows)],
                                     {m: rows.features[m][k % len(rows)] for m in modalities}))
                  for s in live]
        engine.step(pushes)
    gc.collect()
    grown = process.memory_info().rss - before
    caches = sum(s.nbytes() for s in live)
    return {"sessions": sessions, "turns": turns,
            "cache_bytes_per_session": caches // sessions,
            "rss_bytes_per_session": grown // sessions}


def measure_steps(checkpoint: Path, corpus: Path, sessions: int, turns: int,
                  max_batch: int, rounds: int = 20) -> dict:
    """The engine's pushes per second at turn :obj:`turns`, batched by
    :obj:`max_batch` and one by one, timed alternately in one process."""
    engine = Engine.from_checkpoint(checkpoint, max_turns=turns + 2 * rounds)
    modalities = list(engine.modalities)
    read = read_open_format(corpus, modalities)
    rows = [d for split in read.splits.values() for d in split][0]

    def push(session, k):
        return (session, engine.prepare(session, rows.speakers[k % len(rows)],
                                        {m: rows.features[m][k % len(rows)]
                                         for m in modalities}))

    groups = {"batched": [engine.open(f"b{i}") for i in range(sessions)],
              "one_by_one": [engine.open(f"o{i}") for i in range(sessions)]}
    for live in groups.values():
        for k in range(turns):
            engine.step([push(s, k) for s in live])
    spent = dict.fromkeys(groups, 0.0)
    for r in range(rounds):
        for name, live in groups.items():
            size = max_batch if name == "batched" else 1
            pushes = [push(s, turns + r) for s in live]
            began = time.perf_counter()
            for i in range(0, len(pushes), size):
                engine.step(pushes[i:i + size])
            spent[name] += time.perf_counter() - began
    rates = {name: round(sessions * rounds / seconds, 1) for name, seconds in spent.items()}
    return {"sessions": sessions, "turn": turns, "max_batch": max_batch,
            "pushes_per_s": rates,
            "speedup": round(rates["batched"] / rates["one_by_one"], 2)}


def main(argv: list[str] | None = None) -> int:
    def run(arguments: Arguments) -> int:
        args = arguments.options
        if args["dialogues"] < 1 or not args["rate"] > 0 or not args["seconds"] > 0:
            raise LoadError("dialogues, rate and seconds must be positive")
        if args["measure"] not in ("load", "memory", "steps"):
            raise LoadError(f"measure={args['measure']!r}: expected load, memory or steps")
        torch.set_num_threads(1)
        if args["measure"] == "memory":
            print(json.dumps(measure_memory(args["checkpoint"], args["corpus"],
                                            args["dialogues"], args["turns"])))
            return 0
        if args["measure"] == "steps":
            print(json.dumps(measure_steps(args["checkpoint"], args["corpus"],
                                           args["dialogues"], args["turns"],
                                           args["max_batch"])))
            return 0
        modalities = list(load_checkpoint(args["checkpoint"]).model.modalities)
        if args["send"] not in ("features", "text"):
            raise LoadError(f"send={args['send']!r}: expected features or text")
        bodies = replay_bodies(Path(args["corpus"]), modalities, args["send"])
        server = None
        url = args["url"]
        if url is not None:
            if urlsplit(url).hostname not in LOCAL_HOSTS:
                raise LoadError(f"url={url}: this benchmark only drives a server on this "
                                f"machine ({', '.join(LOCAL_HOSTS)})")
        else:
            server, url = start_server(args["checkpoint"], args["max_batch"],
                                       max(1000, 2 * args["dialogues"]))
        try:
            processes = {"client": psutil.Process()}
            if server is not None:
                processes["server"] = psutil.Process(server.pid)
            cpu = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
            stats = asyncio.run(drive(url, bodies, args["dialogues"], args["rate"],
                                      args["seconds"], args["drain"]))
            # CPU time is what a busy machine does not distort much.
            for name, process in processes.items():
                spent = sum(process.cpu_times()[:2]) - cpu[name]
                stats[f"{name}_cpu_ms_per_push"] = round(
                    1e3 * spent / max(stats["answered"], 1), 3)
            if server is not None:
                stats["server_rss_mb"] = round(
                    processes["server"].memory_info().rss / 2**20, 1)
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        print(json.dumps({"dialogues": args["dialogues"], "rate": args["rate"],
                          "send": args["send"],
                          "max_batch": None if args["url"] else args["max_batch"],
                          "cpus": os.cpu_count(),
                          "load_average": [round(x, 2) for x in os.getloadavg()],
                          **stats}))
        return 0

    return run_command(COMMAND, run, argv, errors=(LoadError, ImportError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
