"""Training with early stopping on dev weighted F1."""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Callable, Literal

import torch
from torch import Tensor
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from dialogues import Corpus, Dialogue, batches
from models import CORECT

from .metrics import classification_metrics
from .options import check_range, range_of


LR_SCHEDULES = ("constant", "cosine")

#: Called as each epoch ends with its history row, the best epoch so far
#: and its dev weighted F1.
EpochCallback = Callable[[dict, int, float], None]


@dataclass
class TrainConfig:
    r"""How to train.

    Args:
        epochs (int): Most epochs. (default: :obj:`30`)
        batch_size (int): Dialogues per batch. (default: :obj:`10`)
        lr (float): Adam learning rate. (default: :obj:`1e-3`)
        weight_decay (float): Adam weight decay. (default: :obj:`0.0`)
        patience (int): Stop after this many epochs without a better dev
            weighted F1. (default: :obj:`8`)
        class_weights (bool): Weight the loss by inverse training-label
            frequency. (default: :obj:`False`)
        max_grad_norm (float, optional): Clip gradients to this norm.
            (default: :obj:`5.0`)
        lr_schedule (str): ``"constant"``, or ``"cosine"`` to anneal the
            learning rate to zero over :obj:`epochs`, step by step.
            (default: :obj:`"constant"`)
        ema_decay (float, optional): Keep an exponential moving average of
            the weights (and BatchNorm statistics), updated after every step
            with this decay, and evaluate and keep the average instead of
            the raw weights. Epoch-to-epoch dev and test scores of the raw
            weights swing by points on IEMOCAP; the average is the same
            model smoothed over about :math:`1 / (1 - \text{decay})` steps.
            (default: :obj:`None`, no averaging)
    """

    epochs: int = field(default=30, metadata={"min": 1})
    batch_size: int = field(default=10, metadata={"min": 1})
    lr: float = field(default=1e-3, metadata={"above": 0})
    weight_decay: float = field(default=0.0, metadata={"min": 0})
    patience: int = field(default=8, metadata={"min": 1})
    class_weights: bool = False
    max_grad_norm: float | None = field(default=5.0, metadata={"above": 0})
    lr_schedule: Literal["constant", "cosine"] = "constant"
    ema_decay: float | None = field(default=None, metadata={"above": 0, "below": 1})

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"train.{key} must be a positive int, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"train.lr must be a positive number, got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"train.weight_decay must be ≥ 0, got {self.weight_decay!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train.lr_schedule must be one of {list(LR_SCHEDULES)}, "
                             f"got {self.lr_schedule!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"train.ema_decay must lie strictly between 0 and 1 "
                             f"(or be null for no averaging), got {self.ema_decay!r}")
        # The declared ranges hold for a configuration built in Python too,
        # not only for one the command line parsed (max_grad_norm=-1 would
        # reverse training).
        for spec in fields(self):
            value = getattr(self, spec.name)
            check_range(value, range_of(spec.metadata), f"train.{spec.name}", repr(value))


@dataclass
class TrainResult:
    best_epoch: int
    dev_weighted_f1: float
    train_seconds: float
    history: list[dict] = field(default_factory=list)


@torch.no_grad()
def predict(model: CORECT, dialogues: list[Dialogue], batch_size: int,
            device: torch.device) -> tuple[Tensor, Tensor]:
    """``(labels [U], logits [U, C])`` over :obj:`dialogues`, in order."""
    model.eval()
    labels, logits = [], []
    for batch in batches(dialogues, model.modalities, batch_size):
        batch = batch.to(device)
        logits.append(model(batch).cpu())
        labels.append(batch.labels.cpu())
    return torch.cat(labels), torch.cat(logits)


def inverse_frequency(dialogues: list[Dialogue], num_classes: int) -> Tensor:
    labels = torch.cat([d.labels for d in dialogues])
    counts = torch.bincount(labels[labels >= 0], minlength=num_classes).float()
    return counts.sum() / (num_classes * counts.clamp(min=1))


def train(model: CORECT, corpus: Corpus, config: TrainConfig, seed: int,
          device: torch.device, label_names: list[str],
          on_epoch: EpochCallback | None = None) -> TrainResult:
    """Train :obj:`model` in place on ``train`` and leave it holding the
    weights of the epoch with the best ``dev`` weighted F1 (their moving
    average, with :attr:`TrainConfig.ema_decay`), with the loss of its
    head and on the classes the head predicts (a regression head derives
    them from its scores).

    Deterministic on CPU for a given :obj:`seed`: the shuffling has its own
    generator, and the wall clock is only reported. On a terminal a progress
    bar shows the epochs; :obj:`on_epoch` hears of each as it ends (the
    runner's :class:`~runner.run_log.RunLog` writes it down).
    """
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    train_set, dev_set = corpus.split("train"), corpus.split("dev")
    steps_per_epoch = -(-len(train_set) // config.batch_size)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(
        optimiser, T_max=config.epochs * steps_per_epoch)
        if config.lr_schedule == "cosine" else None)
    # AveragedModel keeps its own copy of the model; it is what dev sees.
    averaged = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay),
                              use_buffers=True)
                if config.ema_decay is not None else None)
    evaluated = averaged.module if averaged is not None else model
    weights = (inverse_frequency(train_set, len(label_names)).to(device)
               if config.class_weights else None)
    best = TrainResult(best_epoch=0, dev_weighted_f1=-1.0, train_seconds=0.0)
    best_state = None
    start = time.perf_counter()
    progress = tqdm(range(1, config.epochs + 1), desc="epochs", unit="epoch",
                    disable=not sys.stderr.isatty())
    for epoch in progress:
        epoch_start = time.perf_counter()
        model.train()
        total, count = 0.0, 0
        for batch in batches(train_set, model.modalities, config.batch_size,
                             shuffle=True, generator=shuffle):
            batch = batch.to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = model.head.loss(model(batch), batch.labels, weights, batch.scores)
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            if averaged is not None:
                averaged.update_parameters(model)
            total += float(loss.detach()) * batch.num_utterances
            count += batch.num_utterances
        labels, logits = predict(evaluated, dev_set, config.batch_size, device)
        dev_f1 = classification_metrics(labels, model.head.classes(logits),
                                        label_names)["weighted_f1"]
        row = {"epoch": epoch, "loss": total / max(count, 1), "dev_weighted_f1": dev_f1,
               "lr": optimiser.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - epoch_start, 3)}
        best.history.append(row)
        progress.set_postfix(loss=f"{row['loss']:.3f}", dev_f1=f"{dev_f1:.2f}")
        improved = dev_f1 > best.dev_weighted_f1
        if improved:
            best.best_epoch, best.dev_weighted_f1 = epoch, dev_f1
            best_state = copy.deepcopy(evaluated.state_dict())
        if on_epoch is not None:
            on_epoch(row, best.best_epoch, best.dev_weighted_f1)
        if not improved and epoch - best.best_epoch >= config.patience:
            break
    best.train_seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    return best
