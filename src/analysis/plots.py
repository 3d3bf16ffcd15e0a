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

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from analysis.present import fmt_num, is_clear, is_hidden, item_label, ordered_items, overall_rows

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
