"""The run record, ``metrics.json``: one typed schema that a run writes and
every report reads.

A new number is one field here: :func:`RunMetrics.to_json` writes it and
:func:`RunMetrics.from_json` reads it back, and reports read the attribute.
A field marked :func:`optional` is left out of the JSON while it is
``None`` (a regression head's score metrics, a causal model's live push,
a cross-validated run's folds), as runs have always written them. Keys a
record holds that the schema does not name (an older or newer ergraph's)
are kept in ``extra`` and written back after the named ones, so reading a
record and writing it again keeps every key and value.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Union

#: The record's file name in a run directory.
METRICS_FILE = "metrics.json"


def optional(default: Any = None) -> Any:
    """A field left out of the JSON while it is ``None``."""
    return field(default=default, metadata={"optional": True})


#: Fields of every record that are not keys of its JSON.
BOOKKEEPING = ("extra", "unrecorded")


@dataclass
class JsonRecord:
    """A part of the record: a dataclass read from and written to JSON.

    Args:
        extra (dict[str, Any]): Keys of the JSON that the schema does not
            name, kept as read.
        unrecorded (frozenset[str]): Fields other than the optional ones
            that the JSON lacked (an older run's), read as None.
    """

    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False,
                                  kw_only=True)
    unrecorded: frozenset[str] = field(default=frozenset(), repr=False, compare=False,
                                       kw_only=True)

    def recorded(self, name: str) -> bool:
        """Whether the run recorded field :obj:`name` (even as null).

        Args:
            name (str): A field of the schema.
        """
        return name not in self.unrecorded

    @classmethod
    def from_json(cls, data: dict[str, Any]):
        """The record of JSON object :obj:`data`.

        Args:
            data (dict): The parsed JSON; keys the schema lacks go to
                ``extra``, fields the JSON lacks (an older run's) are None.
        """
        return _from_json(cls, data)

    def to_json(self) -> dict[str, Any]:
        """The JSON object, keys in the schema's order, then ``extra``'s."""
        return _to_json(self)


@dataclass
class TestMetrics(JsonRecord):
    """Scores on the test dialogues (:func:`runner.metrics.classification_metrics`,
    and :func:`runner.metrics.score_metrics` for a regression head).

    Args:
        accuracy (float): In percent.
        weighted_f1 (float): F1 weighted by support, in percent.
        macro_f1 (float): Mean F1 of the classes present, in percent.
        per_class_f1 (dict[str, float]): F1 of each label, in percent.
        confusion (list[list[int]]): Rows true labels, columns predicted.
        support (int, optional): Labelled utterances scored.
        mae (float, optional): A regression head's mean absolute error.
        pearson (float, optional): Its Pearson correlation.
        scored (int, optional): Utterances with a known score.
    """

    accuracy: float
    weighted_f1: float
    macro_f1: float
    per_class_f1: dict[str, float]
    confusion: list[list[int]]
    support: int | None = optional()
    mae: float | None = optional()
    pearson: float | None = optional()
    scored: int | None = optional()


@dataclass
class DevMetrics(JsonRecord):
    """Dev scores of the selected epoch (their mean over folds).

    Args:
        weighted_f1 (float): In percent.
    """

    weighted_f1: float


@dataclass
class GraphRecord(JsonRecord):
    """The graph a run trained with.

    Args:
        name (str): Its registry name.
        params (dict[str, Any]): Its builder's parameters.
        causal (bool): Whether no edge comes from a later turn.
        num_relations (int): Edge relations of the model.
        edges_per_utterance (float): On the test dialogues of the last
            model.
    """

    name: str
    params: dict[str, Any]
    causal: bool
    num_relations: int
    edges_per_utterance: float


@dataclass
class LatencyRecord(JsonRecord):
    """Timings of the last model on its test dialogues (:mod:`runner.latency`).

    Args:
        graph_ms_per_dialogue (float): Building the graph, batch size 1.
        forward_ms_per_dialogue (float): The forward pass, batch size 1.
        ms_per_utterance (float): Both, per utterance.
        stream_ms (float, optional): A causal model's live push.
        stream_turn (int, optional): The turn that push was timed at.
        threads (int, optional): Torch's intra-op threads while timed.
        cores (int, optional): The timing machine's CPU cores.
        load_start (float, optional): The machine's 1-minute load average
            as timing began.
        load_end (float, optional): The same as timing ended.

    The last four say under what conditions the timings were taken: the same
    run timed 3.8 ms per utterance on a loaded machine and 0.26 ms on a quiet
    one. Runs before they were recorded, and machines without a load
    average, leave them out.
    """

    graph_ms_per_dialogue: float
    forward_ms_per_dialogue: float
    ms_per_utterance: float
    stream_ms: float | None = optional()
    stream_turn: int | None = optional()
    threads: int | None = optional()
    cores: int | None = optional()
    load_start: float | None = optional()
    load_end: float | None = optional()

    @property
    def under_load(self) -> bool | None:
        """Whether the 1-minute load average exceeded the cores at the start
        or the end of timing: runnable threads then waited for a CPU, and
        the timings include the wait. None where the run did not record it.
        """
        loads = [load for load in (self.load_start, self.load_end) if load is not None]
        if not loads or self.cores is None:
            return None
        return max(loads) > self.cores


@dataclass
class DatasetRecord(JsonRecord):
    """What the features are, so that reports can tell frozen from
    fine-tuned runs without reloading the corpus.

    Args:
        name (str): The corpus name.
        labels (list[str]): Label names in index order.
        modalities (dict[str, int]): Each modality's dimension.
        features (dict[str, str], optional): How each modality was made.
        finetune (dict, optional): The fine-tuning recipe of the features.
    """

    name: str
    labels: list[str]
    modalities: dict[str, int]
    features: dict[str, str] | None = None
    finetune: dict[str, Any] | None = None


@dataclass
class FoldRecord(JsonRecord):
    """One fold of a cross-validated run.

    Args:
        fold (int): Its number, from 1.
        test_dialogues (list[str]): The dialogues it held out.
        test (TestMetrics): Its scores on them.
        dev (DevMetrics): Its dev score at the selected epoch.
        best_epoch (int): The selected epoch.
        epochs_run (int): Epochs trained.
        history (list[dict]): One row per epoch.
        train_seconds (float): Training time.
    """

    fold: int
    test_dialogues: list[str]
    test: TestMetrics
    dev: DevMetrics
    best_epoch: int
    epochs_run: int
    history: list[dict[str, Any]]
    train_seconds: float


@dataclass
class RunMetrics(JsonRecord):
    """A finished run's record, ``metrics.json``.

    Args:
        test (TestMetrics): Test scores (every fold's test dialogues
            pooled, under cross-validation).
        dev (DevMetrics): Dev score at the selected epoch.
        best_epoch (int or list[int]): The selected epoch; each fold's.
        epochs_run (int): Epochs trained, all folds together.
        history (list[dict]): One row per epoch; empty under
            cross-validation, whose folds have their own.
        graph (GraphRecord): The graph.
        latency (LatencyRecord): Timings.
        params (int): The model's parameters.
        train_seconds (float): Training time, all folds together.
        device (str): Where it trained.
        threads (int): Torch's intra-op threads: CPU results are bit-exact
            only at the same count.
        dataset (DatasetRecord): What it trained on.
        cv (int or str, optional): The cross-validation folds.
        folds (list[FoldRecord], optional): Each fold's record.
    """

    test: TestMetrics
    dev: DevMetrics
    best_epoch: int | list[int]
    epochs_run: int
    history: list[dict[str, Any]]
    graph: GraphRecord
    latency: LatencyRecord
    params: int
    train_seconds: float
    device: str
    threads: int
    dataset: DatasetRecord
    cv: int | str | None = optional()
    folds: list[FoldRecord] | None = optional()

    @classmethod
    def read(cls, run_dir: str | Path) -> RunMetrics:
        """The record of run directory :obj:`run_dir`.

        Args:
            run_dir (str or Path): A finished run's directory.
        """
        return cls.from_json(json.loads((Path(run_dir) / METRICS_FILE).read_text()))

    def dumps(self) -> str:
        """The text of ``metrics.json``."""
        return json.dumps(self.to_json(), indent=2)

    def write(self, run_dir: str | Path) -> Path:
        """Write ``metrics.json`` into :obj:`run_dir`; return its path.

        Args:
            run_dir (str or Path): The run (or staging) directory.
        """
        path = Path(run_dir) / METRICS_FILE
        path.write_text(self.dumps())
        return path


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _record_type(hint: Any) -> tuple[type | None, bool]:
    """The record dataclass that :obj:`hint` holds, and whether as a list
    (``list[FoldRecord] | None``); ``(None, False)`` for plain JSON."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            found = _record_type(arm)
            if found[0] is not None:
                return found
        return None, False
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (Any,)
        return (item, True) if dataclasses.is_dataclass(item) else (None, False)
    return (hint, False) if dataclasses.is_dataclass(hint) else (None, False)


def _from_json(cls: type, data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name not in BOOKKEEPING}
    values: dict[str, Any] = {}
    for name in known & data.keys():
        record, many = _record_type(hints[name])
        value = data[name]
        if record is not None and value is not None:
            value = ([_from_json(record, v) for v in value] if many
                     else _from_json(record, value))
        values[name] = value
    absent = known - data.keys()
    # An optional field is absent by design; another, in an older record.
    unrecorded = absent - {f.name for f in dataclasses.fields(cls) if f.metadata.get("optional")}
    return cls(**values, **{name: None for name in absent},
               extra={k: v for k, v in data.items() if k not in known},
               unrecorded=frozenset(unrecorded))


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name in BOOKKEEPING:
                continue
            item = getattr(value, f.name)
            if item is None and f.metadata.get("optional"):
                continue
            out[f.name] = _to_json(item)
        out.update(value.extra)
        return out
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value
