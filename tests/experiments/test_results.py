import shutil
import string
from pathlib import Path

import pytest

from dialogues.open_format import save_corpus
from dialogues.synthetic import SyntheticConfig, synthetic_corpus
from experiments.results import main as results_main
from experiments.run import main as run_main
from runner.report import Row
from runner.significance import Difference
from runner.study import StudyText, Sweep, Target, lead_table, target_lines

from .conftest import TINY

# The tiny model and training of TINY, for a corpus given by path.
TINY_RUN = [a for a in TINY if not a.startswith("dataset.")]


def tiny_corpus(path: Path, finetune: dict | None) -> Path:
    corpus = synthetic_corpus(SyntheticConfig(
        num_train=6, num_dev=2, num_test=2, min_length=2, max_length=9,
        modalities={"text": 12}))
    corpus.metadata["features"] = {"text": "an encoder's embedding (12-d)"}
    if finetune:
        corpus.metadata["finetune"] = finetune
    return save_corpus(corpus, path)


@pytest.mark.slow  # six runs in three sweeps; the page's tables are unit-tested fast
def test_results_page_is_written_from_sweep_directories(tmp_path):
    frozen = tiny_corpus(tmp_path / "iemocap", None)
    tuned = tiny_corpus(tmp_path / "iemocap_tuned", {"base": "fake", "seed": 3})
    sweeps = {"frozen": (frozen, ["graph=none,causal"]),
              "tuned": (tuned, ["model.sequence_encoder=gru", "train.ema_decay=0.5",
                                "graph=none,causal"]),
              "cv": (frozen, ["cv=2", "graph=none,causal"])}
    for name, (data, extra) in sweeps.items():
        assert run_main(["-m", "dataset=iemocap", f"dataset.path={data}", *TINY_RUN,
                         *extra, f"out={tmp_path / name}"]) == 0
    # The page is written from what the runs recorded: no corpus, no checkpoint.
    shutil.rmtree(frozen)
    shutil.rmtree(tuned)
    for checkpoint in tmp_path.glob("*/*/checkpoint*"):
        shutil.rmtree(checkpoint) if checkpoint.is_dir() else checkpoint.unlink()
    page_path = tmp_path / "docs" / "results.md"
    assert results_main([*(f"{n}={tmp_path / n}" for n in sweeps), "data=DATA",
                         f"out={page_path}"]) == 0
    page = page_path.read_text()
    assert "$" not in page  # every placeholder filled

    # Sections are titled by corpus, features, protocol and extra arguments.
    run_args = ", ".join(TINY_RUN)
    frozen_title = f"IEMOCAP-6, frozen features, test split ({run_args})"
    tuned_title = (f"IEMOCAP-6, fine-tuned features, test split ({run_args}, "
                   "model.sequence_encoder=gru, train.ema_decay=0.5)")
    cv_title = f"IEMOCAP-6, frozen features, 2-fold cross-validation ({run_args})"
    for title in (frozen_title, tuned_title, cv_title):
        assert f"\n### {title}\n" in page
    for title in ("IEMOCAP-6, frozen features, test split",
                  "IEMOCAP-6, fine-tuned features, test split",
                  "IEMOCAP-6, frozen features, 2-fold cross-validation"):
        assert f"\n| {title} | `" in page  # a lead row per section
    assert "| `none` | yes | 1 | " in page and "| baseline |" in page
    # Causal runs timed their own live push.
    assert "| `causal(past=4,self_loops=False)` | yes | 1 | " in page
    assert " ms |\n" in page  # the lead table's live push of a causal choice

    # Targets apply to the fixed split only, each against dev's choice.
    assert page.count("best topology ≥ 66.0. Dev chooses `") == 2
    assert page.count("best causal topology ≥ 65.0. Dev chooses `") == 2
    assert "- IEMOCAP-6, frozen features, 2-fold" not in page
    assert "**not met**, by " in page

    assert ("Fine-tuned features: text: an encoder's embedding (12-d) "
            "(recipe: base fake, seed 3).") in page
    assert "Frozen features: text: an encoder's embedding (12-d)." in page
    assert "a two-level bootstrap (1000 resamples)" in page
    assert "at least 3 seeds per configuration" in page and "(<3 seeds)" in page
    assert "deterministic at a given number of intra-op threads" in page
    # Notes are shown for the sweeps that need them, and only those.
    assert "`model.sequence_encoder=gru` replaces" in page
    assert "A `cv=sessions` section trains each run five times" in page
    assert "`train.ema_decay=0.98` evaluates" in page
    assert "`model.speaker_gru=true` adds" not in page and "Sections over `graph.past`" not in page
    # Each sweep's recorded arguments regenerate it.
    assert (f"python experiments/run.py -m dataset=iemocap dataset.path={tuned} "
            f"{' '.join(TINY_RUN)} model.sequence_encoder=gru train.ema_decay=0.5 "
            f"graph=none,causal out={tmp_path / 'tuned'}\n") in page
    assert "All 3 sweeps: 6 runs, " in page
    assert (tmp_path / "docs" / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"


def row(graph: str, dev: float, test: float, causal: bool, stream: float = float("nan"),
        difference: Difference | None = None) -> Row:
    return Row(f"iemocap/{graph}", runs=5, causal=causal, difference=difference,
               baseline=None if graph != "none" else "iemocap/none",
               stats={"weighted_f1": (test, 1.0), "dev_weighted_f1": (dev, 1.0),
                      "stream_ms": (stream, 0.1)})


def sweep_of(rows: list[Row]) -> Sweep:
    return Sweep("iemocap", Path("nowhere"), None, [], rows)


ROWS = [row("none", 59.0, 63.9, True, 0.5),
        row("causal(past=4)", 60.0, 60.2, True, 1.25,
            Difference(-3.7, -5.0, -2.5, 1000, 31, 5, 5)),
        row("speaker(future=0)", 63.0, 62.5, True, 1.5,
            Difference(-1.4, -3.0, +0.2, 1000, 31, 5, 5)),
        row("corect(past=4,future=11)", 64.0, 64.1, False,
            difference=Difference(+0.2, -1.0, +1.4, 1000, 31, 5, 5)),
        row("window", 61.0, 65.0, False, difference=Difference(+1.1, +0.1, +2.1, 1000, 31, 5, 5))]


def test_the_lead_table_gives_devs_choice_and_its_causal_choice():
    # window's higher test mean is not a choice dev would make.
    assert lead_table([sweep_of(ROWS)], {"iemocap": "IEMOCAP-6"})[2:] == [
        "| IEMOCAP-6, test split | `corect(past=4,future=11)` | no | 5 | 64.1 ± 1.0 | "
        "+0.20 [-1.00, +1.40] | offline only |",
        "| IEMOCAP-6, test split | `speaker(future=0)` | yes | 5 | 62.5 ± 1.0 | "
        "-1.40 [-3.00, +0.20] | 1.50 ms |"]
    # A causal choice is one row.
    assert len(lead_table([sweep_of(ROWS[:3])], {})) == 3


def test_targets_name_devs_choice_its_miss_and_the_significant_rows():
    study = StudyText(string.Template(""), {"iemocap": "IEMOCAP-6"},
                      (Target("iemocap", "any", 64.0), Target("iemocap", "causal", 63.0),
                       Target("meld", "any", 60.0)), (), Path("."))
    assert target_lines([sweep_of(ROWS)], study) == [
        "- IEMOCAP-6, test split: best topology ≥ 64.0. Dev chooses "
        "`corect(past=4,future=11)`: 64.1 mean test weighted F1 over 5 seeds, **met**; "
        "its difference from `none` is +0.20 [-1.00, +1.40]. Differences from `none` that "
        "exclude 0 in this section: `causal(past=4)` (-3.70 [-5.00, -2.50]), "
        "`window` (+1.10 [+0.10, +2.10]).",
        "- IEMOCAP-6, test split: best causal topology ≥ 63.0. Dev chooses "
        "`speaker(future=0)`: 62.5 mean test weighted F1 over 5 seeds, **not met**, by "
        "0.5; its difference from `none` is -1.40 [-3.00, +0.20]. Differences from `none` "
        "that exclude 0 in this section: `causal(past=4)` (-3.70 [-5.00, -2.50]), "
        "`window` (+1.10 [+0.10, +2.10])."]


def test_missing_sweep_is_refused(tmp_path, capsys):
    assert results_main([f"iemocap={tmp_path / 'nope'}"]) == 2
    assert "error: no sweep directory at iemocap=" in capsys.readouterr().err


@pytest.mark.parametrize("page, study, message", [
    (None, "titles: {}\n", "has no page.md"),
    ("# $lead\n", "titles: {}\ntarget: []\n", "study.yaml: unknown keys ['target']"),
    ("# $lead\n", "targets: [{dataset: meld, kind: best, at_least: 60}]\n",
     "target kind 'best' is neither 'any' nor 'causal'"),
    ("# $lead\n", "notes: [{when: cv=}]\n", "study.yaml: Note.__init__() missing 1 "
     "required positional argument: 'text'"),
    ("# $lead $leed\n", "titles: {}\n", "page.md has the placeholder $leed; known: "),
    ("costs $5\n", "titles: {}\n", "write $$ for a dollar sign"),
])
def test_a_bad_study_folder_is_refused_naming_its_file(tmp_path, capsys, page, study,
                                                       message):
    sweep = tmp_path / "sweep"  # the study's words are read before any sweep
    sweep.mkdir()
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "study.yaml").write_text(study)
    if page is not None:
        (folder / "page.md").write_text(page)
    out = tmp_path / "page.md"
    assert results_main([f"iemocap={sweep}", f"study={folder}", f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("results.py: error: ") and message in err
    assert str(folder) in err
    assert not out.exists()


def test_a_target_met_by_no_graph_says_so():
    study = StudyText(string.Template(""), {}, (Target("iemocap", "causal", 60.0),), (),
                      Path("."))
    rows = [row("none", 65.0, 61.0, True), ROWS[1]]
    rows[0].runs = 1
    assert target_lines([sweep_of(rows)], study) == [
        "- iemocap, test split: best causal topology ≥ 60.0. Dev chooses `none`: 61.0 "
        "mean test weighted F1 over 1 seed, **met**; it is `none` itself. Differences "
        "from `none` that exclude 0 in this section: `causal(past=4)` "
        "(-3.70 [-5.00, -2.50])."]


def test_the_readme_quotes_the_results_page_rows_as_written():
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    page = (root / "docs" / "results.md").read_text().splitlines()
    section = readme.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines()
            if line.startswith("| ") and not line.startswith(("| section", "|---"))]
    assert rows, "the README's Results section quotes no row of the page"
    assert [row for row in rows if row not in page] == []
