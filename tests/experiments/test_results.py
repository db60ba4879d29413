import re
import shutil

from dialogues.open_format import save_corpus
from dialogues.synthetic import SyntheticConfig, synthetic_corpus
from experiments.report import Row
from experiments.results import main as results_main, target_lines
from experiments.run import main as run_main

from .conftest import TINY

# The tiny model and training of TINY, for a corpus given by path.
TINY_RUN = [a for a in TINY if not a.startswith("dataset.")]


def test_results_page_is_written_from_sweep_directories(tmp_path):
    data = save_corpus(synthetic_corpus(SyntheticConfig(
        num_train=6, num_dev=2, num_test=2, min_length=2, max_length=9,
        modalities={"text": 12})), tmp_path / "iemocap")
    sweep, gru = tmp_path / "sweep", tmp_path / "gru"
    for out, extra in ((sweep, ["graph=none,causal"]),
                       (gru, ["model.sequence_encoder=gru", "model.speaker_gru=true",
                              "train.ema_decay=0.5", "graph=causal", "graph.past=1,2"])):
        assert run_main(["-m", "dataset=iemocap", f"dataset.path={data}", *TINY_RUN,
                         *extra, f"out={out}"]) == 0
    # The page is written from what the runs recorded: no corpus, no checkpoint.
    shutil.rmtree(data)
    for checkpoint in tmp_path.glob("*/*/checkpoint.pt"):
        checkpoint.unlink()
    page_path = tmp_path / "docs" / "results.md"
    assert results_main([f"iemocap={sweep}", f"iemocap_gru={gru}", "data=DATA",
                         f"out={page_path}"]) == 0
    page = page_path.read_text()
    assert "| `none` | yes | 1 |" in page
    # Causal runs timed their own live push.
    assert re.search(r"\| `causal\(past=4,self_loops=False\)` \| yes \| 1 \|.* \| "
                     r"\d+\.\d\d ± 0\.00 \|\n", page)
    # A sweep's extra overrides name its section; targets are given for both.
    heading = "### IEMOCAP-6 (" + ", ".join(TINY_RUN) + ")"
    assert heading + "\n" in page
    assert heading[:-1] + (", model.sequence_encoder=gru, model.speaker_gru=true, "
                           "train.ema_decay=0.5, graph.past=1,2)\n") in page
    # A sweep over causal's past has no single `causal` row, only dev's choice.
    assert page.count("- causal (`causal`):") == 1 and "target ≥ 63.0" in page
    assert "- causal (chosen on dev among its kind: `causal(past=" in page
    assert "All 2 sweeps: 4 runs, " in page
    assert "deterministic at a given number of intra-op threads" in page
    assert "Each section's lines choose on dev among that section's rows only." in page
    assert "`model.sequence_encoder=gru` replaces CORECT's one-layer text" in page
    assert "Sections over `graph.past`" in page
    assert "A section titled `train.ema_decay=...` evaluates and keeps" in page
    assert "A section titled `model.speaker_gru=true` adds" in page
    # Each sweep's own arguments regenerate it, with the data path under data=.
    assert (f"python experiments/run.py -m dataset=iemocap dataset.path=DATA/iemocap "
            f"{' '.join(TINY_RUN)} model.sequence_encoder=gru model.speaker_gru=true "
            f"train.ema_decay=0.5 "
            f"graph=causal graph.past=1,2 out={gru}\n") in page
    assert (tmp_path / "docs" / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_sweep_is_refused(tmp_path, capsys):
    assert results_main([f"iemocap={tmp_path / 'nope'}"]) == 2
    assert "error: no sweep directory at iemocap=" in capsys.readouterr().err


def test_targets_also_name_the_topology_dev_would_choose():
    def row(graph, dev, test, causal):
        return Row(f"iemocap/{graph}", runs=5, causal=causal,
                   stats={"weighted_f1": (test, 1.0), "dev_weighted_f1": (dev, 1.0)})

    rows = [row("causal(past=4)", 60.0, 60.2, True), row("speaker(future=0)", 63.0, 62.5, True),
            row("corect(past=4,future=11)", 62.0, 64.1, False),
            row("window", 61.0, 65.0, False), row("none", 59.0, 63.9, True)]
    # corect is dev's choice among the bidirectional rows, so it is named once;
    # window's higher test mean is not a choice dev would make.
    assert target_lines(rows) == [
        "- bidirectional (`corect`): 64.1 mean test weighted F1 over 5 seeds; "
        "target ≥ 64.0: **met**.",
        "- causal (`causal`): 60.2 mean test weighted F1 over 5 seeds; "
        "target ≥ 63.0: **not met**.",
        "- causal (chosen on dev among its kind: `speaker(future=0)`): 62.5 mean test "
        "weighted F1 over 5 seeds; target ≥ 63.0: **not met**.",
    ]


def test_a_sweep_over_a_presets_parameters_names_no_single_row():
    rows = [Row(f"iemocap/causal(past={p})", runs=5, causal=True,
                stats={"weighted_f1": (60.0 + p / 10, 1.0), "dev_weighted_f1": (dev, 1.0)})
            for p, dev in ((8, 61.0), (16, 62.0))]
    assert target_lines(rows) == [
        "- causal (chosen on dev among its kind: `causal(past=16)`): 61.6 mean test "
        "weighted F1 over 5 seeds; target ≥ 63.0: **not met**."]
