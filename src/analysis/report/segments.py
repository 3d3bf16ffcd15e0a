"""The "Gaps by segment" part of the client report: the heatmap and one table per segment
variable, which customer groups are underserved (each level against the rest of the customers),
and the top priorities within each group; plus the executive summary's line on the most
underserved groups.

Each function prepares a view model from the result tables and renders its template in
``templates/sections/`` (``segment_section.html.j2``, which includes ``segment_tables.html.j2``;
``segment_comparison.html.j2``; ``underserved_fact.html.j2`` for the summary) into an
:class:`IPython.display.HTML` object (for the summary, :class:`markupsafe.Markup`). Differences
between groups are called clear only after the Benjamini-Hochberg adjustment (``p_adjusted``);
suppressed cells show ``–``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import vocabulary
from analysis.report import i18n, plots
from analysis.report.figures import figure
from analysis.report.formatting import (
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_name,
    level_names,
    ordered_items,
    overall_rows,
    rows_of,
    segment_name,
    segment_rows,
)
from analysis.report.templating import section

# ---------------------------------------------------------------------------------------------
# gaps by segment: heatmap and tables


def _segment_tables_model(
    table: pd.DataFrame, confidence: float, min_cell: int | None
) -> dict[str, Any]:
    """The context of ``segment_tables.html.j2``: per segment variable its ``group``, ``levels``
    (name, n) and ``dimensions`` (name, items: label, overall row, its row in each level or
    None); ``any_hidden``, ``confidence``, ``min_cell``."""
    seg = segment_rows(table)
    over = ordered_items(overall_rows(table))
    groups, any_hidden = [], False
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["item"]), str(r["level"])): r.to_dict() for _, r in g.iterrows()}
        dimensions: list[dict[str, Any]] = []
        for _, r in over.iterrows():
            if not dimensions or dimensions[-1]["name"] != str(r["dimension"]):
                dimensions.append({"name": str(r["dimension"]), "items": []})
            by_level = [cells.get((str(r["item"]), lv)) for lv in levels]
            any_hidden |= any(c is None or is_hidden(c) for c in by_level)
            dimensions[-1]["items"].append(
                {"label": item_label(r), "row": r.to_dict(), "cells": by_level}
            )
        names = level_names(g)
        n_by_level = [
            {"name": names[lv], "n": g.loc[g["level"].astype(str) == lv, "n"].max()}
            for lv in levels
        ]
        groups.append(
            {"group": segment_name(g.iloc[0]), "levels": n_by_level, "dimensions": dimensions}
        )
    return {
        "groups": groups,
        "confidence": confidence,
        "any_hidden": any_hidden,
        "min_cell": min_cell,
    }


def segment_tables(
    table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """One table per segment variable: gap of each item (rows) in each level (columns).

    The first numeric column repeats the overall gap for reference. Suppressed cells show ``–``.
    Empty when the table has no segment rows.
    """
    if segment_rows(table).empty:
        return HTML("")
    return section("segment_tables.html.j2", **_segment_tables_model(table, confidence, min_cell))


def segment_section(
    table: pd.DataFrame,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """The "Gaps by segment" section: ``part="story"`` the heading and the heatmap;
    ``part="detail"`` (the technical appendix) one table per segment variable.

    Empty (no heading) when the table has no segment rows, so a client without segments gets no
    empty section.
    """
    if part not in ("story", "detail"):
        raise ValueError(f"part must be 'story' or 'detail', got {part!r}")
    if (table["group"].astype(str) == vocabulary.ALL).all():
        return HTML("")
    if part == "detail":
        return section(
            "segment_tables.html.j2", **_segment_tables_model(table, confidence, min_cell)
        )
    heatmap = figure(
        lambda layout: plots.segment_gap_heatmap(table, confidence=confidence, layout=layout),
        alt=i18n.gettext(
            "Heatmap of the gap of each service attribute in each customer group; the values "
            "are in the tables below."
        ),
        dpi=120,
    ).data
    return section("segment_section.html.j2", heatmap=Markup(heatmap))


# ---------------------------------------------------------------------------------------------
# which customers are underserved


def segment_comparison(
    contrasts: pd.DataFrame | None,
    ranked: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    top: int = 3,
) -> HTML:
    """Which customer groups are underserved: each level against the rest of the customers,
    and the top priorities of each group.

    ``contrasts`` is :func:`analysis.cx.segments.segment_contrasts` output (suppressed, with the
    ``item == "all"`` rows); ``ranked`` the priorities table. Empty when ``contrasts`` is None.
    """
    if contrasts is None or contrasts.empty:
        return HTML("")
    summary = contrasts[contrasts["item"].astype(str) == vocabulary.ALL]
    items = contrasts[contrasts["item"].astype(str) != vocabulary.ALL]
    groups, any_hidden = [], False
    for group in dict.fromkeys(summary["group"].astype(str)):
        g = summary[summary["group"].astype(str) == group]
        groups.append(_group_contrasts(group, g, items, confidence, top))
        any_hidden |= any(is_hidden(r, "difference") for _, r in g.iterrows())
    return section(
        "segment_comparison.html.j2",
        groups=groups,
        top_by_group=None if ranked is None else _top_by_group(ranked),
        confidence=confidence,
        any_hidden=any_hidden,
        min_cell=min_cell,
    )


def _group_contrasts(
    group: str, g: pd.DataFrame, items: pd.DataFrame, confidence: float, top: int
) -> dict[str, Any]:
    """One segment variable: its ``group``, its most underserved level (``worst``, None when
    there is none), the contrast ``rows`` and the attributes each level falls clearly further
    short on (``behind``)."""
    flagged = g[g["most_underserved"].fillna(False).astype(bool)]
    rows, behind = [], []
    for _, r in g.iterrows():
        rows.append(_contrast_row(r, confidence))
        if not is_hidden(r, "difference"):
            level = str(r["level"])
            behind += _falls_behind(rows_of(items, group, level), level_name(r), confidence, top)
    worst = flagged.iloc[0].to_dict() if len(flagged) else None
    if worst is not None:
        worst["level"] = level_name(worst)
    return {
        "group": segment_name(g.iloc[0]),
        "worst": worst,
        "rows": rows,
        "behind": behind,
    }


def _contrast_row(r: pd.Series, confidence: float) -> dict[str, Any]:
    """One level against the rest: its respondents, whether hidden, its average gap, the others',
    the difference (as a row for the gap cell, clear on ``p_adjusted``), interval and verdict."""
    hidden = is_hidden(r, "difference")
    if hidden:
        verdict = None
    elif is_clear_adjusted(r, confidence):
        worse = float(r["difference"]) < 0
        verdict = i18n.gettext("Clearly worse") if worse else i18n.gettext("Clearly better")
    else:
        verdict = i18n.gettext("No clear difference")
    return {
        "level": level_name(r),
        "n": r["n"],
        "hidden": hidden,
        "gap": r["gap"],
        "gap_rest": r["gap_rest"],
        "cell": {"gap": r["difference"], "p_value": r["p_adjusted"], "suppressed": False},
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "verdict": verdict,
    }


def _falls_behind(
    rows: pd.DataFrame, level: str, confidence: float, top: int
) -> list[dict[str, Any]]:
    """The attributes (item rows of one level) on which the level falls clearly further short
    than the other customers, largest difference first: ``level``, the first ``top`` ``names``
    and how many ``more`` (none: empty)."""
    keep = [
        is_clear_adjusted(r, confidence) and float(r["difference"]) < 0 for _, r in rows.iterrows()
    ]
    worse = rows.loc[keep].sort_values("difference")
    if not len(worse):
        return []
    names = [item_label(x) for _, x in worse.head(top).iterrows()]
    return [{"level": level, "names": names, "more": len(worse) - len(names)}]


def _top_by_group(ranked: pd.DataFrame) -> list[dict[str, Any]]:
    """The largest clear shortfalls within each group of customers: ``group``, ``level``,
    ``hidden`` and the top priorities' ``names`` (label, gap)."""
    seg = segment_rows(ranked)
    rows = []
    for _, g in seg.groupby([seg["group"].astype(str), seg["level"].astype(str)], sort=False):
        top = g[g["top_priority"].fillna(False).astype(bool)].sort_values("rank")
        rows.append(
            {
                "group": segment_name(g.iloc[0]),
                "level": level_name(g.iloc[0]),
                "hidden": bool(g["gap"].isna().all()),
                "names": [{"label": item_label(r), "gap": r["gap"]} for _, r in top.iterrows()],
            }
        )
    return rows
