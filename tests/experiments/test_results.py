from experiments.results import main as results_main
from experiments.run import main as run_main


def test_results_page_is_written_from_sweep_directories(tiny, tmp_path):
    sweep = tmp_path / "sweep"
    assert run_main(["-m", *tiny, "graph=none,causal", f"out={sweep}"]) == 0
    out = tmp_path / "docs" / "results.md"
    assert results_main([f"iemocap={sweep}", "data=DATA", f"out={out}"]) == 0
    page = out.read_text()
    assert "| `none` | yes | 1 |" in page
    # The tiny test dialogues end before turn 50, and the page says so.
    assert "| no test dialogue that long |" in page
    assert "- causal (`causal`):" in page and "target ≥ 63.0" in page
    assert "dataset.path=DATA/iemocap graph=none,window_corect" in page
    assert (tmp_path / "docs" / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_sweep_is_refused(tmp_path, capsys):
    assert results_main([f"iemocap={tmp_path / 'nope'}"]) == 2
    assert "missing:" in capsys.readouterr().err
