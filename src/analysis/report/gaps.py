"""The "Gaps" part of the client report: the overall gap table (one row per service attribute,
grouped by dimension) and the gaps by dimension, overall and in each segment.

Each function prepares a view model from the result table and renders its template
(``templates/sections/gap_table.html.j2``, ``dimension_table.html.j2``; the row cells are macros
in ``_gaps.html.j2``) into an :class:`IPython.display.HTML` object. A gap is marked clear from
the estimators' p-value (:func:`analysis.report.formatting.is_clear`); suppressed cells show
``–``. The gap chart that opens this part is :func:`gap_chart` (drawn by
:func:`analysis.report.plots.gap_chart`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.report import figures, i18n, plots
from analysis.report.formatting import (
    DASH,
    is_clear,
    is_hidden,
    item_label,
    level_names,
    ordered_items,
    overall_rows,
    segment_name,
    segment_rows,
)
from analysis.report.templating import check_part, section


def gap_chart(shown: pd.DataFrame, confidence: float = 0.95) -> HTML:
    """The chart that opens the "Gaps" part: every shown gap with its interval
    (:func:`analysis.report.plots.gap_chart`), its alt text in the report's language."""
    return figures.figure(
        figures.drawn(plots.gap_chart, shown, confidence=confidence),
        alt=i18n.gettext(
            "Chart of the gap between performance and expectation for each service attribute, "
            "with its confidence interval; the values are in the table below."
        ),
    )


def gap_columns() -> list[str]:
    """The headings of a gap table's figures, in the report's language."""
    return [
        i18n.gettext("Respondents"),
        i18n.gettext("Expectation"),
        i18n.gettext("Performance"),
        i18n.gettext("Gap"),
    ]


def verdict(row: Mapping[str, Any], confidence: float) -> str:
    """Plain-language verdict of one gap: falls short, exceeds, no clear gap (or ``–``)."""
    if is_hidden(row):
        return DASH
    if not is_clear(row, confidence):
        return i18n.gettext("No clear gap")
    if float(row["gap"]) < 0:
        return i18n.gettext("Falls short")
    return i18n.gettext("Exceeds expectations")


def _gap_fields(r: pd.Series, confidence: float) -> dict[str, Any]:
    """One row of a gap table for the template: respondents, expectation, performance, interval
    ends, whether hidden, the verdict, and the row itself (for the gap cell)."""
    row = r.to_dict()
    return {
        "n": row.get("n"),
        "expectation": row.get("expectation"),
        "performance": row.get("performance"),
        "ci_low": row.get("ci_low"),
        "ci_high": row.get("ci_high"),
        "hidden": is_hidden(row),
        "verdict": verdict(row, confidence),
        "row": row,
    }


def gap_table(table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None) -> HTML:
    """The overall gap table: one row per item, grouped by dimension, largest shortfall first.

    ``table`` has the gap-table columns (``item, label, dimension, group, level, n, expectation,
    performance, gap, ci_low, ci_high, p_value``) and optionally the bool ``suppressed`` added by
    :func:`analysis.cx.suppression.suppress`; only overall rows are shown.
    """
    over = ordered_items(overall_rows(table))
    dimensions: list[dict[str, Any]] = []
    for _, r in over.iterrows():
        if not dimensions or dimensions[-1]["name"] != str(r["dimension"]):
            dimensions.append({"name": str(r["dimension"]), "items": []})
        dimensions[-1]["items"].append({**_gap_fields(r, confidence), "label": item_label(r)})
    return section(
        "gap_table.html.j2",
        dimensions=dimensions,
        columns=gap_columns(),
        confidence=confidence,
        any_hidden=any(is_hidden(r) for _, r in over.iterrows()),
        min_cell=min_cell,
    )


def dimension_table(
    dims: pd.DataFrame | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """Gaps by dimension: ``part="story"`` the overall table; ``part="detail"`` (the technical
    appendix) one compact table per segment variable.

    ``dims`` is :func:`analysis.cx.dimensions.dimension_gaps` output (suppressed); empty when None.
    """
    check_part(part)
    if dims is None or dims.empty:
        return HTML("")
    over = overall_rows(dims)
    overall = [
        {
            **_gap_fields(r, confidence),
            "name": str(r["dimension"]),
            "n_items": int(r["n_items"]),
        }
        for _, r in over.iterrows()
    ]
    segments = _dimension_segments(dims, over)
    seg_hidden = any(
        c is None or is_hidden(c) for s in segments for r in s["rows"] for c in r["cells"]
    )
    if part == "detail" and not segments:
        return HTML("")
    return section(
        "dimension_table.html.j2",
        part=part,
        overall=overall,
        segments=segments,
        columns=gap_columns(),
        confidence=confidence,
        any_hidden=seg_hidden or any(r["hidden"] for r in overall),
        min_cell=min_cell,
    )


def _dimension_segments(dims: pd.DataFrame, over: pd.DataFrame) -> list[dict[str, Any]]:
    """One table per segment variable: ``group``, its ``levels`` and ``rows`` (each dimension's
    ``name``, overall ``row`` and its row in each level, ``cells``: None where there is none)."""
    seg = segment_rows(dims)
    out = []
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["dimension"]), str(r["level"])): r.to_dict() for _, r in g.iterrows()}
        rows = [
            {
                "name": str(r["dimension"]),
                "row": r.to_dict(),
                "cells": [cells.get((str(r["dimension"]), lv)) for lv in levels],
            }
            for _, r in over.iterrows()
        ]
        names = level_names(g)
        out.append(
            {"group": segment_name(g.iloc[0]), "levels": [names[lv] for lv in levels], "rows": rows}
        )
    return out
