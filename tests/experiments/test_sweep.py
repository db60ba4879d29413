import csv
import json
import multiprocessing
import os
import shutil

import pytest
import yaml

from experiments.compare import main as compare_main
from experiments.run import main as run_main
from runner.config import ConfigError
from runner.launchers import LocalLauncher, RayLauncher, _receive, launcher
from runner.report import LAUNCH_KEYS, configuration_labels, natural_order
from runner.sweep import SWEEP_KEYS, expand
from storage.atomic import claim


def test_two_by_two_sweep_ends_in_a_summary(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", "seed=0,1", f"out={sweep}"]) == 0
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert runs == ["graph=causal_seed=0", "graph=causal_seed=1",
                    "graph=none_seed=0", "graph=none_seed=1"]
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["configuration"] for r in rows] == [
        "synthetic/causal(past=4,self_loops=False)", "synthetic/none"]
    assert [r["runs"] for r in rows] == ["2", "2"]
    for row, graph in zip(rows, ["causal", "none"]):
        seeds = [json.loads((sweep / f"graph={graph}_seed={s}/metrics.json").read_text())
                 ["test"]["weighted_f1"] for s in (0, 1)]
        assert abs(float(row["weighted_f1_mean"]) - sum(seeds) / 2) < 1e-3
    assert [r["causal"] for r in rows] == ["True", "True"]
    assert float(rows[1]["edges_per_utterance"]) == 0.0
    markdown = (sweep / "summary.md").read_text()
    assert markdown.startswith("| configuration | runs | accuracy | weighted F1")
    assert (sweep / "tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # compare.py rebuilds the same table from the run directories.
    out = tmp_path / "report"
    assert compare_main([str(sweep), f"out={out}"]) == 0
    assert (out / "summary.csv").read_text() == (sweep / "summary.csv").read_text()


def test_failed_run_is_recorded_and_others_complete(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=causal", "graph.past=1,-1", f"out={sweep}"]) == 1
    assert capsys.readouterr().err.endswith(
        f"run.py: 1 run(s) failed; see {sweep / 'failures.json'}\n")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "graph.past=1"]
    failures = json.loads((sweep / "failures.json").read_text())
    assert len(failures) == 1 and "past must be a non-negative int" in failures[0]["error"]
    markdown = (sweep / "summary.md").read_text()
    assert "| synthetic/causal(past=-1,self_loops=False) | 0 (1 failed) |" in markdown
    assert "Failed runs:" in markdown


@pytest.mark.slow
def test_ray_launcher_runs_the_sweep_on_a_local_instance(tiny, tmp_path):
    pytest.importorskip("ray")
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", "launcher=ray", "jobs=2",
                     f"out={sweep}"]) == 0
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "graph=causal", "graph=none"]
    with (sweep / "summary.csv").open() as f:
        assert [r["runs"] for r in csv.DictReader(f)] == ["1", "1"]


def test_rows_order_the_numbers_in_their_labels_by_value():
    labels = ["d/speaker(past=16)", "d/speaker(past=2)", "d/none", "d/speaker(past=4)"]
    assert sorted(labels, key=natural_order) == [
        "d/none", "d/speaker(past=2)", "d/speaker(past=4)", "d/speaker(past=16)"]


@pytest.mark.slow  # four runs; the labels' unit test is fast
def test_a_sweep_over_a_setting_gives_a_row_per_value(tiny, tmp_path):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none", "model.dropout=0.1,0.3", "seed=0,1",
                     f"out={sweep}"]) == 0
    with (sweep / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["configuration"], r["runs"]) for r in rows] == [
        ("synthetic/none model.dropout=0.1", "2"), ("synthetic/none model.dropout=0.3", "2")]


def test_labels_name_only_settings_that_separate_runs_of_one_dataset():
    def config(dataset, seed, out, dropout, path=None, past=4):
        return {"dataset": {"name": dataset, "path": path}, "graph": {"name": "causal",
                "past": past}, "model": {"dropout": dropout}, "seed": seed, "out": out}

    configs = [config("iemocap", 0, "a", 0.2, "data/iemocap"),
               config("iemocap", 1, "b", 0.2, "data/iemocap", past=8),
               config("meld", 0, "c", 0.5, "data/meld"),
               config("synthetic", 0, "d", 0.1), config("synthetic", 0, "e", 0.3)]
    # Seeds, run folders, graph parameters and the other dataset's path and
    # dropout separate nothing; two synthetic dropouts do.
    assert configuration_labels(configs) == [
        "iemocap/causal(past=4) model.dropout=0.2", "iemocap/causal(past=8) model.dropout=0.2",
        "meld/causal(past=4) model.dropout=0.5", "synthetic/causal(past=4) model.dropout=0.1",
        "synthetic/causal(past=4) model.dropout=0.3"]


@pytest.mark.slow  # six runs; resuming is fast in test_a_failed_combination_is_tried_again
def test_rerunning_a_sweep_runs_only_what_did_not_complete(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    command = ["-m", *tiny, "graph=none,causal", "seed=0,1", f"out={sweep}"]
    assert run_main(command) == 0
    kept = sweep / "graph=none_seed=1"
    # Runs are matched by their resolved configuration, not by folder name.
    kept.rename(sweep / "renamed")
    before = (sweep / "renamed" / "metrics.json").stat().st_mtime_ns
    for lost in ("graph=causal_seed=0", "graph=none_seed=0"):
        shutil.rmtree(sweep / lost)
    capsys.readouterr()

    assert run_main(command) == 0
    err = capsys.readouterr().err
    assert f"resuming {sweep}: 2 of 4 runs already complete, 2 to run" in err
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [
        "graph=causal_seed=0", "graph=causal_seed=1", "graph=none_seed=0", "renamed"]
    assert (sweep / "renamed" / "metrics.json").stat().st_mtime_ns == before
    record = json.loads((sweep / "sweep.json").read_text())
    assert (record["runs"], record["reused"], record["failed"]) == (4, 2, 0)
    with (sweep / "summary.csv").open() as f:
        assert [r["runs"] for r in csv.DictReader(f)] == ["2", "2"]
    assert (sweep / "dev_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_combination_is_tried_again(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    command = ["-m", *tiny, "graph=causal", "graph.past=1,-1", f"out={sweep}"]
    assert run_main(command) == 1
    assert run_main(command) == 1
    assert "1 of 2 runs already complete, 1 to run" in capsys.readouterr().err
    assert len(json.loads((sweep / "failures.json").read_text())) == 1


@pytest.mark.parametrize("changed, message", [
    (["seed=0,1"], "seed: 0 before, 0,1 now"),
    pytest.param(["seed=0", "train.lr=0.01"], "train.lr: 0.001 before, 0.01 now",
                 marks=pytest.mark.slow),
])
def test_a_sweep_of_another_command_is_refused_naming_what_differs(
        tiny, tmp_path, capsys, changed, message):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none", "seed=0", f"out={sweep}"]) == 0
    capsys.readouterr()
    assert run_main(["-m", *tiny, "graph=none", *changed, f"out={sweep}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"run.py: error: {sweep} holds a sweep of another command; ")
    assert message in err and len(err.splitlines()) == 1
    # Launch settings decide nothing about results: another jobs= resumes.
    assert run_main(["-m", *tiny, "graph=none", "seed=0", "jobs=2", f"out={sweep}"]) == 0


def test_a_folder_that_is_not_a_sweep_is_refused(tiny, tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    assert run_main(["-m", *tiny, "graph=none", f"out={tmp_path}"]) == 2
    assert "holds no sweep.json, so it is not a sweep to resume" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


@pytest.mark.slow  # a second 2x2 sweep; test_significance is fast
def test_every_row_is_compared_with_the_baseline_by_a_paired_bootstrap(tiny, tmp_path,
                                                                       capsys):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", "seed=0,1", f"out={sweep}"]) == 0
    with (sweep / "summary.csv").open() as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    causal, none = rows["synthetic/causal(past=4,self_loops=False)"], rows["synthetic/none"]
    assert (none["baseline"], none["wf1_delta"], none["significant"]) == (
        "synthetic/none", "0.0000", "")
    assert causal["baseline"] == "synthetic/none"
    delta = float(causal["wf1_delta"])
    assert delta == pytest.approx(float(causal["weighted_f1_mean"])
                                  - float(none["weighted_f1_mean"]), abs=1e-3)
    low, high = float(causal["wf1_delta_low"]), float(causal["wf1_delta_high"])
    # Two seeds a side: an interval, but never a star.
    assert low <= high and causal["significant"] == "False"
    assert causal["wf1_delta_fewest_seeds"] == "2"
    markdown = (sweep / "summary.md").read_text()
    assert "| baseline |" in markdown and "(<3 seeds) |" in markdown
    assert "a two-level bootstrap (1000 resamples)" in markdown

    # compare.py chooses another baseline and writes into the compared folder.
    capsys.readouterr()
    assert compare_main([str(sweep), "baseline=causal"]) == 0
    with (sweep / "summary.csv").open() as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    assert float(rows["synthetic/none"]["wf1_delta"]) == pytest.approx(-delta, abs=1e-3)


@pytest.mark.slow  # two cross-validated runs; test_run covers cv fast
def test_cross_validated_runs_are_compared_over_every_dialogue(tiny, tmp_path):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", "cv=2", f"out={sweep}"]) == 0
    with (sweep / "summary.csv").open() as f:
        rows = {r["configuration"]: r for r in csv.DictReader(f)}
    causal = rows["synthetic/causal(past=4,self_loops=False)"]
    assert causal["baseline"] == "synthetic/none" and causal["wf1_delta_low"] != ""
    dialogues = json.loads((sweep / "graph=causal" / "metrics.json").read_text())["folds"]
    assert sum(len(f["test_dialogues"]) for f in dialogues) == 10  # 6 + 2 + 2


def test_a_run_whose_process_dies_is_recorded_as_failed():
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=os._exit, args=(3,))
    process.start()
    send.close()
    process.join()
    assert _receive(receive) is None  # not an EOFError that ends the sweep


@pytest.mark.slow  # a second sweep; the two-by-two sweep runs compare.py
def test_compare_takes_a_sweeps_own_run_folders(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", f"out={sweep}"]) == 0
    assert compare_main([str(sweep / "graph=none"), str(sweep / "graph=causal"),
                         f"out={tmp_path / 'both'}"]) == 0
    with (tmp_path / "both" / "summary.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2


def test_a_sweep_folder_in_use_by_another_sweep_is_refused(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    with claim(sweep):  # as a running sweep holds it
        assert run_main(["-m", *tiny, "graph=none", f"out={sweep}"]) == 2
    assert f"{sweep} is being written by another process" in capsys.readouterr().err
    assert not sweep.exists()


@pytest.mark.parametrize("args, message", [
    (["jobs=1,2"], "jobs='1,2': jobs sets the sweep itself and takes one value"),
    (["device=cuda:9"] if not __import__("torch").cuda.is_available() else ["device=x"],
     "device="),
])
def test_settings_of_the_whole_sweep_are_checked_once_before_it(tiny, tmp_path, capsys,
                                                                 args, message):
    assert run_main(["-m", *tiny, "graph=none", *args, f"out={tmp_path / 's'}"]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_names_that_would_collide_get_a_hash(tiny):
    _, names, _ = expand(["dataset.synthetic.modalities={text: 12},{text: 12 }",
                          "seed=0, 1"])
    assert len(set(names)) == 4
    assert [n.endswith("seed=1") or n.endswith("seed=0") or "_" in n for n in names]
    assert not any("seed=-1" in n for n in names)


def test_runs_recorded_before_a_setting_existed_ran_with_its_default(tiny, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    command = ["-m", *tiny, "graph=none", "seed=0", f"out={sweep}"]
    assert run_main(command) == 0

    def forget(config: dict) -> dict:
        del config["model"]["head"], config["model"]["speaker_gru"], config["dataset"]["pool"]
        return config

    run_config, = sweep.glob("*/config.yaml")
    run_config.write_text(yaml.safe_dump(forget(yaml.safe_load(run_config.read_text()))))
    record = json.loads((sweep / "sweep.json").read_text())
    record["configs"] = [forget(c) for c in record["configs"]]
    (sweep / "sweep.json").write_text(json.dumps(record))
    capsys.readouterr()

    assert run_main(command) == 0
    assert f"resuming {sweep}: 1 of 1 runs already complete, 0 to run" in capsys.readouterr().err
    # A setting away from its default is not what the older run did.
    assert run_main([*command, "model.speaker_gru=true"]) == 2
    assert "model.speaker_gru: false before, true now" in capsys.readouterr().err


def test_launchers_are_chosen_by_name():
    assert launcher("local") == LocalLauncher()
    assert launcher("ray", "ray://head:10001") == RayLauncher("ray://head:10001")
    with pytest.raises(ConfigError, match="unknown launcher 'slurm'; choices: local, ray"):
        launcher("slurm")


def test_a_sweeps_own_keys_never_separate_report_rows():
    assert set(SWEEP_KEYS) <= set(LAUNCH_KEYS)
