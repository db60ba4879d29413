import os

# Tests run chains of small ops on a shared two-core machine, where a second
# intra-op thread makes each op wait for a descheduled peer: under load the
# leakage tests took 400 s with torch's default threads and 20 s with one.
# Set before torch is imported, so that the scripts tests start inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests see exactly the built-ins, whatever plugins the user has installed
# and whatever this variable says in their shell (a user may export it as
# 0): a test that wants a plugin installs it and names it to its registry.
# Set before anything imports registry, whose default registry reads it
# once, and inherited by the scripts tests start.
os.environ["ERGRAPH_DISABLE_PLUGIN_AUTOLOAD"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from graphs import DialogueBatch  # noqa: E402
from runner import launchers  # noqa: E402

# A local Ray instance takes this machine's network address for its node
# unless this flag (named for the platforms where it is the default) says
# loopback; tests keep every byte of their traffic on 127.0.0.1. Set before
# any test imports Ray, and inherited by the processes Ray starts.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """One intra-op thread again before each test and its fixtures: a sweep
    run in this process sets its runs' thread count and leaves it set."""
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def sweeps_share_out_one_thread(monkeypatch):
    """A local sweep gives its runs a share of the cores, two threads here
    at jobs=1; under load each of their small ops then waits for a
    descheduled peer, and a two-run sweep took 20 s instead of 2."""
    monkeypatch.setattr(launchers, "threads_per_run", lambda jobs: 1)


@pytest.fixture
def two_dialogues():
    """Dialogue A: turns 0-2, speakers 0 1 0; dialogue B: turns 0-1,
    speakers 0 1. Utterances 0-4; with two modalities, text nodes 0-4 and
    audio nodes 5-9."""
    return DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text", "audio"))

