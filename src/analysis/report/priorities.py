"""The "Priorities: what to fix first" section of the client report: the one priority model
(:mod:`analysis.cx.priorities`: every attribute's ``priority`` class and ``rank``) as the ranked
list, the importance-performance chart and, when the drivers are known, the stated and derived
importance grid, both charts coloured by the same class, so no chart can disagree with the list.

:func:`priorities_section` prepares a view model from the priorities and driver tables and
renders ``templates/sections/priorities.html.j2`` into an :class:`IPython.display.HTML` object.
A shortfall is clear only after the Benjamini-Hochberg adjustment; the class names are those of
:mod:`analysis.cx.vocabulary`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import drivers as cx_drivers
from analysis.cx import vocabulary
from analysis.cx.trend import TrendResult, current_rows
from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    flag,
    fmt_int,
    is_clear_adjusted,
    is_hidden,
    item_label,
    overall_rows,
    word,
)
from analysis.report.templating import section
from analysis.report.themes import ThemeTables, said_about


def priority_meaning() -> dict[str, str]:
    """What each priority class means, in ranking order (cx/priorities.py gives the rule), in
    the report's language."""
    return {
        vocabulary.FIX_FIRST: i18n.gettext(
            "falls clearly short on an attribute that matters: customers rate it at least as "
            "important as the average attribute, or it clearly moves their overall satisfaction"
        ),
        vocabulary.IMPROVE: i18n.gettext("falls clearly short on an attribute that matters less"),
        vocabulary.MONITOR: i18n.gettext("falls short, but not clearly: it could be chance"),
        vocabulary.MAINTAIN: i18n.gettext("meets or exceeds what customers expect"),
    }


def priorities_section(
    ranked: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    themes: ThemeTables | None = None,
    outcome: str = vocabulary.OVERALL,
    trend: TrendResult | None = None,
) -> HTML:
    """The "Priorities" section: importance-performance chart, ranked list, dual-importance grid.

    ``ranked`` is :func:`analysis.cx.priorities.priorities` output; ``drivers`` (optional) is the
    driver table with tiers (:func:`analysis.cx.drivers.importance_tiers`); ``themes``
    (optional) the pipeline's theme tables: beside each top priority, what customers said about
    it (:func:`analysis.report.themes.said_about`); ``outcome`` the drivers model the ranking
    took its derived importance from (params ``analysis.drivers_outcome``): its rows of
    ``drivers`` draw the dual-importance grid; ``trend`` (optional, :func:`pipeline.trend`) puts
    an arrow beside each gap that clearly narrowed or widened since the last wave.
    """
    over = overall_rows(ranked)
    moved = changes_since_last(trend, confidence)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    ipa = None
    if shown:
        ipa = Markup(
            section_figure(
                lambda layout: plots.ipa_chart(ranked, layout=layout),
                i18n.gettext(
                    "Importance-performance chart: each attribute's expectation against its "
                    "performance, numbered by priority rank and coloured by priority; the "
                    "values are in the list below."
                ),
            )
        )
    counts = {c: sum(r.get("priority") == c for r in shown) for c in vocabulary.PRIORITY_CLASSES}
    return section(
        "priorities.html.j2",
        k=len(over),
        classes=[
            {"name": word(c), "meaning": m, "count": counts[c]}
            for c, m in priority_meaning().items()
        ],
        ipa_figure=ipa,
        rows=[_ranked_row(r, moved.get(str(r["item"]))) for _, r in over.iterrows()],
        moved=bool(moved),
        last_wave=_last_wave(trend),
        dual=_dual_importance(cx_drivers.for_outcome(drivers, outcome), ranked)
        if drivers is not None
        else None,
        confidence=confidence,
        outcome_text=word(vocabulary.OUTCOME_TEXT[outcome]),
        any_hidden=any(is_hidden(r) for _, r in over.iterrows()),
        min_cell=min_cell,
        said=_said(over, themes),
    )


def _said(over: pd.DataFrame, themes: ThemeTables | None) -> list[dict[str, Any]]:
    """What customers said about each shown top priority, in rank order: ``label`` and the
    :func:`analysis.report.themes.said_about` fields (``theme, share, quotes``)."""
    if themes is None:
        return []
    top = [r for _, r in over.iterrows() if not is_hidden(r) and flag(r.get("top_priority"))]
    top.sort(key=lambda r: float(r["rank"]))
    out = []
    for r in top:
        said = said_about(themes, str(r["item"]))
        if said is not None:
            out.append({"label": item_label(r), **said})
    return out


def changes_since_last(trend: TrendResult | None, confidence: float) -> dict[str, dict[str, Any]]:
    """Item -> ``{word, arrow, change}`` for each overall gap that clearly narrowed or widened
    since the wave before (the adjusted p-value of the current wave's change); the others are
    left out. Empty without a trend."""
    if trend is None or trend.table.empty:
        return {}
    out = {}
    for _, r in overall_rows(current_rows(trend.table)).iterrows():
        if is_hidden(r, "change") or not is_clear_adjusted(r, confidence):
            continue
        change = vocabulary.NARROWED if float(r["change"]) > 0 else vocabulary.WIDENED
        arrow = vocabulary.CHANGE_ARROWS[change]
        out[str(r["item"])] = {"word": change, "arrow": arrow, "change": float(r["change"])}
    return out


def _last_wave(trend: TrendResult | None) -> str | None:
    """The label of the wave before the current one (None without a trend)."""
    if trend is None or trend.waves.empty or len(trend.waves) < 2:
        return None
    waves = trend.waves.sort_values("wave_order")
    return str(waves["wave_label"].iloc[-2])


def _ranked_row(r: pd.Series, moved: dict[str, Any] | None = None) -> dict[str, Any]:
    """One attribute of the ranked list: rank, label, dimension, whether hidden, its priority,
    the row for its gap cell (marked clear on the adjusted p-value), interval, share met, and
    ``moved`` (:func:`changes_since_last`) when its gap clearly changed since the last wave."""
    row = r.to_dict()
    return {
        "moved": moved,
        "rank": row["rank"],
        "label": item_label(row),
        "dimension": row["dimension"],
        "hidden": is_hidden(row),
        "priority": word(row.get("priority")),
        "class_number": _class_number(row.get("priority")),
        "cell": {**row, "p_value": row["p_adjusted"]},
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "share_met": row.get("share_met"),
    }


def _class_number(priority: Any) -> int:
    """1-4: the place of a priority class in :data:`analysis.cx.vocabulary.PRIORITY_CLASSES`
    (its colour in the report); 0 for none."""
    classes = vocabulary.PRIORITY_CLASSES
    return classes.index(priority) + 1 if priority in classes else 0


def _dual_importance(drivers: pd.DataFrame, ranked: pd.DataFrame) -> dict[str, Any] | None:
    """The stated and derived importance grid, numbered by priority rank and coloured by
    priority class (None when the drivers have no shares to show)."""
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    if drivers.empty or not shown or "stated" not in drivers.columns:
        return None
    numbers = {str(r["item"]): fmt_int(r["rank"]) for r in shown}
    classes = {str(r["item"]): str(r["priority"]) for r in shown}
    figure = section_figure(
        lambda layout: plots.importance_grid(
            drivers, numbers=numbers, layout=layout, classes=classes
        ),
        i18n.gettext(
            "Stated against derived importance of each attribute, numbered by priority rank "
            "and coloured by priority."
        ),
    )
    return {"figure": Markup(figure)}
