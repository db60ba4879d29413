"""The README's plugin, exactly as printed: installed as a distribution,
checked against the contract, trained and streamed on a corpus with a
reply_to column."""
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from runner.config import compose
from runner.experiment import run_experiment
from graphs import DialogueBatch, validate
from models import StreamingPredictor
from registry import EdgeBuilderRegistry

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
    install(tmp_path, monkeypatch, "my-graphs", "my_graphs_plugin",
            readme_block("# my_graphs/plugin.py"))
    # The printed pyproject points the ergraph entry point at that module.
    assert ('[project.entry-points.ergraph]\nmy_graphs = "my_graphs.plugin"'
            in readme_block("# my_graphs/pyproject.toml"))
    return EdgeBuilderRegistry()


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
