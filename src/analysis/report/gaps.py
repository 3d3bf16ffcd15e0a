"""The "Gaps" part of the client report: the overall gap table (one row per service attribute,
grouped by dimension) and the gaps by dimension, overall and in each segment.

Each function returns an :class:`IPython.display.HTML` object. A gap is marked clear from the
estimators' p-value (:func:`analysis.report.formatting.is_clear`); suppressed cells show ``–``.
The gap chart that opens this part is :func:`analysis.report.plots.gap_chart`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.report.formatting import (
    DASH,
    dimension_row,
    esc,
    fmt_int,
    fmt_num,
    gap_cell,
    interval,
    is_clear,
    is_hidden,
    item_label,
    level_cells,
    level_pct,
    notes,
    ordered_items,
    overall_rows,
    plural,
    segment_rows,
    suppression_note,
    table_html,
    wrap_table,
)

GAP_COLUMNS = ("Respondents", "Expectation", "Performance", "Gap")


def verdict(row: Mapping[str, Any], confidence: float) -> str:
    """Plain-language verdict of one gap: falls short, exceeds, no clear gap (or ``–``)."""
    if is_hidden(row):
        return DASH
    if not is_clear(row, confidence):
        return "No clear gap"
    return "Falls short" if float(row["gap"]) < 0 else "Exceeds expectations"


def _gap_cells(r: Mapping[str, Any], confidence: float) -> str:
    """Respondents, expectation, performance, gap, interval and verdict cells of one row."""
    n = f'<td class="num">{fmt_int(r.get("n"))}</td>'
    if is_hidden(r):
        return (
            n + f'<td class="num oi-hidden">{DASH}</td>' * 4 + f'<td class="oi-hidden">{DASH}</td>'
        )
    return (
        n
        + f'<td class="num">{fmt_num(r.get("expectation"))}</td>'
        + f'<td class="num">{fmt_num(r.get("performance"))}</td>'
        + gap_cell(r, confidence)
        + f'<td class="num oi-ci">{interval(r.get("ci_low"), r.get("ci_high"))}</td>'
        + f"<td>{esc(verdict(r, confidence))}</td>"
    )


def gap_table(table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None) -> HTML:
    """The overall gap table: one row per item, grouped by dimension, largest shortfall first.

    ``table`` has the gap-table columns (``item, label, dimension, group, level, n, expectation,
    performance, gap, ci_low, ci_high, p_value``) and optionally the bool ``suppressed`` added by
    :func:`analysis.cx.suppression.suppress`; only overall rows are shown.
    """
    over = ordered_items(overall_rows(table))
    conf = level_pct(confidence)
    head = (
        '<thead><tr><th scope="col">Service attribute</th>'
        + "".join(f'<th scope="col" class="num">{h}</th>' for h in GAP_COLUMNS)
        + f'<th scope="col" class="num">{conf} interval</th>'
        '<th scope="col">Verdict</th>'
        "</tr></thead>"
    )
    body, dim = [], None
    for _, r in over.iterrows():
        if str(r["dimension"]) != dim:
            dim = str(r["dimension"])
            body.append(dimension_row(dim, 7))
        body.append(
            f'<tr><th scope="row">{esc(item_label(r))}</th>{_gap_cells(r, confidence)}</tr>'
        )
    texts = [
        "Expectation and performance are weighted mean ratings; gap = performance − expectation. "
        f'<span class="oi-sig">*</span> a clear gap: its {conf} confidence interval excludes '
        "zero."
    ]
    if any(is_hidden(r) for _, r in over.iterrows()):
        texts.append(suppression_note(min_cell))
    return HTML(
        wrap_table(head + "<tbody>" + "".join(body) + "</tbody>", cls="oi-gaps") + notes(texts)
    )


def dimension_table(
    dims: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """Gaps by dimension: the overall table, then one compact table per segment variable.

    ``dims`` is :func:`analysis.cx.dimensions.dimension_gaps` output (suppressed); empty when None.
    """
    if dims is None or dims.empty:
        return HTML("")
    conf = level_pct(confidence)
    over = overall_rows(dims)
    body = [
        f'<tr><th scope="row">{esc(r["dimension"])}'
        f'<span class="oi-sub">{plural(int(r["n_items"]), "attribute")}</span></th>'
        + _gap_cells(r, confidence)
        + "</tr>"
        for _, r in over.iterrows()
    ]
    head = ["Dimension", *GAP_COLUMNS, f"{conf} interval", "Verdict"]
    parts = [
        '<section class="oi-dimensions"><h3>Gaps by dimension</h3>',
        "<p>Each customer's gap on a dimension is the average of their gaps on its attributes "
        "(customers who rated fewer than half of them are left out of that dimension); the "
        "dimension's gap is the weighted average over customers.</p>",
        table_html(head, body, "oi-gaps", numeric={1, 2, 3, 4, 5}),
    ]
    segments, seg_hidden = _dimension_segments(dims, over, confidence)
    parts += segments
    texts = [
        f'<span class="oi-sig">*</span> a clear gap: its {conf} confidence interval excludes zero.'
    ]
    if seg_hidden or any(is_hidden(r) for _, r in over.iterrows()):
        texts.append(suppression_note(min_cell))
    parts.append(notes(texts) + "</section>")
    return HTML("".join(parts))


def _dimension_segments(
    dims: pd.DataFrame, over: pd.DataFrame, confidence: float
) -> tuple[list[str], bool]:
    """One table per segment variable: each dimension's gap overall and in each level; and
    whether any cell is hidden."""
    seg = segment_rows(dims)
    parts, any_hidden = [], False
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["dimension"]), str(r["level"])): r for _, r in g.iterrows()}
        rows = []
        for _, r in over.iterrows():
            by_level, hidden = level_cells(cells, str(r["dimension"]), levels, confidence)
            any_hidden |= hidden
            rows.append(
                f'<tr><th scope="row">{esc(r["dimension"])}</th>{gap_cell(r, confidence)}'
                + "".join(by_level)
                + "</tr>"
            )
        parts.append(f"<h3>Dimension gaps by {esc(group)}</h3>")
        parts.append(
            table_html(
                ["Dimension", "All customers", *(esc(lv) for lv in levels)],
                rows,
                "oi-segments",
                numeric=set(range(1, len(levels) + 2)),
            )
        )
    return parts, any_hidden
