"""The "Net Promoter Score" section of the client report (headline, chart and table of every
group).

A score is called clearly above or below zero when its interval excludes zero (one test, no
adjustment); suppressed groups show ``–``. The section is rendered from
``templates/sections/nps.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    excludes_zero,
    fmt_num,
    group_name,
    interval,
    is_hidden,
    level_pct,
    overall_rows,
    suppression_note,
)
from analysis.report.templating import section


def _overall(nps: pd.DataFrame | None) -> pd.Series | None:
    """The overall row of the NPS table, None when there is none or it is hidden."""
    if nps is None or nps.empty:
        return None
    over = overall_rows(nps)
    if over.empty or is_hidden(over.iloc[0], "nps"):
        return None
    return over.iloc[0]


def _score(r: pd.Series, confidence: float) -> tuple[str, str]:
    """The signed score and ``(95% interval +4 to +20; clearly above zero)``: its interval and
    whether it is clearly different from zero (plain text)."""
    if not excludes_zero(r["ci_low"], r["ci_high"]):
        detail = i18n.gettext("(%(level)s interval %(interval)s; not clearly different from zero)")
    elif float(r["nps"]) > 0:
        detail = i18n.gettext("(%(level)s interval %(interval)s; clearly above zero)")
    else:
        detail = i18n.gettext("(%(level)s interval %(interval)s; clearly below zero)")
    values = {"level": level_pct(confidence), "interval": interval(r["ci_low"], r["ci_high"], 0)}
    return fmt_num(r["nps"], 0, signed=True), detail % values


def nps_view(nps: pd.DataFrame, confidence: float, min_cell: int | None) -> dict[str, Any]:
    """The data of the NPS section: ``overall`` (``score, detail, promoters, detractors``, or
    None when hidden), ``figure``, ``rows`` (each group's row of the NPS table with its ``name``
    and whether it is ``hidden``), ``confidence`` and ``notes`` (plain text)."""
    r = _overall(nps)
    overall = None
    if r is not None:
        score, detail = _score(r, confidence)
        overall = {
            "score": score,
            "detail": detail,
            "promoters": r["promoters"],
            "detractors": r["detractors"],
        }
    rows = [
        {**r.to_dict(), "name": group_name(r), "hidden": is_hidden(r, "nps")}
        for _, r in nps.iterrows()
    ]
    notes = [
        i18n.gettext(
            "Groups whose intervals overlap may not really differ; the intervals take the "
            "weights and the sample design into account."
        )
    ]
    if any(row["hidden"] for row in rows):
        notes.append(suppression_note(min_cell))
    figure = section_figure(
        lambda layout: plots.nps_chart(nps, confidence=confidence, layout=layout),
        i18n.gettext(
            "Chart of the Net Promoter Score of all customers and of each group, with its "
            "interval; the values are in the table below."
        ),
    )
    return {
        "overall": overall,
        "figure": Markup(figure),
        "rows": rows,
        "confidence": confidence,
        "notes": notes,
    }


def nps_section(
    nps: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Net Promoter Score" section: headline, chart and table, rendered from
    ``templates/sections/nps.html.j2``. Empty when None."""
    if nps is None or nps.empty:
        return HTML("")
    return section("nps.html.j2", **nps_view(nps, confidence, min_cell))
