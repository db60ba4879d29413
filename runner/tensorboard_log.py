r"""A run's configuration, per-epoch scalars and test confusion matrix, for
TensorBoard.

>>> with TensorBoardLog(run_dir / "tensorboard") as log:
...     log.config(yaml.safe_dump(config))
...     for row in result.history:
...         log.epoch(row)
...     log.confusion(metrics["test"]["confusion"], label_names)

Not named ``tensorboard.py``: ``python experiments/run.py`` puts
``experiments/`` first on :obj:`sys.path`, where such a module would shadow
the real :mod:`tensorboard` package.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import TracebackType
from typing import Mapping, Sequence

from .config import ConfigError
from .figures import confusion_plot

MISSING = "log=tensorboard needs TensorBoard: pip install 'ergraph[tensorboard]'"
# History-row key -> TensorBoard tag.
SCALARS = {"loss": "train/loss", "dev_weighted_f1": "dev/weighted_f1", "lr": "train/lr"}
CONFIG_TAG = "config"
CONFUSION_TAG = "test/confusion"


def require_tensorboard() -> None:
    """Refuse a ``log=tensorboard`` run before it trains, not after, where
    the optional extra is missing.

    Raises:
        ConfigError: The ``tensorboard`` package is not installed.
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(MISSING)


class TensorBoardLog:
    r"""Writes one run's event file with
    :class:`torch.utils.tensorboard.SummaryWriter`.

    Args:
        log_dir (str or PathLike): The folder of the event file; created if
            missing.

    Raises:
        ConfigError: The ``tensorboard`` package is not installed.
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        try:
            # An optional extra: only runs that log to TensorBoard need it.
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(MISSING) from exc
        self.log_dir = Path(log_dir)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def config(self, text: str) -> None:
        r"""The run's configuration, shown as a YAML code block.

        Args:
            text (str): The configuration as YAML text.
        """
        self._writer.add_text(CONFIG_TAG, f"```yaml\n{text.rstrip()}\n```", global_step=0)

    def epoch(self, row: Mapping[str, float], prefix: str = "") -> None:
        r"""One epoch's scalars at step ``row["epoch"]``: ``train/loss``,
        ``dev/weighted_f1`` (percent) and ``train/lr``, those of them the
        row has.

        Args:
            row (Mapping[str, float]): A history row of
                :class:`~runner.training.TrainResult`.
            prefix (str): Put before each tag, e.g. ``fold2/`` for a fold
                of a cross-validated run. (default: ``""``)

        Raises:
            ValueError: :obj:`row` has no ``epoch``.
        """
        if "epoch" not in row:
            raise ValueError(f"a history row needs an 'epoch', got keys {sorted(row)}")
        step = int(row["epoch"])
        for key, tag in SCALARS.items():
            if key in row:
                self._writer.add_scalar(prefix + tag, float(row[key]), global_step=step)

    def confusion(self, confusion: Sequence[Sequence[int]], label_names: Sequence[str],
                  step: int | None = None) -> None:
        r"""The confusion matrix as an image, drawn as
        :func:`runner.figures.confusion_figure` draws it.

        Args:
            confusion (Sequence[Sequence[int]]): Counts, shape :obj:`[K, K]`,
                rows true, columns predicted.
            label_names (Sequence[str]): The :obj:`K` class names.
            step (int, optional): Step to log it at, e.g. the best epoch.
                (default: :obj:`None`, step 0)

        Raises:
            ValueError: :obj:`confusion` is not :obj:`K × K`.
        """
        # The figure is not pyplot's, so there is nothing for it to close.
        self._writer.add_figure(CONFUSION_TAG, confusion_plot(confusion, label_names),
                                global_step=step, close=False)

    def close(self) -> None:
        """Flush the event file and close it."""
        self._writer.close()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
