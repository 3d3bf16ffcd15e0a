"""The heatmap of the gaps by segment: each item's gap (rows) in each segment level (columns),
values written in, wide or narrow (:mod:`analysis.report.chart_style`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from analysis.report import i18n
from analysis.report.chart_style import Layout, layout_of, new_axes, plain, plain_text, wrap
from analysis.report.formatting import (
    DASH,
    fmt_num,
    is_clear,
    is_hidden,
    item_label,
    ordered_items,
    overall_rows,
    segment_rows,
)


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
    lay = layout_of(layout)
    over = ordered_items(overall_rows(table))
    cols, values, notes = _heatmap_cells(table, over, confidence)
    n_items, n_cols = max(len(over), 1), max(len(cols), 1)
    with plain_text(lay):
        if ax is None:
            size = (
                (lay.width, 2.6 + 0.48 * n_items)
                if lay.above
                else (3.4 + 0.85 * n_cols, 1.0 + 0.36 * n_items)
            )
            ax = new_axes(*size)
        finite = values[np.isfinite(values)]
        vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        tops = HEATMAP_STEP[lay.name] * np.arange(len(over)) + (HEATMAP_LABEL if lay.above else 0)
        _heatmap_mesh(ax, values, (vmax, tops, lay))
        _heatmap_grid(ax, over, values, notes, (vmax, tops, lay))
        _heatmap_labels(ax, over, cols, tops, lay)
    return ax


def _heatmap_mesh(ax: Axes, values: np.ndarray, where: tuple[float, np.ndarray, Layout]) -> None:
    """The coloured cells (narrow: one strip per item, below its label) and the colour bar."""
    vmax, tops, lay = where
    cmap = sns.color_palette("vlag_r", as_cmap=True).with_extremes(bad="#eeeeee")
    style = {"cmap": cmap, "vmin": -vmax, "vmax": vmax, "edgecolors": "white", "linewidth": 0.6}
    if lay.above:
        for i, top in enumerate(tops):
            mesh = ax.pcolormesh(
                np.arange(values.shape[1] + 1),
                [top, top + 1],
                np.ma.masked_invalid(values[i : i + 1]),
                **style,
            )
    if not lay.above or not len(tops):
        mesh = ax.pcolormesh(np.ma.masked_invalid(values), **style)
    cbar = ax.figure.colorbar(
        mesh, ax=ax, shrink=0.8, **({"location": "bottom", "aspect": 30} if lay.above else {})
    )
    cbar.set_label(wrap(i18n.gettext("gap (performance − expectation)"), lay.xlabel_chars))
    cbar.outline.set_visible(False)
    plain([cbar.ax.yaxis.label, cbar.ax.xaxis.label])


def _heatmap_labels(
    ax: Axes, over: pd.DataFrame, cols: list[tuple[str, str]], tops: np.ndarray, lay: Layout
) -> None:
    """Item names (beside the rows, or above each narrow strip) and column names on top."""
    labels = [wrap(item_label(r), lay.chars if lay.above else 34) for _, r in over.iterrows()]
    if lay.above:
        for top, label in zip(tops, labels, strict=True):
            ax.text(0, top - 0.08, label, ha="left", va="bottom", fontsize=lay.font, color="0.1")
        ax.set_yticks([])
        col_names = [f"{g}: {lv}" for g, lv in cols]
    else:
        ax.set_yticks(tops + 0.5, labels, rotation=0)
        col_names = [f"{g}:\n{wrap(lv, 12)}" for g, lv in cols]
    ax.set_xticks(np.arange(len(cols)) + 0.5, col_names, rotation=90 if lay.above else 0)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_xlabel("")
    ax.set_ylabel("")
    plain(ax.get_yticklabels())
    plain(ax.get_xticklabels())
    plain(ax.texts)


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
