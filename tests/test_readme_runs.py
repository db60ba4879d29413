"""Every command and code block of the README runs as written.

The blocks are read from README.md itself, so an example that stops working
fails here. What a block needs but does not make, it finds in a scratch
folder named as the README names it: `DIR` (the shared IEMOCAP, whose
`dataset.yaml` names its sentence encoder), `RUN` and `runs/RUN` (a causal
run on it), `multirun/SWEEP`, and a data root with
the shared IEMOCAP beside a planted CMU-MOSEI pickle. Training commands run
one epoch (`train.epochs=` set to 1); the server's examples run against a
free port instead of 8000. Blocks the README says need an extra that is not
installed are skipped, naming it; `pip install` and the test commands
themselves are left out, and the plugin example has its own test
(tests/plugins/test_readme_plugin.py).
"""
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .dialogues import sentiment_files

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
HAS_TEXT = importlib.util.find_spec("sentence_transformers") is not None


def block(first_words: str) -> tuple[str, str]:
    """The README block whose first line starts with :obj:`first_words`."""
    found = [(lang, body) for lang, body in BLOCKS if body.startswith(first_words)]
    assert len(found) == 1, f"the README has {len(found)} blocks starting {first_words!r}"
    return found[0]


def commands(body: str) -> list[str]:
    """The block's command lines, comments dropped, continuations joined."""
    joined = body.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def one_epoch(command: str) -> str:
    if not command.startswith("python experiments/run.py") or " -h" in command:
        return command
    if "train.epochs=" in command:
        return re.sub(r"train\.epochs=\d+", "train.epochs=1", command)
    return command + " train.epochs=1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (SHARED_DATA / "iemocap").is_dir():
        pytest.skip(f"the README's examples read {SHARED_DATA / 'iemocap'}, which is absent")
    folder = tmp_path_factory.mktemp("readme")
    data = folder / "data"
    (data / "mosei").mkdir(parents=True)
    (data / "iemocap").symlink_to(SHARED_DATA / "iemocap")
    clips = sentiment_files.draw_clips(seed=1, videos={"train": 20, "valid": 4, "test": 6})
    sentiment_files.write(data / "mosei" / "unaligned_50.pkl", sentiment_files.mmsa_layout(clips))
    (folder / "DIR").symlink_to(SHARED_DATA / "iemocap")
    # HF_HUB_OFFLINE: the text extra's model ships in a package; nothing is fetched.
    env = {**os.environ, "ERGRAPH_DATA": str(data), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run(folder, env, "python experiments/run.py graph=causal dataset.path=DIR "
                     "train.epochs=1 out=runs/RUN")
    (folder / "RUN").symlink_to(folder / "runs" / "RUN")
    return folder, env


def run(folder: Path, env: dict, command: str, **options) -> subprocess.CompletedProcess:
    """:obj:`command` through bash in :obj:`folder`, with the repository's
    experiments/ reached by a link, as from a checkout's root."""
    if not (folder / "experiments").exists():
        (folder / "experiments").symlink_to(ROOT / "experiments")
    done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=900, **options)
    assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    return done


def test_the_quick_start_runs_the_main_job(workspace):
    folder, env = workspace
    _, body = block("pip install torch")
    # The install is this test run's own; the job after it runs as written.
    job = body.strip().split("&&")[-1].strip()
    assert job == "python experiments/run.py"
    run(folder, env, one_epoch(job) + " out=quick")
    assert (folder / "quick" / "metrics.json").is_file()


def test_every_experiments_command_runs(workspace):
    folder, env = workspace
    _, body = block("python experiments/run.py graph=causal ")
    lines = commands(body)
    assert len(lines) >= 10
    (folder / "multirun").mkdir(exist_ok=True)
    for command in lines:
        if "multirun/SWEEP" in command and not (folder / "multirun" / "SWEEP").exists():
            (folder / "multirun" / "SWEEP").symlink_to(folder / "multirun" / "five")
        run(folder, env, one_epoch(command))
    assert (folder / "pred.csv").is_file()
    assert (folder / "multirun" / "five" / "summary.md").is_file()


def test_the_edge_builder_example_runs(workspace):
    _, body = block("import torch\nfrom graphs import DialogueBatch")
    exec(compile(body, "README.md (edge builders)", "exec"), {})


def test_the_live_examples_run(workspace):
    folder, env = workspace
    _, body = block("from models import StreamingPredictor")
    # The README leaves the utterance's vector to the reader.
    prelude = "text_vector = [0.5] * 384\n"
    run(folder, env, f"python - <<'EOF'\n{prelude}{body}EOF")
    _, stream = block("python experiments/stream.py")
    for command in commands(stream):
        if "input=-" in command and not HAS_TEXT:
            continue  # the README: needs ergraph[text]
        run(folder, env, command, input="ann\thello\n")


def test_the_visualize_examples_run(workspace):
    folder, env = workspace
    _, body = block("python experiments/visualize.py")
    for command in commands(body):
        run(folder, env, command)
    assert all((folder / name).is_file() for name in ("speaker.png", "compare.svg",
                                                      "corect.pdf"))


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None,
                    reason="the server needs ergraph[serve]")
@pytest.mark.skipif(not HAS_TEXT, reason="the README's pushes are text: ergraph[text]")
def test_the_server_examples_run(workspace):
    folder, env = workspace
    port = free_port()
    _, serve = block("python experiments/serve.py")
    command = commands(serve)[0].replace("port=8000", f"port={port}")
    server = subprocess.Popen(["bash", "-c", command], cwd=folder, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.1)
        _, curl = block("ID=$(curl")
        pushed = run(folder, env, curl.replace("localhost:8000", f"localhost:{port}"))
        assert '"label"' in pushed.stdout
        _, socket_example = block("import asyncio, json, urllib.request")
        answered = run(folder, env, "python - <<'EOF'\n"
                       + socket_example.replace("localhost:8000", f"localhost:{port}")
                       + "EOF")
        assert len(answered.stdout.splitlines()) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)

