r"""Figures of finished runs, each saved atomically as a PNG.

>>> training_curves(metrics["history"], metrics["best_epoch"], run_dir / "curves.png")
>>> confusion_figure(metrics["test"]["confusion"], label_names, run_dir / "confusion.png")
>>> dev_curves([(label, history), ...], sweep_dir / "dev_curves.png")

A history is the list of rows :func:`runner.training.train` records,
one per epoch: ``{"epoch", "loss", "dev_weighted_f1" (percent), "lr"}``.

Uses :class:`matplotlib.figure.Figure` directly, never :mod:`pyplot`, as
:mod:`viewing.draw` does: it needs no backend switch, runs headless, and a
figure nothing refers to any more is simply garbage collected, so there is
no figure manager to close.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from storage.atomic import write_atomic

DPI = 120
HISTORY_KEYS = ("epoch", "loss", "dev_weighted_f1")
# Ten colours, then the same ten dashed, dotted, ...: a sweep of 40
# configurations still gets 40 distinguishable curves.
LINE_STYLES = ("-", "--", ":", "-.")
# Above this many configurations the legend no longer fits inside the axes.
LEGEND_INSIDE_MAX = 6


def _save_png(fig: Figure, path: str | os.PathLike) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def _check_history(history: Sequence[Mapping], what: str) -> None:
    if not history:
        raise ValueError(f"{what} needs a history with at least one epoch, got an "
                         "empty history")
    for i, row in enumerate(history):
        missing = [key for key in HISTORY_KEYS if key not in row]
        if missing:
            raise ValueError(f"{what}: history row {i} lacks {', '.join(missing)} "
                             f"(has {', '.join(map(str, row)) or 'nothing'})")


def _epoch_axis(ax: Axes, epochs: Sequence[int]) -> None:
    ax.set_xlabel("epoch")
    if min(epochs) == max(epochs):
        # MaxNLocator would tick fractions of the one epoch.
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks([epochs[0]])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _training_figure(history: Sequence[Mapping], best_epoch: int) -> Figure:
    r"""The figure :func:`training_curves` saves.

    Args:
        history (Sequence[Mapping]): One row per epoch, :obj:`E` rows.
        best_epoch (int): The selected epoch; one of the rows' ``epoch``.
    """
    _check_history(history, "training_curves")
    epochs = [int(row["epoch"]) for row in history]
    if best_epoch not in epochs:
        raise ValueError(f"training_curves: best_epoch={best_epoch} is not an epoch of "
                         f"the history (epochs {epochs[0]} to {epochs[-1]})")
    loss = [float(row["loss"]) for row in history]
    dev = [float(row["dev_weighted_f1"]) for row in history]
    best_f1 = dev[epochs.index(best_epoch)]

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    # Markers keep a one-epoch run from drawing nothing at all.
    loss_line, = ax.plot(epochs, loss, "o-", color="C0", markersize=3, label="train loss")
    ax.set_ylabel("train loss", color="C0")
    ax.tick_params(axis="y", labelcolor="C0")
    _epoch_axis(ax, epochs)
    ax.grid(alpha=0.3)

    right = ax.twinx()
    dev_line, = right.plot(epochs, dev, "o-", color="C1", markersize=3,
                           label="dev weighted F1")
    right.set_ylabel("dev weighted F1 (%)", color="C1")
    right.tick_params(axis="y", labelcolor="C1")
    best_line = ax.axvline(best_epoch, color="0.4", linestyle="--", linewidth=1,
                           label=f"selected: epoch {best_epoch}, {best_f1:.2f}%")
    # Hollow, so the points it marks still show through it.
    right.plot([best_epoch], [best_f1], "*", color="C3", markersize=14,
               markerfacecolor="none", markeredgewidth=1.5, zorder=3)

    ax.set_title(f"Training: {len(epochs)} epoch{'s' * (len(epochs) != 1)}, "
                 f"best dev epoch {best_epoch}")
    # Below the axes: inside, any corner can hide the end of one curve.
    fig.legend(handles=[loss_line, dev_line, best_line], loc="outside lower center",
               ncols=3, fontsize=8, frameon=False)
    return fig


def training_curves(history: Sequence[Mapping], best_epoch: int,
                    path: str | os.PathLike) -> Path:
    r"""One run's train loss (left axis) and dev weighted F1 (right axis)
    against epoch, the selected epoch marked on both, as a PNG.

    Args:
        history (Sequence[Mapping]): :obj:`E \geq 1` rows with ``epoch``,
            ``loss`` and ``dev_weighted_f1`` (percent), as
            :class:`~runner.training.TrainResult` records them.
        best_epoch (int): The epoch whose weights were kept.
        path (str or PathLike): Where to write, conventionally
            ``curves.png``; its folder must exist.

    Returns:
        Path: :obj:`path`.

    Raises:
        ValueError: The history is empty, a row lacks a key, or
            :obj:`best_epoch` is not one of its epochs.
    """
    return _save_png(_training_figure(history, best_epoch), path)


def _confusion_cells(confusion: Sequence[Sequence[int]], label_names: Sequence[str]
                     ) -> tuple[np.ndarray, list[list[str]]]:
    r"""The row-normalised matrix and each cell's annotation.

    Args:
        confusion (Sequence[Sequence[int]]): Counts, shape :obj:`[K, K]`,
            rows true, columns predicted.
        label_names (Sequence[str]): The :obj:`K` class names.

    Returns:
        The fractions, shape :obj:`[K, K]`, each row summing to 1 (or all
        zeros where no utterance has that true class), and ``K × K``
        annotations ``"fraction\n(count)"``.
    """
    k = len(label_names)
    if k == 0:
        raise ValueError("confusion_figure needs at least one class name")
    lengths = [len(row) for row in confusion]
    if len(lengths) != k or any(n != k for n in lengths):
        raise ValueError(f"confusion must be {k} × {k} for the {k} label_names "
                         f"({', '.join(label_names)}), got {len(lengths)} rows of "
                         f"lengths {lengths}")
    counts = np.asarray(confusion, dtype=np.int64)
    if (counts < 0).any():
        raise ValueError("confusion holds negative counts")
    totals = counts.sum(axis=1, keepdims=True)
    # where= leaves an empty row's zeros untouched, so no 0/0 warning.
    fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    notes = [[f"{f:.2f}\n({c})" for f, c in zip(f_row, c_row)]
             for f_row, c_row in zip(fractions, counts)]
    return fractions, notes


def confusion_plot(confusion: Sequence[Sequence[int]], label_names: Sequence[str],
                    title: str | None = None) -> Figure:
    r"""The figure :func:`confusion_figure` saves and
    :meth:`~runner.tensorboard_log.TensorBoardLog.confusion` logs.

    Args:
        confusion, label_names, title: As in :func:`confusion_figure`.
    """
    fractions, notes = _confusion_cells(confusion, label_names)
    k = len(label_names)
    side = max(4.5, 0.85 * k + 2.5)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    size = 9 if k <= 8 else max(5, 9 - (k - 8) // 2)
    for i in range(k):
        for j in range(k):
            # White on the dark cells, black on the pale ones.
            ax.text(j, i, notes[i][j], ha="center", va="center", fontsize=size,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), labels=label_names, rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(k), labels=label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title if title is not None else "Test confusion (rows normalised)")
    return fig


def confusion_figure(confusion: Sequence[Sequence[int]], label_names: Sequence[str],
                     path: str | os.PathLike, title: str | None = None) -> Path:
    r"""The confusion matrix as a PNG, each true row normalised to sum to 1
    and coloured by that fraction; every cell shows the fraction and the
    raw count. A class with no utterances shows a row of zeros.

    Args:
        confusion (Sequence[Sequence[int]]): Counts, shape :obj:`[K, K]`,
            rows true, columns predicted, as
            :func:`~runner.metrics.classification_metrics` returns it.
        label_names (Sequence[str]): The :obj:`K` class names, in order.
        path (str or PathLike): Where to write, conventionally
            ``confusion.png``; its folder must exist.
        title (str, optional): Title. (default: :obj:`None`, a generic one)

    Returns:
        Path: :obj:`path`.

    Raises:
        ValueError: :obj:`confusion` is not :obj:`K × K` for
            :obj:`K = len(label_names)`, or holds negative counts.
    """
    return _save_png(confusion_plot(confusion, label_names, title), path)


def _dev_curves_plot(runs: Sequence[tuple[str, Sequence[Mapping]]],
                     title: str | None = None) -> Figure:
    r"""The figure :func:`dev_curves` saves.

    Args:
        runs, title: As in :func:`dev_curves`.
    """
    groups: dict[str, list[Sequence[Mapping]]] = {}
    for label, history in runs:
        if history:
            _check_history(history, f"dev_curves (run {label!r})")
            groups.setdefault(label, []).append(history)
    if not groups:
        raise ValueError(f"dev_curves needs at least one run with a non-empty history; "
                         f"all {len(runs)} runs given have none")
    outside = len(groups) > LEGEND_INSIDE_MAX
    longest = max(map(len, groups))
    # Widen the figure for a legend beside it rather than squash the axes.
    width = 7.0 + (min(8.0, 0.065 * longest + 0.8) if outside else 0.0)
    fig = Figure(figsize=(width, 4.5), layout="constrained")
    ax = fig.add_subplot()
    epochs = [int(row["epoch"]) for histories in groups.values()
              for history in histories for row in history]
    for index, (label, histories) in enumerate(groups.items()):
        style = dict(color=f"C{index % 10}",
                     linestyle=LINE_STYLES[(index // 10) % len(LINE_STYLES)])
        name = label + (f" ({len(histories)} runs)" if len(histories) > 1 else "")
        for seed, history in enumerate(histories):
            # A leading underscore keeps a label out of the legend, so the
            # seeds of one configuration share its single entry.
            ax.plot([int(row["epoch"]) for row in history],
                    [float(row["dev_weighted_f1"]) for row in history],
                    marker="o", markersize=2.5, linewidth=1.2, alpha=0.8,
                    label=name if seed == 0 else f"_{name} {seed}", **style)
    _epoch_axis(ax, epochs)
    ax.set_ylabel("dev weighted F1 (%)")
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else "Dev weighted F1 by epoch")
    if outside:
        fig.legend(loc="outside right upper", fontsize=7,
                   ncols=1 if len(groups) <= 24 else 2)
    else:
        ax.legend(loc="best", fontsize=8)
    return fig


def dev_curves(runs: Sequence[tuple[str, Sequence[Mapping]]], path: str | os.PathLike,
               title: str | None = None) -> Path:
    r"""Every run's dev weighted F1 against epoch, in one PNG, for a sweep
    or a comparison. Runs of one configuration (its seeds) share a colour
    and one legend entry; with many configurations the legend goes beside
    the axes.

    Args:
        runs (Sequence[tuple[str, Sequence[Mapping]]]): ``(configuration
            label, history)`` pairs, e.g. labels from
            :func:`runner.report.configuration_labels`. Runs with an
            empty history (failed before an epoch ended) are left out.
        path (str or PathLike): Where to write; its folder must exist.
        title (str, optional): Title. (default: :obj:`None`, a generic one)

    Returns:
        Path: :obj:`path`.

    Raises:
        ValueError: No run has a non-empty history, or a row lacks a key.
    """
    return _save_png(_dev_curves_plot(runs, title), path)
