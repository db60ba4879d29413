"""One training epoch of the CORECT-sized backbone on IEMOCAP-shaped data,
in a fresh process so its peak memory is its own.

``python benchmarks/model_epoch.py --dims audio=100,text=768,visual=512``
prints seconds per epoch (wall clock, and the process's CPU time), seconds
for a forward pass over the test split and the process's peak resident
memory, as JSON.

``--model corect_paper`` sizes the backbone by a model config file
(``experiments/configs/model/NAME.yaml``) instead of ``ModelConfig``'s
defaults. ``--batches N`` times the first N training batches only and
extrapolates to the epoch (``"extrapolated": true`` in the output).
"""
from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import iemocap_split_structure  # noqa: E402

from dialogues import Dialogue, batches  # noqa: E402
from experiments.config import compose  # noqa: E402
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
    parser.add_argument("--model", default=None,
                        help="a model config (experiments/configs/model/NAME.yaml); "
                             "default: ModelConfig's defaults")
    parser.add_argument("--batches", type=int, default=0,
                        help="time this many training batches and extrapolate")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dims = {k: int(v) for k, v in (p.split("=") for p in args.dims.split(","))}
    torch.manual_seed(0)
    train = fake_dialogues(iemocap_split_structure("train"), dims, 0)
    test = fake_dialogues(iemocap_split_structure("test"), dims, 1)
    options = compose([f"model={args.model}"])["model"] if args.model else {}
    model = CORECT(ModelConfig(modalities=dims, num_classes=6, **options),
                   EdgeBuilderRegistry(entry_points=False).get(args.graph))
    optimiser = torch.optim.Adam(model.parameters(), 3e-4)
    model.train()
    total_batches = -(-len(train) // 10)
    timed = min(args.batches or total_batches, total_batches)
    cpu_start, start = time.process_time(), time.perf_counter()
    for batch in itertools.islice(batches(train, list(dims), 10, shuffle=True,
                                          generator=torch.Generator().manual_seed(0)), timed):
        optimiser.zero_grad()
        model.loss(model(batch.features, batch.structure), batch.labels).backward()
        optimiser.step()
    epoch = (time.perf_counter() - start) * total_batches / timed
    # CPU time of this process: with one thread, the epoch's cost without
    # the waits that other processes on a shared machine add to wall time.
    epoch_cpu = (time.process_time() - cpu_start) * total_batches / timed
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(test, list(dims), 10):
            model(batch.features, batch.structure)
    forward = time.perf_counter() - start
    print(json.dumps({
        "dims": dims, "graph": args.graph, "model": args.model or "defaults",
        "threads": torch.get_num_threads(), "dialogues": len(train),
        "batches": total_batches, "timed_batches": timed,
        "extrapolated": timed < total_batches,
        "params": sum(p.numel() for p in model.parameters()),
        "epoch_seconds": round(epoch, 2), "epoch_cpu_seconds": round(epoch_cpu, 2),
        "test_forward_seconds": round(forward, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
