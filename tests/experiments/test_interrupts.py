"""Killed runs and sweeps leave no litter: SIGTERM and Ctrl-C unwind and
remove the staging folders, and a folder left by SIGKILL is cleaned the next
time its out= is used."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.run import main
from runner.run_log import RunLog

from .conftest import TINY

RUN = Path(__file__).resolve().parents[2] / "experiments" / "run.py"
# Enough epochs that the run is still training when the signal comes.
LONG = [*TINY, "graph=causal", "train.epochs=500", "train.patience=500"]


def start(args, **kwargs):
    return subprocess.Popen([sys.executable, str(RUN), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_epochs(folder: Path, name: str, count: int = 1, timeout: float = 120):
    """Wait until a staging folder of ``name`` in ``folder`` logged ``count``
    epochs; return that staging folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for staging in folder.glob(f".{name}.*.tmp"):
            log = staging / "train.log"
            if log.exists() and log.read_text().count("  epoch ") >= count:
                return staging
        time.sleep(0.2)
    raise AssertionError(f"no staging folder of {name} logged {count} epochs")


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt, as in a terminal, also where pytest
    was started as a background job, which ignores SIGINT."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_run_signalled_in_process_removes_its_staging_folder_and_says_so_in_one_line(
        tmp_path, capsys, monkeypatch, ctrl_c_raises, signum, code, word):
    """The fast version of the next test: the signal comes from the run's
    own process, as the first epoch ends."""
    record_epoch = RunLog.epoch

    def signal_after_the_epoch(self, *args, **kwargs):
        record_epoch(self, *args, **kwargs)
        assert [p.name for p in tmp_path.glob(".run.*.tmp")], "no staging folder to remove"
        os.kill(os.getpid(), signum)

    monkeypatch.setattr(RunLog, "epoch", signal_after_the_epoch)
    assert main([*TINY, "graph=causal", f"out={tmp_path / 'run'}"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == f"run.py: {word}; unfinished outputs were removed"
    assert entries(tmp_path) == []


@pytest.mark.slow  # a subprocess trains until signalled
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_signalled_run_removes_its_staging_folder_and_says_so_in_one_line(
        tmp_path, signum, code, word):
    process = start([*LONG, f"out={tmp_path / 'run'}"])
    staging = wait_for_epochs(tmp_path, "run")
    assert (staging / "history.csv").read_text().startswith("epoch,loss,dev_weighted_f1")
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code
    assert "Traceback" not in err
    assert err.splitlines()[-1] == f"run.py: {word}; unfinished outputs were removed"
    assert entries(tmp_path) == []


@pytest.mark.slow  # a subprocess trains until signalled
def test_a_folder_left_by_sigkill_is_cleaned_by_the_next_run_of_that_out(tmp_path, capsys):
    process = start([*LONG, f"out={tmp_path / 'run'}"])
    staging = wait_for_epochs(tmp_path, "run")
    process.kill()
    process.communicate(timeout=60)
    assert entries(tmp_path) == sorted([".run.lock", staging.name])

    assert main([*TINY, "graph=causal", f"out={tmp_path / 'run'}"]) == 0
    assert entries(tmp_path) == ["run"]


@pytest.mark.slow  # a subprocess trains until signalled
def test_a_live_run_is_never_cleaned_by_another(tmp_path, capsys):
    process = start([*LONG, f"out={tmp_path / 'run'}"])
    try:
        staging = wait_for_epochs(tmp_path, "run")
        assert main([*TINY, "graph=causal", f"out={tmp_path / 'run'}"]) == 2
        assert (f"run.py: error: {tmp_path / 'run'} is being written by another process "
                f"(pid {process.pid})") in capsys.readouterr().err
        assert staging.exists()
    finally:
        process.terminate()
        process.communicate(timeout=120)
    assert entries(tmp_path) == []


@pytest.mark.slow  # a subprocess trains until signalled
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_signalled_parallel_sweep_stops_in_one_line_and_leaves_no_staging(
        tmp_path, signum, code, word):
    sweep = tmp_path / "sweep"
    process = start(["-m", *LONG, "seed=0,1", "jobs=2", f"out={sweep}"],
                    start_new_session=True)
    wait_for_epochs(sweep, "seed=0")
    wait_for_epochs(sweep, "seed=1")
    if signum == signal.SIGINT:  # Ctrl-C signals the whole foreground process group
        os.killpg(process.pid, signum)
    else:  # timeout and docker stop signal the sweep's own process
        process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code
    assert "Traceback" not in err
    assert err.splitlines()[-1] == f"run.py: {word}; unfinished outputs were removed"
    assert entries(sweep) == ["sweep.json"]
