"""The README's plugin, exactly as printed: installed as a distribution,
checked against the contract, trained and streamed on a corpus with a
reply_to column."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from runner.config import compose
from runner.experiment import run_experiment
from graphs import DialogueBatch, validate
from models import StreamingPredictor, load_checkpoint

from ..experiments.conftest import TINY
from .helpers import install

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_block(first_line: str) -> str:
    """The fenced code block of the README that starts with :obj:`first_line`."""
    for block in re.findall(r"```\w*\n(.*?)```", README.read_text(), flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"README has no code block starting {first_line!r}")


@pytest.fixture
def registry(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "my-graphs", "my_graphs_plugin",
                       readme_block("# my_graphs/my_graphs/plugin.py"))
    # The printed pyproject points the ergraph entry point at that module.
    assert ('[project.entry-points.ergraph]\nmy_graphs = "my_graphs.plugin"'
            in readme_block("# my_graphs/pyproject.toml"))
    return registry


def test_the_readme_builders_are_registered_and_exact(registry):
    assert {"skip", "reply"} <= set(registry.names())
    nan = float("nan")
    batch = DialogueBatch([5], [0, 1, 0, 1, 0], ("text",), annotations={
        "turn": torch.tensor([0, 1, 2, 3, 4], dtype=torch.float64),
        "reply_to": torch.tensor([nan, 0, nan, 1, 3], dtype=torch.float64)})
    skip = validate(registry.get("skip", gap=2), batch, "skip")
    assert skip.edge_index.tolist() == [[0, 1, 2], [2, 3, 4]]
    assert registry.get("skip", gap=2).horizon == 2
    reply = validate(registry.get("reply"), batch, "reply")
    assert reply.edge_index.tolist() == [[0, 1, 3], [1, 3, 4]]


def write_corpus_with_replies(folder: Path) -> Path:
    """Twelve dialogues of six turns; every turn after the first replies to
    the one two back where it can, else to the one before."""
    folder.mkdir()
    g = np.random.default_rng(0)
    rows = ["dialogue_id,turn,speaker,label,split,reply_to"]
    for d in range(12):
        split = "train" if d < 8 else "dev" if d < 10 else "test"
        for t in range(6):
            reply = "" if t == 0 else t - 2 if t >= 2 else t - 1
            rows.append(f"d{d},{t},{'ab'[t % 2]},{'xy'[g.integers(2)]},{split},{reply}")
    (folder / "utterances.csv").write_text("\n".join(rows) + "\n")
    np.savez(folder / "features.npz", text=g.normal(size=(72, 6)).astype(np.float32))
    (folder / "dataset.yaml").write_text(yaml.safe_dump(
        {"name": "replies", "labels": ["x", "y"], "modalities": {"text": 6}}))
    return folder


def test_the_readme_reply_builder_trains_and_streams(registry, tmp_path):
    corpus = write_corpus_with_replies(tmp_path / "replies")
    model_args = [a for a in TINY if a.startswith(("model.", "train.", "latency.", "device"))]
    config = compose([*model_args, "graph=reply", f"dataset.path={corpus}",
                      f"out={tmp_path / 'run'}"], registry=registry)
    run = run_experiment(config, registry)
    predictor = StreamingPredictor.from_checkpoint(run / "checkpoint.pt", registry=registry)
    assert predictor.model.builder.reads(["text"]).annotations == ("reply_to", "turn")
    offline = {}
    for line in (run / "predictions.csv").read_text().splitlines()[1:]:
        dialogue, turn, _, _, label, _ = line.split(",")
        offline[(dialogue, int(turn))] = label
    from dialogues import load_corpus
    for dialogue in load_corpus(corpus).split("test"):
        predictor.reset()
        for t in range(len(dialogue)):
            reply = float(dialogue.annotations["reply_to"][t])
            label = predictor.push(dialogue.speakers[t],
                                   {"text": dialogue.features["text"][t]},
                                   annotations={"reply_to": reply}).label
            assert label == offline[(dialogue.id, t)]


def test_the_readme_example_of_a_content_builder_runs():
    block = readme_block("import torch\nfrom graphs import DialogueBatch")
    namespace = {}
    exec(compile(textwrap.dedent(block), "README.md", "exec"), namespace)
    graph = namespace["graph"]
    assert graph.edge_weight is not None and graph.edge_index.shape == (2, 3 + 3)


def build_readme_plugin(folder: Path) -> Path:
    """The README's plugin project, laid out as its code blocks' first
    lines say, from the README's own text."""
    project = folder / "my_graphs"
    for first_line in ("# my_graphs/my_graphs/plugin.py", "# my_graphs/pyproject.toml"):
        path = project.parent / first_line.split()[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(readme_block(first_line))
    (project / "my_graphs" / "__init__.py").write_text("")
    return project


@pytest.mark.slow
def test_the_readme_plugin_installs_with_pip_and_the_tests_still_pass(tmp_path):
    """What a user does: pip install the printed project, run graph=skip
    from the command line, and keep running ergraph's plugin tests, with
    autoload switched on in their shell."""
    project = build_readme_plugin(tmp_path)
    site = tmp_path / "site"  # a --target folder: nothing lands in the real environment
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-cache-dir", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(project)],
                   check=True, capture_output=True, text=True)
    assert (site / "my_graphs" / "plugin.py").is_file()
    assert not (site / "plugin.py").exists()
    root = README.parent
    env = {**os.environ, "ERGRAPH_DISABLE_PLUGIN_AUTOLOAD": "0",
           "PYTHONPATH": os.pathsep.join([str(site), str(root)])}

    run = subprocess.run(
        [sys.executable, "experiments/run.py", "graph=skip", "graph.gap=3",
         *TINY, "train.epochs=1", f"out={tmp_path / 'run'}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["graph"] == {"name": "skip", "gap": 3}
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt").graph["provider"] == {
        "source": "my-graphs", "version": "0.1.0"}

    # The plugin tests register their own `skip`; with the README's installed
    # and autoload on, they must still pass.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0",
         "tests/plugins/test_plugins.py", "tests/plugins/test_plugin_authors.py"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:]
