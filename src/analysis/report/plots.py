"""Figures of the gap results. Functions take result tables and ``ax=None``, return the Axes, and
never load or save anything.

Labels come from codebooks and data, so matplotlib's mathtext is switched off for every text drawn
here (``text.parse_math = False``, ``text.usetex = False``): a label such as ``$5 top-ups`` shows as
written. Colours are seaborn's colour-blind-safe ``colorblind`` palette; clear gaps are filled
markers and unclear ones hollow, so the distinction does not rely on colour.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from analysis.cx import vocabulary
from analysis.report.present import (
    fmt_num,
    is_clear,
    is_hidden,
    item_label,
    ordered_items,
    overall_rows,
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
    import matplotlib.pyplot as plt

    _fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _wrap(text: str, width: int = LABEL_WIDTH) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


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
        ypos, labels, y, prev = [], [], 0.0, None
        for _, r in over.iterrows():
            dim = str(r["dimension"])
            if prev is not None and dim != prev:
                y += 0.6  # a little space between dimensions
                ax.axhline(y - 0.8, color="0.85", lw=0.8, zorder=0)
            prev = dim
            ypos.append(y)
            labels.append(
                _wrap(item_label(r))
                + ("\n(not shown: too few respondents)" if is_hidden(r) else "")
            )
            if not is_hidden(r):
                colour = palette[dim]
                clear = is_clear(r, confidence)
                ax.plot(
                    [float(r["ci_low"]), float(r["ci_high"])],
                    [y, y],
                    color=colour,
                    lw=2.2,
                    solid_capstyle="round",
                    zorder=2,
                )
                ax.plot(
                    [float(r["gap"])],
                    [y],
                    marker="o",
                    ms=8,
                    zorder=3,
                    color=colour,
                    markerfacecolor=colour if clear else "white",
                    markeredgewidth=1.8,
                )
            y += 1.0
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        ax.set_yticks(ypos, labels)
        _plain(ax.get_yticklabels())
        ax.set_ylim(y - 0.4, -0.6)  # first item at the top
        lo = np.nanmin(np.r_[over["ci_low"].astype(float).to_numpy(), 0.0]) if len(over) else -1
        hi = np.nanmax(np.r_[over["ci_high"].astype(float).to_numpy(), 0.0]) if len(over) else 1
        pad = 0.08 * max(hi - lo, 0.5)
        ax.set_xlim(lo - pad, hi + pad)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="0.92", lw=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        level = f"{100 * confidence:g}%"
        ax.set_xlabel(
            f"Gap = performance − expectation (dot), with its {level} confidence interval (line)"
        )
        ax.text(
            0.0,
            1.0,
            "◀ falls short of expectations",
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=9,
            color="0.3",
        )
        ax.text(
            1.0,
            1.0,
            "exceeds expectations ▶",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=9,
            color="0.3",
        )
        handles = [Line2D([], [], color=palette[d], marker="o", lw=2.2, label=d) for d in dims]
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
    return ax


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
    seg = table[table["group"].astype(str) != "all"]
    cols = list(dict.fromkeys(zip(seg["group"].astype(str), seg["level"].astype(str), strict=True)))
    items = [str(i) for i in over["item"]]
    values = np.full((len(items), len(cols)), np.nan)
    notes = np.full(values.shape, "–", dtype=object)
    index = {(str(r["item"]), str(r["group"]), str(r["level"])): r for _, r in seg.iterrows()}
    for i, item in enumerate(items):
        for j, (g, lv) in enumerate(cols):
            r = index.get((item, g, lv))
            if r is None or is_hidden(r):
                continue
            values[i, j] = float(r["gap"])
            notes[i, j] = fmt_num(r["gap"], signed=True) + ("*" if is_clear(r, confidence) else "")
    with _plain_text():
        if ax is None:
            ax = _new_axes(3.4 + 0.85 * max(len(cols), 1), 1.0 + 0.36 * max(len(items), 1))
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
        dims = over["dimension"].astype(str).to_numpy()
        for i in np.flatnonzero(dims[1:] != dims[:-1]) + 1:
            ax.axhline(i, color="white", lw=4)  # a gap between dimensions
        ax.set_xlim(0, len(cols))
        ax.set_ylim(len(items), 0)  # first item at the top
        for side in ax.spines.values():
            side.set_visible(False)
        for i in range(len(items)):
            for j in range(len(cols)):
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
        labels = [_wrap(item_label(r), 34) for _, r in over.iterrows()]
        ax.set_yticks(np.arange(len(items)) + 0.5, labels, rotation=0)
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


# ---------------------------------------------------------------------------------------------
# the customer-centred analyses


def _group_rows(table: pd.DataFrame, group: str, level: str) -> pd.DataFrame:
    rows = table[(table["group"].astype(str) == group) & (table["level"].astype(str) == level)]
    return rows.reset_index(drop=True)


def _shown(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows with a value in ``column`` and not flagged ``suppressed``."""
    keep = rows[column].notna()
    if "suppressed" in rows.columns:
        keep &= ~rows["suppressed"].fillna(False).astype(bool)
    return rows[keep]


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


def _numbered_points(
    ax: Axes, x: np.ndarray, y: np.ndarray, numbers: list[str], filled: np.ndarray, colour: object
) -> None:
    for xi, yi, num, full in zip(x, y, numbers, filled, strict=True):
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


def ipa_chart(
    priorities: pd.DataFrame, ax: Axes | None = None, group: str = "all", level: str = "all"
) -> Axes:
    """Importance-performance grid: each item at (performance, expectation), numbered by its
    priority rank, with the crosshairs of the table and the four quadrants named.

    Parameters
    ----------
    priorities
        :func:`analysis.cx.analyses.priorities` output (``rank, expectation, performance, verdict,
        importance_cross, performance_cross``); the rows of ``group``/``level`` are drawn, hidden
        (suppressed) rows left out. Significant shortfalls are filled markers, others hollow.
    ax
        Axes to draw on; a new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = _shown(_group_rows(priorities, group, level), "gap")
    with _plain_text():
        if ax is None:
            ax = _new_axes(7.5, 6.0)
        x = rows["performance"].astype(float).to_numpy()
        y = rows["expectation"].astype(float).to_numpy()
        colour = sns.color_palette("colorblind")[1]
        filled = (rows["verdict"] == vocabulary.SHORTFALL).to_numpy()
        numbers = [str(int(r)) for r in rows["rank"]]
        _quadrant_chart(
            ax,
            x,
            y,
            numbers,
            filled,
            colour,
            cross=(
                (float(rows["performance_cross"].iloc[0]), float(rows["importance_cross"].iloc[0]))
                if len(rows)
                else None
            ),
            x_also=(),
            # x: performance, y: importance
            quadrants={(x, y): vocabulary.QUADRANTS[(y, x)] for (y, x) in vocabulary.QUADRANTS},
            xlabel="Performance (mean rating)",
            ylabel="Importance: expectation (mean rating)",
            legend=("clear shortfall", "no clear shortfall"),
        )
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
    rows = _shown(drivers, "share")
    rows = rows[rows["stated"].notna()]
    with _plain_text():
        if ax is None:
            ax = _new_axes(7.5, 6.0)
        x = rows["share"].astype(float).to_numpy()
        y = rows["stated"].astype(float).to_numpy()
        labels = [
            str(numbers.get(str(i), "")) if numbers else str(int(r))
            for i, r in zip(rows["item"], rows["rank"], strict=True)
        ]
        colour = sns.color_palette("colorblind")[0]
        filled = (rows["vs_average"] == vocabulary.ABOVE).to_numpy()
        _quadrant_chart(
            ax,
            x,
            y,
            labels,
            filled,
            colour,
            cross=(
                (float(rows["derived_split"].iloc[0]), float(rows["stated_split"].iloc[0]))
                if len(rows)
                else None
            ),
            x_also=(0.0,),
            # x: derived importance, y: stated importance
            quadrants={
                (x, y): vocabulary.TIER_PLURAL[vocabulary.TIERS[(y, x)][0]]
                for (y, x) in vocabulary.TIERS
            },
            xlabel="Derived importance: share of explained overall satisfaction (%)",
            ylabel="Stated importance: expectation (mean rating)",
            legend=("clearly above average", "not clearly above average"),
        )
    return ax


def _quadrant_chart(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    filled: np.ndarray,
    colour: Any,
    cross: tuple[float, float] | None,
    x_also: tuple[float, ...],
    quadrants: dict[tuple[bool, bool], str],
    xlabel: str,
    ylabel: str,
    legend: tuple[str, str],
) -> None:
    """Numbered points split into four named quadrants by dashed crosshairs at ``cross``, with
    a legend for filled (``legend[0]``) and hollow (``legend[1]``) points."""
    _numbered_points(ax, x, y, labels, filled, colour)
    if cross is not None:
        xc, yc = cross
        ax.axvline(xc, color="0.4", lw=1, ls="--", zorder=1)
        ax.axhline(yc, color="0.4", lw=1, ls="--", zorder=1)
        ax.set_xlim(*_pad_limits(x, (xc, *x_also)))
        ax.set_ylim(*_pad_limits(y, (yc,)))
    _quadrant_labels(ax, quadrants)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(color="0.93", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    marker = {"color": colour, "marker": "o", "lw": 0, "ms": 9}
    handles = [
        Line2D([], [], **marker, label=legend[0]),
        Line2D([], [], **marker, markerfacecolor="white", markeredgewidth=1.6, label=legend[1]),
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


def _interval_rows(
    ax: Axes,
    labels: list[str],
    est: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    filled: np.ndarray,
    colour: object,
) -> None:
    y = np.arange(len(labels), dtype=float)
    for yi, e, a, b, full in zip(y, est, lo, hi, filled, strict=True):
        if np.isfinite(a) and np.isfinite(b):
            ax.plot([a, b], [yi, yi], color=colour, lw=2.2, solid_capstyle="round", zorder=2)
        if np.isfinite(e):
            ax.plot(
                [e],
                [yi],
                marker="o",
                ms=8,
                color=colour,
                markerfacecolor=colour if full else "white",
                markeredgewidth=1.8,
                zorder=3,
            )
    ax.set_yticks(y, labels)
    ax.set_ylim(len(labels) - 0.4, -0.6)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="0.92", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
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
    rows = _shown(drivers, "share").sort_values("share", ascending=False, kind="stable")
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.5, 1.2 + 0.36 * max(len(rows), 1))
        colour = sns.color_palette("colorblind")[0]
        _interval_rows(
            ax,
            [_wrap(item_label(r)) for _, r in rows.iterrows()],
            rows["share"].astype(float).to_numpy(),
            rows["share_ci_low"].astype(float).to_numpy(),
            rows["share_ci_high"].astype(float).to_numpy(),
            (rows["vs_average"] == vocabulary.ABOVE).to_numpy(),
            colour,
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
        level = f"{100 * confidence:g}%"
        ax.set_xlabel(
            f"Share of explained overall satisfaction (%, relative weights), {level} interval"
        )
        _plain(ax.texts)
    return ax


def nps_chart(nps: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
    """Net Promoter Score of every group (overall first) with its interval, on -100..100.

    Parameters
    ----------
    nps
        :func:`analysis.cx.analyses.nps` output (``group, level, nps, ci_low, ci_high``);
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
        hidden = nps["nps"].isna()
        if "suppressed" in nps.columns:
            hidden |= nps["suppressed"].fillna(False).astype(bool)
        for (_, r), h in zip(nps.iterrows(), hidden, strict=True):
            name = "All customers" if str(r["group"]) == "all" else f"{r['group']}: {r['level']}"
            labels.append(name + (" (not shown: too few)" if h else ""))
            est.append(np.nan if h else float(r["nps"]))
            lo.append(np.nan if h else float(r["ci_low"]))
            hi.append(np.nan if h else float(r["ci_high"]))
        est_a, lo_a, hi_a = np.array(est), np.array(lo), np.array(hi)
        filled = (lo_a > 0) | (hi_a < 0)
        _interval_rows(ax, labels, est_a, lo_a, hi_a, filled, sns.color_palette("colorblind")[2])
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        lo_x, hi_x = _pad_limits(np.r_[lo_a, hi_a], (0.0,))
        ax.set_xlim(max(lo_x, -100), min(hi_x, 100))
        ax.set_xlabel(f"Net Promoter Score (−100 to +100), {100 * confidence:g}% interval")
    return ax


def trend_chart(trend: pd.DataFrame, ax: Axes | None = None, confidence: float = 0.95) -> Axes:
    """Change of each item's overall gap since the previous wave, with its interval.

    Parameters
    ----------
    trend
        :func:`analysis.cx.analyses.trend` output; overall rows are drawn in table order. Changes
        significant after the adjustment (``p_adjusted < 1 - confidence``) are filled.

    Returns
    -------
    matplotlib.axes.Axes
    """
    rows = trend[(trend["group"].astype(str) == "all") & (trend["level"].astype(str) == "all")]
    rows = _shown(rows, "change")
    with _plain_text():
        if ax is None:
            ax = _new_axes(8.5, 1.2 + 0.36 * max(len(rows), 1))
        _interval_rows(
            ax,
            [_wrap(item_label(r)) for _, r in rows.iterrows()],
            rows["change"].astype(float).to_numpy(),
            rows["ci_low"].astype(float).to_numpy(),
            rows["ci_high"].astype(float).to_numpy(),
            (rows["p_adjusted"].astype(float) < 1 - confidence).to_numpy(),
            sns.color_palette("colorblind")[4],
        )
        ax.axvline(0, color="0.25", lw=1.0, zorder=1)
        ax.set_xlabel(
            f"Change in gap since the previous survey, {100 * confidence:g}% interval "
            "(positive: the gap narrowed or performance pulled ahead)"
        )
    return ax


def representativeness_chart(table: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Share of each segment level among the customer base, the respondents, and the weighted
    respondents (horizontal bars, one block per variable).

    Parameters
    ----------
    table
        :func:`analysis.cx.analyses.representativeness` output.

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
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
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
