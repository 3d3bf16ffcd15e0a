"""The "Change since the last survey" section of the client report (each attribute's gap now
against the previous wave), and the executive summary's line on the changes.

Rendered from ``templates/sections/trend.html.j2`` (the summary line from
``trend_facts.html.j2``); this module prepares their data. A change is called clear only when it
holds after the Benjamini-Hochberg adjustment across the attributes (``p_adjusted``); suppressed
rows show ``–``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.report import plots, templating
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    is_clear_adjusted,
    is_hidden,
    item_label,
    overall_rows,
)


def _changes(
    trend: pd.DataFrame, confidence: float
) -> tuple[list[pd.Series], list[pd.Series], list[pd.Series]]:
    """The overall rows shown, and those that clearly improved and clearly worsened."""
    shown = [r for _, r in overall_rows(trend).iterrows() if not is_hidden(r, "change")]
    better = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) > 0]
    worse = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) < 0]
    return shown, better, worse


def _change(r: pd.Series) -> dict[str, Any]:
    """A trend row's label, change and interval as plain values."""
    return {
        "label": item_label(r),
        "change": r["change"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
    }


def trend_facts(trend: pd.DataFrame | None, confidence: float) -> list[Markup]:
    """For the executive summary: how many gaps clearly narrowed or widened, and the largest
    change each way (HTML rendered from ``trend_facts.html.j2``)."""
    if trend is None or trend.empty:
        return []
    shown, better, worse = _changes(trend, confidence)
    largest = []
    for word, rows, key in (("improved most", better, -1), ("worsened most", worse, 1)):
        if rows:
            r = sorted(rows, key=lambda x: key * float(x["change"]))[0]
            largest.append({"word": word, **_change(r)})
    return [
        templating.render(
            "trend_facts.html.j2",
            better=len(better),
            worse=len(worse),
            shown=len(shown),
            largest=largest,
            confidence=confidence,
        )
    ]


def _verdict(r: pd.Series, confidence: float) -> str:
    """``Improved``, ``Worsened`` (clear after the BH adjustment) or ``No clear change``."""
    if not is_clear_adjusted(r, confidence):
        return "No clear change"
    return "Improved" if float(r["change"]) > 0 else "Worsened"


def _table_row(r: pd.Series, confidence: float) -> dict[str, Any]:
    """One attribute's row of the table: ``label, hidden, gap_previous, gap, change, ci_low,
    ci_high, verdict``."""
    if is_hidden(r, "change"):
        return {"label": item_label(r), "hidden": True}
    return {
        **_change(r),
        "hidden": False,
        "gap_previous": r["gap_previous"],
        "gap": r["gap"],
        "verdict": _verdict(r, confidence),
    }


def trend_section(
    trend: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Change since the last survey" section (overall rows). Empty when None."""
    if trend is None or trend.empty:
        return HTML("")
    over = overall_rows(trend)
    shown, better, worse = _changes(trend, confidence)
    figure = section_figure(
        plots.trend_chart(trend, confidence=confidence),
        "Chart of the change in each attribute's gap since the previous survey, with its "
        "interval; the values are in the table below.",
    )
    return templating.section(
        "trend.html.j2",
        better=len(better),
        worse=len(worse),
        unclear=len(shown) - len(better) - len(worse),
        figure=Markup(figure),
        rows=[_table_row(r, confidence) for _, r in over.iterrows()],
        any_hidden=len(shown) < len(over),
        min_cell=min_cell,
        confidence=confidence,
    )
