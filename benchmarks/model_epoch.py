"""One training epoch of the CORECT-sized backbone on IEMOCAP-shaped data,
in a fresh process so its peak memory is its own.

``python benchmarks/model_epoch.py dims=audio=100,text=768,visual=512``
prints seconds per epoch (wall clock, and the process's CPU time), seconds
for a forward pass over the test split and the process's peak resident
memory, as JSON.

``split=mosei`` trains instead on a CMU-MOSEI-sized split: 16,326 clips
over 2,250 one-speaker videos (MMSA's MOSEI training split), tested on
4,659 clips (its test split) over as many videos as the training split's
mean clips per video gives; video lengths are drawn once, seeded.
``dims`` also takes the feature shapes of the MOSEI pickles by name:
``mosei_mmsa`` (MMSA's unaligned_50: text 768, audio 74, vision 35) and
``mosei_mult`` (MulT's mosei_senti_data: text 300, audio 74, vision 35).
``head=regression`` times the regression head on scores (2 classes
derived, ``sentiment_2``).

``model=corect_paper`` sizes the backbone by a model config file
(``experiments/configs/model/NAME.yaml``) instead of ``ModelConfig``'s
defaults. ``batches=N`` times the first N training batches only and
extrapolates to the epoch (``"extrapolated": true`` in the output).
``-h`` lists the options.
"""
from __future__ import annotations

import itertools
import json
import resource
import sys
import time
from pathlib import Path
from typing import Literal

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import iemocap_split_structure  # noqa: E402

from dialogues import Dialogue, batches  # noqa: E402
from dialogues.views import SCORE_VIEWS  # noqa: E402
from runner.cli import Arguments, Command, Option, main as run_command  # noqa: E402
from runner.config import ConfigError, compose  # noqa: E402
from models import CORECT, ModelConfig  # noqa: E402
from registry import EdgeBuilderRegistry  # noqa: E402


#: Feature shapes by name: IEMOCAP's CORECT features and the MOSEI pickles'.
DIMS = {"iemocap": "audio=100,text=768,visual=512",
        "mosei_mmsa": "audio=74,text=768,visual=35",
        "mosei_mult": "audio=74,text=300,visual=35"}
#: (clips, videos) of MMSA's CMU-MOSEI training split, and its test clips.
MOSEI_TRAIN = (16_326, 2_250)
MOSEI_TEST_CLIPS = 4_659


def monologue_structure(clips: int, videos: int, seed: int) -> list[tuple[int, list[int]]]:
    """(length, speakers) of :obj:`videos` one-speaker dialogues of
    :obj:`clips` turns in all, every one at least 1 turn long, lengths
    spread like a gamma draw (a few long videos, many short)."""
    g = torch.Generator().manual_seed(seed)
    weights = torch.distributions.Gamma(1.5, 1.0).sample((videos,))
    extra = torch.multinomial(weights, clips - videos, replacement=True, generator=g)
    lengths = (1 + torch.bincount(extra, minlength=videos)).tolist()
    return [(n, [0] * n) for n in lengths]


def fake_dialogues(structure, dims, seed, num_classes=6):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, (length, speakers) in enumerate(structure):
        scores = (torch.rand(length, generator=g) * 6 - 3).double()
        out.append(Dialogue(
            id=f"d{i}", speakers=[f"s{s}" for s in speakers],
            labels=torch.randint(0, num_classes, (length,), generator=g),
            features={m: torch.randn(length, d, generator=g) for m, d in dims.items()},
            turns=list(range(length)), scores=scores))
    return out


COMMAND = Command(
    prog="model_epoch.py",
    summary="Time one training epoch of the backbone on random features of a corpus's "
            "shape; print JSON.",
    options=(
        Option("dims", list[str], ["iemocap"],
               f"modality=dim,... or one of {', '.join(DIMS)}"),
        Option("split", Literal["iemocap", "mosei"], "iemocap",
               "the training and test splits' shapes"),
        Option("head", Literal["classification", "regression"], "classification",
               "the output head"),
        Option("graph", str, "corect", "the graph (a registry name)"),
        Option("threads", int, 0, "torch intra-op threads; 0 leaves torch's"),
        Option("model", str | None, None, "a model config (experiments/configs/model/"
                                          "NAME.yaml); null: ModelConfig's defaults"),
        Option("batches", int, 0, "time this many training batches and extrapolate; "
                                  "0 times the whole epoch"),
    ),
    details=__doc__.split("\n\n", 1)[1])


def parse_dims(parts: list[str]) -> dict[str, int]:
    """``[audio=100, text=768]``, or one name in :data:`DIMS`, as
    ``{modality: dim}``.

    Args:
        parts (list[str]): The ``dims=`` values.

    Raises:
        ConfigError: A part that is not ``modality=dim``.
    """
    if len(parts) == 1 and parts[0] in DIMS:
        parts = DIMS[parts[0]].split(",")
    dims = {}
    for part in parts:
        name, sep, dim = part.partition("=")
        if not sep or not name.strip() or not dim.strip().isdigit():
            raise ConfigError(f"dims: {part!r} is not modality=dim; e.g. "
                              f"{DIMS['iemocap']}, or one of {', '.join(DIMS)}")
        dims[name.strip()] = int(dim)
    return dims


def epoch(arguments: Arguments) -> int:
    """Build the data and model, time an epoch and a test pass, print JSON.

    Args:
        arguments (Arguments): The parsed command line.
    """
    args = arguments.options
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    dims = parse_dims(args["dims"])
    torch.manual_seed(0)
    if args["split"] == "mosei":
        clips, videos = MOSEI_TRAIN
        structure = monologue_structure(clips, videos, 0)
        test_structure = monologue_structure(
            MOSEI_TEST_CLIPS, round(MOSEI_TEST_CLIPS * videos / clips), 1)
        num_classes = 2
    else:
        structure = iemocap_split_structure("train")
        test_structure = iemocap_split_structure("test")
        num_classes = 6
    train = fake_dialogues(structure, dims, 0, num_classes)
    test = fake_dialogues(test_structure, dims, 1, num_classes)
    model_file = args["model"]
    options = compose([f"model={model_file}"])["model"] if model_file else {}
    options["head"] = args["head"]
    if args["head"] == "regression":
        options["score_view"] = "sentiment_2"
        num_classes = len(SCORE_VIEWS["sentiment_2"].labels)
    model = CORECT(ModelConfig(modalities=dims, num_classes=num_classes, **options),
                   EdgeBuilderRegistry(entry_points=False).get(args["graph"]))
    optimiser = torch.optim.Adam(model.parameters(), 3e-4)
    model.train()
    total_batches = -(-len(train) // 10)
    timed = min(args["batches"] or total_batches, total_batches)
    cpu_start, start = time.process_time(), time.perf_counter()
    for batch in itertools.islice(batches(train, list(dims), 10, shuffle=True,
                                          generator=torch.Generator().manual_seed(0)), timed):
        optimiser.zero_grad()
        model.loss(model(batch), batch.labels,
                   scores=batch.scores).backward()
        optimiser.step()
    epoch = (time.perf_counter() - start) * total_batches / timed
    # CPU time of this process: with one thread, the epoch's cost without
    # the waits that other processes on a shared machine add to wall time.
    epoch_cpu = (time.process_time() - cpu_start) * total_batches / timed
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches(test, list(dims), 10):
            model(batch)
    forward = time.perf_counter() - start
    print(json.dumps({
        "dims": dims, "graph": args["graph"], "model": args["model"] or "defaults",
        "split": args["split"], "head": args["head"],
        "threads": torch.get_num_threads(), "dialogues": len(train),
        "utterances": sum(len(d) for d in train),
        "batches": total_batches, "timed_batches": timed,
        "extrapolated": timed < total_batches,
        "params": sum(p.numel() for p in model.parameters()),
        "epoch_seconds": round(epoch, 2), "epoch_cpu_seconds": round(epoch_cpu, 2),
        "test_forward_seconds": round(forward, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(COMMAND, epoch, argv)


if __name__ == "__main__":
    sys.exit(main())
