"""Draw one dialogue under one or more edge builders, or export its graph.

    python experiments/visualize.py graph=speaker dataset.path=DIR \\
        dialogue=ID out=FILE.png [turns=A:B] [show=label|text|none] \\
        [stats=true] [split=test]

Visualize's own keys:

* ``dialogue``: the dialogue id. (default: the first dialogue of ``split``)
* ``split``: where the default dialogue comes from, and the only split
  searched for ``dialogue`` when given. (default: ``test`` when the corpus
  has test dialogues, else its first non-empty split; ``dialogue`` alone
  searches every split)
* ``out``: ``.png``, ``.svg`` or ``.pdf`` draws; ``.graphml`` or ``.gexf``
  exports the networkx graph instead (with several builders, one file each:
  ``NAME.BUILDER.graphml``). Written atomically. Required unless
  ``stats=true``.
* ``turns``: ``A:B`` draws turns A to B-1. Without it a dialogue longer than
  30 turns is cut to its first 30, with a note in the title.
* ``show``: write each utterance's ``label`` or ``text`` above it, or
  ``none``. (default: ``none``)
* ``checkpoint``: a run's ``checkpoint.pt``. Without ``graph=`` its own
  graph is drawn, with the parameters it was trained with, and without
  ``dataset`` keys on its own corpus; a corpus whose modalities or
  dimensions differ from the checkpoint's is refused. A builder that ranks
  by encoder states (``graph.vectors=states``) reads the checkpoint's, and
  is refused without one. Builders that read input features or
  annotations get them from the corpus.
* ``stats``: ``true`` prints a table per builder (edges per utterance,
  in-degree min/mean/max, edges by relation, receptive field after 1 and 2
  layers, past and future; its last line says how far into the future a
  2-layer model can see), computed on the whole dialogue, and saves it as
  CSV next to ``out`` (``fig.png`` -> ``fig.stats.csv``).

Everything else goes to :func:`runner.config.compose`: ``graph=...``,
``graph.past=2``, ``dataset=iemocap``, ``dataset.path=...``.

``graph=window,causal,speaker`` draws the dialogue under each builder, one
panel per builder stacked so that turns line up. A ``graph.KEY=VALUE``
override then applies to every listed graph that has ``KEY`` and is refused
when none has it, so ``graph=window,causal graph.past=2`` narrows both
windows while ``graph=window,modality graph.future=1`` leaves ``modality``
alone.
"""
from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any, Literal, Sequence

import torch

from dialogues import DataError, collate
from runner.cli import Arguments, Command, Option, main as run_command
from runner.config import graph_spec
from runner.graph_choices import compose_per_graph
from runner.predictions import check_dimensions
from runner.setup import corpus_from_config
from viewing.draw import dialogue_figure, parse_turns, save_figure, selected_turns
from storage.atomic import write_text_atomic
from viewing.networkx import to_networkx, write_gexf, write_graphml
from viewing.stats import format_stats, graph_stats
from models import CORECT, Checkpoint, load_checkpoint
import registry as registries

DRAW_FORMATS = (".png", ".svg", ".pdf")
EXPORT_FORMATS = (".graphml", ".gexf")

COMMAND = Command(
    prog="visualize.py",
    summary="Draw one dialogue under one or more edge builders, or export its graph.",
    options=(
        Option("dialogue", str | None, None, "the dialogue id"),
        Option("out", Path | None, None, "the drawing (.png, .svg, .pdf) or export "
                                         "(.graphml, .gexf)"),
        Option("turns", str | None, None, "A:B draws turns A to B-1"),
        Option("show", Literal["none", "label", "text"], "none",
               "write each utterance's label or text above it"),
        Option("stats", bool, False, "print and save the graph statistics"),
        Option("split", str | None, None, "where the dialogue comes from"),
        Option("checkpoint", Path | None, None,
               "a run's checkpoint.pt: its graph and corpus unless given, and its "
               "encoder states"),
    ),
    configures_run=True, sections=("graph", "dataset"),
    details=__doc__.split("\n\n", 1)[1])


class UsageError(ValueError):
    """Input the command cannot use; exits with status 2."""


def load_model(checkpoint: Path) -> tuple[Checkpoint, CORECT]:
    """The checkpoint and its model, refusing one that cannot be read."""
    try:
        loaded = load_checkpoint(checkpoint)
        return loaded, loaded.build()
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"checkpoint={checkpoint}: {exc}") from None


def check_corpus(corpus, loaded: Checkpoint, checkpoint: Path) -> None:
    """Refuse a corpus without the checkpoint's modalities at its dimensions."""
    missing = [m for m in loaded.model.modalities if m not in corpus.modalities]
    if missing:
        raise UsageError(f"checkpoint={checkpoint}: its model reads modalities "
                         f"{missing}, which corpus {corpus.name!r} lacks")
    try:
        check_dimensions(corpus, loaded.model.modalities, f"corpus {corpus.name!r}")
    except DataError as exc:
        raise UsageError(f"checkpoint={checkpoint}: {exc}") from None


def dialogue_content(dialogue, modalities: list[str], builders,
                     model: CORECT | None, checkpoint: Path | None):
    """The dialogue's batch with its features and annotations, and the
    encoder states of the checkpoint's :obj:`model` when a builder reads
    states."""
    batch = collate([dialogue], modalities)
    readers = [name for name, _, builder in builders if builder.reads(modalities).states]
    if not readers:
        return batch
    if model is None:
        raise UsageError(f"graph {readers[0]!r} ranks by encoder states, which only a "
                         "trained model has; pass checkpoint=RUN/checkpoint.pt")
    speakers = len(set(dialogue.speakers))
    if speakers > model.config.max_speakers:
        raise UsageError(f"dialogue {dialogue.id!r} has {speakers} speakers; the model of "
                         f"checkpoint={checkpoint} knows at most {model.config.max_speakers}")
    with torch.no_grad():
        states, _ = model.encode(batch)
    return batch.with_content(states={m: s for m, s in states.items()
                                      if m in batch.modalities})


def stats_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def run(arguments: Arguments) -> int:
    """The command, raising :class:`UsageError`/:class:`ConfigError` on bad
    input before anything is written."""
    own = arguments.options
    rest = arguments.config
    show = own["show"]
    turns = None
    if own["turns"] is not None:
        try:
            turns = parse_turns(own["turns"])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    want_stats = own["stats"]
    out = Path(own["out"]) if own["out"] else None
    if out is None and not want_stats:
        raise UsageError("out=FILE is required (.png, .svg, .pdf to draw; "
                         ".graphml, .gexf to export), unless stats=true")
    suffix = out.suffix.lower() if out is not None else ""
    if out is not None and suffix not in DRAW_FORMATS + EXPORT_FORMATS:
        raise UsageError(f"out={out}: unknown format {suffix or '(no suffix)'}; "
                         f"choices: {', '.join(DRAW_FORMATS + EXPORT_FORMATS)}")
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"out={out}: folder {out.parent} does not exist")

    checkpoint = own["checkpoint"]
    loaded, model = load_model(checkpoint) if checkpoint else (None, None)
    keys = [a.partition("=")[0].strip() for a in rest]
    composed = compose_per_graph(rest)
    if loaded is not None and "graph" not in keys:
        if any(k.startswith("graph.") for k in keys):
            raise UsageError(f"graph.KEY= needs graph=NAME; without it the graph of "
                             f"checkpoint={checkpoint} is drawn as it was trained")
        composed[0]["graph"] = {"name": loaded.graph["name"], **loaded.graph["params"]}
    if loaded is not None and not any(k.split(".")[0] == "dataset" for k in keys):
        recorded = (loaded.metadata.get("config") or {}).get("dataset")
        composed[0]["dataset"] = recorded or composed[0]["dataset"]
    builders = []
    for config in composed:
        name, params = graph_spec(config)
        try:
            builders.append((name, params, registries.default_registry.get(name, **params)))
        except (TypeError, ValueError, KeyError) as exc:
            raise UsageError(f"graph {name!r}: {exc}") from None

    try:
        corpus = corpus_from_config(composed[0]["dataset"])
    except (DataError, TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if loaded is not None:
        check_corpus(corpus, loaded, checkpoint)
    dialogue = corpus.find_dialogue(own["dialogue"], own["split"])
    if turns is not None:
        # Refused for every output, before any graph is built: an export or
        # the statistics would otherwise ignore a range that a drawing refuses.
        try:
            selected_turns(turns, len(dialogue), dialogue.id)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    structure = dialogue_content(dialogue, list(corpus.modalities), builders, model,
                                 checkpoint)
    labels = [corpus.labels[i] if 0 <= i < len(corpus.labels) else None
              for i in dialogue.labels.tolist()]

    graphs, stats = [], []
    for name, params, builder in builders:
        try:
            graph = builder(structure)
        except ValueError as exc:
            raise UsageError(f"graph {name!r} on dialogue {dialogue.id!r}: "
                             f"{exc}") from None
        graphs.append(to_networkx(
            graph, structure, labels=labels, texts=dialogue.texts,
            speakers=dialogue.speakers, builder=name, params=params,
            causal=builder.causal, dialogue_id=dialogue.id, corpus=corpus.name))
        stats.append(graph_stats(graph, structure, name=name))

    if out is not None and suffix in EXPORT_FORMATS:
        write = write_graphml if suffix == ".graphml" else write_gexf
        if len(graphs) == 1:
            write(graphs[0], out)
        else:
            for (name, _, _), G in zip(builders, graphs):
                write(G, out.with_name(f"{out.stem}.{name}{out.suffix}"))
    elif out is not None:
        try:
            figure = dialogue_figure(graphs, show=show, turns=turns)
        except ValueError as exc:  # e.g. turns outside the dialogue
            raise UsageError(str(exc)) from None
        save_figure(figure, out)
    if out is not None:
        print(f"wrote {out}" + (f" ({len(graphs)} files)"
                                if suffix in EXPORT_FORMATS and len(graphs) > 1
                                else ""))

    if want_stats:
        print(f"dialogue {dialogue.id}: {len(dialogue)} turns, "
              f"{len(corpus.modalities)} modalities")
        print(format_stats(stats))
        if out is not None:
            path = out.with_name(f"{out.stem}.stats.csv")
            rows = [{**s.as_row(), "params": str(params), "causal": builder.causal}
                    for s, (_, params, builder) in zip(stats, builders)]
            write_text_atomic(path, stats_csv(rows))
            print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 2 on bad input."""
    return run_command(COMMAND, run, argv, errors=(UsageError,))


if __name__ == "__main__":
    sys.exit(main())
