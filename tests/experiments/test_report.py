"""The sweep summary's tables, from rows built by hand and from recorded
runs (no training)."""
import csv
import json
import shutil
from pathlib import Path

import yaml

from experiments.compare import main as compare_main
from runner.record import METRICS_FILE, LatencyRecord, RunMetrics
from runner.report import Row, format_difference, summary_csv, summary_markdown
from runner.significance import Difference

# A run written before the latency recorded its threads and load.
OLD_RUN = Path(__file__).resolve().parent / "records" / "classification"

STATS = {"accuracy": (60.0, 1.0), "weighted_f1": (58.6, 4.3), "macro_f1": (50.0, 1.0),
         "ms_per_utterance": (0.26, 0.01), "stream_ms": (float("nan"), float("nan"))}


def row(graph: str, difference: Difference | None = None, runs: int = 2) -> Row:
    return Row(f"dailydialog/{graph}", runs=runs, stats=dict(STATS), causal=True,
               edges_per_utterance=2.0, difference=difference,
               baseline="dailydialog/none")


def test_an_interval_from_two_seeds_is_shown_marked_and_never_starred():
    # DailyDialog's causal row with 2 seeds a side, which the dialogue-only
    # bootstrap starred.
    few = row("causal", Difference(-3.11, -4.20, -2.04, 1000, 1000, 2, 2))
    enough = row("speaker", Difference(-3.11, -4.20, -2.04, 1000, 1000, 3, 5), runs=3)
    assert not few.difference.significant and few.difference.excludes_zero
    assert format_difference(few) == "-3.11 [-4.20, -2.04] (<3 seeds)"
    assert format_difference(enough) == "-3.11 [-4.20, -2.04] *"
    rows = [row("none"), few, enough]
    markdown = summary_markdown(rows)
    assert "| baseline |" in markdown and "| -3.11 [-4.20, -2.04] (<3 seeds) |" in markdown
    assert ("the 95% interval is a two-level bootstrap (1000 resamples) that redraws each "
            "configuration's seeds independently and the test dialogues") in markdown
    assert "given only with at least 3 seeds per configuration" in markdown
    lines = summary_csv(rows).splitlines()
    header = lines[0].split(",")
    causal = dict(zip(header, lines[2].split(",")))
    speaker = dict(zip(header, lines[3].split(",")))
    assert (causal["significant"], causal["wf1_delta_fewest_seeds"]) == ("False", "2")
    assert (speaker["significant"], speaker["wf1_delta_fewest_seeds"]) == ("True", "3")


def recorded_run(sweep: Path, graph: str, seed: int, **latency) -> None:
    """A copy of :data:`OLD_RUN` as graph :obj:`graph`, seed :obj:`seed`,
    its latency's record updated with :obj:`latency`."""
    run = sweep / f"graph={graph}_seed={seed}"
    shutil.copytree(OLD_RUN, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["seed"], config["graph"] = seed, {"name": graph}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = json.loads((run / METRICS_FILE).read_text())
    metrics["latency"].update(latency)
    (run / METRICS_FILE).write_text(json.dumps(metrics))


def compared(sweep: Path) -> tuple[str, dict[str, dict[str, str]]]:
    assert compare_main([str(sweep)]) == 0
    with (sweep / "summary.csv").open() as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    return (sweep / "summary.md").read_text(), rows


def test_a_record_without_threads_or_load_reads_as_unknown():
    latency = RunMetrics.read(OLD_RUN).latency
    assert (latency.threads, latency.cores, latency.load_start, latency.load_end) == (
        None, None, None, None)
    assert latency.under_load is None
    assert "threads" not in latency.to_json()  # written back as it was read
    timed = LatencyRecord(1.0, 2.0, 0.5, threads=2, cores=4, load_start=3.5, load_end=4.5)
    assert timed.under_load and LatencyRecord.from_json(timed.to_json()) == timed
    assert not LatencyRecord(1.0, 2.0, 0.5, cores=4, load_start=3.9).under_load


def test_a_latency_column_that_mixes_thread_counts_is_marked(tmp_path, capsys):
    # A sweep resumed with another jobs=: one causal seed timed at 2 threads.
    recorded_run(tmp_path, "causal", 0, threads=1, cores=2, load_start=0.5, load_end=0.7)
    recorded_run(tmp_path, "causal", 1, threads=2, cores=2, load_start=0.5, load_end=0.7)
    recorded_run(tmp_path, "none", 0)  # an older run: its run's threads, 1
    markdown, rows = compared(tmp_path)
    causal = next(line for line in markdown.splitlines() if "/causal" in line)
    none = next(line for line in markdown.splitlines() if "/none" in line)
    assert causal.count(" † |") == 2 and "†" not in none and "‡" not in markdown
    assert ("† The latency columns mix intra-op thread counts (1 thread: 2 runs; 2 threads: "
            "1 run; a sweep resumed with another jobs= does this): a marked cell was timed, "
            "at least in part, at another count than the column's most common, 1, and does "
            "not compare with the others.") in markdown
    assert ([rows[k]["latency_threads"] for k in ("synthetic/causal", "synthetic/none")]
            == ["1;2", "1"])
    assert "†" in capsys.readouterr().out  # compare.py prints the table it wrote


def test_a_latency_timed_under_load_is_marked(tmp_path):
    # 1-minute load 5.0 on 2 cores as timing began: threads queued for a CPU.
    recorded_run(tmp_path, "causal", 0, threads=1, cores=2, load_start=5.0, load_end=1.5)
    recorded_run(tmp_path, "none", 0, threads=1, cores=2, load_start=1.9, load_end=2.0)
    markdown, rows = compared(tmp_path)
    causal = next(line for line in markdown.splitlines() if "/causal" in line)
    none = next(line for line in markdown.splitlines() if "/none" in line)
    assert causal.count(" ‡ |") == 2 and "‡" not in none and "†" not in markdown
    assert ("‡ 1 run was timed while the machine's 1-minute load average exceeded its CPU "
            "cores: threads waited for a CPU, so a marked cell overstates the model's "
            "latency.") in markdown
    assert (rows["synthetic/causal"]["timed_under_load"],
            rows["synthetic/none"]["timed_under_load"]) == ("1", "0")


def test_latencies_timed_alike_on_a_quiet_machine_are_not_marked(tmp_path):
    recorded_run(tmp_path, "causal", 0, threads=1, cores=2, load_start=0.1, load_end=0.2)
    recorded_run(tmp_path, "none", 0)
    markdown, _ = compared(tmp_path)
    assert "†" not in markdown and "‡" not in markdown
