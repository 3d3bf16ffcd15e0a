"""The opening of the client report: the cover and the executive summary.

Each function prepares a view model and renders its template (``templates/sections/``
``cover.html.j2``, ``executive_summary.html.j2``) into an :class:`IPython.display.HTML` object,
which a notebook cell displays and nbconvert copies into the report. The summary is written from
the result tables in plain words; a result is called clear only when it holds after the
Benjamini-Hochberg adjustment, and suppressed rows are never mentioned. The facts about segments,
drivers, NPS and trend come from their own section modules, so each is worded in one
place.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.config.params import Client
from analysis.report.formatting import (
    as_dict,
    fmt_date,
    fmt_int,
    is_clear_adjusted,
    is_hidden,
    item_label,
    missing,
    overall_rows,
)
from analysis.report.key_drivers import driver_facts, key_driver_rows
from analysis.report.nps import nps_facts
from analysis.report.segments import underserved_facts
from analysis.report.templating import section
from analysis.report.trend import trend_facts

#: How many clear shortfalls the summary names (at least three items are always named).
TOP_GAPS = 5

FIELDWORK_COLUMNS = (("StartDate", "EndDate"), ("start_date", "end_date"))

# ---------------------------------------------------------------------------------------------
# cover


def fieldwork_dates(clean: pd.DataFrame | None) -> tuple[dt.date, dt.date] | None:
    """First and last fieldwork day, from a ``StartDate``/``EndDate`` (Qualtrics) or
    ``start_date``/``end_date`` column of the accepted rows; None when there is none or no value
    parses as a date."""
    if clean is None:
        return None
    for start, end in FIELDWORK_COLUMNS:
        cols = [c for c in (start, end) if c in clean.columns]
        if not cols:
            continue
        values = pd.concat(
            [pd.to_datetime(clean[c], errors="coerce", format="mixed", utc=True) for c in cols]
        ).dropna()
        if not values.empty:
            return values.min().date(), values.max().date()
    return None


def _date_range(first: dt.date, last: dt.date) -> str:
    """Fieldwork days as plain text: ``4–19 May 2026``, ``2 March – 3 April 2026``."""
    if first == last:
        return fmt_date(first)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
    return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"


def cover(client: Client, summary: Any | None = None, clean: pd.DataFrame | None = None) -> HTML:
    """The cover: survey title, what the report is, fieldwork dates, sample size, items and
    dimensions.

    ``summary`` is the :class:`~analysis.intake.schema.ValidationSummary` (or its ``to_dict()``);
    its ``accepted`` count is the sample size shown. ``clean`` (the accepted rows) gives the
    fieldwork dates where it has them (:func:`fieldwork_dates`).
    """
    cb = client.codebook
    facts = []
    dates = fieldwork_dates(clean)
    if dates is not None:
        facts.append({"label": "Fieldwork", "value": _date_range(*dates)})
    if summary is not None:
        accepted = fmt_int(as_dict(summary).get("accepted"))
        facts.append({"label": "Respondents analysed", "value": accepted})
    facts.append({"label": "Service attributes rated", "value": fmt_int(len(cb.items))})
    dims = list(dict.fromkeys(i.dimension for i in cb.items))
    facts.append({"label": "Dimensions", "value": fmt_int(len(dims))})
    return section("cover.html.j2", title=client.config.title, today=dt.date.today(), facts=facts)


# ---------------------------------------------------------------------------------------------
# executive summary (from the result tables)


def executive_summary(
    ranked: pd.DataFrame,
    contrasts: pd.DataFrame | None = None,
    drivers: pd.DataFrame | None = None,
    nps: pd.DataFrame | None = None,
    trend: pd.DataFrame | None = None,
    confidence: float = 0.95,
) -> HTML:
    """The executive summary, in plain words, from the result tables.

    ``ranked`` is :func:`analysis.cx.priorities.priorities` output (suppressed gap table plus
    ``p_adjusted, rank, verdict``); ``contrasts`` segment contrasts (``most_underserved``);
    ``drivers`` the key-driver table; ``nps`` and ``trend`` their tables (each optional).
    A gap, difference or change is called clear only when its Benjamini-Hochberg adjusted p-value
    is below ``1 - confidence``; suppressed rows are never mentioned. The first
    :data:`TOP_GAPS` clear shortfalls by priority rank are named.
    """
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    shown.sort(key=lambda r: math.inf if missing(r.get("rank")) else float(r["rank"]))
    short = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) < 0]
    above = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) > 0]
    key_drivers = {str(r["item"]) for r in key_driver_rows(drivers)}
    facts = [
        *underserved_facts(contrasts, confidence),
        *driver_facts(drivers),
        *nps_facts(nps, confidence),
        *trend_facts(trend, confidence),
    ]
    return section(
        "executive_summary.html.j2",
        n_short=len(short),
        n_shown=len(shown),
        n_above=len(above),
        n_unclear=len(shown) - len(short) - len(above),
        k=len(over),
        top_title="The gaps to close first" if short else "The largest gaps",
        top=_top_gaps(shown, short, key_drivers, confidence),
        # each section module's summary line is HTML rendered by our own code (Markup, or
        # until those modules render templates, a string of escaped HTML)
        facts=[Markup(f) for f in facts],
        confidence=confidence,
    )


def _top_gaps(
    shown: list[pd.Series], short: list[pd.Series], key_drivers: set[str], confidence: float
) -> list[dict[str, Any]]:
    """The gaps that matter most: clear shortfalls by priority rank, at least three named; each
    with its ``label``, ``gap``, interval ends and what it is (``what``, plain text)."""
    picked = short[:TOP_GAPS]
    if len(picked) < 3:
        rest = [r for r in shown if not any(r["item"] == p["item"] for p in picked)]
        picked += rest[: 3 - len(picked)]
    out = []
    for r in picked:
        if is_clear_adjusted(r, confidence):
            what = "a clear shortfall" if float(r["gap"]) < 0 else "clearly above expectations"
        else:
            what = "not clearly different from zero: it could be chance"
        if str(r["item"]) in key_drivers:
            what += "; also a key driver of overall satisfaction"
        out.append(
            {
                "label": item_label(r),
                "gap": r["gap"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "what": what,
            }
        )
    return out
