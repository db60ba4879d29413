"""One training epoch of the CORECT-sized backbone on IEMOCAP-shaped data,
in a fresh process so its peak memory is its own.

``python benchmarks/model_epoch.py --dims audio=100,text=768,visual=512``
prints seconds per epoch, seconds for a forward pass over the test split
and the process's peak resident memory, as JSON.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import iemocap_split_structure  # noqa: E402

from dialogues import Dialogue, batches  # noqa: E402
from models import CORECT, ModelConfig  # noqa: E402
from registry import EdgeBuilderRegistry  # noqa: E402


def fake_dialogues(structure, dims, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, (length, speakers) in enumerate(structure):
        out.append(Dialogue(
            id=f"d{i}", speakers=[f"s{s}" for s in speakers],
            labels=torch.randint(0, 6, (length,), generator=g),
            features={m: torch.randn(length, d, generator=g) for m, d in dims.items()},
            turns=list(range(length))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", default="audio=100,text=768,visual=512")
    parser.add_argument("--graph", default="corect")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dims = {k: int(v) for k, v in (p.split("=") for p in args.dims.split(","))}
    torch.manual_seed(0)
    train = fake_dialogues(iemocap_split_structure("train"), dims, 0)
    test = fake_dialogues(iemocap_split_structure("test"), dims, 1)
    model = CORECT(ModelConfig(modalities=dims, num_classes=6),
                   EdgeBuilderRegistry(entry_points=False).get(args.graph))
    optimiser = torch.optim.Adam(model.parameters(), 3e-4)
    model.train()
    start = time.perf_counter()
    for batch in batches(train, list(dims), 10, shuffle=True,
                         generator=torch.Generator().manual_seed(0)):
        optimiser.zero_grad()
        model.loss(model(batch.features, batch.structure), batch.labels).backward()
        optimiser.step()
    epoch = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(test, list(dims), 10):
            model(batch.features, batch.structure)
    forward = time.perf_counter() - start
    print(json.dumps({
        "dims": dims, "graph": args.graph, "dialogues": len(train),
        "params": sum(p.numel() for p in model.parameters()),
        "epoch_seconds": round(epoch, 2), "test_forward_seconds": round(forward, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
