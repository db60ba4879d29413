"""The sweep summary's tables, from rows built by hand (no runs)."""
from runner.report import Row, format_difference, summary_csv, summary_markdown
from runner.significance import Difference

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
