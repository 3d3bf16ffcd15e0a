"""The opening of the client report: the cover and the executive summary.

Each function returns an :class:`IPython.display.HTML` object, which a notebook cell displays and
nbconvert copies into the report. The summary is written from the result tables in plain words; a
result is called clear only when it holds after the Benjamini-Hochberg adjustment, and suppressed
rows are never mentioned. The facts about segments, drivers, NPS and trend come from their own
section modules, so each is worded in one place.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.config.params import Client
from analysis.report.formatting import (
    as_dict,
    esc,
    fmt_date,
    fmt_int,
    fmt_num,
    interval,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_pct,
    missing,
    overall_rows,
)
from analysis.report.key_drivers import driver_facts, key_driver_rows
from analysis.report.nps import nps_facts
from analysis.report.segments import underserved_facts
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
        facts.append(("Fieldwork", esc(_date_range(*dates))))
    if summary is not None:
        facts.append(("Respondents analysed", fmt_int(as_dict(summary).get("accepted"))))
    facts.append(("Service attributes rated", fmt_int(len(cb.items))))
    dims = list(dict.fromkeys(i.dimension for i in cb.items))
    facts.append(("Dimensions", fmt_int(len(dims))))
    facts_html = "".join(f"<div><dt>{esc(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    return HTML(
        '<header class="oi-cover">'
        '<p class="oi-kicker">Customer expectations and performance</p>'
        f"<h1>{esc(client.config.title)}</h1>"
        f'<p class="oi-subtitle">Gap analysis report &middot; {esc(fmt_date(dt.date.today()))}</p>'
        f'<dl class="oi-facts">{facts_html}</dl>'
        '<p class="oi-lede">For each service attribute, customers said how much they expect '
        "and how well we perform today. The <strong>gap</strong> is performance minus "
        "expectation: a negative gap means we fall short of what customers expect. Results are "
        "weighted to stand for the whole customer base, and each gap comes with a range of "
        "uncertainty, so that real gaps can be told apart from noise.</p>"
        "</header>"
    )


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
    conf = level_pct(confidence)
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    shown.sort(key=lambda r: math.inf if missing(r.get("rank")) else float(r["rank"]))
    short = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) < 0]
    parts = [
        '<section class="oi-summary"><h2 id="summary">Executive summary</h2>',
        _headline(shown, short, len(over), confidence),
        _top_gaps(shown, short, {str(r["item"]) for r in key_driver_rows(drivers)}, confidence),
    ]
    facts = [
        *underserved_facts(contrasts, confidence),
        *driver_facts(drivers),
        *nps_facts(nps, confidence),
        *trend_facts(trend, confidence),
    ]
    if facts:
        parts.append("<h3>Customers, drivers and loyalty</h3>")
        parts.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    parts.append(
        '<p class="oi-note">Gaps are performance − expectation on the rating scale (negative: '
        f"we fall short). Each comes with its {conf} interval, the range the true value most "
        "likely lies in; the sections below give the details and the glossary under About the "
        "survey explains the terms.</p></section>"
    )
    return HTML("".join(parts))


def _headline(shown: list[pd.Series], short: list[pd.Series], k: int, confidence: float) -> str:
    """How many attributes fall clearly short, exceed, or show no clear gap, of ``k`` tested."""
    above = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) > 0]
    unclear = len(shown) - len(short) - len(above)
    counts = (
        f"<strong>{fmt_int(len(short))} of {fmt_int(len(shown))}</strong> service attributes "
        "fall clearly short of what customers expect"
    )
    if above:
        counts += f"; {fmt_int(len(above))} clearly exceed{'s' if len(above) == 1 else ''} them"
    if unclear:
        counts += f"; for {fmt_int(unclear)} the data show no clear gap (it could be chance)"
    return (
        f"<p>{counts}. A gap is called clear only if it holds after allowing for {fmt_int(k)} "
        "attributes tested at once.</p>"
    )


def _top_gaps(
    shown: list[pd.Series], short: list[pd.Series], key_drivers: set[str], confidence: float
) -> str:
    """The gaps that matter most: clear shortfalls by priority rank; at least three named."""
    picked = short[:TOP_GAPS]
    if len(picked) < 3:
        rest = [r for r in shown if not any(r["item"] == p["item"] for p in picked)]
        picked += rest[: 3 - len(picked)]
    if not picked:
        return ""
    items = []
    for r in picked:
        if is_clear_adjusted(r, confidence):
            what = "a clear shortfall" if float(r["gap"]) < 0 else "clearly above expectations"
        else:
            what = "not clearly different from zero: it could be chance"
        if str(r["item"]) in key_drivers:
            what += "; also a key driver of overall satisfaction"
        items.append(f"<li>{_gap_phrase(r, level_pct(confidence))}: {what}.</li>")
    title = "The gaps to close first" if short else "The largest gaps"
    return f'<h3>{title}</h3><ol class="oi-top-gaps">{"".join(items)}</ol>'


def _gap_phrase(r: Mapping[str, Any], conf: str) -> str:
    """``<strong>label</strong> (gap −1.10, 95% interval −1.18 to −1.03)``, escaped."""
    return (
        f"<strong>{esc(item_label(r))}</strong> (gap {fmt_num(r['gap'], signed=True)}, {conf} "
        f"interval {interval(r['ci_low'], r['ci_high'])})"
    )
