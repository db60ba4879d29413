"""Fixtures for the data-loading tests: tiny corpora written on the fly."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from .tiny import TINY_LABELS, TINY_ROWS, tiny_features

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` next to the repository, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    return SHARED_DATA


@pytest.fixture
def write_open(tmp_path: Path) -> Callable[..., Path]:
    """Write an open-format corpus folder; every part can be replaced.

    Call as ``write_open(rows=..., header=..., features=..., spec=...)``;
    ``spec=None`` leaves ``dataset.yaml`` out, ``text=str`` writes it raw.
    """
    counter = iter(range(1000))

    def write(rows=TINY_ROWS, header=("dialogue_id", "turn", "speaker", "label",
                                      "split", "text"),
              features=None, spec="default", raw_yaml=None) -> Path:
        folder = tmp_path / f"corpus{next(counter)}"
        folder.mkdir()
        with open(folder / "utterances.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        np.savez(folder / "features.npz",
                 **(tiny_features(len(rows)) if features is None else features))
        if spec == "default":
            spec = {"name": "tiny", "labels": TINY_LABELS,
                    "modalities": {"text": 2, "audio": 3},
                    "source": "tests", "licence": "CC0"}
        if raw_yaml is not None:
            (folder / "dataset.yaml").write_text(raw_yaml, encoding="utf-8")
        elif spec is not None:
            (folder / "dataset.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                                 encoding="utf-8")
        return folder

    return write
