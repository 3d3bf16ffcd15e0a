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

The palettes and layouts are :mod:`analysis.report.chart_style`'s; the segment heatmap is
:mod:`analysis.report.heatmap`'s (:func:`segment_gap_heatmap`, re-exported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from analysis.cx import vocabulary
from analysis.report import i18n
from analysis.report.chart_style import (
    DIMENSION_COLOURS,
    LABEL_WIDTH,
    LAYOUTS,
    PLAIN_TEXT,
    PRIORITY_COLOURS,
    SERIES_COLOURS,
    SINGLE_COLOUR,
    Layout,
    colours,
    layout_of,
    new_axes,
    plain,
    plain_text,
    row_labels,
    strip_spines,
    wrap,
)
from analysis.report.formatting import (
    excludes_zero,
    group_name,
    is_clear,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_pct,
    ordered_items,
    overall_rows,
    rows_of,
    shown_rows,
    word,
)
from analysis.report.heatmap import segment_gap_heatmap


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
    lay = layout_of(layout)
    over = ordered_items(overall_rows(table))
    dims = list(dict.fromkeys(over["dimension"].astype(str)))
    with plain_text(lay):
        if ax is None:
            rows = max(len(over), 1) + BAND_GAP[lay.name] * len(dims)
            ax = new_axes(lay.width, 1.6 + lay.row * rows + (0.4 if lay.above else 0.0))
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
            wrap(item_label(r), lay.chars)
            + ("\n" + i18n.gettext("(not shown: too few respondents)") if hidden else "")
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
    row_labels(ax, ypos, labels, lay)
    top = -(HEAD_AT[lay.name] + 0.45)
    ax.set_ylim((ypos[-1] if ypos else -1.0) + 0.6, top)  # first item at the top
    lo = np.nanmin(np.r_[over["ci_low"].astype(float).to_numpy(), 0.0]) if len(over) else -1
    hi = np.nanmax(np.r_[over["ci_high"].astype(float).to_numpy(), 0.0]) if len(over) else 1
    pad = 0.08 * max(hi - lo, 0.5)
    ax.set_xlim(lo - pad, hi + pad)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    strip_spines(ax)
    ax.set_xlabel(
        wrap(
            i18n.gettext(
                "Gap = performance − expectation (dot), with its %(level)s confidence interval "
                "(line)"
            )
            % {"level": level_pct(confidence)},
            lay.xlabel_chars,
        )
    )
    short, exceeds = (
        (i18n.gettext("◀ falls short"), i18n.gettext("exceeds ▶"))
        if lay.above
        else (
            i18n.gettext("◀ falls short of expectations"),
            i18n.gettext("exceeds expectations ▶"),
        )
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
        Line2D([], [], color="0.3", marker="o", lw=0, label=i18n.gettext("clear gap")),
        Line2D(
            [],
            [],
            color="0.3",
            marker="o",
            lw=0,
            markerfacecolor="white",
            markeredgewidth=1.8,
            label=i18n.gettext("no clear gap"),
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
    plain(leg.get_texts())
    plain(ax.texts)


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
    #: Each point's priority class (cx.vocabulary.PRIORITY_CLASSES): points coloured by class
    #: (PRIORITY_COLOURS), a legend of the classes, no quadrant names. None: filled/hollow.
    classes: tuple[str, ...] | None = None


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
            wrap(text, 16) if lay.above else text,
            transform=ax.transAxes,
            ha="right" if right else "left",
            va="top" if top else "bottom",
            fontsize=lay.text if lay.above else 9,
            color="0.35",
            fontweight="bold",
        )


def class_colour(priority: str) -> tuple[Any, str]:
    """The fill of a priority class's points and the colour of a number written on it."""
    i = vocabulary.PRIORITY_CLASSES.index(priority)
    return PRIORITY_COLOURS[i], ("white" if i in (0, 3) else "black")


def _numbered_points(ax: Axes, chart: QuadrantChart, lay: Layout) -> None:
    for i, (xi, yi, num, full) in enumerate(
        zip(chart.x, chart.y, chart.labels, chart.filled, strict=True)
    ):
        colour, ink = chart.colour, ("white" if full else "0.15")
        if chart.classes is not None:
            (colour, ink), full = class_colour(chart.classes[i]), True
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
            color=ink,
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
    lay = layout_of(layout)
    rows = shown_rows(rows_of(priorities, group, level), "gap")
    with plain_text(lay):
        if ax is None:
            ax = new_axes(*QUADRANT_SIZE[lay.name])
        chart = QuadrantChart(
            x=rows["performance"].astype(float).to_numpy(),
            y=rows["expectation"].astype(float).to_numpy(),
            labels=[str(int(r)) for r in rows["rank"]],
            filled=(rows["verdict"] == vocabulary.SHORTFALL).to_numpy(),
            colour=SINGLE_COLOUR,
            cross=_first_pair(rows, "performance_cross", "importance_cross"),
            quadrants={},  # the priority classes say what to do, not quadrant names
            xlabel=i18n.gettext("Performance (mean rating)"),
            ylabel=i18n.gettext("Importance: expectation (mean rating)"),
            legend=(i18n.gettext("clear shortfall"), i18n.gettext("no clear shortfall")),
            classes=tuple(rows["priority"].astype(str)) if "priority" in rows.columns else None,
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
    classes: dict[str, str] | None = None,
) -> Axes:
    """The dual-importance grid: derived importance (share of R^2) against stated importance,
    split at ``derived_split`` and ``stated_split``; each point coloured by its priority class
    (``classes``: item -> class, as the priorities table gives it), else the four tiers named.

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
    classes
        Item id -> priority class; items without one are left out.

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = layout_of(layout)
    rows = shown_rows(drivers, "share")
    rows = rows[rows["stated"].notna()]
    if classes is not None:
        rows = rows[rows["item"].astype(str).isin(classes)]
    with plain_text(lay):
        if ax is None:
            ax = new_axes(*QUADRANT_SIZE[lay.name])
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
            quadrants={}
            if classes is not None
            else {
                (x, y): word(vocabulary.TIER_PLURAL[vocabulary.TIERS[(y, x)][0]])
                for (y, x) in vocabulary.TIERS
            },
            xlabel=i18n.gettext("Derived importance: share of explained %(outcome)s (%%)")
            % {"outcome": word(vocabulary.OUTCOME_TEXT[_outcome_of(rows)])},
            ylabel=i18n.gettext("Stated importance: expectation (mean rating)"),
            legend=(
                i18n.gettext("clearly above average"),
                i18n.gettext("not clearly above average"),
            ),
            x_also=(0.0,),
            classes=None
            if classes is None
            else tuple(classes[str(i)] for i in rows["item"].astype(str)),
        )
        _quadrant_chart(ax, chart, lay)
    return ax


def _outcome_of(rows: pd.DataFrame) -> str:
    """The one outcome of a drivers table's rows (``overall`` when it has none)."""
    outcomes = rows["outcome"].dropna().unique() if "outcome" in rows.columns else []
    if len(outcomes) > 1:
        raise ValueError(
            "the dual-importance grid takes one outcome's drivers "
            "(analysis.cx.drivers.for_outcome), got " + ", ".join(map(str, outcomes))
        )
    return str(outcomes[0]) if len(outcomes) else vocabulary.OVERALL


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
    ax.set_xlabel(wrap(chart.xlabel, lay.xlabel_chars))
    ax.set_ylabel(wrap(chart.ylabel, lay.xlabel_chars))
    ax.grid(color="0.93", lw=0.8)
    ax.set_axisbelow(True)
    strip_spines(ax, ("top", "right"))
    marker = {"color": chart.colour, "marker": "o", "lw": 0, "ms": 9}
    handles = [
        Line2D([], [], **marker, label=chart.legend[0]),
        Line2D(
            [], [], **marker, markerfacecolor="white", markeredgewidth=1.6, label=chart.legend[1]
        ),
    ]
    if chart.classes is not None:
        marker = {"marker": "o", "lw": 0, "ms": 9}
        handles = [
            Line2D([], [], **marker, color=class_colour(c)[0], label=word(c))
            for c in vocabulary.PRIORITY_CLASSES
            if c in chart.classes
        ]
    leg = ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        borderaxespad=4.2 if lay.above else 3.2,
        ncol=2 if lay.above or len(handles) <= 2 else len(handles),
        frameon=False,
        fontsize=lay.text if lay.above else 9,
    )
    plain(leg.get_texts())
    plain(ax.texts)


def _interval_rows(ax: Axes, rows: IntervalRows, lay: Layout, offset: float = 0.0) -> None:
    """Draw :class:`IntervalRows` on ``ax``, the first at the top; ``offset`` moves the points
    off the rows' centre lines (several series on one set of rows)."""
    y = np.arange(len(rows.labels), dtype=float)
    for yi, e, a, b, full in zip(y, rows.estimate, rows.low, rows.high, rows.filled, strict=True):
        _point_interval(ax, yi + offset, e, (a, b), (rows.colour, full))
    row_labels(ax, y, rows.labels, lay)
    ax.set_ylim(len(rows.labels) - 0.4, -0.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    strip_spines(ax)


def _rows_height(n: int, lay: Layout, wide_row: float) -> float:
    """Height (inches) of an interval-rows chart of ``n`` rows."""
    return (1.6 + lay.row * max(n, 1)) if lay.above else (1.2 + wide_row * max(n, 1))


def driver_chart(
    drivers: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """Each item's share of the explained outcome, with its interval, largest first; with two
    outcomes (overall satisfaction and likelihood to recommend), each item's two shares side by
    side in two colours, ordered by the first outcome's.

    Parameters
    ----------
    drivers
        :func:`analysis.cx.drivers.key_drivers` output (one or more outcomes, the ``outcome``
        column); suppressed rows are left out. Items whose share is clearly above the average
        share (``vs_average == "above"``) are filled.
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
    lay = layout_of(layout)
    shown = shown_rows(drivers, "share")
    outcomes = [o for o in vocabulary.DRIVER_OUTCOMES if (shown["outcome"] == o).any()]
    blocks = [shown[shown["outcome"] == o] for o in outcomes]
    first = blocks[0].sort_values("share", ascending=False, kind="stable") if blocks else shown
    order = list(first["item"])
    labels = [wrap(item_label(r), lay.chars) for _, r in first.iterrows()]
    p = int((drivers["outcome"] == outcomes[0]).sum()) if outcomes else 0
    with plain_text(lay):
        if ax is None:
            ax = new_axes(
                lay.width, _rows_height(len(order), lay, 0.36 if len(blocks) < 2 else 0.4)
            )
        if len(blocks) < 2:
            _interval_rows(ax, _rows_of(first, order, labels, SINGLE_COLOUR), lay)
        else:
            colours_ = SERIES_COLOURS[: len(blocks)]
            offsets = np.linspace(-0.17, 0.17, len(blocks))
            for block, colour, dy in zip(blocks, colours_, offsets, strict=True):
                _interval_rows(ax, _rows_of(block, order, labels, colour), lay, offset=dy)
            marker = {"marker": "o", "lw": 2.2, "ms": 8}
            leg = ax.legend(
                handles=[
                    Line2D([], [], color=c, **marker, label=word(vocabulary.OUTCOME_LABEL[o]))
                    for o, c in zip(outcomes, colours_, strict=True)
                ],
                loc="lower right",
                frameon=False,
                fontsize=lay.text if lay.above else 9,
            )
            plain(leg.get_texts())
        if p:
            avg = 100.0 / p
            ax.axvline(avg, color="0.4", lw=1, ls="--", zorder=1)
            ax.text(
                avg,
                -0.9,
                " "
                + i18n.gettext("average share %(share)s")
                % {"share": i18n.percent_text(f"{avg:.1f}")},
                fontsize=lay.text if lay.above else 8.5,
                color="0.35",
                va="bottom",
            )
        ax.set_xlim(left=0)
        words = [word(vocabulary.OUTCOME_TEXT[o]) for o in outcomes]
        if len(words) > 1:
            xlabel = i18n.gettext(
                "Share of explained %(first)s and %(second)s (%%, relative weights), %(level)s "
                "interval"
            ) % {"first": words[0], "second": words[1], "level": level_pct(confidence)}
        else:
            xlabel = i18n.gettext(
                "Share of explained %(outcome)s (%%, relative weights), %(level)s interval"
            ) % {"outcome": words[0] if words else "", "level": level_pct(confidence)}
        ax.set_xlabel(wrap(xlabel, lay.xlabel_chars))
        plain(ax.texts)
    return ax


def _rows_of(block: pd.DataFrame, order: list[str], labels: list[str], colour: str) -> IntervalRows:
    """One outcome's shares as :class:`IntervalRows` in the item order given (NaN where the
    outcome has no shown row for an item)."""
    rows = block.set_index("item").reindex(order)
    return IntervalRows(
        labels=labels,
        estimate=rows["share"].astype(float).to_numpy(),
        low=rows["share_ci_low"].astype(float).to_numpy(),
        high=rows["share_ci_high"].astype(float).to_numpy(),
        filled=(rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
        colour=colour,
    )


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
    lay = layout_of(layout)
    with plain_text(lay):
        if ax is None:
            ax = new_axes(8.0 if not lay.above else lay.width, _rows_height(len(nps), lay, 0.38))
        labels, est, lo, hi = [], [], [], []
        for _, r in nps.iterrows():
            h = is_hidden(r, "nps")
            labels.append(group_name(r) + (" " + i18n.gettext("(not shown: too few)") if h else ""))
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
            wrap(
                i18n.gettext("Net Promoter Score (−100 to +100), %(level)s interval")
                % {"level": level_pct(confidence)},
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
    lay = layout_of(layout)
    rows = shown_rows(overall_rows(trend), "change")
    with plain_text(lay):
        if ax is None:
            ax = new_axes(lay.width, _rows_height(len(rows), lay, 0.36))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[wrap(item_label(r), lay.chars) for _, r in rows.iterrows()],
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
            wrap(
                i18n.gettext(
                    "Change in gap since the previous survey, %(level)s interval (positive: the "
                    "gap narrowed or performance pulled ahead)"
                )
                % {"level": level_pct(confidence)},
                lay.xlabel_chars,
            )
        )
    return ax


def trend_waves_chart(
    trend: pd.DataFrame, axes: Sequence[Axes] | None = None, layout: str = "wide"
) -> Axes:
    """Small multiples: each item's overall gap in every wave, one panel per dimension (items
    as lines in Okabe-Ito colours, waves oldest first on the x axis, one shared gap axis).

    Parameters
    ----------
    trend
        :func:`analysis.cx.trend.trend` output (every wave's rows); hidden gaps are not drawn.
    axes
        One Axes per dimension (in table order); None: a new figure (two panels a row wide,
        one narrow).
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
        The first panel (its figure holds them all).
    """
    lay = layout_of(layout)
    over = overall_rows(trend)
    dims = list(dict.fromkeys(over["dimension"]))
    waves = over[["wave_order", "wave_label"]].drop_duplicates().sort_values("wave_order")
    with plain_text(lay):
        if axes is None:
            cols = 1 if lay.above else 2
            nrows = -(-len(dims) // cols)
            _fig, grid = plt.subplots(
                nrows,
                cols,
                figsize=(lay.width, 1.9 * nrows + 0.4),
                layout="constrained",
                sharex=True,
                sharey=True,
                squeeze=False,
            )
            panels = list(grid.ravel())
            for extra in panels[len(dims) :]:
                extra.set_visible(False)
            axes = panels[: len(dims)]
        for ax, dim in zip(axes, dims, strict=True):
            rows = over[over["dimension"] == dim]
            items = list(dict.fromkeys(rows["item"]))
            palette = colours(SERIES_COLOURS + DIMENSION_COLOURS[3:], len(items))
            for colour, item in zip(palette, items, strict=True):
                line = rows[rows["item"] == item].sort_values("wave_order")
                line = line[line["gap"].notna()]
                name = item_label(line.iloc[0]) if len(line) else item
                ax.plot(
                    line["wave_order"],
                    line["gap"].astype(float),
                    marker="o",
                    ms=3.5,
                    lw=1.4,
                    color=colour,
                    label=wrap(name, lay.chars),
                )
            ax.axhline(0, color="0.25", lw=0.8, zorder=1)
            ax.set_title(wrap(str(dim), lay.chars), loc="left")
            ax.set_xticks(waves["wave_order"].to_numpy(), waves["wave_label"].astype(str).tolist())
            strip_spines(ax, ("top", "right"))
            ax.legend(fontsize=lay.text, frameon=False, loc="best")
        axes[0].set_ylabel(wrap(i18n.gettext("Gap (performance − expectation)"), lay.xlabel_chars))
    return axes[0]


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
        ("population_share", i18n.gettext("Customer base")),
        ("sample_share", i18n.gettext("Respondents (unweighted)")),
        ("weighted_share", i18n.gettext("Respondents, weighted")),
    ]
    series = [(c, n) for c, n in series if table[c].notna().any()]
    lay = layout_of(layout)
    with plain_text(lay):
        if ax is None:
            per_row = 0.75 if lay.above else 0.55
            ax = new_axes(lay.width if lay.above else 8.0, 1.4 + per_row * max(len(table), 1))
        span, start = (0.6, -0.15) if lay.above else (0.8, -0.4)  # narrow: room for the label
        height = span / max(len(series), 1)
        labels = [
            f"{r.get('variable_label', r['variable'])}: {r.get('level_label', r['level'])}"
            for _, r in table.iterrows()
        ]
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
        row_labels(ax, y, labels, lay)
        ax.set_ylim(len(table) - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.set_xlabel(i18n.gettext("Share (%)"))
        ax.grid(axis="x", color="0.92", lw=0.8)
        ax.set_axisbelow(True)
        strip_spines(ax)
        leg = ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            borderaxespad=0.5,
            ncol=1 if lay.above else len(series),
            frameon=False,
            fontsize=lay.text if lay.above else 9,
        )
        plain(leg.get_texts())
        plain(ax.get_yticklabels())
        plain(ax.texts)
    return ax


__all__ = [
    "DIMENSION_COLOURS",
    "LABEL_WIDTH",
    "LAYOUTS",
    "PLAIN_TEXT",
    "PRIORITY_COLOURS",
    "SERIES_COLOURS",
    "SINGLE_COLOUR",
    "driver_chart",
    "gap_chart",
    "importance_grid",
    "ipa_chart",
    "nps_chart",
    "representativeness_chart",
    "segment_gap_heatmap",
    "trend_chart",
    "trend_waves_chart",
]


def theme_chart(
    themes: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95, layout: str = "wide"
) -> Axes:
    """The share of customers raising each theme of their open comments, with its interval,
    largest first, each share written beside its interval.

    Parameters
    ----------
    themes
        The themes table (``theme, group, level, share, ci_low, ci_high, suppressed``; shares
        0-1); its overall rows are drawn, suppressed ones left out.
    ax
        Axes to draw on; a new figure sized to the number of themes when omitted.
    confidence
        The level of the intervals (axis label).
    layout
        ``"wide"`` or ``"narrow"`` (:data:`LAYOUTS`).

    Returns
    -------
    matplotlib.axes.Axes
    """
    lay = layout_of(layout)
    rows = shown_rows(overall_rows(themes), "share")
    rows = rows.sort_values("share", ascending=False, kind="stable")
    with plain_text(lay):
        if ax is None:
            ax = new_axes(lay.width, _rows_height(len(rows), lay, 0.36))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[wrap(str(t), lay.chars) for t in rows["theme"]],
                estimate=100 * rows["share"].astype(float).to_numpy(),
                low=100 * rows["ci_low"].astype(float).to_numpy(),
                high=100 * rows["ci_high"].astype(float).to_numpy(),
                filled=np.ones(len(rows), dtype=bool),
                colour=SINGLE_COLOUR,
            ),
            lay,
        )
        # each share written beside its interval, so the chart needs no table beside it
        highs = 100 * rows["ci_high"].astype(float).fillna(rows["share"].astype(float))
        for y, (share, high) in enumerate(zip(rows["share"].astype(float), highs, strict=True)):
            ax.text(
                high,
                y,
                "  " + i18n.percent_text(f"{100 * share:.0f}"),
                fontsize=lay.text if lay.above else 8.5,
                color="0.2",
                va="center",
                ha="left",
            )
        right = float(highs.max()) if len(rows) else 1.0
        ax.set_xlim(0, right * 1.15 + 1)
        plain(ax.texts)
        ax.set_xlabel(
            wrap(
                i18n.gettext(
                    "Share of customers raising the theme in their comment (%%), %(level)s interval"
                )
                % {"level": level_pct(confidence)},
                lay.xlabel_chars,
            )
        )
    return ax
