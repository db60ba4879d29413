"""Backbone speed and memory (issue 3).

Run: ``python -m pytest benchmarks/test_bench_model.py -s``. Targets with
CORECT's IEMOCAP-6 sizes on the 108 training dialogues, batch size 10:
<= 7 s per epoch with audio 100, text 768, visual 512; <= 2 s text-only
(384); peak memory under 1 GiB.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import iemocap_split_structure
from graphs import DialogueBatch
from models import CORECT, ModelConfig
from registry import EdgeBuilderRegistry

DIMS = {"audio": 100, "text": 768, "visual": 512}
EPOCH_SCRIPT = Path(__file__).with_name("model_epoch.py")


def ten_dialogues(dims=DIMS):
    structure = iemocap_split_structure("train")[:10]
    lengths = [n for n, _ in structure]
    speakers = [s for _, ss in structure for s in ss]
    g = torch.Generator().manual_seed(0)
    features = {m: torch.randn(sum(lengths), d, generator=g) for m, d in dims.items()}
    labels = torch.randint(0, 6, (sum(lengths),), generator=g)
    return features, DialogueBatch(lengths, speakers, list(dims)), labels


def training_step(model, features, structure, labels, lr):
    """One Adam step of :obj:`model` on the batch, as a callable."""
    optimiser = torch.optim.Adam(model.parameters(), lr)

    def step():
        optimiser.zero_grad()
        model.loss(model(structure.with_content(features=features)), labels).backward()
        optimiser.step()
    return step


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CORECT(ModelConfig(modalities=DIMS, num_classes=6),
                  EdgeBuilderRegistry(entry_points=False).get("corect"))


def test_training_step(benchmark, model):
    features, structure, labels = ten_dialogues()
    benchmark.pedantic(training_step(model, features, structure, labels, 3e-4),
                       rounds=5, warmup_rounds=1)
    benchmark.extra_info["utterances"] = structure.num_utterances


def test_inference_pass(benchmark, model):
    features, structure, _ = ten_dialogues()
    model.eval()
    with torch.no_grad():
        benchmark.pedantic(model, (features, structure), rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("dims, target_seconds", [
    ("audio=100,text=768,visual=512", 7.0), ("text=384", 2.0)])
def test_epoch_time_and_peak_memory(dims, target_seconds):
    result = json.loads(subprocess.run(
        [sys.executable, str(EPOCH_SCRIPT), f"dims={dims}"],
        check=True, capture_output=True, text=True).stdout)
    print(f"\n{json.dumps(result)}")
    assert result["epoch_seconds"] <= target_seconds
    assert result["peak_rss_mib"] < 1024


@pytest.mark.parametrize("speaker_gru", [False, True], ids=["gru", "gru+speaker_gru"])
def test_text_gru_training_step_with_and_without_a_speaker_gru(benchmark, speaker_gru):
    """The speaker GRU's cost: compare the two medians. Text only (384),
    GRU encoder, CORECT's window, ten IEMOCAP dialogues."""
    features, structure, labels = ten_dialogues({"text": 384})
    torch.manual_seed(0)
    model = CORECT(ModelConfig(modalities={"text": 384}, num_classes=6,
                               sequence_encoder="gru", speaker_gru=speaker_gru),
                   EdgeBuilderRegistry(entry_points=False).get("corect"))
    benchmark.pedantic(training_step(model, features, structure, labels, 1e-3),
                       rounds=20, warmup_rounds=2)
