"""Figures of the gap results. Functions take result tables and ``ax=None``, return the Axes, and
never load or save anything.

Labels come from codebooks and data, so matplotlib's mathtext is switched off for every text drawn
here (``text.parse_math = False``, ``text.usetex = False``): a label such as ``$5 top-ups`` shows as
written. Colours are seaborn's colour-blind-safe ``colorblind`` palette; clear gaps are filled
markers and unclear ones hollow, so the distinction does not rely on colour. Which rows are shown
and which results are clear is decided as in the tables (:mod:`analysis.report.formatting`).
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


@contextmanager
def _plain_text() -> Iterator[None]:
    with mpl.rc_context(PLAIN_TEXT):
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


def _strip_spines(ax: Axes, sides: tuple[str, ...] = ("top", "right", "left")) -> None:
    for side in sides:
        ax.spines[side].set_visible(False)


def gap_chart(table: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
    """Point-and-interval chart of each item's overall gap, grouped by dimension.

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

    Returns
    -------
    matplotlib.axes.Axes
    """
    over = ordered_items(overall_rows(table))
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.5, 1.4 + 0.42 * max(len(over), 1))
        dims = list(dict.fromkeys(over["dimension"].astype(str)))
        palette = dict(zip(dims, sns.color_palette("colorblind", len(dims)), strict=True))
        ypos, labels = _gap_points(ax, over, palette, confidence)
        _gap_axis(ax, over, ypos, labels, confidence)
        _gap_legend(ax, palette)
    return ax


def _gap_points(
    ax: Axes, over: pd.DataFrame, palette: dict[str, Any], confidence: float
) -> tuple[list[float], list[str]]:
    """Each item's gap and interval, a little space between dimensions; the y positions and
    tick labels (a hidden item is named, not drawn)."""
    ypos, labels, y, prev = [], [], 0.0, None
    for _, r in over.iterrows():
        dim = str(r["dimension"])
        if prev is not None and dim != prev:
            y += 0.6  # a little space between dimensions
            ax.axhline(y - 0.8, color="0.85", lw=0.8, zorder=0)
        prev = dim
        ypos.append(y)
        hidden = is_hidden(r)
        labels.append(
            _wrap(item_label(r)) + ("\n(not shown: too few respondents)" if hidden else "")
        )
        if not hidden:
            interval = (float(r["ci_low"]), float(r["ci_high"]))
            style = (palette[dim], is_clear(r, confidence))
            _point_interval(ax, y, float(r["gap"]), interval, style)
        y += 1.0
    return ypos, labels


def _gap_axis(
    ax: Axes, over: pd.DataFrame, ypos: list[float], labels: list[str], confidence: float
) -> None:
    """The zero line, item labels, limits and the two directions of the gap chart."""
    ax.axvline(0, color="0.25", lw=1.0, zorder=1)
    ax.set_yticks(ypos, labels)
    _plain(ax.get_yticklabels())
    ax.set_ylim((ypos[-1] if ypos else -1.0) + 0.6, -0.6)  # first item at the top
    lo = np.nanmin(np.r_[over["ci_low"].astype(float).to_numpy(), 0.0]) if len(over) else -1
    hi = np.nanmax(np.r_[over["ci_high"].astype(float).to_numpy(), 0.0]) if len(over) else 1
    pad = 0.08 * max(hi - lo, 0.5)
    ax.set_xlim(lo - pad, hi + pad)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    _strip_spines(ax)
    ax.set_xlabel(
        "Gap = performance − expectation (dot), with its "
        f"{level_pct(confidence)} confidence interval (line)"
    )
    for x, text, ha in (
        (0.0, "◀ falls short of expectations", "left"),
        (1.0, "exceeds expectations ▶", "right"),
    ):
        ax.text(x, 1.0, text, transform=ax.transAxes, ha=ha, va="bottom", fontsize=9, color="0.3")


def _gap_legend(ax: Axes, palette: dict[str, Any]) -> None:
    """The dimensions' colours and filled (clear) or hollow markers, under the x-axis label."""
    handles = [Line2D([], [], color=c, marker="o", lw=2.2, label=d) for d, c in palette.items()]
    handles += [
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
        borderaxespad=4.2,
        ncol=min(len(handles), 4),
        frameon=False,
        fontsize=9,
    )
    _plain(leg.get_texts())
    _plain(ax.texts)


def segment_gap_heatmap(
    table: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    over = ordered_items(overall_rows(table))
    cols, values, notes = _heatmap_cells(table, over, confidence)
    with _plain_text():
        if ax is None:
            ax = _new_axes(3.4 + 0.85 * max(len(cols), 1), 1.0 + 0.36 * max(len(over), 1))
        finite = values[np.isfinite(values)]
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        cmap = sns.color_palette("vlag_r", as_cmap=True).with_extremes(bad="#eeeeee")
        mesh = ax.pcolormesh(
            np.ma.masked_invalid(values),
            cmap=cmap,
            vmin=-vmax,
            vmax=vmax,
            edgecolors="white",
            linewidth=0.6,
        )
        cbar = ax.figure.colorbar(mesh, ax=ax, shrink=0.8)
        cbar.set_label("gap (performance − expectation)")
        cbar.outline.set_visible(False)
        _heatmap_grid(ax, over, values, notes, vmax)
        labels = [_wrap(item_label(r), 34) for _, r in over.iterrows()]
        ax.set_yticks(np.arange(len(over)) + 0.5, labels, rotation=0)
        ax.set_xticks(
            np.arange(len(cols)) + 0.5, [f"{g}:\n{_wrap(lv, 12)}" for g, lv in cols], rotation=0
        )
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        ax.set_xlabel("")
        ax.set_ylabel("")
        _plain(ax.get_yticklabels())
        _plain(ax.get_xticklabels())
        _plain(ax.texts)
        _plain([cbar.ax.yaxis.label])
    return ax


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
    ax: Axes, over: pd.DataFrame, values: np.ndarray, notes: np.ndarray, vmax: float
) -> None:
    """Gaps between dimensions, limits, and each cell's text (white on dark cells)."""
    dims = over["dimension"].astype(str).to_numpy()
    for i in np.flatnonzero(dims[1:] != dims[:-1]) + 1:
        ax.axhline(i, color="white", lw=4)  # a gap between dimensions
    n_items, n_cols = values.shape
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_items, 0)  # first item at the top
    for side in ax.spines.values():
        side.set_visible(False)
    for i in range(n_items):
        for j in range(n_cols):
            shade = abs(values[i, j]) / vmax if np.isfinite(values[i, j]) and vmax else 0
            ax.text(
                j + 0.5,
                i + 0.5,
                notes[i, j],
                ha="center",
                va="center",
                fontsize=9,
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


def _quadrant_labels(ax: Axes, labels: dict[tuple[bool, bool], str]) -> None:
    """Quadrant names in the corners: keys are (right, top)."""
    for (right, top), text in labels.items():
        ax.text(
            0.98 if right else 0.02,
            0.98 if top else 0.02,
            text,
            transform=ax.transAxes,
            ha="right" if right else "left",
            va="top" if top else "bottom",
            fontsize=9,
            color="0.35",
            fontweight="bold",
        )


def _numbered_points(ax: Axes, chart: QuadrantChart) -> None:
    colour = chart.colour
    for xi, yi, num, full in zip(chart.x, chart.y, chart.labels, chart.filled, strict=True):
        ax.plot(
            [xi],
            [yi],
            marker="o",
            ms=15,
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
            fontsize=7.5,
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
    priorities: pd.DataFrame, ax: Axes | None = None, group: str = "all", level: str = "all"
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = shown_rows(rows_of(priorities, group, level), "gap")
    with _plain_text():
        if ax is None:
            ax = _new_axes(7.5, 6.0)
        chart = QuadrantChart(
            x=rows["performance"].astype(float).to_numpy(),
            y=rows["expectation"].astype(float).to_numpy(),
            labels=[str(int(r)) for r in rows["rank"]],
            filled=(rows["verdict"] == vocabulary.SHORTFALL).to_numpy(),
            colour=sns.color_palette("colorblind")[1],
            cross=_first_pair(rows, "performance_cross", "importance_cross"),
            # x: performance, y: importance
            quadrants={(x, y): vocabulary.QUADRANTS[(y, x)] for (y, x) in vocabulary.QUADRANTS},
            xlabel="Performance (mean rating)",
            ylabel="Importance: expectation (mean rating)",
            legend=("clear shortfall", "no clear shortfall"),
        )
        _quadrant_chart(ax, chart)
    return ax


def importance_grid(
    drivers: pd.DataFrame, ax: Axes | None = None, numbers: dict[str, str] | None = None
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = shown_rows(drivers, "share")
    rows = rows[rows["stated"].notna()]
    with _plain_text():
        if ax is None:
            ax = _new_axes(7.5, 6.0)
        chart = QuadrantChart(
            x=rows["share"].astype(float).to_numpy(),
            y=rows["stated"].astype(float).to_numpy(),
            labels=[
                str(numbers.get(str(i), "")) if numbers else str(int(r))
                for i, r in zip(rows["item"], rows["rank"], strict=True)
            ],
            filled=(rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
            colour=sns.color_palette("colorblind")[0],
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
        _quadrant_chart(ax, chart)
    return ax


def _quadrant_chart(ax: Axes, chart: QuadrantChart) -> None:
    """Draw a :class:`QuadrantChart` on ``ax``."""
    _numbered_points(ax, chart)
    if chart.cross is not None:
        xc, yc = chart.cross
        ax.axvline(xc, color="0.4", lw=1, ls="--", zorder=1)
        ax.axhline(yc, color="0.4", lw=1, ls="--", zorder=1)
        ax.set_xlim(*_pad_limits(chart.x, (xc, *chart.x_also)))
        ax.set_ylim(*_pad_limits(chart.y, (yc,)))
    _quadrant_labels(ax, chart.quadrants)
    ax.set_xlabel(chart.xlabel)
    ax.set_ylabel(chart.ylabel)
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
        borderaxespad=3.2,
        ncol=2,
        frameon=False,
        fontsize=9,
    )
    _plain(leg.get_texts())
    _plain(ax.texts)


def _interval_rows(ax: Axes, rows: IntervalRows) -> None:
    """Draw :class:`IntervalRows` on ``ax``, the first at the top."""
    y = np.arange(len(rows.labels), dtype=float)
    for yi, e, a, b, full in zip(y, rows.estimate, rows.low, rows.high, rows.filled, strict=True):
        _point_interval(ax, yi, e, (a, b), (rows.colour, full))
    ax.set_yticks(y, rows.labels)
    ax.set_ylim(len(rows.labels) - 0.4, -0.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    _strip_spines(ax)
    _plain(ax.get_yticklabels())


def driver_chart(drivers: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
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

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = shown_rows(drivers, "share").sort_values("share", ascending=False, kind="stable")
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.5, 1.2 + 0.36 * max(len(rows), 1))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[_wrap(item_label(r)) for _, r in rows.iterrows()],
                estimate=rows["share"].astype(float).to_numpy(),
                low=rows["share_ci_low"].astype(float).to_numpy(),
                high=rows["share_ci_high"].astype(float).to_numpy(),
                filled=(rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
                colour=sns.color_palette("colorblind")[0],
            ),
        )
        if len(drivers):
            avg = 100.0 / len(drivers)
            ax.axvline(avg, color="0.4", lw=1, ls="--", zorder=1)
            ax.text(
                avg,
                -0.9,
                f" average share {fmt_num(avg, 1)}%",
                fontsize=8.5,
                color="0.35",
                va="bottom",
            )
        ax.set_xlim(left=0)
        ax.set_xlabel(
            "Share of explained overall satisfaction (%, relative weights), "
            f"{level_pct(confidence)} interval"
        )
        _plain(ax.texts)
    return ax


def nps_chart(nps: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
    """Net Promoter Score of every group (overall first) with its interval, on -100..100.

    Parameters
    ----------
    nps
        :func:`analysis.cx.nps.nps` output (``group, level, nps, ci_low, ci_high``);
        suppressed rows are drawn as labelled gaps. Scores whose interval excludes 0 are filled.
    ax
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.0, 1.2 + 0.38 * max(len(nps), 1))
        labels, est, lo, hi = [], [], [], []
        for _, r in nps.iterrows():
            h = is_hidden(r, "nps")
            labels.append(group_name(r) + (" (not shown: too few)" if h else ""))
            est.append(np.nan if h else float(r["nps"]))
            lo.append(np.nan if h else float(r["ci_low"]))
            hi.append(np.nan if h else float(r["ci_high"]))
        lo_a, hi_a = np.array(lo), np.array(hi)
        filled = np.array([excludes_zero(a, b) for a, b in zip(lo_a, hi_a, strict=True)])
        colour = sns.color_palette("colorblind")[2]
        _interval_rows(ax, IntervalRows(labels, np.array(est), lo_a, hi_a, filled, colour))
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        lo_x, hi_x = _pad_limits(np.r_[lo_a, hi_a], (0.0,))
        ax.set_xlim(max(lo_x, -100), min(hi_x, 100))
        ax.set_xlabel(f"Net Promoter Score (−100 to +100), {level_pct(confidence)} interval")
    return ax


def trend_chart(trend: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
    """Change of each item's overall gap since the previous wave, with its interval.

    Parameters
    ----------
    trend
        :func:`analysis.cx.trend.trend` output; overall rows are drawn in table order. Changes
        significant after the adjustment (``p_adjusted < 1 - confidence``) are filled.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = shown_rows(overall_rows(trend), "change")
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.5, 1.2 + 0.36 * max(len(rows), 1))
        _interval_rows(
            ax,
            IntervalRows(
                labels=[_wrap(item_label(r)) for _, r in rows.iterrows()],
                estimate=rows["change"].astype(float).to_numpy(),
                low=rows["ci_low"].astype(float).to_numpy(),
                high=rows["ci_high"].astype(float).to_numpy(),
                filled=np.array([is_clear_adjusted(r, confidence) for _, r in rows.iterrows()]),
                colour=sns.color_palette("colorblind")[4],
            ),
        )
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        ax.set_xlabel(
            f"Change in gap since the previous survey, {level_pct(confidence)} interval "
            "(positive: the gap narrowed or performance pulled ahead)"
        )
    return ax


def representativeness_chart(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Share of each segment level among the customer base, the respondents, and the weighted
    respondents (horizontal bars, one block per variable).

    Parameters
    ----------
    table
        :func:`analysis.cx.representativeness.representativeness` output.

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
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.0, 1.4 + 0.55 * max(len(table), 1))
        colours = sns.color_palette("colorblind", 3)
        height = 0.8 / max(len(series), 1)
        labels = [f"{r['variable']}: {r['level']}" for _, r in table.iterrows()]
        y = np.arange(len(table), dtype=float)
        for k, (col, name) in enumerate(series):
            vals = 100 * table[col].astype(float).to_numpy()
            ax.barh(
                y - 0.4 + height * (k + 0.5),
                np.nan_to_num(vals),
                height=height,
                color=colours[k],
                label=name,
            )
        ax.set_yticks(y, labels)
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
            ncol=len(series),
            frameon=False,
            fontsize=9,
        )
        _plain(leg.get_texts())
        _plain(ax.get_yticklabels())
    return ax
