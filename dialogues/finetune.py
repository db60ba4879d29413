r"""Sentence features adapted to a corpus's emotion labels, without leaking
a training utterance's label into its own features.

A sentence encoder is split in two: a frozen trunk, run once over every
text to cache its token states, and a small trainable top (the last
:obj:`trainable_layers` transformer layers, then the encoder's own mean
pooling and normalisation), which is fine-tuned with a linear classifier on
the **training split's labels only**. Caching the trunk is what makes this
fit on a CPU: each step runs only the top.

**Cross-fitting.** The training dialogues are dealt into :obj:`folds`
groups, and so, separately, are the other dialogues. The top fine-tuned on
the training labels of all groups but one embeds every utterance of that
group, whatever its split. So no training utterance's features come from a
model that saw its label (a model would otherwise map it near its class,
and the graph model downstream would learn from features better than any
it will see at test), and training and test features come alike from
models that never saw them. A top tuned on all training labels for the
test utterances alone was tried first: its features live in a space the
training features never came from, and a linear probe fitted on the
training features fell from 54.8 to 33.6 weighted F1 on its test features
(IEMOCAP-6, learning rate 3e-4). Dialogues, not utterances, are dealt, so
an utterance's neighbours in its dialogue are never in the model that
embeds it either.

Deterministic for a seed at a given intra-op thread count.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .folds import deal
from .progress import progress_bar, tracked


@dataclass(frozen=True)
class FinetuneConfig:
    r"""How to fine-tune the encoder's top.

    Args:
        trainable_layers (int): Transformer layers fine-tuned, counted from
            the top. (default: :obj:`2`)
        epochs (int): Passes over the training utterances per model.
            (default: :obj:`3`)
        batch_size (int): Utterances per step. (default: :obj:`32`)
        lr (float): AdamW learning rate of the encoder layers; chosen on
            IEMOCAP-6's dev split among 5e-5, 1e-4 and 3e-4 (see
            ``docs/data-format.md``). (default: :obj:`1e-4`)
        head_lr (float): Learning rate of the linear classifier, which
            starts from scratch. (default: :obj:`2e-3`)
        folds (int): Groups the training dialogues are dealt into for
            cross-fitting; :obj:`folds + 1` tops are trained.
            (default: :obj:`2`)
        seed (int): Seeds the dealing, initialisation and shuffling.
            (default: :obj:`0`)
    """

    trainable_layers: int = 2
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-4
    head_lr: float = 2e-3
    folds: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "folds"):
            if getattr(self, key) < (2 if key == "folds" else 1):
                raise ValueError(f"finetune {key} must be at least "
                                 f"{2 if key == 'folds' else 1}, got {getattr(self, key)}")
        if self.trainable_layers < 1:
            raise ValueError(f"finetune trainable_layers must be at least 1, got "
                             f"{self.trainable_layers}")


class SplitEncoder(Protocol):
    """A sentence encoder cut into a frozen trunk and a trainable top."""

    #: Dimension of a sentence vector.
    dim: int

    def token_states(self, texts: Sequence[str], batch_size: int) -> list[Tensor]:
        """The trunk's token states of each text, :obj:`[tokens, hidden]`."""

    def top(self) -> nn.Module:
        """A fresh copy of the pretrained top: ``(states [B, L, hidden],
        mask [B, L]) -> [B, dim]``."""


def _pad(states: list[Tensor]) -> tuple[Tensor, Tensor]:
    longest = max(s.shape[0] for s in states)
    padded = states[0].new_zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.long)
    for i, s in enumerate(states):
        padded[i, :s.shape[0]] = s
        mask[i, :s.shape[0]] = 1
    return padded, mask


def _length_batches(rows: Sequence[int], states: list[Tensor], batch_size: int,
                    generator: torch.Generator, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of rows of similar length: shuffle, sort each pool
    of :obj:`pool` batches by length, cut, and shuffle the batches. Padding
    to the longest text of a random batch would cost several times the
    compute; this keeps the order random at the scale that matters."""
    order = [rows[i] for i in torch.randperm(len(rows), generator=generator).tolist()]
    span = pool * batch_size
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: states[i].shape[0])
        batches += [chunk[k:k + batch_size] for k in range(0, len(chunk), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def deal_dialogues(groups: Sequence[int], rows: Sequence[int], folds: int,
                   seed: int) -> dict[int, int]:
    """The cross-fitting group of each dialogue that :obj:`rows` belong to,
    dealt in an order shuffled by :obj:`seed`."""
    dialogues = sorted({groups[i] for i in rows})
    return dict(zip(dialogues, deal(len(dialogues), folds, seed)))


def cross_fitted_embeddings(states: list[Tensor], labels: Sequence[int],
                            train: Sequence[bool], groups: Sequence[int],
                            encoder: SplitEncoder, num_classes: int,
                            config: FinetuneConfig = FinetuneConfig(),
                            progress: bool = True,
                            on_model: Callable[[list[int], list[int]], None] | None = None
                            ) -> np.ndarray:
    """Embed every text with a top fine-tuned on training labels, cross-fitted
    (see the module docstring).

    Args:
        states (list[Tensor]): The trunk's token states of each of :obj:`n`
            texts.
        labels (Sequence[int]): Label index of each text, ``-1`` unknown.
        train (Sequence[bool]): Whether each text is in the training split;
            only these texts' labels are read.
        groups (Sequence[int]): The dialogue of each text.
        encoder (SplitEncoder): Gives fresh tops.
        num_classes (int): Labels the classifier tells apart.
        config (FinetuneConfig): The recipe.
        progress (bool): Show a progress bar on stderr.
        on_model (Callable, optional): Called with the rows each top trained
            on and the rows it embedded, for checking the cross-fitting.

    Returns:
        ndarray: float32, shape :obj:`[n, dim]`.

    Raises:
        ValueError: No labelled training text, or fewer training dialogues
            than folds.
    """
    n = len(states)
    training = [i for i in range(n) if train[i]]
    labelled = [i for i in training if labels[i] >= 0]
    if not labelled:
        raise ValueError("fine-tuning needs labelled utterances in the training split")
    dealt = deal_dialogues(groups, training, config.folds, config.seed)
    if len(set(dealt.values())) < config.folds:
        raise ValueError(f"cross-fitting deals training dialogues into {config.folds} "
                         f"groups, but there are only {len(dealt)} training dialogues")
    others = [i for i in range(n) if not train[i]]
    if others:  # dealt separately, so that every group holds some of each split
        dealt.update(deal_dialogues(groups, others, config.folds, config.seed))
    # Each top trains on the labelled training utterances of the other
    # groups and embeds every utterance of its own group, whatever its split:
    # training and test features come alike from a model that never saw them.
    plans = [([i for i in labelled if dealt[groups[i]] != f],
              [i for i in range(n) if dealt[groups[i]] == f]) for f in range(config.folds)]
    steps = sum(config.epochs * -(-len(fit) // config.batch_size)
                + -(-len(embed) // config.batch_size) for fit, embed in plans)
    bar = progress_bar(steps, "fine-tuning", "step", progress)
    vectors = np.zeros((n, encoder.dim), dtype=np.float32)
    label_tensor = torch.as_tensor(list(labels), dtype=torch.long)
    for number, (fit, embed) in enumerate(plans):
        if on_model is not None:
            on_model(list(fit), list(embed))
        # Every top starts alike, so that the groups' features stay comparable.
        torch.manual_seed(config.seed)
        top, head = encoder.top(), nn.Linear(encoder.dim, num_classes)
        optimiser = torch.optim.AdamW([{"params": top.parameters(), "lr": config.lr},
                                       {"params": head.parameters(), "lr": config.head_lr}])
        shuffle = torch.Generator().manual_seed(config.seed + number)
        top.train()
        for _ in range(config.epochs):
            for rows in _length_batches(fit, states, config.batch_size, shuffle):
                padded, mask = _pad([states[i] for i in rows])
                loss = nn.functional.cross_entropy(head(top(padded, mask)),
                                                   label_tensor[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                bar.update()
        top.eval()
        with torch.no_grad():
            by_length = sorted(embed, key=lambda i: states[i].shape[0])
            for start in range(0, len(by_length), config.batch_size):
                rows = by_length[start:start + config.batch_size]
                vectors[rows] = top(*_pad([states[i] for i in rows])).numpy()
                bar.update()
    bar.close()
    return vectors


def recipe(config: FinetuneConfig, base: str) -> dict[str, Any]:
    """What ``dataset.yaml`` records of how the features were made."""
    return {"base": base, **asdict(config), "labels": "training split only",
            "cross_fitted": True}


class _BertTop(nn.Module):
    """The last layers of a BERT-like encoder, then masked mean pooling and,
    as the sentence-transformers model does, L2 normalisation."""

    def __init__(self, layers: nn.ModuleList, normalize: bool) -> None:
        super().__init__()
        self.layers = layers
        self.normalize = normalize

    def forward(self, states: Tensor, mask: Tensor) -> Tensor:
        # The layers take an additive mask over keys: 0 to attend, -inf-like not.
        additive = (1.0 - mask[:, None, None, :].to(states.dtype)) * torch.finfo(
            states.dtype).min
        for layer in self.layers:
            out = layer(states, attention_mask=additive)
            states = out[0] if isinstance(out, tuple) else out
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        return nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled


class SentenceTransformerSplit:
    """A sentence-transformers model of a BERT-like transformer, mean
    pooling and optional normalisation (as ``all-MiniLM-L6-v2``), cut
    :obj:`trainable_layers` from the top.

    Args:
        model: A loaded ``SentenceTransformer``.
        trainable_layers (int): Layers in the top.

    Raises:
        ValueError: The model is not transformer, mean pooling[,
            normalise], or has fewer layers than asked.
    """

    def __init__(self, model: Any, trainable_layers: int) -> None:
        modules = [type(m).__name__ for m in model]
        pooling = model[1] if len(model) > 1 else None
        # sentence-transformers names the mode one way before 5.x, another after.
        mean = (getattr(pooling, "pooling_mode", None) == "mean"
                or getattr(pooling, "pooling_mode_mean_tokens", False) is True)
        if modules[:2] != ["Transformer", "Pooling"] or not mean or \
                modules[2:] not in ([], ["Normalize"]):
            raise ValueError(f"fine-tuning splits a transformer with mean pooling; this "
                             f"model is {' -> '.join(modules)}")
        self.model = model
        self.bert = model[0].auto_model
        layers = self.bert.encoder.layer
        if not 1 <= trainable_layers <= len(layers):
            raise ValueError(f"trainable_layers={trainable_layers}, but the encoder has "
                             f"{len(layers)} layers")
        self.cut = len(layers) - trainable_layers
        self.normalize = modules[2:] == ["Normalize"]
        # Renamed in sentence-transformers 6; the old name still works before it.
        dimension = (getattr(model, "get_embedding_dimension", None)
                     or model.get_sentence_embedding_dimension)
        self.dim = int(dimension())

    def _tokenize(self, texts: Sequence[str]) -> dict[str, Tensor]:
        tokenize = getattr(self.model, "preprocess", None) or self.model.tokenize
        return tokenize(list(texts))

    @torch.no_grad()
    def token_states(self, texts: Sequence[str], batch_size: int,
                     progress: bool = False) -> list[Tensor]:
        self.bert.eval()
        # Texts of similar length share a batch: little padding to compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[Tensor] = [None] * len(texts)
        for start in tracked(range(0, len(texts), batch_size), -(-len(texts) // batch_size),
                             "encoding", "batch", progress):
            chunk = order[start:start + batch_size]
            features = self._tokenize([texts[i] for i in chunk])
            hidden = self.bert(input_ids=features["input_ids"],
                               attention_mask=features["attention_mask"],
                               token_type_ids=features.get("token_type_ids"),
                               output_hidden_states=True).hidden_states[self.cut]
            lengths = features["attention_mask"].sum(1).tolist()
            for i, h, length in zip(chunk, hidden, lengths):
                out[i] = h[:length].clone()
        return out

    def top(self) -> nn.Module:
        return _BertTop(copy.deepcopy(self.bert.encoder.layer[self.cut:]), self.normalize)


#: ``make(texts, labels, train, groups, num_classes) -> ndarray [n, dim]``.
FeatureMaker = Callable[[Sequence[str], Sequence[int], Sequence[bool], Sequence[int], int],
                        np.ndarray]


def finetuned_features(model: Any, config: FinetuneConfig = FinetuneConfig(),
                       batch_size: int = 64, progress: bool = True) -> FeatureMaker:
    """Cross-fitted fine-tuned features from a sentence-transformers
    :obj:`model` (:class:`SentenceTransformerSplit`), as a function of the
    texts and what the corpus says of them.

    Args:
        model: A loaded ``SentenceTransformer``.
        config (FinetuneConfig): The recipe.
        batch_size (int): Texts per pass of the frozen trunk.
        progress (bool): Show progress bars on stderr.
    """
    split = SentenceTransformerSplit(model, config.trainable_layers)

    def make(texts: Sequence[str], labels: Sequence[int], train: Sequence[bool],
             groups: Sequence[int], num_classes: int) -> np.ndarray:
        states = split.token_states(texts, batch_size, progress)
        return cross_fitted_embeddings(states, labels, train, groups, split, num_classes,
                                       config, progress)
    return make
