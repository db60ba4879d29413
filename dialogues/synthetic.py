r"""A synthetic corpus whose labels depend on context in a known way.

It needs no download, is deterministic given :attr:`SyntheticConfig.seed`,
and its defaults look like IEMOCAP (163 dyadic dialogues of 8-110
utterances, 6 classes, audio 100-d, text 768-d, visual 512-d), so any
pipeline can run end to end on it.

**Planted structure.** Dialogue :math:`d` has speakers :math:`s_t` and labels
:math:`y_t`, drawn turn by turn:

* *turn-taking*: the next utterance is by another speaker with probability
  ``switch_prob`` (uniformly among the others), else by the same one;
* *emotional inertia* (speaker-specific): with probability ``inertia`` the
  label repeats the speaker's own previous label;
* *contagion*: else, with probability ``contagion``, it copies the most
  recent label of another speaker;
* otherwise it is drawn uniformly (also whenever the copied label does not
  exist yet, e.g. on the first turn).

Features of modality :math:`m` (dimension :math:`D_m`) are

.. math::
    x^m_t = a \, P^m_{y_t} + b \, R^m_{y_{t-1}} + \sigma_m \varepsilon_t,
    \qquad \varepsilon_t \sim \mathcal{N}(0, I_{D_m}),

with random unit-norm class prototypes :math:`P^m` ("what I feel") and
:math:`R^m` ("reaction to the previous turn"), :math:`a` =
``current_signal``, :math:`b` = ``next_signal`` (the :math:`R` term is
absent on a dialogue's first turn) and per-modality noise :math:`\sigma_m`
(``noise``: text is the cleanest modality by default, visual the noisiest).
So:

* an utterance's own features carry only a weak signal of its label
  (:math:`a` small against :math:`\sigma_m`): ``graph=none`` is poor;
* part of the signal of :math:`y_t` lives only in :math:`x_{t+1}`, the next
  turn: a graph that lets utterance :math:`t` read turn :math:`t+1`
  (``future >= 1``) beats any causal one;
* labels persist through inertia and contagion, so past turns help too:
  causal context beats none, and multimodal fusion beats any one modality.

**Expected ranking** (best first): a bidirectional window with
``future >= 1`` and speaker-typed relations (inertia is about the *same*
speaker's previous turn, which is often two turns back, contagion about
the other speaker's) > a plain bidirectional window > a causal window >
no edges. A wider window than ``past=2, future=1`` adds little: the cue
sits exactly one turn ahead and label memory decays geometrically.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .corpus import Corpus
from .dialogue import Dialogue


@dataclass(frozen=True)
class SyntheticConfig:
    r"""How to draw a synthetic corpus; see the module docstring for the
    generative model.

    Args:
        seed (int): Everything is a function of the seed.
            (default: :obj:`0`)
        num_train (int): Dialogues in ``train``. (default: :obj:`120`)
        num_dev (int): Dialogues in ``dev``. (default: :obj:`12`)
        num_test (int): Dialogues in ``test``. (default: :obj:`31`)
        min_length (int): Fewest utterances in a dialogue. (default: :obj:`8`)
        max_length (int): Most utterances in a dialogue; lengths are uniform
            in ``[min_length, max_length]``. (default: :obj:`110`)
        num_speakers (int): Speakers per dialogue, at least 1.
            (default: :obj:`2`)
        num_classes (int): Labels ``c0 ... c{K-1}``, at least 2.
            (default: :obj:`6`)
        modalities (dict[str, int]): Modality name to feature dimension.
            (default: audio 100, text 768, visual 512)
        noise (dict[str, float]): Per-modality noise std :math:`\sigma_m`;
            modalities not listed get 1. (default: text 1.0, audio 1.5,
            visual 2.0)
        switch_prob (float): Chance that the next turn is by another
            speaker. (default: :obj:`0.8`)
        inertia (float): Chance of repeating the speaker's own previous
            label. (default: :obj:`0.6`)
        contagion (float): Chance of copying another speaker's latest
            label. ``inertia + contagion <= 1``. (default: :obj:`0.3`)
        current_signal (float): Weight :math:`a` of an utterance's own
            label prototype. (default: :obj:`0.8`)
        next_signal (float): Weight :math:`b` of the cue about an
            utterance that the next utterance carries. (default: :obj:`1.5`)
    """

    seed: int = field(default=0, metadata={"min": 0})
    num_train: int = field(default=120, metadata={"min": 0})
    num_dev: int = field(default=12, metadata={"min": 0})
    num_test: int = field(default=31, metadata={"min": 0})
    min_length: int = field(default=8, metadata={"min": 1})
    max_length: int = field(default=110, metadata={"min": 1})
    num_speakers: int = field(default=2, metadata={"min": 1})
    num_classes: int = field(default=6, metadata={"min": 2})
    modalities: dict[str, int] = field(default_factory=lambda: {
        "audio": 100, "text": 768, "visual": 512})
    noise: dict[str, float] = field(default_factory=lambda: {
        "text": 1.0, "audio": 1.5, "visual": 2.0})
    switch_prob: float = field(default=0.8, metadata={"min": 0, "max": 1})
    inertia: float = field(default=0.6, metadata={"min": 0, "max": 1})
    contagion: float = field(default=0.3, metadata={"min": 0, "max": 1})
    current_signal: float = field(default=0.8, metadata={"min": 0})
    next_signal: float = field(default=1.5, metadata={"min": 0})

    def __post_init__(self) -> None:
        counts = (self.num_train, self.num_dev, self.num_test)
        if min(counts) < 0 or sum(counts) == 0:
            raise ValueError(f"dialogue counts must be >= 0 and not all 0, "
                             f"got {counts}")
        if not 1 <= self.min_length <= self.max_length:
            raise ValueError("need 1 <= min_length <= max_length, got "
                             f"{self.min_length}, {self.max_length}")
        if self.num_speakers < 1 or self.num_classes < 2:
            raise ValueError("need num_speakers >= 1 and num_classes >= 2")
        if not self.modalities or any(d < 1 for d in self.modalities.values()):
            raise ValueError(f"modalities must map names to positive "
                             f"dimensions, got {self.modalities}")
        for name in ("switch_prob", "inertia", "contagion"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")
        if self.inertia + self.contagion > 1.0:
            raise ValueError("inertia + contagion must be <= 1")


def _speakers_and_labels(config: SyntheticConfig, num_dialogues: int,
                         max_length: int, gen: torch.Generator
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw speakers and labels, shape ``[num_dialogues, max_length]``.

    The loop runs over turns only; every step is vectorised over dialogues.
    """
    S, C, D = config.num_speakers, config.num_classes, num_dialogues
    rows = torch.arange(D)
    speakers = torch.empty(D, max_length, dtype=torch.long)
    labels = torch.empty(D, max_length, dtype=torch.long)
    last_label = torch.full((D, S), -1, dtype=torch.long)   # per speaker
    last_time = torch.full((D, S), -1, dtype=torch.long)
    # All randomness drawn up front, so the stream does not depend on the
    # control flow below.
    switch = torch.rand(D, max_length, generator=gen) < config.switch_prob
    hop = torch.randint(1, max(S, 2), (D, max_length), generator=gen)
    first = torch.randint(0, S, (D,), generator=gen)
    choice = torch.rand(D, max_length, generator=gen)
    fresh = torch.randint(0, C, (D, max_length), generator=gen)
    for t in range(max_length):
        if t == 0:
            speaker = first
        else:
            previous = speakers[:, t - 1]
            speaker = torch.where(switch[:, t] & (S > 1),
                                  (previous + hop[:, t]) % S, previous)
        own = last_label[rows, speaker]
        # The most recent other speaker: mask out the current one.
        others_time = last_time.clone()
        others_time[rows, speaker] = -2
        latest_other = others_time.argmax(dim=1)
        other = torch.where(others_time[rows, latest_other] >= 0,
                            last_label[rows, latest_other], -1)
        u = choice[:, t]
        label = fresh[:, t]
        use_other = (u >= config.inertia) & (u < config.inertia + config.contagion)
        label = torch.where(use_other & (other >= 0), other, label)
        label = torch.where((u < config.inertia) & (own >= 0), own, label)
        speakers[:, t], labels[:, t] = speaker, label
        last_label[rows, speaker] = label
        last_time[rows, speaker] = t
    return speakers, labels


def synthetic_corpus(config: SyntheticConfig | None = None) -> Corpus:
    r"""Draw the synthetic corpus.

    Args:
        config (SyntheticConfig, optional): Its parameters.
            (default: :obj:`SyntheticConfig()`)

    Returns:
        Corpus: Named ``synthetic`` with splits ``train``, ``dev``, ``test``
        (those with at least one dialogue), labels ``c0 ...``, and
        ``metadata["config"]`` holding the configuration.
    """
    config = config or SyntheticConfig()
    gen = torch.Generator().manual_seed(config.seed)
    counts = {"train": config.num_train, "dev": config.num_dev,
              "test": config.num_test}
    D = sum(counts.values())
    lengths = torch.randint(config.min_length, config.max_length + 1, (D,),
                            generator=gen)
    T = int(lengths.max())
    speakers, labels = _speakers_and_labels(config, D, T, gen)

    valid = torch.arange(T) < lengths[:, None]           # [D, T]
    y = labels[valid]                                    # [U], dialogue-major
    # Index num_classes (a zero row below) stands for "no previous turn".
    previous = torch.cat([torch.full((D, 1), config.num_classes),
                          labels[:, :-1]], dim=1)[valid]
    U = y.numel()

    features = {}
    for modality, dim in config.modalities.items():
        own = torch.nn.functional.normalize(
            torch.randn(config.num_classes, dim, generator=gen), dim=1)
        reaction = torch.nn.functional.normalize(
            torch.randn(config.num_classes, dim, generator=gen), dim=1)
        reaction = torch.cat([reaction, reaction.new_zeros(1, dim)])
        x = torch.randn(U, dim, generator=gen)
        x.mul_(config.noise.get(modality, 1.0))
        x.add_(own.index_select(0, y), alpha=config.current_signal)
        x.add_(reaction.index_select(0, previous), alpha=config.next_signal)
        features[modality] = x

    names = [f"S{k}" for k in range(config.num_speakers)]
    ptr = [0] + torch.cumsum(lengths, 0).tolist()
    flat_speakers = speakers[valid].tolist()
    splits: dict[str, list[Dialogue]] = {}
    d = 0
    for split, count in counts.items():
        dialogues = []
        for k in range(count):
            s, e = ptr[d], ptr[d + 1]
            dialogues.append(Dialogue(
                id=f"{split}_{k:04d}",
                speakers=[names[i] for i in flat_speakers[s:e]],
                labels=y[s:e],
                features={m: x[s:e] for m, x in features.items()},
                turns=list(range(e - s)),
            ))
            d += 1
        if dialogues:
            splits[split] = dialogues
    return Corpus(
        name="synthetic",
        labels=tuple(f"c{k}" for k in range(config.num_classes)),
        modalities=dict(config.modalities),
        splits=splits,
        metadata={"format": "synthetic", "config": config,
                  "source": "dialogues.synthetic_corpus",
                  "licence": "generated; no restrictions"},
    )
