"""Check any builder's output against the builder contract."""
from __future__ import annotations

import math

import torch

from .batch import DialogueBatch
from .errors import GraphContractError, UndeclaredReadError
from .builder import DialogueGraph, EdgeBuilder
from .reads import Reads

#: Where :func:`validate` cuts each dialogue to test causality by
#: perturbation, as fractions of its length.
CUTS = (0.25, 0.5, 0.75)
#: Width of the stand-in encoder states given to builders that read states
#: when the batch carries none.
STAND_IN_STATE_WIDTH = 16


class GraphBuildError(ValueError):
    """A builder raised while building a batch's graph."""


def _edge(batch: DialogueBatch, graph: DialogueGraph, e: int) -> str:
    src, dst = (int(v) for v in graph.edge_index[:, e])
    kind = int(graph.edge_type[e])
    relation = graph.relations[kind] if 0 <= kind < len(graph.relations) else kind
    def where(node: int) -> str:
        if not 0 <= node < batch.num_nodes:
            return f"node {node}"
        return (f"node {node} (dialogue {int(batch.node_dialogue[node])}, "
                f"turn {int(batch.node_turn[node])}, "
                f"{batch.modalities[int(batch.node_modality[node])]})")
    return f"edge {e}: {where(src)} -> {where(dst)}, relation {relation!r}"


def validate(builder: EdgeBuilder, batch: DialogueBatch, name: str | None = None,
             graph: DialogueGraph | None = None, seed: int = 0) -> DialogueGraph:
    r"""Build (unless :obj:`graph` is given) and check a builder's graph.

    Checks shapes and dtypes, that relation names match
    :meth:`EdgeBuilder.relations`, node and relation bounds, no edge between
    dialogues, edges sorted by relation, no duplicate (source, target, type),
    finite weights, the declared :attr:`~EdgeBuilder.horizon`, causality
    when the builder declares it, that building twice gives the same
    graph, and that :meth:`~EdgeBuilder.last_turn_edges` agrees with the
    full graph on prefixes of the batch's first dialogue.

    For a causal builder that reads content, causality is also checked by
    perturbation: at each cut of :data:`CUTS`, the features, states and
    annotations of every turn after the cut are replaced by random values,
    and every edge into a turn at or before the cut, with its weight, must
    stay the same. Stand-in states (random, seeded) are supplied when the
    builder reads states the batch does not carry.

    Args:
        builder (EdgeBuilder): The builder under test.
        batch (DialogueBatch): The batch to build on, with whatever content
            the builder reads.
        name (str, optional): The builder's name (and origin), for messages.
        graph (DialogueGraph, optional): An already built graph to check.
        seed (int): Seed of the stand-in states and the perturbations.
            (default: :obj:`0`)

    Returns:
        The checked :class:`DialogueGraph`.

    Raises:
        GraphContractError: naming the builder and the first offending edge.
    """
    label = name or type(builder).__name__
    def fail(message: str) -> None:
        raise GraphContractError(f"edge builder {label!r}: {message}")

    reads = builder.reads(batch.modalities)
    if not isinstance(reads, Reads):
        fail(f"reads() returned {type(reads).__name__}, not graphs.Reads")
    horizon = builder.horizon
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int)
                                or horizon < 0):
        fail(f"horizon must be a non-negative int or None (unbounded), got {horizon!r}")
    generator = torch.Generator().manual_seed(seed)
    missing_states = [m for m in reads.states if m not in batch.states]
    if missing_states:
        batch = batch.with_content(states={**batch.states, **{
            m: torch.randn(batch.num_utterances, STAND_IN_STATE_WIDTH, generator=generator)
            for m in missing_states}})
    try:
        # The builder's own view (what it reads, never the labels), so the
        # checks below redraw only content it can see.
        batch = batch.restricted(reads, f"edge builder {type(builder).__name__}")
    except ValueError as error:
        fail(str(error))
    check_determinism = graph is None
    if graph is None:
        try:
            graph = builder(batch)
        except UndeclaredReadError as error:
            fail(error.detail)
        except GraphContractError:
            raise
        except ValueError as error:
            fail(str(error))
    if not isinstance(graph, DialogueGraph):
        fail(f"returned {type(graph).__name__}, not DialogueGraph")
    edge_index, edge_type = graph.edge_index, graph.edge_type
    if not (isinstance(edge_index, torch.Tensor) and edge_index.dtype == torch.long
            and edge_index.dim() == 2 and edge_index.size(0) == 2):
        fail(f"edge_index must be a LongTensor of shape [2, E], got "
             f"{getattr(edge_index, 'dtype', type(edge_index))} "
             f"{tuple(getattr(edge_index, 'shape', ()))}")
    if not (isinstance(edge_type, torch.Tensor) and edge_type.dtype == torch.long
            and edge_type.shape == (edge_index.size(1),)):
        fail(f"edge_type must be a LongTensor of shape [{edge_index.size(1)}], "
             f"got {getattr(edge_type, 'dtype', type(edge_type))} "
             f"{tuple(getattr(edge_type, 'shape', ()))}")
    edge_weight = graph.edge_weight
    if edge_weight is not None and not (
            isinstance(edge_weight, torch.Tensor) and edge_weight.is_floating_point()
            and edge_weight.shape == (edge_index.size(1),)):
        fail(f"edge_weight must be a float tensor of shape [{edge_index.size(1)}] or None, "
             f"got {getattr(edge_weight, 'dtype', type(edge_weight))} "
             f"{tuple(getattr(edge_weight, 'shape', ()))}")
    expected = tuple(builder.relations(batch.modalities))
    if graph.relations != expected:
        fail(f"relations {graph.relations} differ from relations(modalities) "
             f"{expected}")
    if len(set(expected)) != len(expected):
        fail(f"relation names repeat: {expected}")

    def first(bad: torch.Tensor, message: str) -> None:
        if bool(bad.any()):
            e = int(torch.nonzero(bad)[0])
            fail(f"{message}; first offender {_edge(batch, graph, e)}")

    first(((edge_index < 0) | (edge_index >= batch.num_nodes)).any(0),
          f"node id outside [0, {batch.num_nodes})")
    first((edge_type < 0) | (edge_type >= len(expected)),
          f"relation id outside [0, {len(expected)})")
    src, dst = edge_index
    first(batch.node_dialogue[src] != batch.node_dialogue[dst],
          "edge joins two dialogues")
    if edge_type.numel() > 1:
        unsorted = torch.zeros_like(edge_type, dtype=torch.bool)
        unsorted[1:] = edge_type[1:] < edge_type[:-1]
        first(unsorted, "edges are not sorted by relation")
    n = max(batch.num_nodes, 1)
    key = (edge_type * n + src) * n + dst
    sorted_key, order = torch.sort(key, stable=True)
    repeated = torch.zeros_like(key, dtype=torch.bool)
    repeated[order[1:]] = sorted_key[1:] == sorted_key[:-1]
    first(repeated, "duplicate (source, target, type) triple")
    if edge_weight is not None:
        first(~torch.isfinite(edge_weight), "edge weight is not finite")
    if horizon is not None:
        first(batch.node_turn[dst] - batch.node_turn[src] > horizon,
              f"builder declares horizon={horizon} but an edge reaches further back")
    if builder.causal:
        first(batch.node_turn[src] > batch.node_turn[dst],
              "builder declares itself causal but an edge carries a later "
              "turn to an earlier one")
    if check_determinism:
        again = builder(batch)
        if not _same_edges(again, graph):
            fail("building the same batch twice gave different edges")
        if builder.causal:
            for cut in CUTS:
                _check_prefixes(builder, batch, graph, cut, fail)
                if reads.content:
                    _check_perturbation(builder, batch, graph, reads, cut, generator, fail)
        _check_last_turn_edges(builder, batch, reads, fail)
    return graph


def _check_bounds(edge_index: torch.Tensor, batch: DialogueBatch, what: str,
                  fail) -> None:
    if edge_index.numel() and (int(edge_index.min()) < 0
                               or int(edge_index.max()) >= batch.num_nodes):
        fail(f"on {what} the edges name nodes outside [0, {batch.num_nodes})")


def _edge_keys(graph: DialogueGraph, keep: torch.Tensor, node_map: torch.Tensor,
               num_nodes: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sorted (type, source, target) keys of the kept edges, nodes renumbered
    by :obj:`node_map`, and their weights in that order."""
    n = max(num_nodes, 1)
    src, dst = node_map[graph.edge_index[0, keep]], node_map[graph.edge_index[1, keep]]
    key, order = torch.sort((graph.edge_type[keep] * n + src) * n + dst)
    return key, None if graph.edge_weight is None else graph.edge_weight[keep][order]


def _same_keyed(a: tuple[torch.Tensor, torch.Tensor | None],
                b: tuple[torch.Tensor, torch.Tensor | None], exact: bool = False) -> bool:
    """Same edges, and weights equal, exactly or to float rounding (graphs
    of batches of different shapes may round differently)."""
    if not torch.equal(a[0], b[0]) or (a[1] is None) != (b[1] is None):
        return False
    if a[1] is None:
        return True
    return torch.equal(a[1], b[1]) if exact else torch.allclose(a[1], b[1], rtol=1e-6,
                                                                 atol=1e-7)


def _kept_by_cut(batch: DialogueBatch, cut: float) -> torch.Tensor:
    """Which utterances lie at or before :obj:`cut` (a fraction) of their
    dialogue: at least the first turn of each, shape :obj:`[U]`."""
    last_kept = ((batch.lengths - 1).double() * cut).floor().long()
    return batch.utterance_turn <= last_kept[batch.utterance_dialogue]


def _check_prefixes(builder: EdgeBuilder, batch: DialogueBatch, graph: DialogueGraph,
                    cut: float, fail) -> None:
    """Cut every dialogue after the cut and build again: the edges into the
    kept turns, and their weights, must be those of the whole batch. A
    causal builder whose edges depend on a dialogue's later structure (its
    length, later speakers, degrees) fails here, as it would disagree with
    streaming."""
    kept = _kept_by_cut(batch, cut)
    if bool(kept.all()):
        return
    rows = torch.nonzero(kept).flatten()
    content = {kind: {name: values[rows] for name, values in getattr(batch, kind).items()}
               for kind in ("features", "states", "annotations")}
    lengths = torch.bincount(batch.utterance_dialogue[rows], minlength=batch.num_dialogues)
    prefix = DialogueBatch(lengths, batch.speakers[rows], batch.modalities, **content)
    # Node m * U + u of the batch is node m * U' + (u's rank among kept) here.
    utterance_map = torch.cumsum(kept.long(), 0) - 1
    node_map = (batch.node_modality * prefix.num_utterances
                + utterance_map[batch.node_utterance])
    whole = _edge_keys(graph, kept[batch.node_utterance[graph.edge_index[1]]], node_map,
                       prefix.num_nodes)
    again = builder(prefix)
    _check_bounds(again.edge_index, prefix, f"the batch cut at {int(cut * 100)}%", fail)
    alone = _edge_keys(again, torch.ones(again.num_edges, dtype=torch.bool),
                       torch.arange(prefix.num_nodes), prefix.num_nodes)
    if not _same_keyed(whole, alone):
        fail(f"builder declares itself causal, but cutting every dialogue after "
             f"{int(cut * 100)}% of its turns changed the edges (or weights) into the "
             "turns kept: they depend on the dialogue's later turns")


def _window(batch: DialogueBatch, start: int, stop: int) -> DialogueBatch:
    """Turns :obj:`start` to :obj:`stop` - 1 of the batch's first dialogue."""
    def cut(content: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: values[start:stop] for name, values in content.items()}
    return DialogueBatch([stop - start], batch.speakers[start:stop], batch.modalities,
                         features=cut(batch.features), states=cut(batch.states),
                         annotations=cut(batch.annotations))


def _check_last_turn_edges(builder: EdgeBuilder, batch: DialogueBatch, reads: Reads,
                           fail) -> None:
    """What a streaming push computes must be the full graph's edges into
    the newest turn: for prefixes of the first dialogue, last_turn_edges on
    the last :attr:`~EdgeBuilder.horizon` turns (renumbered from there, as
    a push sees them) against the prefix's full graph (weights to float
    rounding: they may be computed another way)."""
    first_length = int(batch.lengths[0])
    horizon = builder.horizon
    for length in sorted({max(1, int(first_length * f)) for f in (*CUTS, 1.0)}):
        prefix = _window(batch, 0, length)
        full = builder(prefix)
        _check_bounds(full.edge_index, prefix, f"the first {length} turns of dialogue 0", fail)
        keep = full.edge_index[1] % length == length - 1
        start = 0 if horizon is None else max(0, length - 1 - horizon)
        window = _window(batch, start, length)
        fast = builder.last_turn_edges(window.restricted(reads))
        _check_bounds(fast[0], window, f"turns {start}-{length - 1} of dialogue 0", fail)
        # Prefix node m * L + u is window node m * W + (u - start).
        width = length - start
        node = torch.arange(full.edge_index.max() + 1 if full.num_edges else 0)
        node_map = (node // length) * width + node % length - start
        expected = _edge_keys(full, keep, node_map, window.num_nodes)
        found = _edge_keys(DialogueGraph(fast[0], fast[1], full.relations,
                                         fast[2] if len(fast) > 2 else None),
                           torch.ones(fast[1].numel(), dtype=torch.bool),
                           torch.arange(window.num_nodes), window.num_nodes)
        if not _same_keyed(expected, found):
            where = "" if start == 0 else f" built on its last {width} turns (the horizon)"
            fail(f"last_turn_edges{where} disagrees with the full graph on the edges into "
                 f"turn {length - 1} of dialogue 0")


def _same_edges(a: DialogueGraph, b: DialogueGraph) -> bool:
    if not (torch.equal(a.edge_index, b.edge_index) and torch.equal(a.edge_type, b.edge_type)):
        return False
    if (a.edge_weight is None) != (b.edge_weight is None):
        return False
    return a.edge_weight is None or torch.equal(a.edge_weight, b.edge_weight)


def _perturbed(values: torch.Tensor, later: torch.Tensor, generator: torch.Generator,
               kind: str) -> torch.Tensor:
    """:obj:`values` with the rows of :obj:`later` replaced by random ones:
    Gaussian noise at the values' scale for features and states, and for an
    annotation, integers around the originals' range when they are whole
    numbers (turn numbers, reply links), else noise."""
    out = values.clone()
    rows = int(later.sum())
    if rows == 0:
        return out
    shape = (rows, *values.shape[1:])
    if kind == "annotations":
        finite = values[torch.isfinite(values)] if values.is_floating_point() else values
        if finite.numel() and bool((finite == finite.round()).all()):
            noise = torch.randint(int(finite.min()) - 1, int(finite.max()) + 2, shape,
                                  generator=generator)
            out[later] = noise.to(values.dtype)
            return out
    scale = float(values.std()) if values.numel() > 1 else 1.0
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    out[later] = (noise * (scale if math.isfinite(scale) and scale > 0 else 1.0)).to(values.dtype)
    return out


def _check_perturbation(builder: EdgeBuilder, batch: DialogueBatch, graph: DialogueGraph,
                        reads: Reads, cut: float, generator: torch.Generator,
                        fail) -> None:
    """Replace the content after each dialogue's cut; the edges into turns
    up to the cut, and their weights, must not move."""
    later = ~_kept_by_cut(batch, cut)
    if not bool(later.any()):
        return
    changed = batch.with_content(**{
        kind: {name: _perturbed(values, later, generator, kind)
               for name, values in getattr(batch, kind).items()}
        for kind in ("features", "states", "annotations")})
    again = builder(changed)
    kept_nodes = ~later[batch.node_utterance]
    same_nodes = torch.arange(batch.num_nodes)
    moved = not _same_keyed(
        *(_edge_keys(g, kept_nodes[g.edge_index[1]], same_nodes, batch.num_nodes)
          for g in (graph, again)), exact=True)
    if moved:
        kinds = ", ".join(k for k in ("features", "states", "annotations")
                          if getattr(reads, k))
        fail(f"builder declares itself causal, but changing the {kinds} of turns after "
             f"{int(cut * 100)}% of each dialogue changed the edges (or weights) into "
             "earlier turns: it reads the future")
