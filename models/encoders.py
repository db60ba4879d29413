"""Unimodal encoders: a sequence transformer or GRU, and a per-utterance MLP.

The sequence encoders each have two forms side by side: ``forward`` over
whole dialogues, and ``step``, which advances :obj:`K` live dialogues by
one turn each from their caches (:class:`~models.history.History`)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from .attention_blocks import StackedBlocks
from .history import History


def causal_mask(length: int, device: torch.device | None = None) -> Tensor:
    """Boolean ``[T, T]`` mask, ``True`` where a query may *not* attend: at
    every later position."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


def sinusoidal_positions(positions: Tensor, dim: int) -> Tensor:
    """Fixed sinusoidal encodings of integer turn positions, shape
    ``[*positions.shape, dim]``. Fixed rather than learned so that any
    dialogue length works, including live ones longer than any seen."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, device=positions.device)
                     / max(half, 1))
    angle = positions.unsqueeze(-1).float() * freq
    enc = torch.cat([angle.sin(), angle.cos()], dim=-1)
    return nn.functional.pad(enc, (0, dim - 2 * half))


class SequenceEncoder(nn.Module):
    r"""Transformer over a dialogue's utterances of one modality.

    By default features are layer-normalised and projected to
    :obj:`hidden` first, then position-encoded and contextualised by
    pre-norm layers, so the attention runs in the hidden width whatever the
    feature dimension, and the output is layer-normalised. Every one of
    those choices can be turned back to CORECT's (:obj:`width="input"`,
    :obj:`norm_first=False`, no positions, no norms): CORECT's text
    encoder is a post-norm ``nn.TransformerEncoder`` in the feature width
    followed by a linear projection. A padding mask is always applied
    (CORECT's has none, so its padded turns leak into real ones).

    Args:
        in_dim (int): Feature dimension.
        hidden (int): Output width.
        layers (int): Transformer layers.
        heads (int): Attention heads.
        dropout (float): Dropout inside the transformer layers.
        width (str): ``"hidden"`` projects before the transformer,
            ``"input"`` after it. (default: :obj:`"hidden"`)
        ff (int, optional): Feed-forward width; :obj:`None` is twice the
            attention width. (default: :obj:`None`)
        norm_first (bool): Pre-norm layers; else post-norm.
            (default: :obj:`True`)
        positions (bool): Add sinusoidal turn positions.
            (default: :obj:`True`)
        input_norm (bool): LayerNorm the features first. (default: :obj:`True`)
        output_norm (bool): LayerNorm the output. (default: :obj:`True`)

    Shapes:
        - **input:** padded features :math:`(B, T, F)`, padding mask
          :math:`(B, T)` (``True`` = padding), and whether to mask the future
        - **output:** :math:`(B, T, H)`
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, heads: int,
                 dropout: float, *, width: str = "hidden", ff: int | None = None,
                 norm_first: bool = True, positions: bool = True,
                 input_norm: bool = True, output_norm: bool = True) -> None:
        super().__init__()
        if width not in ("hidden", "input"):
            raise ValueError(f"unknown width {width!r}; choices: hidden, input")
        # Features arrive at any scale (unit-norm sentence embeddings put
        # ~0.05 in each dimension); normalising them first keeps them from
        # drowning under the positions and speaker embedding added next.
        norm = nn.LayerNorm(in_dim) if input_norm else nn.Identity()
        # Keys project.0 / project.1 as before the options existed, so
        # default checkpoints load unchanged.
        if width == "hidden":
            self.project = nn.Sequential(norm, nn.Linear(in_dim, hidden))
            self.output: nn.Module = nn.Identity()
            model_dim = hidden
        else:
            self.project = nn.Sequential(norm)
            self.output = nn.Linear(in_dim, hidden)
            model_dim = in_dim
        self.positions = positions
        layer = nn.TransformerEncoderLayer(model_dim, heads, ff or 2 * model_dim, dropout,
                                           batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden) if output_norm else nn.Identity()
        # The prepared form of step(): stacked weight copies, built on the
        # first step and dropped by train()/eval(); and a position table.
        self._stacked: tuple[torch.device, list[StackedBlocks]] | None = None
        self._positions: Tensor | None = None

    def forward(self, x: Tensor, padding: Tensor, causal: bool) -> Tensor:
        h = self.project(x)
        if self.positions:
            positions = torch.arange(x.size(1), device=x.device)
            h = h + sinusoidal_positions(positions, h.size(-1))
        mask = causal_mask(x.size(1), x.device) if causal else None
        h = self.encoder(h, mask=mask, src_key_padding_mask=padding)
        return self.norm(self.output(h))

    def train(self, mode: bool = True) -> "SequenceEncoder":
        # The stacked copies are a snapshot of the weights, which training
        # changes: the next step stacks them again.
        self._stacked = None
        return super().train(mode)

    def check_steppable(self, where: str = "encoder") -> None:
        """Refuse settings that :meth:`step` does not reproduce (the layers
        themselves are checked as :meth:`stacked` stacks them).

        Args:
            where (str): The encoder's name, for messages.
                (default: :obj:`"encoder"`)
        """
        if self.encoder.norm is not None:  # our encoders never build one
            raise NotImplementedError(f"{where}.encoder: streaming supports no final "
                                      "TransformerEncoder norm")

    def stacked(self, where: str = "encoder") -> list[StackedBlocks]:
        """The prepared form of :meth:`step`: each transformer layer's
        weights stacked (:class:`~models.attention_blocks.StackedBlocks`),
        built on first use from the current weights and kept until the
        module's mode is next set (``train()`` or ``eval()``): call
        ``eval()`` again after changing the weights.

        Args:
            where (str): The encoder's name, for messages.
                (default: :obj:`"encoder"`)
        """
        device = self.encoder.layers[0].linear1.weight.device
        if self._stacked is None or self._stacked[0] != device:
            self.check_steppable(where)
            self._stacked = device, [StackedBlocks([layer], f"{where}.encoder.layers.{i}")
                                     for i, layer in enumerate(self.encoder.layers)]
        return self._stacked[1]

    def step(self, x: Tensor, histories: Sequence[History], key: str) -> Tensor:
        r"""The forward pass under a causal mask at evaluation for the
        newest turn of :obj:`K` live dialogues, each at its own turn
        (:obj:`history.length`): every transformer layer (pre- or
        post-norm) computes the new row only, reading the key/value rows of
        the dialogue's earlier turns from its cache
        (:meth:`~models.attention_blocks.StackedBlocks.step`).

        Args:
            x (Tensor): The new turns' features :math:`(K, F)`, one row per
                dialogue.
            histories (Sequence[History]): The :obj:`K` dialogues' caches.
            key (str): The caches' name prefix.

        Shapes:
            - **output:** :math:`(K, H)`
        """
        h = self.project(x)
        if self.positions:
            h = h + self._positions_at([history.length for history in histories],
                                       h.size(-1), h.device)
        h = h.unsqueeze(0)  # one group, the dialogues side by side: [1, K, D]
        for i, blocks in enumerate(self.stacked()):
            h = blocks.step(h, histories, f"{key}/{i}")
        return self.norm(self.output(h[0]))

    def _positions_at(self, turns: list[int], dim: int, device: torch.device) -> Tensor:
        """Sinusoidal encodings :obj:`[len(turns), dim]` of :obj:`turns`, from
        a table that doubles when outgrown (the same values as computing
        each row on its own: the encoding is elementwise)."""
        table = self._positions
        last = max(turns)
        if (table is None or table.size(0) <= last or table.size(1) != dim
                or table.device != device):
            table = sinusoidal_positions(torch.arange(max(64, 2 * last), device=device), dim)
            self._positions = table
        if len(turns) == 1:
            return table[turns[0]:turns[0] + 1]
        return table[torch.tensor(turns, device=table.device)]


class GRUEncoder(nn.Module):
    r"""GRU over a dialogue's utterances of one modality.

    Bidirectional (half of :obj:`hidden` per direction) for a model that
    may read later turns; one forward GRU of width :obj:`hidden` for a
    causal one, which is also what makes it streamable: a new turn only
    advances the last hidden state. Features are layer-normalised first
    (see :class:`SequenceEncoder`); a recurrence needs no positions.

    Args:
        in_dim (int): Feature dimension.
        hidden (int): Output width; even when :obj:`bidirectional`.
        layers (int): Stacked GRU layers.
        dropout (float): Dropout on the normalised features and between
            layers.
        bidirectional (bool): Also read the dialogue backwards.
        input_norm (bool): LayerNorm the features first.
            (default: :obj:`True`)

    Shapes:
        - **input:** padded features :math:`(B, T, F)`, padding mask
          :math:`(B, T)` (``True`` = padding, after each dialogue's turns),
          and whether to mask the future
        - **output:** :math:`(B, T, H)`, zero at padding
    """

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float,
                 bidirectional: bool, *, input_norm: bool = True) -> None:
        super().__init__()
        if bidirectional and hidden % 2:
            raise ValueError(f"a bidirectional GRU splits hidden={hidden} between its "
                             "two directions; it must be even")
        self.bidirectional = bidirectional
        self.norm = nn.LayerNorm(in_dim) if input_norm else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(in_dim, hidden // 2 if bidirectional else hidden, layers,
                          batch_first=True, dropout=dropout if layers > 1 else 0.0,
                          bidirectional=bidirectional)

    def forward(self, x: Tensor, padding: Tensor, causal: bool) -> Tensor:
        self.check_causal(causal)
        return self.recur(self.dropout(self.norm(x)), (~padding).sum(1))

    def check_causal(self, causal: bool) -> None:
        if causal and self.bidirectional:
            raise ValueError("a bidirectional GRU reads later turns; build the encoder "
                             "with bidirectional=False for a causal model")

    def recur(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The GRU over already normalised, padded sequences :math:`(B, T, F)`
        of the given lengths :math:`(B)`; zero at padding."""
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                  total_length=x.size(1))
        return out

    def step(self, x: Tensor, histories: Sequence[History], key: str) -> Tensor:
        r"""The forward pass at evaluation for the newest turn of :obj:`K`
        live dialogues: each dialogue's GRU state after its previous turn
        advanced by one row. Running it turn by turn equals :meth:`forward`
        of a forward-only GRU.

        Args:
            x (Tensor): The new turns' features :math:`(K, F)`, one row per
                dialogue.
            histories (Sequence[History]): The :obj:`K` dialogues' caches;
                the new states are written under :obj:`key`.
            key (str): The states' cache name.

        Shapes:
            - **output:** :math:`(K, H)`
        """
        return self.resume(x, histories, key,
                           [h.length - 1 if h.length else None for h in histories])

    def resume(self, x: Tensor, histories: Sequence[History], key: str,
               after: Sequence[int | None]) -> Tensor:
        r"""One forward step at evaluation of :obj:`K` independent
        sequences (dialogues, or speakers' turns), sequence :obj:`k` from
        the state its dialogue's cache holds for turn :obj:`after[k]`
        (:obj:`None`: afresh, from zeros, as ``nn.GRU`` starts), all the
        states stacked. Each new state is written to its dialogue's cache
        as the current turn's, so a failed step advances none.

        Args:
            x (Tensor): The new rows' features :math:`(K, F)`.
            histories (Sequence[History]): The :obj:`K` dialogues' caches.
            key (str): The states' cache name; a state is :math:`(L, 1, H)`.
            after (Sequence[int | None]): Per sequence the turn it resumes
                after.

        Shapes:
            - **output:** :math:`(K, H)`
        """
        if self.bidirectional:
            raise ValueError("a bidirectional GRU reads later turns and cannot step")
        previous = [None if turn is None else history.rows[key][turn]
                    for history, turn in zip(histories, after)]
        state = None
        started = [p for p in previous if p is not None]
        if started:
            zero = started[0].new_zeros(started[0].shape)
            state = torch.cat([zero if p is None else p for p in previous], 1)  # [L, K, H]
        out, state = self.gru(self.norm(x).unsqueeze(1), state)
        for k, history in enumerate(histories):
            history.put(key, state[:, k:k + 1])
        return out[:, 0]


class MLPEncoder(nn.Module):
    r"""Two-layer MLP applied to each utterance on its own, after a
    LayerNorm of its features (see :class:`SequenceEncoder`).

    Args:
        in_dim (int): Feature dimension.
        hidden (int): Output width.
        dropout (float): Dropout between the layers.
        input_norm (bool): LayerNorm the features first; CORECT's MLPs have
            none. (default: :obj:`True`)
        output_relu (bool): A ReLU after the second layer too, as CORECT's.
            (default: :obj:`False`)

    Shapes:
        - **input:** :math:`(*, F)`
        - **output:** :math:`(*, H)`
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float, *,
                 input_norm: bool = True, output_relu: bool = False) -> None:
        super().__init__()
        layers = [nn.LayerNorm(in_dim) if input_norm else nn.Identity(),
                  nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                  nn.Linear(hidden, hidden)]
        if output_relu:
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
