"""The "Who matters most" section of the client report: each segment's share of the customers
against its share of the value, the value held by detractors, and where weighting customers by
their value changes the priorities (an attribute that rises or falls
:data:`analysis.cx.vocabulary.SEVERAL_RANKS` or more places).

``part="story"`` is the compact finding; ``part="detail"`` (the technical appendix) the table of
every attribute's gap with and without value weighting. Suppressed cells show ``–``. Rendered
from ``templates/sections/value.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.cx.value import ValueResult
from analysis.cx.vocabulary import FALLS, RISES, SEVERAL_RANKS, SHIFT_TEXT
from analysis.report import i18n
from analysis.report.formatting import (
    group_name,
    is_hidden,
    item_label,
    overall_rows,
    segment_rows,
    suppression_note,
    word,
)
from analysis.report.templating import section


def _shifts(gaps: pd.DataFrame, kind: str) -> list[dict[str, Any]]:
    """The overall rows whose rank moves by several places (``kind`` rises/falls), largest
    move first, each with its ``label``."""
    over = overall_rows(gaps)
    rows = over[over["shift"] == kind]
    rows = rows.reindex(rows["rank_change"].abs().sort_values(ascending=False).index)
    return [{**r.to_dict(), "label": item_label(r)} for _, r in rows.iterrows()]


def value_view(result: ValueResult, confidence: float, min_cell: int | None) -> dict[str, Any]:
    """The data of the section: ``segments`` (the key-customer rows of the first ``by`` segment
    and then the others: ``name, group, n, hidden, customers, value_share, value_index,
    mean_gap, nps, value_nps, value_at_risk``), ``overall`` (the overall key-customer row),
    ``rises``/``falls`` (overall gap rows whose rank moves several places), ``several``,
    ``items`` (every overall gap row, value-weighted rank order, for the appendix),
    ``value_nps`` (the overall value-NPS row or None), ``no_value`` (respondents without a
    value), ``confidence`` and ``notes``."""
    key = result.key_customers
    over = overall_rows(key)
    overall = over.iloc[0].to_dict() if not over.empty else None
    segments = [
        {**r.to_dict(), "name": group_name(r), "hidden": is_hidden(r, "value_share")}
        for _, r in segment_rows(key).iterrows()
    ]
    gaps = result.gaps
    items = overall_rows(gaps).sort_values("value_rank", kind="stable", na_position="last")
    item_rows = [
        {
            **r.to_dict(),
            "label": item_label(r),
            "hidden": is_hidden(r, "value_gap"),
            "shift_text": word(SHIFT_TEXT.get(r["shift"], "")),
        }
        for _, r in items.iterrows()
    ]
    vn = None
    if result.nps is not None:
        vo = overall_rows(result.nps)
        if not vo.empty and not is_hidden(vo.iloc[0], "value_nps"):
            vn = vo.iloc[0].to_dict()
    notes = [
        i18n.gettext(
            "Value-weighted figures count each customer in proportion to their value (as well "
            "as the survey weight); customers with no value recorded are left out of them. "
            "Rank 1 is the largest shortfall."
        )
    ]
    if any(s["hidden"] for s in segments) or any(i["hidden"] for i in item_rows):
        notes.append(suppression_note(min_cell))
    return {
        "overall": overall,
        "segments": segments,
        "rises": _shifts(gaps, RISES),
        "falls": _shifts(gaps, FALLS),
        "several": SEVERAL_RANKS,
        "items": item_rows,
        "value_nps": vn,
        "no_value": int(overall["n_no_value"]) if overall else 0,
        "confidence": confidence,
        "notes": notes,
    }


def value_section(
    result: ValueResult | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """The "Who matters most" section (``pipeline.value``'s tables), rendered from
    ``templates/sections/value.html.j2``: ``part="story"`` the segments' shares of customers
    and value, value at risk and the attributes whose priority moves when weighted by value;
    ``part="detail"`` every attribute's gap with and without value weighting. Empty when None
    (the codebook names no value column)."""
    if part not in ("story", "detail"):
        raise ValueError(f"part must be 'story' or 'detail', got {part!r}")
    if result is None or result.gaps.empty:
        return HTML("")
    return section("value.html.j2", part=part, **value_view(result, confidence, min_cell))
