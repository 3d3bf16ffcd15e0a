"""The cover of the client report: title, fieldwork dates, sample size, attributes and dimensions.

:func:`cover` prepares a view model and renders ``templates/sections/cover.html.j2`` into an
:class:`IPython.display.HTML` object, which a notebook cell displays and nbconvert copies into the
report. The summary that follows it is :mod:`analysis.report.glance` ("At a glance").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from babel.dates import format_interval
from IPython.display import HTML

from analysis.config.params import Client
from analysis.report import i18n
from analysis.report.formatting import (
    as_dict,
    fmt_date,
    fmt_int,
)
from analysis.report.templating import section

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
    """Fieldwork days as plain text: ``4–19 May 2026``, ``2 March – 3 April 2026`` (other
    languages as Babel writes an interval of days: ``4.–19. Mai 2026``)."""
    if first == last:
        return fmt_date(first)
    if i18n.active() != i18n.SOURCE:
        return format_interval(first, last, "yMMMMd", locale=i18n.locale())
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
    return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"


def cover(client: Client, summary: Any | None = None, clean: pd.DataFrame | None = None) -> HTML:
    """The cover: survey title, what the report is, fieldwork dates, sample size, items and
    dimensions.

    ``summary`` is the :class:`~analysis.intake.schema.ValidationSummary` (or its ``to_dict()``);
    its ``accepted`` count is the sample size shown, and its ``excluded`` count (responses left
    out before the checks), when there are any. ``clean`` (the accepted rows) gives the
    fieldwork dates where it has them (:func:`fieldwork_dates`).
    """
    cb = client.codebook
    facts = []
    dates = fieldwork_dates(clean)
    if dates is not None:
        facts.append({"label": i18n.gettext("Fieldwork"), "value": _date_range(*dates)})
    if summary is not None:
        accepted = fmt_int(as_dict(summary).get("accepted"))
        facts.append({"label": i18n.gettext("Respondents analysed"), "value": accepted})
        excluded = int(as_dict(summary).get("excluded") or 0)
        if excluded:
            value = i18n.gettext(
                "%(n)s (previews, unfinished or duplicate responses: see About the survey)"
            ) % {"n": fmt_int(excluded)}
            facts.append({"label": i18n.gettext("Responses left out"), "value": value})
    facts.append(
        {"label": i18n.gettext("Service attributes rated"), "value": fmt_int(len(cb.items))}
    )
    dims = list(dict.fromkeys(i.dimension for i in cb.items))
    facts.append({"label": i18n.gettext("Dimensions"), "value": fmt_int(len(dims))})
    return section("cover.html.j2", title=client.config.title, today=dt.date.today(), facts=facts)
