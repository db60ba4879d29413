import csv
import os
import random
from pathlib import Path

# Benchmarks time the built-ins, whatever plugins are installed; set before
# anything imports registry, whose default registry reads it once.
os.environ["ERGRAPH_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def iemocap_split_structure(split: str | None = None) -> list[tuple[int, list[int]]]:
    """(length, local speaker ids) of every dialogue of the shared IEMOCAP,
    or of one split; IEMOCAP-shaped stand-ins (alternating speakers) when
    the data is absent, so benchmarks still run."""
    path = SHARED / "iemocap" / "utterances.csv"
    if not path.exists():
        g = random.Random(0)
        counts = {"train": 108, "dev": 12, "test": 31, None: 151}[split]
        return [(n, [t % 2 for t in range(n)])
                for n in (g.randint(24, 110) for _ in range(counts))]
    dialogues, last, seen = [], None, {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if split is not None and row["split"] != split:
                continue
            if row["dialogue_id"] != last:
                last, seen = row["dialogue_id"], {}
                dialogues.append((0, []))
            length, speakers = dialogues[-1]
            speakers.append(seen.setdefault(row["speaker"], len(seen)))
            dialogues[-1] = (length + 1, speakers)
    return dialogues


@pytest.fixture(scope="session")
def iemocap_structure():
    """(lengths, local speaker ids) of every dialogue of the shared IEMOCAP."""
    if not (SHARED / "iemocap" / "utterances.csv").exists():
        pytest.skip("../shared/data/iemocap is not available")
    dialogues = iemocap_split_structure()
    return [n for n, _ in dialogues], [s for _, ss in dialogues for s in ss]
