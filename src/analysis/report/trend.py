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

from analysis.cx.trend import TrendResult, current_rows
from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    is_clear_adjusted,
    is_hidden,
    item_label,
    overall_rows,
    suppression_note,
)
from analysis.report.templating import check_part, render, section


def _changes(
    trend: pd.DataFrame, confidence: float
) -> tuple[list[pd.Series], list[pd.Series], list[pd.Series]]:
    """The overall rows shown, and those that clearly improved and clearly worsened."""
    shown = [r for _, r in overall_rows(trend).iterrows() if not is_hidden(r, "change")]
    better = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) > 0]
    worse = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) < 0]
    return shown, better, worse


def trend_facts(result: TrendResult | None, confidence: float) -> list[Markup]:
    """For the executive summary: how many gaps clearly narrowed or widened since the wave
    before, and the largest change each way, rendered from
    ``templates/sections/trend_facts.html.j2``."""
    if result is None or result.table.empty:
        return []
    trend = current_rows(result.table)
    shown, better, worse = _changes(trend, confidence)
    most = []
    for word, rows, key in (("improved most", better, -1), ("worsened most", worse, 1)):
        if rows:
            r = sorted(rows, key=lambda x: key * float(x["change"]))[0]
            most.append({**r.to_dict(), "word": word, "label": item_label(r)})
    return [
        render(
            "trend_facts.html.j2",
            shown=len(shown),
            better=len(better),
            worse=len(worse),
            most=most,
            confidence=confidence,
        )
    ]


def _verdict(r: pd.Series, confidence: float) -> str:
    """``Improved``, ``Worsened`` or ``No clear change`` (BH-adjusted)."""
    if is_clear_adjusted(r, confidence):
        if float(r["change"]) > 0:
            return i18n.gettext("Improved")
        return i18n.gettext("Worsened")
    return i18n.gettext("No clear change")


def trend_view(result: TrendResult, confidence: float, min_cell: int | None) -> dict[str, Any]:
    """The data of the trend section: counts ``better, worse, unclear``, ``figure`` (the change
    since the wave before), ``waves_figure`` (small multiples of every wave's gaps, with three
    or more waves; else empty), ``waves`` (the waves' labels, oldest first), ``rows`` (each
    overall row of the current wave with its ``label``, ``verdict`` and whether it is
    ``hidden``), ``confidence``, ``left_out`` (items not compared: ``label, wave, reason``) and
    ``notes`` (plain text)."""
    trend = current_rows(result.table)
    over = overall_rows(trend)
    shown, better, worse = _changes(trend, confidence)
    rows = [
        {
            **r.to_dict(),
            "label": item_label(r),
            "hidden": is_hidden(r, "change"),
            "verdict": _verdict(r, confidence),
        }
        for _, r in over.iterrows()
    ]
    figure = section_figure(
        lambda layout: plots.trend_chart(trend, confidence=confidence, layout=layout),
        i18n.gettext(
            "Chart of the change in each attribute's gap since the previous survey, with its "
            "interval; the values are in the table below."
        ),
    )
    waves_figure = ""
    if len(result.waves) > 2:
        waves_figure = section_figure(
            lambda layout: plots.trend_waves_chart(result.table, layout=layout),
            i18n.gettext(
                "Charts of each attribute's gap in every survey, one chart per dimension; the "
                "changes are in the table below."
            ),
        )
    return {
        "waves_figure": Markup(waves_figure),
        "waves": result.waves["wave_label"].astype(str).tolist(),
        "left_out": result.notes.to_dict("records"),
        "better": len(better),
        "worse": len(worse),
        "unclear": len(shown) - len(better) - len(worse),
        "figure": Markup(figure),
        "rows": rows,
        "confidence": confidence,
        "notes": [suppression_note(min_cell)] if len(shown) < len(over) else [],
    }


def trend_section(
    result: TrendResult | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """The "Change since the last survey" section (overall rows), rendered from
    ``templates/sections/trend.html.j2``: ``part="story"`` the waves' small multiples, the
    counts, the change chart and what was left out; ``part="detail"`` (the appendix) the table of
    every attribute's change. Empty when None."""
    check_part(part)
    if result is None or result.table.empty:
        return HTML("")
    return section("trend.html.j2", part=part, **trend_view(result, confidence, min_cell))
