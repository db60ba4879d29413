import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("ERGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def iemocap_structure():
    """(lengths, local speaker ids) of every dialogue of the shared IEMOCAP."""
    path = SHARED / "iemocap" / "utterances.csv"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    lengths, speakers, seen = [], [], {}
    last = None
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["dialogue_id"] != last:
                last, seen = row["dialogue_id"], {}
                lengths.append(0)
            lengths[-1] += 1
            speakers.append(seen.setdefault(row["speaker"], len(seen)))
    return lengths, speakers
