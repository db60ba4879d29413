import csv
import shlex
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch

from dialogues import SyntheticConfig, collate, load_corpus
from experiments.visualize import main
from graphs import DialogueBatch
from viewing.draw import dialogue_figure, draw_dialogue_graph, parse_turns
from viewing.networkx import from_networkx, to_networkx
from registry import EdgeBuilderRegistry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = EdgeBuilderRegistry(entry_points=False)
SMALL = ["dataset.synthetic.num_train=2", "dataset.synthetic.num_dev=1",
         "dataset.synthetic.num_test=1", "dataset.synthetic.max_length=12"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def small_corpus():
    return load_corpus(None, synthetic=SyntheticConfig(
        num_train=2, num_dev=1, num_test=1, max_length=12))


# -- the command ------------------------------------------------------------
def test_png_and_svg(tmp_path, capsys):
    png, svg = tmp_path / "g.png", tmp_path / "g.svg"
    assert main([*SMALL, "graph=speaker", f"out={png}"]) == 0
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert main([*SMALL, "graph=speaker", "show=label", f"out={svg}"]) == 0
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert f"wrote {png}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "g.svg"]


def test_two_builders_give_different_pictures(tmp_path):
    a, b = tmp_path / "window.png", tmp_path / "causal.png"
    assert main([*SMALL, "graph=window", f"out={a}"]) == 0
    assert main([*SMALL, "graph=causal", f"out={b}"]) == 0
    assert a.read_bytes() != b.read_bytes()


def test_several_builders_stack_in_one_figure(tmp_path):
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    assert main([*SMALL, "graph=window", f"out={one}"]) == 0
    assert main([*SMALL, "graph=window,causal,speaker", "graph.past=2",
                 f"out={three}"]) == 0
    (w1, h1), (w3, h3) = png_size(one), png_size(three)
    assert h3 > 2.5 * h1 and abs(w3 - w1) < 0.5 * w1


def test_graph_overrides_go_to_the_graphs_that_have_the_key(tmp_path, capsys):
    assert main([*SMALL, "graph=window,modality", "graph.future=1",
                 "stats=true"]) == 0
    printed = capsys.readouterr().out
    assert "a 2-layer model sees into the future: window 2 turns, modality 0 turns" in printed
    assert main([*SMALL, "graph=window,modality", "graph.futur=1",
                 "stats=true"]) == 2
    assert "graph.futur=1: none of the graphs" in capsys.readouterr().err


def test_stats_are_printed_and_saved(tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert main([*SMALL, "graph=window,causal", "graph.past=1", "graph.future=1",
                 "stats=true", f"out={out}"]) == 0
    printed = capsys.readouterr().out.splitlines()
    corpus = small_corpus()
    dialogue = corpus.splits["test"][0]        # the default: test's first
    assert f"dialogue {dialogue.id}: {len(dialogue)} turns, 3 modalities" in printed
    assert printed[-2] == ("a 2-layer model sees into the future: "
                           "window 2 turns, causal 0 turns")
    assert printed[-1] == f"wrote {tmp_path / 'fig.stats.csv'}"
    with (tmp_path / "fig.stats.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["window", "causal"]
    T = len(dialogue)
    window, causal = rows
    # window past=1, future=1 on T turns x 3 modalities.
    assert int(window["edges"]) == 3 * 2 * (T - 1)
    assert float(window["edges_per_utterance"]) == pytest.approx(6 * (T - 1) / T, abs=1e-4)
    assert (window["past_2"], window["future_2"], causal["future_2"]) == ("2", "2", "0")
    assert (causal["causal"], window["causal"]) == ("True", "False")
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_graphml_export_round_trips(tmp_path):
    out = tmp_path / "g.graphml"
    assert main([*SMALL, "graph=speaker", "dialogue=dev_0000", f"out={out}"]) == 0
    corpus = small_corpus()
    dialogue = corpus.splits["dev"][0]
    structure = collate([dialogue], list(corpus.modalities))
    expected = REGISTRY.get("speaker")(structure)
    back = from_networkx(nx.read_graphml(out))
    assert back.edge_index.tolist() == expected.edge_index.tolist()
    assert back.edge_type.tolist() == expected.edge_type.tolist()
    assert back.relations == expected.relations


def test_gexf_export_one_file_per_builder(tmp_path):
    out = tmp_path / "g.gexf"
    assert main([*SMALL, "graph=window,causal", f"out={out}"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.causal.gexf",
                                                          "g.window.gexf"]
    assert nx.read_gexf(tmp_path / "g.causal.gexf").number_of_nodes() > 0


@pytest.mark.parametrize("args,message", [
    (["dialogue=test_000"], "no such dialogue in the corpus (4 dialogues, e.g. "
                            "train_0000, train_0001, dev_0000, test_0000); "
                            "did you mean 'test_0000'?"),
    (["dialogue=dev_0000", "split=test"], "no such dialogue in split 'test'"),
    (["split=nope"], "split='nope': the corpus has no dialogues there"),
    (["turns=5"], "turns='5': expected A:B"),
    (["turns=40:50"], "selects no turns"),
    (["show=everything"], "show='everything': expected one of none, label, text"),
    (["graph=windw"], "did you mean 'window'?"),
    (["graph.past=x"], "graph.past='x'"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "g.png"
    assert main([*SMALL, *args, f"out={out}"]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_out_is_required_and_checked(tmp_path, capsys):
    assert main(SMALL) == 2
    assert "out=FILE is required" in capsys.readouterr().err
    assert main([*SMALL, f"out={tmp_path / 'g.jpeg'}"]) == 2
    assert "unknown format .jpeg" in capsys.readouterr().err
    assert main([*SMALL, f"out={tmp_path / 'no' / 'g.png'}"]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_runs_as_a_script_from_anywhere(tmp_path):
    out = tmp_path / "g.svg"
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "visualize.py"), *SMALL,
         "graph=causal", f"out={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ET.parse(out).getroot().tag.endswith("svg")


# -- the drawing ------------------------------------------------------------
def drawn(graph_nx, **kwargs):
    fig = Figure(figsize=(14, 3))
    ax = fig.add_subplot()
    draw_dialogue_graph(ax, graph_nx, **kwargs)
    return ax


def labelled_graph(name, length=8, **params):
    batch = DialogueBatch([length], torch.arange(length) % 2, ("audio", "text", "visual"))
    builder = REGISTRY.get(name, **params)
    return to_networkx(builder(batch), batch,
                       labels=[f"c{t % 3}" for t in range(length)],
                       texts=[f"utterance {t}" for t in range(length)],
                       builder=name, params=params, causal=builder.causal,
                       dialogue_id="d7"), builder(batch)


def test_title_legend_and_one_styled_path_per_relation():
    G, graph = labelled_graph("window", past=1, future=2)
    ax = drawn(G)
    title = ax.get_title(loc="left").splitlines()
    assert title[0] == "window(past=1, future=2)"
    assert title[1] == (f"causal: no — 24 nodes, {graph.num_edges} edges, "
                        "6 relations")
    assert title[2] == "dialogue d7, turns 0–7 of 0–7"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    counts = torch.bincount(graph.edge_type).tolist()
    assert legend == [f"{r} ({n})" for r, n in zip(graph.relations, counts)] + [
        "speaker s0", "speaker s1"]
    # Curves (unfilled) and arrowheads (filled): one path each per relation.
    curves = [p for p in ax.patches if isinstance(p, PathPatch) and not p.get_fill()]
    assert len(curves) == 6
    styles = {(p.get_edgecolor(), p.get_linestyle()) for p in curves}
    assert len(styles) == 6
    assert sum(len(p.get_path().vertices) for p in curves) == 3 * graph.num_edges


def test_parallel_edges_of_two_relations_bend_apart():
    # Both parts of the union link the same pairs.
    batch = DialogueBatch([4], [0, 1, 0, 1], ("text",))
    builder = REGISTRY.get("union", parts={"a": {"builder": "window", "past": 1,
                                                 "future": 0},
                                           "b": {"builder": "causal", "past": 1}})
    ax = drawn(to_networkx(builder(batch), batch))
    curves = [p.get_path().vertices for p in ax.patches if not p.get_fill()]
    assert len(curves) == 2
    assert np.allclose(curves[0][0::3], curves[1][0::3])      # same ends
    assert not np.allclose(curves[0][1::3], curves[1][1::3])  # other bends


def test_long_dialogues_are_cut_unless_turns_are_given():
    G, _ = labelled_graph("causal", length=45, past=2)
    title = drawn(G).get_title(loc="left")
    assert "turns 0–29 of 0–44 (cut to the first 30; pass turns=A:B" in title
    assert "90 of 135 nodes" in title
    title = drawn(G, turns="40:45").get_title(loc="left")
    assert "turns 40–44 of 0–44" in title and "cut" not in title
    assert "15 of 135 nodes, 21 of" in title   # 3 x (0 + 1 + 2 + 2 + 2) edges
    assert drawn(G, turns=slice(None, 5)).get_xlim()[1] < 5
    with pytest.raises(ValueError, match="selects no turns"):
        drawn(G, turns=(50, 60))
    assert parse_turns(":7") == slice(None, 7)


def test_show_writes_labels_or_texts_once_per_turn():
    G, _ = labelled_graph("none", length=5)
    assert [t.get_text() for t in drawn(G, show="label").texts] == [
        "c0", "c1", "c2", "c0", "c1"]
    assert drawn(G, show="text").texts[3].get_text() == "utterance 3"
    assert len(drawn(G).texts) == 0
    with pytest.raises(ValueError, match="show="):
        drawn(G, show="labels")


def test_a_dialogue_graph_can_be_drawn_with_its_batch():
    batch = DialogueBatch([3, 2], [0, 1, 0, 0, 1], ("text", "audio"))
    graph = REGISTRY.get("causal", past=1)(batch)
    fig = Figure()
    ax = draw_dialogue_graph(fig.add_subplot(), graph, batch, dialogue=0)
    assert ax.get_title(loc="left").splitlines()[1].startswith(
        "causal: yes — 6 nodes, 4 edges")


def test_figure_has_one_panel_per_graph():
    graphs = [labelled_graph(n)[0] for n in ("window", "causal", "modality")]
    fig = dialogue_figure(graphs, show="label")
    assert [ax.get_title(loc="left").splitlines()[0] for ax in fig.axes] == [
        "window", "causal", "modality"]


def test_stats_takes_a_boolean(capsys):
    assert main([*SMALL, "graph=window", "stats=maybe"]) == 2
    assert "stats='maybe': expected bool" in capsys.readouterr().err


def test_content_builders_draw_from_the_corpus(tmp_path, capsys):
    out = tmp_path / "sim.png"
    assert main([*SMALL, "graph=similarity_weighted,dag", f"out={out}", "stats=true"]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "text:similar=32" in capsys.readouterr().out  # 8 turns x 4 neighbours


def test_a_states_builder_needs_a_checkpoint(tmp_path, capsys):
    from runner.config import compose
    from runner.experiment import run_experiment

    from .conftest import TINY
    args = ["graph=similarity_causal", "graph.vectors=states"]
    assert main([*SMALL, *args, f"out={tmp_path / 'x.png'}"]) == 2
    assert ("graph 'similarity' ranks by encoder states, which only a trained model has; "
            "pass checkpoint=RUN/checkpoint.pt") in capsys.readouterr().err
    run = run_experiment(compose([*TINY, *args, f"out={tmp_path / 'run'}"]))
    out = tmp_path / "states.graphml"
    tiny_data = [a for a in TINY if a.startswith("dataset.")]
    assert main([*tiny_data, *args, f"checkpoint={run / 'checkpoint.pt'}",
                 f"out={out}"]) == 0
    graph = from_networkx(nx.read_graphml(out))
    assert graph.num_edges > 0 and graph.relations == ("text:similar", "audio:similar")

    # Without graph= and dataset keys: the checkpoint's own graph, as trained, on
    # its own corpus.
    capsys.readouterr()
    assert main([f"checkpoint={run / 'checkpoint.pt'}", "stats=true",
                 f"out={tmp_path / 'own.png'}"]) == 0
    with (tmp_path / "own.stats.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["name"] == "similarity" and "'vectors': 'states'" in row["params"] \
        and "'past_only': True" in row["params"]
    # A corpus of other dimensions, or a dialogue of more speakers than the model
    # knows, is refused in one line.
    capsys.readouterr()
    assert main([*SMALL, f"checkpoint={run / 'checkpoint.pt'}", f"out={out}"]) == 2
    assert capsys.readouterr().err == (
        f"visualize.py: error: checkpoint={run / 'checkpoint.pt'}: corpus 'synthetic': "
        "modality 'text' has dimension 768, the checkpoint expects 12\n")
    crowd = [*tiny_data, "dataset.synthetic.num_speakers=5", "dataset.synthetic.min_length=9"]
    assert main([*crowd, f"checkpoint={run / 'checkpoint.pt'}", f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("visualize.py: error: dialogue ") and err.count("\n") == 1
    assert "speakers; the model of checkpoint=" in err and "knows at most 2\n" in err


def readme_visualize_commands() -> list[list[str]]:
    """The arguments of every ``visualize.py`` line of the README's code
    blocks that runs on the synthetic default (no ``dataset=``)."""
    commands = []
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("python experiments/visualize.py "):
            args = shlex.split(line.split("#")[0])[2:]
            if not any(a.startswith("dataset") for a in args):
                commands.append(args)
    return commands


@pytest.mark.parametrize("args", readme_visualize_commands(), ids=" ".join)
def test_the_readme_examples_run_as_written(args, tmp_path, capsys):
    """Only out= is moved into a temporary folder: a turns= range or a key
    that the default corpus does not have fails here."""
    args = [f"out={tmp_path / a.split('=', 1)[1]}" if a.startswith("out=") else a
            for a in args]
    assert main(args) == 0, capsys.readouterr().err
    assert any(tmp_path.iterdir())


def test_the_readme_has_the_turns_example():
    assert any(any(a.startswith("turns=") for a in args)
               for args in readme_visualize_commands())


@pytest.mark.parametrize("output", [["out=g.graphml"], ["stats=true"], ["out=g.png"]])
def test_an_empty_turns_range_is_refused_for_every_output(output, tmp_path, capsys,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([*SMALL, "dialogue=test_0000", "turns=30:60", *output]) == 2
    err = capsys.readouterr().err
    length = len(small_corpus().find_dialogue("test_0000", None))
    assert err == (f"visualize.py: error: turns=30:60 selects no turns of dialogue "
                   f"'test_0000', which has {length} turns (0 ... {length - 1})\n")
    assert list(tmp_path.iterdir()) == []
