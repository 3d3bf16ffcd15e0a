"""The "Priorities: what to fix first" section of the client report: the importance-performance
chart, the ranked list of attributes and, when the drivers are known, the stated and derived
importance grid with its tiers.

:func:`priorities_section` prepares a view model from the priorities and driver tables and
renders ``templates/sections/priorities.html.j2`` into an :class:`IPython.display.HTML` object.
A shortfall is clear only after the Benjamini-Hochberg adjustment (the priorities table's
``verdict``); the class names (verdicts, quadrants, tiers) are those of
:mod:`analysis.cx.vocabulary`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import vocabulary
from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    flag,
    fmt_int,
    is_hidden,
    item_label,
    missing,
    overall_rows,
)
from analysis.report.templating import section

#: What each tier of the dual-importance grid means, in the order they are listed.
TIER_MEANING = {
    vocabulary.KEY_DRIVER: "customers say they matter and they move overall satisfaction",
    vocabulary.BASIC: "customers say they matter, but they move satisfaction little: "
    "expected as a matter of course, and missed when they fail",
    vocabulary.HIDDEN_DRIVER: "customers rate them less important than most, yet they "
    "move overall satisfaction: a chance to delight",
    vocabulary.SECONDARY: "lower on both",
}


def priorities_section(
    ranked: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
) -> HTML:
    """The "Priorities" section: importance-performance chart, ranked list, dual-importance grid.

    ``ranked`` is :func:`analysis.cx.priorities.priorities` output; ``drivers`` (optional) is the
    driver table with tiers (:func:`analysis.cx.drivers.importance_tiers`).
    """
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    tiers: dict[str, str] = {}
    if drivers is not None and "tier" in drivers.columns:
        tiers = {str(r["item"]): r["tier"] for _, r in drivers.iterrows() if not missing(r["tier"])}
    ipa = None
    if shown:
        ipa = Markup(
            section_figure(
                lambda layout: plots.ipa_chart(ranked, layout=layout),
                "Importance-performance chart: each attribute's expectation against its "
                "performance, numbered by priority rank; the values are in the list below.",
            )
        )
    return section(
        "priorities.html.j2",
        k=len(over),
        top=[
            {"label": item_label(r), "gap": r["gap"]} for r in shown if flag(r.get("top_priority"))
        ],
        n_short=sum(r["verdict"] == vocabulary.SHORTFALL for r in shown),
        n_shown=len(shown),
        ipa_figure=ipa,
        rows=[_ranked_row(r, tiers) for _, r in over.iterrows()],
        tiers=bool(tiers),
        dual=_dual_importance(drivers, ranked) if tiers and drivers is not None else None,
        confidence=confidence,
        any_hidden=any(is_hidden(r) for _, r in over.iterrows()),
        min_cell=min_cell,
    )


def _ranked_row(r: pd.Series, tiers: dict[str, str]) -> dict[str, Any]:
    """One attribute of the ranked list: rank, label, dimension, whether hidden, the row for its
    gap cell (marked clear on the adjusted p-value), interval ends, verdict, quadrant, tier."""
    row = r.to_dict()
    return {
        "rank": row["rank"],
        "label": item_label(row),
        "dimension": row["dimension"],
        "hidden": is_hidden(row),
        "cell": {**row, "p_value": row["p_adjusted"]},
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "short": row["verdict"] == vocabulary.SHORTFALL,
        "verdict": vocabulary.VERDICT_TEXT.get(str(row["verdict"]), DASH),
        "p_adjusted": row["p_adjusted"],
        "quadrant": row["quadrant"],
        "tier": tiers.get(str(row["item"]), DASH),
    }


def _dual_importance(drivers: pd.DataFrame, ranked: pd.DataFrame) -> dict[str, Any]:
    """The stated and derived importance grid, numbered by priority rank (``figure``), and the
    attributes of each tier (``tiers``: tier, meaning, names)."""
    over = overall_rows(ranked)
    numbers = {
        str(r["item"]): fmt_int(r["rank"]) for _, r in over.iterrows() if not missing(r["rank"])
    }
    groups: dict[str, list[str]] = {}
    for _, r in drivers.iterrows():
        if not missing(r.get("tier")):
            groups.setdefault(str(r["tier"]), []).append(item_label(r))
    figure = section_figure(
        lambda layout: plots.importance_grid(drivers, numbers=numbers, layout=layout),
        "Dual-importance grid: stated importance against derived importance of each "
        "attribute, numbered by priority rank; the tiers are listed below.",
    )
    return {
        "figure": Markup(figure),
        "tiers": [
            {"tier": t, "meaning": meaning, "names": groups[t]}
            for t, meaning in TIER_MEANING.items()
            if t in groups
        ],
    }
