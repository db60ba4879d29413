"""The single-seed figures the docs rest on come out of HEAD digit for digit
(docs/pinned-figures.yaml)."""
import json
import os
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import torch
import yaml

from .dialogues import sentiment_files

ROOT = Path(__file__).resolve().parents[1]
PINNED = ROOT / "docs" / "pinned-figures.yaml"
SHARED_DATA = ROOT.parent / "shared" / "data"
FIGURES = yaml.safe_load(PINNED.read_text())["figures"]


def decimals(value) -> int:
    """Digits after the point, as the figure was written."""
    return max(0, -Decimal(str(value)).as_tuple().exponent)


def rounded(value: float, places: int) -> str:
    return f"{value:.{places}f}"


def metric(record: dict, dotted: str) -> float:
    value = record
    for key in dotted.split("."):
        value = value[key]
    return float(value)


def planted_mosei(folder: Path) -> Path:
    clips = sentiment_files.draw_clips(seed=1, videos={"train": 40, "valid": 8, "test": 20})
    return sentiment_files.write(folder / "unaligned_50.pkl", sentiment_files.mmsa_layout(clips))


def test_every_pinned_figure_is_quoted_as_pinned_where_it_is_published():
    for figure in FIGURES:
        for page in figure["quoted_in"]:
            text = (ROOT / page).read_text()
            for name, value in figure["values"].items():
                assert str(value) in text, (f"{page} no longer quotes {figure['name']}'s "
                                            f"{name} {value} (docs/pinned-figures.yaml)")


@pytest.mark.slow
@pytest.mark.parametrize("figure", FIGURES, ids=[f["name"] for f in FIGURES])
def test_the_pinned_command_gives_the_pinned_digits(figure, tmp_path):
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != figure["cpu"]:
        pytest.skip(f"{figure['name']} was pinned on a {figure['cpu']} CPU and this one is "
                    f"{capability}: float sums round differently; rerun its command with "
                    "OMP_NUM_THREADS=1 here to pin it for this machine")
    if "dataset=iemocap" in figure["command"] and not (SHARED_DATA / "iemocap").is_dir():
        pytest.skip(f"{figure['name']} runs on {SHARED_DATA / 'iemocap'}, which is absent")
    command = figure["command"].format(planted_mosei=planted_mosei(tmp_path))
    argv = shlex.split(command)
    assert argv[:2] == ["python", "experiments/run.py"]
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "ERGRAPH_DATA": str(SHARED_DATA)}
    done = subprocess.run([sys.executable, *argv[1:], f"out={out}"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((out / "metrics.json").read_text())
    assert record["threads"] == 1
    moved = {}
    for name, pinned in figure["values"].items():
        got = rounded(metric(record, name), decimals(pinned))
        if got != str(pinned):
            moved[name] = (str(pinned), got)
    assert not moved, (
        f"{figure['name']}: {command} now gives "
        + "; ".join(f"{name} {got} where the docs publish {pinned}"
                    for name, (pinned, got) in moved.items())
        + f" (pinned at {figure['measured_at']}); if the change is meant to move it, "
          "update docs/pinned-figures.yaml and the pages that quote it")
