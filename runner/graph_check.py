"""The pre-training check of a run's graph: its builder holds to the
contract on every dialogue of the corpus."""
from __future__ import annotations

from dialogues import Corpus, DataError, batches
from graphs import GraphContractError, validate
from models import CORECT


#: Dialogues per batch when the builder is checked before training: large
#: enough that the check is a few vectorised builds, small enough that a
#: dense per-dialogue builder stays within memory.
CHECK_BATCH = 256


def check_graphs(model: CORECT, corpus: Corpus, graph_name: str) -> None:
    """Hold the builder to its contract on every dialogue of every split,
    with the content it reads (stand-in states for a builder of encoder
    states), before any training: a builder that breaks it only on some
    dialogues, past its 24th turn say, fails here and not as a silently
    wrong ``causal`` run.

    Args:
        model (CORECT): The model whose builder is checked, and what it reads.
        corpus (Corpus): Every split of it is checked.
        graph_name (str): The builder's name and origin, for messages.

    Raises:
        DataError: The builder reads annotations the corpus lacks.
        GraphContractError: Naming the builder, its origin, the split and
            the first offending edge.
    """
    missing = [name for name in model.reads.annotations
               if name != "turn" and not any(name in d.annotations
                                             for ds in corpus.splits.values() for d in ds)]
    if missing:
        skipped = corpus.metadata.get("non_numeric_columns") or {}
        why = "".join(f"; column {name!r} is not numeric ({skipped[name]})"
                      for name in missing if name in skipped)
        raise DataError(f"graph {graph_name!r} reads annotations {missing}, which corpus "
                        f"{corpus.name!r} does not have{why}")
    for split, dialogues in corpus.splits.items():
        for batch in batches(dialogues, model.modalities, CHECK_BATCH):
            try:  # the builder is handed only what it reads, never the labels
                validate(model.builder, batch, graph_name)
            except GraphContractError as error:
                raise GraphContractError(f"{error} (split {split!r})") from None
