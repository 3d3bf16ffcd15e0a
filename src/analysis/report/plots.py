"""Figures of the gap results. Functions take result tables and ``ax=None``, return the Axes, and
never load or save anything.

Labels come from codebooks and data, so matplotlib's mathtext is switched off for every text drawn
here (``text.parse_math = False``, ``text.usetex = False``): a label such as ``$5 top-ups`` shows as
written. Colours are from the Okabe-Ito set (:data:`DIMENSION_COLOURS`, :data:`SERIES_COLOURS`,
:data:`PRIORITY_COLOURS`): every pair used for different categories in one chart stays at least
20 CIELAB units apart under deuteranopia and protanopia simulation (tests/test_colours.py); clear
gaps are filled markers and unclear ones hollow, so that distinction does not rely on colour. Which
rows are shown and which results are clear is decided as in the tables
(:mod:`analysis.report.formatting`).

Every chart takes ``layout``: ``"wide"`` (desktop and print) or ``"narrow"`` (a phone: drawn 4 in
wide, item labels above their rows instead of beside them, so at ~360 CSS px every text is at
least 9 px tall as displayed; see :data:`LAYOUTS`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from analysis.cx import vocabulary
from analysis.report.formatting import (
    DASH,
    excludes_zero,
    fmt_num,
    group_name,
    is_clear,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_pct,
    ordered_items,
    overall_rows,
    rows_of,
    segment_rows,
    shown_rows,
)

PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
LABEL_WIDTH = 42  # characters per line of an item label

# ---- colours (Okabe & Ito 2008, "Color universal design"; checked in tests/test_colours.py) ----
#: One colour per dimension of the gap chart, in order (orange, blue, black, bluish green, sky
#: blue): any two of the first five stay >= 24 CIE76 units apart under normal vision,
#: deuteranopia and protanopia. A sixth dimension reuses the colours in order (bands are labelled).
DIMENSION_COLOURS = ("#E69F00", "#0072B2", "#000000", "#009E73", "#56B4E9")
#: The series of one chart (representativeness: customer base, respondents, weighted).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73")
#: The one colour of a single-series chart (quadrant grids, drivers, NPS, trend).
SINGLE_COLOUR = "#0072B2"
#: The four priority classes of :mod:`analysis.cx.vocabulary`, in order: "Fix first" (dark
#: vermilion), "Improve" (orange), "Monitor" (sky blue), "Maintain" (blue).
PRIORITY_COLOURS = ("#A63603", "#E69F00", "#56B4E9", "#0072B2")


@dataclass(frozen=True)
class Layout:
    """How a chart is drawn for one display width.

    ``width`` is the figure width (inches), ``text`` the smallest font size (pt) and ``font`` the
    size of tick and axis labels, ``chars`` the characters per line of an item label,
    ``xlabel_chars`` of an axis label, ``above`` whether item labels go above their rows,
    ``row`` the height of one item row (inches).
    """

    name: str
    width: float
    text: float
    font: float
    chars: int
    xlabel_chars: int
    above: bool
    row: float


#: The two layouts. Narrow: shown ~360 CSS px wide, a 4 in figure gives 90 px per inch, so the
#: smallest text (8 pt) is 8 / 72 x 90 = 10 px tall as displayed.
LAYOUTS = {
    "wide": Layout("wide", 8.5, 9.0, 10.0, LABEL_WIDTH, 200, False, 0.42),
    "narrow": Layout("narrow", 4.0, 8.0, 8.5, 58, 56, True, 0.5),
}


def _layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, not {name!r}") from None


def colours(palette: tuple[str, ...], n: int) -> list[str]:
    """``n`` colours of ``palette`` in order, repeating it when ``n`` is larger."""
    return [palette[k % len(palette)] for k in range(n)]


@contextmanager
def _plain_text(lay: Layout | None = None) -> Iterator[None]:
    rc: dict[str, Any] = dict(PLAIN_TEXT)
    if lay is not None and lay.above:  # narrow: smaller (still legible) type throughout
        rc |= {
            "font.size": lay.font,
            "axes.labelsize": lay.font,
            "xtick.labelsize": lay.text,
            "ytick.labelsize": lay.text,
            "legend.fontsize": lay.text,
        }
    with mpl.rc_context(rc):
        yield


def _plain(texts: object) -> None:
    for t in texts:  # type: ignore[attr-defined]
        t.set_parse_math(False)
        t.set_usetex(False)


def _new_axes(width: float, height: float) -> Axes:
    _fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _wrap(text: str, width: int = LABEL_WIDTH) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _point_interval(
    ax: Axes, y: float, estimate: float, interval: tuple[float, float], style: tuple[Any, bool]
) -> None:
    """One estimate (dot) and its interval (line) at height ``y``; ``style`` is (colour, filled).
    Missing ends or estimates are not drawn."""
    colour, full = style
    lo, hi = interval
    if np.isfinite(lo) and np.isfinite(hi):
        ax.plot([lo, hi], [y, y], color=colour, lw=2.2, solid_capstyle="round", zorder=2)
    if np.isfinite(estimate):
        ax.plot(
            [estimate],
            [y],
            marker="o",
            ms=8,
            color=colour,
            markerfacecolor=colour if full else "white",
            markeredgewidth=1.8,
            zorder=3,
        )


def _row_labels(ax: Axes, ypos: list[float] | np.ndarray, labels: list[str], lay: Layout) -> None:
    """Item labels: tick labels beside the rows (wide) or text above each row (narrow), the
    full width of the plot."""
    if not lay.above:
        ax.set_yticks(ypos, labels)
        _plain(ax.get_yticklabels())
        return
    ax.set_yticks([])
    for y, label in zip(ypos, labels, strict=True):
        ax.text(
            0,
            y - 0.2,
            label,
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=lay.font,
            color="0.1",
        )


def _strip_spines(ax: Axes, sides: tuple[str, ...] = ("top", "right", "left")) -> None:
    for side in sides:
        ax.spines[side].set_visible(False)


def gap_chart(
    table: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Point-and-interval chart of each item's overall gap, grouped by dimension; each band of
    items is headed by its dimension's name and colour.

    Parameters
    ----------
    table
        A gap table (``item, label, dimension, group, level, gap, ci_low, ci_high, p_value`` and
        optionally ``suppressed``); only overall rows (``group == level == 'all'``) are drawn.
        Items are grouped by dimension (first-appearance order), largest shortfall first.
    ax
        Axes to draw on; a new figure sized to the number of items when omitted.
    confidence
        The level of the intervals in ``ci_low..ci_high`` (for the axis label and for calling a
        gap clear when ``p_value < 1 - confidence``).
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    over = ordered_items(overall_rows(table))
    dims = list(dict.fromkeys(over["dimension"].astype(str)))
    with _plain_text(lay):
        if ax is None:
            rows = max(len(over), 1) + BAND_GAP[lay.name] * len(dims)
            ax = _new_axes(lay.width, 1.6 + lay.row * rows + (0.4 if lay.above else 0.0))
        palette = dict(zip(dims, colours(DIMENSION_COLOURS, len(dims)), strict=True))
        ypos, labels, heads = _gap_points(ax, over, palette, confidence, lay)
        _gap_axis(ax, over, ypos, labels, confidence, lay)
        _band_headings(ax, heads, palette, lay)
        _gap_legend(ax, lay)
    return ax


#: Extra space (in rows) before each dimension band, for its heading.
BAND_GAP = {"wide": 0.9, "narrow": 1.0}
#: Where a band heading's baseline sits, in rows above the band's first item.
HEAD_AT = {"wide": 0.65, "narrow": 0.55}


def _gap_points(
    ax: Axes, over: pd.DataFrame, palette: dict[str, Any], confidence: float, lay: Layout
) -> tuple[list[float], list[str], list[tuple[str, float]]]:
    """Each item's gap and interval, space for a heading before each dimension; the y
    positions, item labels (a hidden item is named, not drawn) and (dimension, first y)."""
    ypos: list[float] = []
    labels: list[str] = []
    heads: list[tuple[str, float]] = []
    y, prev = 0.0, None
    gap, head_top = BAND_GAP[lay.name], HEAD_AT[lay.name] + 0.3
    for _, r in over.iterrows():
        dim = str(r["dimension"])
        if dim != prev:
            if prev is not None:
                y += gap
                # halfway between the last dot above and the heading's top
                ax.axhline(y - (1.0 + gap + head_top) / 2, color="0.85", lw=0.8, zorder=0)
            heads.append((dim, y))
        prev = dim
        ypos.append(y)
        hidden = is_hidden(r)
        labels.append(
            _wrap(item_label(r), lay.chars)
            + ("\n(not shown: too few respondents)" if hidden else "")
        )
        if not hidden:
            interval = (float(r["ci_low"]), float(r["ci_high"]))
            style = (palette[dim], is_clear(r, confidence))
            _point_interval(ax, y, float(r["gap"]), interval, style)
        y += 1.0
    return ypos, labels, heads


def _band_headings(
    ax: Axes, heads: list[tuple[str, float]], palette: dict[str, Any], lay: Layout
) -> None:
    """Each dimension's name, bold, above its band at the left of the plot, after a square
    of the band's colour."""
    size = lay.font + 0.5
    for dim, y in heads:
        at = (0, y - HEAD_AT[lay.name])
        tr = ax.get_yaxis_transform()
        ax.text(*at, "■", transform=tr, ha="left", va="baseline", fontsize=size, color=palette[dim])
        ax.annotate(
            dim,
            at,
            xycoords=tr,
            xytext=(size * 1.05, 0),
            textcoords="offset points",
            ha="left",
            va="baseline",
            fontsize=size,
            fontweight="bold",
            color="0.1",
        )


def _gap_axis(
    ax: Axes,
    over: pd.DataFrame,
    ypos: list[float],
    labels: list[str],
    confidence: float,
    lay: Layout,
) -> None:
    """The zero line, item labels, limits and the two directions of the gap chart."""
    ax.axvline(0, color="0.25", lw=1.0, zorder=1)
    _row_labels(ax, ypos, labels, lay)
    top = -(HEAD_AT[lay.name] + 0.45)
    ax.set_ylim((ypos[-1] if ypos else -1.0) + 0.6, top)  # first item at the top
    lo = np.nanmin(np.r_[over["ci_low"].astype(float).to_numpy(), 0.0]) if len(over) else -1
    hi = np.nanmax(np.r_[over["ci_high"].astype(float).to_numpy(), 0.0]) if len(over) else 1
    pad = 0.08 * max(hi - lo, 0.5)
    ax.set_xlim(lo - pad, hi + pad)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    _strip_spines(ax)
    ax.set_xlabel(
        _wrap(
            "Gap = performance − expectation (dot), with its "
            f"{level_pct(confidence)} confidence interval (line)",
            lay.xlabel_chars,
        )
    )
    short, exceeds = (
        ("◀ falls short", "exceeds ▶")
        if lay.above
        else ("◀ falls short of expectations", "exceeds expectations ▶")
    )
    for x, text, ha in ((0.0, short, "left"), (1.0, exceeds, "right")):
        ax.text(
            x,
            1.0,
            text,
            transform=ax.transAxes,
            ha=ha,
            va="bottom",
            fontsize=lay.text,
            color="0.3",
        )


def _gap_legend(ax: Axes, lay: Layout) -> None:
    """Filled (clear) or hollow markers, under the x-axis label (the band headings name the
    dimensions' colours)."""
    handles = [
        Line2D([], [], color="0.3", marker="o", lw=0, label="clear gap"),
        Line2D(
            [],
            [],
            color="0.3",
            marker="o",
            lw=0,
            markerfacecolor="white",
            markeredgewidth=1.8,
            label="no clear gap",
        ),
    ]
    # below the x-axis label: the pad is in font sizes, so it holds for any figure height
    leg = ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        borderaxespad=5.4 if lay.above else 4.2,
        ncol=2,
        frameon=False,
        fontsize=lay.text,
    )
    _plain(leg.get_texts())
    _plain(ax.texts)


def segment_gap_heatmap(
    table: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Heatmap of each item's gap (rows) in each segment level (columns), values written in.

    Parameters
    ----------
    table
        A gap table; rows with ``group != 'all'`` are drawn, columns ``group: level`` in
        first-appearance order, items in the order of :func:`gap_chart`. Suppressed or missing
        cells are blank with ``–``; clear gaps carry ``*``.
    ax
        Axes to draw on; a new figure sized to the table when omitted.
    confidence
        Level used to call a gap clear (``p_value < 1 - confidence``).
    layout
        ``"wide"`` (item labels beside the rows, colour bar at the right) or ``"narrow"`` (item
        labels above each row of cells, column names upright, colour bar below).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    over = ordered_items(overall_rows(table))
    cols, values, notes = _heatmap_cells(table, over, confidence)
    n_items, n_cols = max(len(over), 1), max(len(cols), 1)
    with _plain_text(lay):
        if ax is None:
            size = (
                (lay.width, 2.6 + 0.48 * n_items)
                if lay.above
                else (3.4 + 0.85 * n_cols, 1.0 + 0.36 * n_items)
            )
            ax = _new_axes(*size)
        finite = values[np.isfinite(values)]
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        cmap = sns.color_palette("vlag_r", as_cmap=True).with_extremes(bad="#eeeeee")
        style = {"cmap": cmap, "vmin": -vmax, "vmax": vmax, "edgecolors": "white", "linewidth": 0.6}
        tops = HEATMAP_STEP[lay.name] * np.arange(len(over)) + (HEATMAP_LABEL if lay.above else 0)
        if lay.above:  # one strip of cells per item, its label above it
            for i, top in enumerate(tops):
                mesh = ax.pcolormesh(
                    np.arange(n_cols + 1),
                    [top, top + 1],
                    np.ma.masked_invalid(values[i : i + 1]),
                    **style,
                )
        else:
            mesh = ax.pcolormesh(np.ma.masked_invalid(values), **style)
        cbar = ax.figure.colorbar(
            mesh, ax=ax, shrink=0.8, **({"location": "bottom", "aspect": 30} if lay.above else {})
        )
        cbar.set_label(_wrap("gap (performance − expectation)", lay.xlabel_chars))
        cbar.outline.set_visible(False)
        _heatmap_grid(ax, over, values, notes, (vmax, tops, lay))
        labels = [_wrap(item_label(r), lay.chars if lay.above else 34) for _, r in over.iterrows()]
        if lay.above:
            for top, label in zip(tops, labels, strict=True):
                ax.text(
                    0, top - 0.08, label, ha="left", va="bottom", fontsize=lay.font, color="0.1"
                )
            ax.set_yticks([])
            col_names = [f"{g}: {lv}" for g, lv in cols]
        else:
            ax.set_yticks(tops + 0.5, labels, rotation=0)
            col_names = [f"{g}:\n{_wrap(lv, 12)}" for g, lv in cols]
        ax.set_xticks(np.arange(len(cols)) + 0.5, col_names, rotation=90 if lay.above else 0)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        ax.set_xlabel("")
        ax.set_ylabel("")
        _plain(ax.get_yticklabels())
        _plain(ax.get_xticklabels())
        _plain(ax.texts)
        _plain([cbar.ax.yaxis.label, cbar.ax.xaxis.label])
    return ax


#: Rows per item of the heatmap (narrow: a label strip above each row of cells) and the label
#: strip's height, in cell heights.
HEATMAP_STEP = {"wide": 1.0, "narrow": 1.6}
HEATMAP_LABEL = 0.6


def _heatmap_cells(
    table: pd.DataFrame, over: pd.DataFrame, confidence: float
) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """The heatmap's columns ``(group, level)``, gap values (NaN: hidden) and cell texts."""
    seg = segment_rows(table)
    cols = list(dict.fromkeys(zip(seg["group"].astype(str), seg["level"].astype(str), strict=True)))
    items = [str(i) for i in over["item"]]
    values = np.full((len(items), len(cols)), np.nan)
    notes = np.full(values.shape, DASH, dtype=object)
    index = {(str(r["item"]), str(r["group"]), str(r["level"])): r for _, r in seg.iterrows()}
    for i, item in enumerate(items):
        for j, (g, lv) in enumerate(cols):
            r = index.get((item, g, lv))
            if r is None or is_hidden(r):
                continue
            values[i, j] = float(r["gap"])
            notes[i, j] = fmt_num(r["gap"], signed=True) + ("*" if is_clear(r, confidence) else "")
    return cols, values, notes


def _heatmap_grid(
    ax: Axes,
    over: pd.DataFrame,
    values: np.ndarray,
    notes: np.ndarray,
    where: tuple[float, np.ndarray, Layout],
) -> None:
    """Gaps between dimensions, limits, and each cell's text (white on dark cells); ``where`` is
    (the colour scale's end, each row's top, the layout)."""
    vmax, tops, lay = where
    dims = over["dimension"].astype(str).to_numpy()
    if not lay.above:
        for i in np.flatnonzero(dims[1:] != dims[:-1]) + 1:
            ax.axhline(i, color="white", lw=4)  # a gap between dimensions
    n_items, n_cols = values.shape
    ax.set_xlim(0, n_cols)
    ax.set_ylim((tops[-1] + 1) if n_items else 1, 0)  # first item at the top
    for side in ax.spines.values():
        side.set_visible(False)
    for i in range(n_items):
        for j in range(n_cols):
            shade = abs(values[i, j]) / vmax if np.isfinite(values[i, j]) and vmax else 0
            ax.text(
                j + 0.5,
                tops[i] + 0.5,
                notes[i, j],
                ha="center",
                va="center",
                fontsize=lay.text if lay.above else 9,
                color="white" if shade > 0.7 else "0.15",
            )


# ---------------------------------------------------------------------------------------------
# the customer-centred analyses


@dataclass(frozen=True, eq=False)
class QuadrantChart:
    """What a quadrant chart shows: numbered points split into four named quadrants by dashed
    crosshairs at ``cross`` (x, y), filled or hollow, with a legend for the two kinds.

    ``quadrants`` maps (right of the crosshair, above it) to the quadrant's name; ``x_also`` are
    x values the axis must include (e.g. 0); ``legend`` is (filled, hollow).
    """

    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    filled: np.ndarray
    colour: Any
    cross: tuple[float, float] | None
    quadrants: dict[tuple[bool, bool], str]
    xlabel: str
    ylabel: str
    legend: tuple[str, str]
    x_also: tuple[float, ...] = ()


@dataclass(frozen=True, eq=False)
class IntervalRows:
    """Rows of estimates with their intervals, one per label, filled or hollow, in one colour."""

    labels: list[str]
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    filled: np.ndarray
    colour: Any


def _quadrant_labels(ax: Axes, labels: dict[tuple[bool, bool], str], lay: Layout) -> None:
    """Quadrant names in the corners: keys are (right, top); wrapped on a narrow chart."""
    for (right, top), text in labels.items():
        ax.text(
            0.98 if right else 0.02,
            0.98 if top else 0.02,
            _wrap(text, 16) if lay.above else text,
            transform=ax.transAxes,
            ha="right" if right else "left",
            va="top" if top else "bottom",
            fontsize=lay.text if lay.above else 9,
            color="0.35",
            fontweight="bold",
        )


def _numbered_points(ax: Axes, chart: QuadrantChart, lay: Layout) -> None:
    colour = chart.colour
    for xi, yi, num, full in zip(chart.x, chart.y, chart.labels, chart.filled, strict=True):
        ax.plot(
            [xi],
            [yi],
            marker="o",
            ms=14 if lay.above else 15,
            color=colour,
            markerfacecolor=colour if full else "white",
            markeredgewidth=1.6,
            zorder=3,
        )
        ax.text(
            xi,
            yi,
            num,
            ha="center",
            va="center",
            fontsize=lay.text if lay.above else 7.5,
            color="white" if full else "0.15",
            zorder=4,
        )


def _pad_limits(values: np.ndarray, extra: tuple[float, ...] = ()) -> tuple[float, float]:
    v = np.r_[values[np.isfinite(values)], list(extra)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    pad = 0.12 * max(hi - lo, 0.2)
    return lo - pad, hi + pad


def _first_pair(rows: pd.DataFrame, x: str, y: str) -> tuple[float, float] | None:
    """``(x, y)`` of the first row (a crosshair repeated on every row); None without rows."""
    if not len(rows):
        return None
    return float(rows[x].iloc[0]), float(rows[y].iloc[0])


def ipa_chart(
    priorities: pd.DataFrame,
    ax: Axes | None = None,
    group: str = "all",
    level: str = "all",
    layout: str = "wide",
) -> Axes:
    """Importance-performance grid: each item at (performance, expectation), numbered by its
    priority rank, with the crosshairs of the table and the four quadrants named.

    Parameters
    ----------
    priorities
        :func:`analysis.cx.priorities.priorities` output (``rank, expectation, performance, verdict,
        importance_cross, performance_cross``); the rows of ``group``/``level`` are drawn, hidden
        (suppressed) rows left out. Significant shortfalls are filled markers, others hollow.
    ax
        Axes to draw on; a new figure when omitted.
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    rows = shown_rows(rows_of(priorities, group, level), "gap")
    with _plain_text(lay):
        if ax is None:
            ax = _new_axes(*QUADRANT_SIZE[lay.name])
        chart = QuadrantChart(
            x=rows["performance"].astype(float).to_numpy(),
            y=rows["expectation"].astype(float).to_numpy(),
            labels=[str(int(r)) for r in rows["rank"]],
            filled=(rows["verdict"] == vocabulary.SHORTFALL).to_numpy(),
            colour=SINGLE_COLOUR,
            cross=_first_pair(rows, "performance_cross", "importance_cross"),
            # x: performance, y: importance
            quadrants={(x, y): vocabulary.QUADRANTS[(y, x)] for (y, x) in vocabulary.QUADRANTS},
            xlabel="Performance (mean rating)",
            ylabel="Importance: expectation (mean rating)",
            legend=("clear shortfall", "no clear shortfall"),
        )
        _quadrant_chart(ax, chart, lay)
    return ax


#: Figure size (inches) of a quadrant chart per layout.
QUADRANT_SIZE = {"wide": (7.5, 6.0), "narrow": (4.0, 4.6)}


def importance_grid(
    drivers: pd.DataFrame,
    ax: Axes | None = None,
    numbers: dict[str, str] | None = None,
    layout: str = "wide",
) -> Axes:
    """The dual-importance grid: derived importance (share of R^2) against stated importance,
    split at ``derived_split`` and ``stated_split``, with the four tiers named.

    Parameters
    ----------
    drivers
        :func:`analysis.cx.drivers.importance_tiers` output (``item, share, stated, stated_split,
        derived_split, vs_average``); suppressed rows are left out.
    numbers
        The label of each item's point (e.g. its priority rank); the driver rank by default.
    ax
        Axes to draw on; a new figure when omitted.
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    rows = shown_rows(drivers, "share")
    rows = rows[rows["stated"].notna()]
    with _plain_text(lay):
        if ax is None:
            ax = _new_axes(*QUADRANT_SIZE[lay.name])
        chart = QuadrantChart(
            x=rows["share"].astype(float).to_numpy(),
            y=rows["stated"].astype(float).to_numpy(),
            labels=[
                str(numbers.get(str(i), "")) if numbers else str(int(r))
                for i, r in zip(rows["item"], rows["rank"], strict=True)
            ],
            filled=(rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
            colour=SINGLE_COLOUR,
            cross=_first_pair(rows, "derived_split", "stated_split"),
            # x: derived importance, y: stated importance
            quadrants={
                (x, y): vocabulary.TIER_PLURAL[vocabulary.TIERS[(y, x)][0]]
                for (y, x) in vocabulary.TIERS
            },
            xlabel="Derived importance: share of explained overall satisfaction (%)",
            ylabel="Stated importance: expectation (mean rating)",
            legend=("clearly above average", "not clearly above average"),
            x_also=(0.0,),
        )
        _quadrant_chart(ax, chart, lay)
    return ax


def _quadrant_chart(ax: Axes, chart: QuadrantChart, lay: Layout) -> None:
    """Draw a :class:`QuadrantChart` on ``ax``."""
    _numbered_points(ax, chart, lay)
    if chart.cross is not None:
        xc, yc = chart.cross
        ax.axvline(xc, color="0.4", lw=1, ls="--", zorder=1)
        ax.axhline(yc, color="0.4", lw=1, ls="--", zorder=1)
        ax.set_xlim(*_pad_limits(chart.x, (xc, *chart.x_also)))
        ax.set_ylim(*_pad_limits(chart.y, (yc,)))
    _quadrant_labels(ax, chart.quadrants, lay)
    ax.set_xlabel(_wrap(chart.xlabel, lay.xlabel_chars))
    ax.set_ylabel(_wrap(chart.ylabel, lay.xlabel_chars))
    ax.grid(color="0.93", lw=0.8)
    ax.set_axisbelow(True)
    _strip_spines(ax, ("top", "right"))
    marker = {"color": chart.colour, "marker": "o", "lw": 0, "ms": 9}
    handles = [
        Line2D([], [], **marker, label=chart.legend[0]),
        Line2D(
            [], [], **marker, markerfacecolor="white", markeredgewidth=1.6, label=chart.legend[1]
        ),
    ]
    leg = ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        borderaxespad=4.2 if lay.above else 3.2,
        ncol=2,
        frameon=False,
        fontsize=lay.text if lay.above else 9,
    )
    _plain(leg.get_texts())
    _plain(ax.texts)


def _interval_rows(ax: Axes, rows: IntervalRows, lay: Layout) -> None:
    """Draw :class:`IntervalRows` on ``ax``, the first at the top."""
    y = np.arange(len(rows.labels), dtype=float)
    for yi, e, a, b, full in zip(y, rows.estimate, rows.low, rows.high, rows.filled, strict=True):
        _point_interval(ax, yi, e, (a, b), (rows.colour, full))
    _row_labels(ax, y, rows.labels, lay)
    ax.set_ylim(len(rows.labels) - 0.4, -0.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    _strip_spines(ax)


def _rows_height(n: int, lay: Layout, wide_row: float) -> float:
    """Height (inches) of an interval-rows chart of ``n`` rows."""
    return (1.6 + lay.row * max(n, 1)) if lay.above else (1.2 + wide_row * max(n, 1))


def driver_chart(
    drivers: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Each item's share of the explained overall satisfaction, with its interval, largest first.

    Parameters
    ----------
    drivers
        :func:`analysis.cx.drivers.key_drivers` output; suppressed rows are left out. Items whose
        share is clearly above the average share (``vs_average == "above"``) are filled.
    ax
        Axes to draw on; a new figure sized to the number of items when omitted.
    confidence
        The level of the intervals (axis label).
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    rows = shown_rows(drivers, "share").sort_values("share", ascending=False, kind="stable")
    with _plain_text(lay):
        if ax is None:
            ax = _new_axes(lay.width, _rows_height(len(rows), lay, 0.36))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[_wrap(item_label(r), lay.chars) for _, r in rows.iterrows()],
                estimate=rows["share"].astype(float).to_numpy(),
                low=rows["share_ci_low"].astype(float).to_numpy(),
                high=rows["share_ci_high"].astype(float).to_numpy(),
                filled=(rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
                colour=SINGLE_COLOUR,
            ),
            lay,
        )
        if len(drivers):
            avg = 100.0 / len(drivers)
            ax.axvline(avg, color="0.4", lw=1, ls="--", zorder=1)
            ax.text(
                avg,
                -0.9,
                f" average share {fmt_num(avg, 1)}%",
                fontsize=lay.text if lay.above else 8.5,
                color="0.35",
                va="bottom",
            )
        ax.set_xlim(left=0)
        ax.set_xlabel(
            _wrap(
                "Share of explained overall satisfaction (%, relative weights), "
                f"{level_pct(confidence)} interval",
                lay.xlabel_chars,
            )
        )
        _plain(ax.texts)
    return ax


def nps_chart(
    nps: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Net Promoter Score of every group (overall first) with its interval, on -100..100.

    Parameters
    ----------
    nps
        :func:`analysis.cx.nps.nps` output (``group, level, nps, ci_low, ci_high``);
        suppressed rows are drawn as labelled gaps. Scores whose interval excludes 0 are filled.
    ax
        Axes to draw on; a new figure when omitted.
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    with _plain_text(lay):
        if ax is None:
            ax = _new_axes(8.0 if not lay.above else lay.width, _rows_height(len(nps), lay, 0.38))
        labels, est, lo, hi = [], [], [], []
        for _, r in nps.iterrows():
            h = is_hidden(r, "nps")
            labels.append(group_name(r) + (" (not shown: too few)" if h else ""))
            est.append(np.nan if h else float(r["nps"]))
            lo.append(np.nan if h else float(r["ci_low"]))
            hi.append(np.nan if h else float(r["ci_high"]))
        lo_a, hi_a = np.array(lo), np.array(hi)
        filled = np.array([excludes_zero(a, b) for a, b in zip(lo_a, hi_a, strict=True)])
        rows = IntervalRows(labels, np.array(est), lo_a, hi_a, filled, SINGLE_COLOUR)
        _interval_rows(ax, rows, lay)
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        lo_x, hi_x = _pad_limits(np.r_[lo_a, hi_a], (0.0,))
        ax.set_xlim(max(lo_x, -100), min(hi_x, 100))
        ax.set_xlabel(
            _wrap(
                f"Net Promoter Score (−100 to +100), {level_pct(confidence)} interval",
                lay.xlabel_chars,
            )
        )
    return ax


def trend_chart(
    trend: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Change of each item's overall gap since the previous wave, with its interval.

    Parameters
    ----------
    trend
        :func:`analysis.cx.trend.trend` output; overall rows are drawn in table order. Changes
        significant after the adjustment (``p_adjusted < 1 - confidence``) are filled.
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = _layout(layout)
    rows = shown_rows(overall_rows(trend), "change")
    with _plain_text(lay):
        if ax is None:
            ax = _new_axes(lay.width, _rows_height(len(rows), lay, 0.36))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[_wrap(item_label(r), lay.chars) for _, r in rows.iterrows()],
                estimate=rows["change"].astype(float).to_numpy(),
                low=rows["ci_low"].astype(float).to_numpy(),
                high=rows["ci_high"].astype(float).to_numpy(),
                filled=np.array([is_clear_adjusted(r, confidence) for _, r in rows.iterrows()]),
                colour=SINGLE_COLOUR,
            ),
            lay,
        )
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        ax.set_xlabel(
            _wrap(
                f"Change in gap since the previous survey, {level_pct(confidence)} interval "
                "(positive: the gap narrowed or performance pulled ahead)",
                lay.xlabel_chars,
            )
        )
    return ax


def representativeness_chart(
    table: pd.DataFrame, ax: Axes | None = None, layout: str = "wide"
) -> Axes:
    """Share of each segment level among the customer base, the respondents, and the weighted
    respondents (horizontal bars, one block per variable).

    Parameters
    ----------
    table
        :func:`analysis.cx.representativeness.representativeness` output.
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`; narrow: each level's name above its bars).

    Returns
    -------
    matplotlib.axes.Axes
    """
    series = [
        ("population_share", "Customer base"),
        ("sample_share", "Respondents (unweighted)"),
        ("weighted_share", "Respondents, weighted"),
    ]
    series = [(c, n) for c, n in series if table[c].notna().any()]
    lay = _layout(layout)
    with _plain_text(lay):
        if ax is None:
            per_row = 0.75 if lay.above else 0.55
            ax = _new_axes(lay.width if lay.above else 8.0, 1.4 + per_row * max(len(table), 1))
        span, start = (0.6, -0.15) if lay.above else (0.8, -0.4)  # narrow: room for the label
        height = span / max(len(series), 1)
        labels = [f"{r['variable']}: {r['level']}" for _, r in table.iterrows()]
        y = np.arange(len(table), dtype=float)
        for k, (col, name) in enumerate(series):
            vals = 100 * table[col].astype(float).to_numpy()
            ax.barh(
                y + start + height * (k + 0.5),
                np.nan_to_num(vals),
                height=height,
                color=SERIES_COLOURS[k % len(SERIES_COLOURS)],
                label=name,
            )
        _row_labels(ax, y, labels, lay)
        ax.set_ylim(len(table) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel("Share (%)")
        ax.grid(axis="x", color="0.92", lw=0.8)
        ax.set_axisbelow(True)
        _strip_spines(ax)
        leg = ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            borderaxespad=0.5,
            ncol=1 if lay.above else len(series),
            frameon=False,
            fontsize=lay.text if lay.above else 9,
        )
        _plain(leg.get_texts())
        _plain(ax.get_yticklabels())
        _plain(ax.texts)
    return ax
