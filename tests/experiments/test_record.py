"""The run record's schema (runner/record.py) reads the metrics.json files
that runs wrote before it existed, and writes them back byte for byte.

``records/`` holds run folders written by ergraph before the schema
(commit 0a440f3): a classification run, a cross-validated one and a
regression head's."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.record import METRICS_FILE, RunMetrics
from experiments.compare import main as compare_main
from runner.report import describe_run, find_runs, summarize, summary_markdown

RECORDS = Path(__file__).resolve().parent / "records"
KINDS = ("classification", "cross_validation", "regression")


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_written_before_the_schema_round_trips_byte_for_byte(kind):
    text = (RECORDS / kind / METRICS_FILE).read_text()
    record = RunMetrics.read(RECORDS / kind)
    assert record.dumps() == text
    assert not record.extra and not record.unrecorded


def test_typed_fields_of_each_kind():
    classification, cv, regression = (RunMetrics.read(RECORDS / k) for k in KINDS)
    assert classification.test.mae is None and classification.cv is None
    assert classification.latency.stream_ms > 0 and classification.graph.causal
    assert cv.cv == 2 and [f.fold for f in cv.folds] == [1, 2]
    assert cv.best_epoch == [f.best_epoch for f in cv.folds]
    assert sum(f.test.support for f in cv.folds) == cv.test.support
    assert regression.test.scored == regression.test.support
    assert regression.dataset.labels == ["negative", "non-negative"]


def test_an_older_or_newer_record_keeps_what_the_schema_does_not_name():
    data = json.loads((RECORDS / "classification" / METRICS_FILE).read_text())
    del data["latency"]["stream_ms"], data["latency"]["stream_turn"]
    del data["dataset"]["finetune"]
    data["test"]["new_metric"] = 1.5
    record = RunMetrics.from_json(data)
    assert record.latency.stream_ms is None
    assert not record.dataset.recorded("finetune") and record.dataset.recorded("features")
    assert record.test.extra == {"new_metric": 1.5}
    written = record.to_json()
    assert "stream_ms" not in written["latency"] and written["test"]["new_metric"] == 1.5


def test_reports_read_the_records(tmp_path):
    for kind in KINDS:
        shutil.copytree(RECORDS / kind, tmp_path / kind)
    records = find_runs([tmp_path])
    rows = {row.label: row for row in summarize(records)}
    assert len(rows) == 3 and all(row.runs == 1 for row in rows.values())
    regression = next(row for label, row in rows.items() if label.startswith("unaligned"))
    assert regression.stats["mae"][0] == pytest.approx(
        RunMetrics.read(RECORDS / "regression").test.mae)
    assert "scores: MAE" in describe_run(tmp_path / "regression")
    assert "scores: MAE" not in describe_run(tmp_path / "classification")


def test_one_run_shows_no_spread_and_an_absent_baseline_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(RECORDS / "classification", run)
    rows = summarize(find_runs([run]))
    assert rows[0].runs == 1 and "±" not in summary_markdown(rows).splitlines()[2]
    assert compare_main([str(run), "baseline=nope"]) == 2
    assert capsys.readouterr().err == (
        f"compare.py: error: baseline='nope' is not among the runs compared; their graphs "
        f"and configurations: causal, {rows[0].label}\n")
    assert not (run / "summary.md").exists()
    assert compare_main([str(run), "baseline=causal"]) == 0
