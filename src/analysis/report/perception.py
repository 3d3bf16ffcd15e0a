"""The "What staff believe customers expect" section of the client report: the perception gap
(what staff believe customers expect, against what customers said they expect).

A difference is called clear only when it holds after the Benjamini-Hochberg adjustment across
the attributes (``p_adjusted``); when too few staff answered, the comparison is not shown.
The section is rendered from ``templates/sections/perception.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.report import i18n
from analysis.report.formatting import (
    is_clear_adjusted,
    is_hidden,
    item_label,
    suppression_note,
)
from analysis.report.templating import check_part, section


def perception_section(
    table: pd.DataFrame | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """The "What staff believe customers expect" section (the perception gap), rendered from
    ``templates/sections/perception.html.j2``: ``part="story"`` what staff under- and
    overestimate, ``part="detail"`` (the technical appendix) the table of every attribute.
    Empty when None.

    Reads ``pipeline.perception_gap``'s table: ``difference = staff_belief -
    customer_expectation`` per item, with BH-adjusted ``p_adjusted``.
    """
    check_part(part)
    if table is None or table.empty:
        return HTML("")
    view = perception_view(table, confidence, min_cell)
    if part == "detail" and view["rows"] is None:
        return HTML("")
    return section("perception.html.j2", part=part, **view)


def perception_view(table: pd.DataFrame, confidence: float, min_cell: int | None) -> dict[str, Any]:
    """The data of the perception section: ``n_staff``; ``rows`` (None when no row can be shown,
    else each row of the table, largest underestimate first, with its ``label``, ``verdict`` and
    whether it is ``hidden``); counts ``under, over, unclear`` of clear under- and overestimates;
    ``worst`` (the largest clear underestimate's row with its ``label``, or None),
    ``confidence`` and ``notes`` (plain text)."""
    n_staff = int(table["n_staff"].max())
    shown = [r for _, r in table.iterrows() if not is_hidden(r, "difference")]
    if not shown:
        return {"n_staff": n_staff, "rows": None}
    under = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) < 0]
    over = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) > 0]
    worst = None
    if under:
        r = min(under, key=lambda r: float(r["difference"]))
        worst = {**r.to_dict(), "label": item_label(r)}
    notes = [
        i18n.gettext(
            "Difference = what staff believe customers expect − what customers said they "
            "expect (weighted). Called clear only if it holds after allowing for the number of "
            "attributes compared."
        )
    ]
    if len(shown) < len(table):
        notes.append(suppression_note(min_cell))
    return {
        "n_staff": n_staff,
        "rows": _rows(table, confidence),
        "under": len(under),
        "over": len(over),
        "unclear": len(shown) - len(under) - len(over),
        "worst": worst,
        "confidence": confidence,
        "notes": notes,
    }


def _rows(table: pd.DataFrame, confidence: float) -> list[dict[str, Any]]:
    """One row per attribute, the largest underestimate first, with its ``label``, ``verdict``
    and whether it is ``hidden``."""
    ordered = table.assign(_order=table["difference"].fillna(float("inf"))).sort_values("_order")
    rows = []
    for _, r in ordered.iterrows():
        clear = is_clear_adjusted(r, confidence)
        under = clear and float(r["difference"]) < 0
        verdict = i18n.gettext("No clear difference")
        if clear:
            verdict = (
                i18n.gettext("Staff underestimate") if under else i18n.gettext("Staff overestimate")
            )
        label, hidden = item_label(r), is_hidden(r, "difference")
        rows.append(
            {**r.to_dict(), "label": label, "hidden": hidden, "verdict": verdict, "under": under}
        )
    return rows
