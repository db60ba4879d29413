r"""Pictures of one dialogue's graph: time left to right, one row per modality.

>>> fig = dialogue_figure([to_networkx(g, batch, builder="window")])
>>> save_figure(fig, "window.png")

Each relation gets its own colour and line style and a constant curvature,
so edges of different relations between the same two nodes bend apart.
An edge bends to its left, seen from the source: edges from the past arc
above a row, edges from the future below it, and the two directions of a
cross-modal pair bow to opposite sides. All edges of a relation are one
compound :class:`~matplotlib.path.Path` of quadratic Béziers, and all their
arrowheads another: a 5,700-edge dialogue draws and saves in about 2 s,
where one patch per edge takes minutes. In a weighted graph the line width
shows the weight: each relation's edges are drawn in :data:`WEIGHT_WIDTHS`
widths, by where their weight falls between the dialogue's lightest and
heaviest.

Uses :class:`matplotlib.figure.Figure` directly, never :mod:`pyplot`, so it
runs headless and leaves no global state behind.
"""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import networkx as nx
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import EllipseCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath

from graphs.batch import DialogueBatch
from graphs.builder import DialogueGraph
from storage.atomic import write_atomic
from .networkx import graph_attribute, to_networkx

FONT = 6.5            # points, legend and annotations
ROW_GAP = 2.0          # data units between modality rows; a turn is 1 unit
NODE_RADIUS = 0.2      # data units
MAX_ARC = 0.8          # an arc's apex stays inside half the row gap
LINE_STYLES = ("-", "--", ":", "-.")
SHOW = ("none", "label", "text")
#: Inches per turn, and the narrowest and widest a panel may get.
TURN_INCHES, MIN_PANEL_INCHES, MAX_PANEL_INCHES = 0.42, 7.0, 36.0
#: Line widths of a weighted graph's edges, from the lightest quarter of the
#: dialogue's weight range to the heaviest.
WEIGHT_WIDTHS = (0.35, 0.9, 1.5, 2.2)
UNWEIGHTED_WIDTH = 0.9
WEIGHT_LEGEND = "line width: edge weight, light to heavy"


def parse_turns(text: str) -> slice:
    """``"A:B"``, ``"A:"`` or ``":B"`` as a slice of turns (B exclusive)."""
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return slice(int(start) if start.strip() else None,
                     int(stop) if stop.strip() else None)
    except ValueError:
        raise ValueError(f"turns={text!r}: expected A:B with integers, e.g. "
                         "turns=0:30 (turn B excluded)") from None


def selected_turns(turns: slice | tuple[int, int] | str, length: int,
                   dialogue: str | None = None) -> range:
    """The turns of a :obj:`length`-turn dialogue that :obj:`turns` selects.

    Raises:
        ValueError: It selects none; the message gives the dialogue's
            length (and id, when given).
    """
    if isinstance(turns, str):
        turns = parse_turns(turns)
    if isinstance(turns, tuple):
        turns = slice(*turns)
    selected = range(length)[turns]
    if selected.step != 1 or len(selected) == 0:
        which = f"dialogue {dialogue!r}" if dialogue is not None else "a dialogue"
        span = f"0 ... {length - 1}" if length else "none"
        start, stop = ("" if end is None else end for end in (turns.start, turns.stop))
        raise ValueError(f"turns={start}:{stop} selects no "
                         f"turns of {which}, which has {length} turns ({span})")
    return selected


def _turn_range(turns: slice | tuple[int, int] | str | None, length: int,
                max_turns: int) -> tuple[int, int, bool]:
    """``(first, stop, cut)`` of the turns to draw; :obj:`cut` when the
    dialogue was shortened for want of an explicit range."""
    if turns is None:
        return 0, min(length, max_turns), length > max_turns
    selected = selected_turns(turns, length)
    return selected.start, selected.stop, False


@dataclass
class _Arrays:
    """The parts of a networkx dialogue graph that drawing needs, as arrays."""
    turn: np.ndarray          # [N]
    modality: np.ndarray      # [N]
    speaker_id: np.ndarray    # [N]
    speaker: list[str]        # [N]
    label: list[str | None]   # [N]
    text: list[str | None]    # [N]
    src: np.ndarray           # [E]
    dst: np.ndarray           # [E]
    rel: np.ndarray           # [E]
    width: np.ndarray         # [E] line width: the weight's, or the plain one
    weighted: bool
    modalities: list[str]
    relations: list[str]


def _arrays(G: nx.MultiDiGraph) -> _Arrays:
    keys = sorted(G.nodes, key=int)
    position = {key: i for i, key in enumerate(keys)}
    data = [G.nodes[k] for k in keys]
    edges = list(G.edges(data=True))
    pairs = np.array([(position[s], position[d], int(e["relation_id"]))
                      for s, d, e in edges], dtype=np.int64).reshape(-1, 3)
    weights = np.array([float(e.get("weight", np.nan)) for _, _, e in edges])
    weighted = bool(edges) and not np.isnan(weights).any()
    width = np.full(len(edges), UNWEIGHTED_WIDTH)
    if weighted and weights.max() > weights.min():
        share = (weights - weights.min()) / (weights.max() - weights.min())
        width = np.asarray(WEIGHT_WIDTHS)[np.minimum((share * 4).astype(int), 3)]
    return _Arrays(
        turn=np.array([int(d["turn"]) for d in data], dtype=np.int64),
        modality=np.array([int(d["modality_id"]) for d in data], dtype=np.int64),
        speaker_id=np.array([int(d["speaker_id"]) for d in data], dtype=np.int64),
        speaker=[str(d.get("speaker", f"s{d['speaker_id']}")) for d in data],
        label=[d.get("label") for d in data],
        text=[d.get("text") for d in data],
        src=pairs[:, 0], dst=pairs[:, 1], rel=pairs[:, 2], width=width,
        weighted=weighted,
        modalities=list(graph_attribute(G, "modalities")),
        relations=list(graph_attribute(G, "relations")),
    )


def _format_params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}({_format_params(v)})" if isinstance(v, Mapping)
                     else f"{k}={v}" for k, v in params.items())


def _controls(a: np.ndarray, b: np.ndarray, apex: float) -> np.ndarray:
    """Control points of Béziers from :obj:`a [E, 2]` to :obj:`b [E, 2]`
    (distinct) that bend left by :obj:`apex` × √length, capped."""
    d = b - a
    n = np.hypot(d[:, 0], d[:, 1])[:, None]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / n
    # A quadratic Bézier's apex lies halfway to its control point.
    return (a + b) / 2 + normal * 2 * np.minimum(apex * np.sqrt(n), MAX_ARC)


def _arcs(p0: np.ndarray, p2: np.ndarray, apex: float) -> tuple[np.ndarray, np.ndarray]:
    """Curves from :obj:`p0 [E, 2]` to :obj:`p2 [E, 2]`, and self loops
    where they meet.

    Returns:
        :obj:`(vertices [V, 2], codes [V])` of one compound path.
    """
    loop = (p0 == p2).all(axis=1)
    vertices, codes = [], []
    if (~loop).any():
        a, b = p0[~loop], p2[~loop]
        vertices.append(np.stack([a, _controls(a, b, apex), b], axis=1).reshape(-1, 2))
        codes.append(np.tile([MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3],
                             len(a)))
    if loop.any():
        # A teardrop above the node, sized by the relation so parallel
        # self loops nest instead of overlapping.
        p, size = p0[loop], 1.6 * apex + 0.2
        offsets = np.array([[0, 0], [-0.6, 0.9], [0, 1], [0.6, 0.9], [0, 0]]) * size
        vertices.append((p[:, None, :] + offsets).reshape(-1, 2))
        codes.append(np.tile([MplPath.MOVETO] + [MplPath.CURVE3] * 4, len(p)))
    return np.concatenate(vertices), np.concatenate(codes)


def _arrowheads(p0: np.ndarray, p2: np.ndarray, apex: float,
                size: float) -> tuple[np.ndarray, np.ndarray]:
    """Filled triangles whose tips touch the target node's rim, along the
    curve's tangent there (the direction from the control point)."""
    keep = ~(p0 == p2).all(axis=1)
    a, b = p0[keep], p2[keep]
    tangent = b - _controls(a, b, apex)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    side = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    tip = b - tangent * NODE_RADIUS
    base = tip - tangent * size
    corners = np.stack([tip, base + side * size * 0.4, base - side * size * 0.4,
                        tip], axis=1)
    codes = np.tile([MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO,
                     MplPath.CLOSEPOLY], len(tip))
    return corners.reshape(-1, 2), codes


def _add_path(ax: Axes, vertices: np.ndarray, codes: np.ndarray,
              **style: Any) -> None:
    patch = PathPatch(MplPath(vertices, codes), **style)
    # add_patch and layout engines measure a path Bézier by Bézier in
    # Python, seconds for thousands of edges; the limits are set by hand and
    # the edges stay inside the axes, so neither needs to.
    patch.set_in_layout(False)
    ax.add_artist(patch)
    patch.set_clip_path(ax.patch)


def _relation_colours(count: int) -> list:
    # Strong colours only: light ones vanish as thin arcs. With the four
    # line styles, (colour, style) stays unique for 36 relations.
    strong = list(colormaps["tab10"].colors) + list(colormaps["Dark2"].colors)
    return [strong[i % len(strong)] for i in range(count)]


def _speaker_colours(count: int) -> list:
    # Neutral and pastel fills, so nodes never look like edges.
    fills = ["white", "dimgray"] + list(colormaps["Set3"].colors)
    return [fills[i % len(fills)] for i in range(count)]


def _shorten(text: str, limit: int = 24) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def draw_dialogue_graph(
    ax: Axes,
    graph: nx.MultiDiGraph | DialogueGraph,
    batch: DialogueBatch | None = None,
    dialogue: int = 0,
    *,
    show: str = "none",
    turns: slice | tuple[int, int] | str | None = None,
    max_turns: int = 30,
    arrows: bool = True,
    legend: bool = True,
    legend_columns: int | None = None,
    title: str | None = None,
) -> Axes:
    r"""Draw one dialogue's graph on :obj:`ax`.

    Args:
        ax (matplotlib.axes.Axes): Where to draw.
        graph (networkx.MultiDiGraph or DialogueGraph): A graph from
            :func:`viewing.networkx.to_networkx` (its graph attributes
            ``builder``, ``params``, ``causal`` and ``dialogue_id`` go in
            the title when present), or a :class:`DialogueGraph` with its
            :obj:`batch`.
        batch (DialogueBatch, optional): Needed with a :class:`DialogueGraph`.
        dialogue (int): Dialogue of :obj:`batch` to draw, with a
            :class:`DialogueGraph`. (default: :obj:`0`)
        show (str): ``"label"`` writes each utterance's label above it,
            ``"text"`` the start of its transcript, ``"none"`` nothing.
            (default: :obj:`"none"`)
        turns (slice, tuple or str, optional): Turns to draw, e.g.
            ``slice(10, 40)``, ``(10, 40)`` or ``"10:40"`` (40 excluded).
            Only edges between drawn turns are drawn. (default: the first
            :obj:`max_turns`, with a note in the title when that cuts)
        max_turns (int): The cut without :obj:`turns`. (default: :obj:`30`)
        arrows (bool): Draw arrowheads. (default: :obj:`True`)
        legend (bool): Legend of relations (with their edge counts in view)
            and speakers, below the axes. (default: :obj:`True`)
        legend_columns (int, optional): Its columns. (default: as many as
            fit the axes' width)
        title (str, optional): Replaces the generated title.

    Returns:
        matplotlib.axes.Axes: :obj:`ax`.
    """
    if show not in SHOW:
        raise ValueError(f"show={show!r}; choices: {', '.join(SHOW)}")
    if isinstance(graph, DialogueGraph):
        if batch is None:
            raise ValueError("drawing a DialogueGraph needs its batch")
        graph = to_networkx(graph, batch, dialogue)
    return _draw(ax, graph, _arrays(graph), show=show, turns=turns,
                 max_turns=max_turns, arrows=arrows, legend=legend,
                 legend_columns=legend_columns, title=title)


def _draw(ax: Axes, G: nx.MultiDiGraph, a: _Arrays, *, show: str,
          turns: slice | tuple[int, int] | str | None, max_turns: int,
          arrows: bool, legend: bool, legend_columns: int | None,
          title: str | None) -> Axes:
    """:func:`draw_dialogue_graph` of :obj:`G`, already parsed into :obj:`a`."""
    length = int(a.turn.max()) + 1 if a.turn.size else 0
    first, stop, cut = _turn_range(turns, length, max_turns)
    num_rows = len(a.modalities)

    in_view = (a.turn >= first) & (a.turn < stop)
    edge_in_view = in_view[a.src] & in_view[a.dst]
    x = a.turn.astype(float)
    y = (num_rows - 1 - a.modality) * ROW_GAP      # first modality on top
    xy = np.stack([x, y], axis=1)

    colours = _relation_colours(len(a.relations))
    handles = []
    for r, name in enumerate(a.relations):
        mask = edge_in_view & (a.rel == r)
        colour, style = colours[r], LINE_STYLES[r % len(LINE_STYLES)]
        apex = 0.16 + 0.07 * (r % 4)
        # One compound path per line width keeps a relation a few artists.
        for width in np.unique(a.width[mask]):
            same = mask & (a.width == width)
            p0, p2 = xy[a.src[same]], xy[a.dst[same]]
            vertices, codes = _arcs(p0, p2, apex)
            _add_path(ax, vertices, codes, fill=False, edgecolor=colour,
                      linestyle=style, lw=float(width), alpha=0.75, zorder=1)
        if mask.any():
            p0, p2 = xy[a.src[mask]], xy[a.dst[mask]]
            if arrows and (p0 != p2).any():
                vertices, codes = _arrowheads(p0, p2, apex, 0.16)
                _add_path(ax, vertices, codes, facecolor=colour,
                          edgecolor="none", alpha=0.9, zorder=2)
        handles.append(Line2D([], [], color=colour, linestyle=style, lw=1.4,
                              label=f"{name} ({int(mask.sum())})"))

    if a.weighted:
        handles.append(Line2D([], [], color="grey", lw=WEIGHT_WIDTHS[-1],
                              label=WEIGHT_LEGEND))
    # Nodes: colour is the speaker.
    speakers: dict[int, str] = {}
    for sid, name in zip(a.speaker_id.tolist(), a.speaker):
        speakers.setdefault(sid, name)
    palette = _speaker_colours(max(speakers, default=0) + 1)
    node_colour = [palette[s % len(palette)] for s in a.speaker_id[in_view].tolist()]
    # Circles in data units, so they keep their size whatever the layout.
    ax.add_collection(EllipseCollection(
        widths=2 * NODE_RADIUS, heights=2 * NODE_RADIUS, angles=0, units="xy",
        offsets=xy[in_view], offset_transform=ax.transData,
        facecolors=node_colour, edgecolors="black", linewidths=0.6, zorder=3))
    for sid in sorted(speakers):
        handles.append(Line2D([], [], marker="o", linestyle="none",
                              markerfacecolor=palette[sid % len(palette)],
                              markeredgecolor="black",
                              label=f"speaker {speakers[sid]}"))

    annotate_at = _top(num_rows)
    title_pad = 4.0
    if show != "none":
        source = a.label if show == "label" else a.text
        top_row = np.flatnonzero(in_view & (a.modality == 0))
        words = [(int(a.turn[i]), _shorten(source[i])) for i in top_row
                 if source[i] is not None]
        longest = max((len(w) for _, w in words), default=0)
        slant = _slanted(show, longest, _axes_inches(ax) / (stop - first + 0.4))
        for t, word in words:
            ax.text(t, annotate_at, word, fontsize=FONT,
                    rotation=40 if slant else 0,
                    ha="left" if slant else "center", va="bottom",
                    rotation_mode="anchor", clip_on=False)
        title_pad += 72 * _annotation_inches(longest, slant)

    ax.set_xlim(first - 0.7, stop - 0.3)
    ax.set_ylim(_bottom(), annotate_at)
    ax.set_aspect("equal", adjustable="box")
    ax.set_anchor("W")
    ax.set_yticks([(num_rows - 1 - m) * ROW_GAP for m in range(num_rows)],
                  a.modalities)
    span = stop - first
    step = 1 if span <= 40 else 5 if span <= 150 else 10
    ax.set_xticks(range(first + (-first) % step, stop, step))
    ax.tick_params(labelsize=7, length=2)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)

    if title is None:
        title = _title(ax, G, a, in_view, edge_in_view, first, stop, length, cut)
    ax.set_title(title, fontsize=8.5, loc="left", pad=title_pad)
    if legend:
        if legend_columns is None:
            legend_columns = _legend_columns(
                max(len(h.get_label()) for h in handles), len(handles),
                _axes_inches(ax))
        # Below the axes, so that every panel of a figure gets the full width.
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.0),
                  fontsize=FONT, frameon=False, borderaxespad=1.8,
                  ncol=legend_columns, handlelength=2.4, columnspacing=1.2)
    return ax


# -- sizes, in inches, so that a figure can be made to fit its panels ------
def _top(num_rows: int) -> float:
    return (num_rows - 1) * ROW_GAP + NODE_RADIUS + MAX_ARC + 0.15


def _bottom() -> float:
    return -NODE_RADIUS - MAX_ARC - 0.1


def _axes_inches(ax: Axes) -> float:
    return ax.figure.get_size_inches()[0] * ax.get_position().width


def _slanted(show: str, longest: int, inches_per_turn: float) -> bool:
    # Horizontal where a label fits between its neighbours, slanted if not.
    return show == "text" or longest * FONT * 0.6 > 72 * inches_per_turn


def _annotation_inches(longest: int, slant: bool) -> float:
    text = longest * FONT * 0.6 * (0.65 if slant else 0.0) + 1.4 * FONT
    return text / 72


def _legend_columns(longest: int, entries: int, width: float) -> int:
    """Columns of a legend of :obj:`entries` labels, the longest of
    :obj:`longest` characters, that fit :obj:`width` inches."""
    # A column is its label, the handle and the spacing between columns.
    column = (longest * FONT * 0.6 + 3.6 * FONT + 1.2 * FONT) / 72
    return max(1, min(entries, int(width // column)))


def _title(ax: Axes, G: nx.MultiDiGraph, a: _Arrays, in_view: np.ndarray,
           edge_in_view: np.ndarray, first: int, stop: int, length: int,
           cut: bool) -> str:
    builder = G.graph.get("builder", "graph")
    params = graph_attribute(G, "params")
    head = (f"{builder}({_format_params(params)})" if isinstance(params, Mapping)
            and params else str(builder))
    causal = G.graph.get("causal")
    if causal is None:  # judge by the edges: no later turn reaches an earlier
        causal = bool((a.turn[a.src] <= a.turn[a.dst]).all())
    nodes, edges = int(in_view.sum()), int(edge_in_view.sum())
    counts = (f"{nodes} nodes, {edges} edges" if nodes == a.turn.size else
              f"{nodes} of {a.turn.size} nodes, {edges} of {a.src.size} edges")
    # Long parameter lists (unions) wrap instead of running off the figure.
    chars = max(40, int(ax.figure.get_size_inches()[0] * 72 / (8.5 * 0.55)))
    lines = [textwrap.fill(head, chars),
             f"causal: {'yes' if causal else 'no'} — {counts}, "
             f"{len(a.relations)} relations"]
    where = G.graph.get("dialogue_id")
    where = f"dialogue {where}, " if where is not None else ""
    lines.append(f"{where}turns {first}–{stop - 1} of 0–{length - 1}"
                 + (f" (cut to the first {stop - first}; pass turns=A:B for "
                    "others)" if cut else ""))
    return "\n".join(lines)


def dialogue_figure(
    graphs: Sequence[nx.MultiDiGraph],
    *,
    show: str = "none",
    turns: slice | tuple[int, int] | str | None = None,
    max_turns: int = 30,
    arrows: bool = True,
) -> Figure:
    r"""One panel per graph, stacked so that turns line up across builders.

    Args:
        graphs (Sequence[networkx.MultiDiGraph]): The same dialogue under
            several builders, from :func:`viewing.networkx.to_networkx`.
        show, turns, max_turns, arrows: As in :func:`draw_dialogue_graph`.

    Returns:
        matplotlib.figure.Figure: Not attached to :mod:`pyplot`; save it
        with :func:`save_figure`.
    """
    if not graphs:
        raise ValueError("dialogue_figure needs at least one graph")
    if show not in SHOW:
        raise ValueError(f"show={show!r}; choices: {', '.join(SHOW)}")
    parts = [_arrays(G) for G in graphs]
    length = int(parts[0].turn.max()) + 1
    first, stop, _ = _turn_range(turns, length, max_turns)
    span = stop - first
    per_turn = min(TURN_INCHES, MAX_PANEL_INCHES / (span + 0.4))
    axes_width = per_turn * (span + 0.4)
    axes_height = per_turn * (_top(len(parts[0].modalities)) - _bottom())

    heights, columns, overhang = [], [], 0.0
    for a in parts:
        in_view = (a.turn >= first) & (a.turn < stop)
        entries = (len(a.relations) + len(set(a.speaker_id.tolist()))
                   + a.weighted)  # the line-width entry
        longest = max([len(r) + 7 for r in a.relations] + [16]
                      + [len(WEIGHT_LEGEND)] * a.weighted)  # " (1234)"
        # The legend may run past a short dialogue's axes, to the figure's edge.
        ncol = _legend_columns(longest, entries,
                               max(axes_width, MIN_PANEL_INCHES))
        rows = -(-entries // ncol)
        annotation = 0.0
        if show != "none":
            source = a.label if show == "label" else a.text
            words = [_shorten(source[i]) for i in np.flatnonzero(in_view)
                     if source[i] is not None]
            longest_word = max(map(len, words), default=0)
            slant = _slanted(show, longest_word, per_turn)
            annotation = _annotation_inches(longest_word, slant)
            if slant:  # the last turn's words reach past the axes
                overhang = max(overhang, longest_word * FONT * 0.6 * 0.77 / 72)
        legend = rows * FONT * 1.45 / 72 + 0.3
        heights.append(axes_height + 0.6 + annotation + 0.2 + legend)
        columns.append(ncol)
    # Short dialogues keep their scale and sit left, titles and legends
    # getting the room to their right.
    fig = Figure(figsize=(max(axes_width, MIN_PANEL_INCHES) + 0.75 + overhang,
                          sum(heights)),
                 layout="constrained")
    axes = fig.subplots(len(graphs), 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, G, a, ncol in zip(axes, graphs, parts, columns):
        _draw(ax, G, a, show=show, turns=turns, max_turns=max_turns,
              arrows=arrows, legend=True, legend_columns=ncol, title=None)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    r"""Save :obj:`fig` atomically: to a temporary file beside :obj:`path`,
    then renamed, so a failure never leaves a half-written picture.

    Args:
        fig (matplotlib.figure.Figure): The figure.
        path (str or PathLike): Target; its suffix (``.png``, ``.svg``,
            ``.pdf``, ...) picks the format.
        dpi (int): Resolution of raster formats. (default: :obj:`150`)
    """
    fmt = Path(path).suffix.lstrip(".").lower()
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
