"""The report's first page, "At a glance": what a head of customer experience needs before
anything else (the summary, ``<section id="summary">``), and the contents of the report.

In the order a reader asks: how many customers answered; their Net Promoter Score with its
interval; how often their expectations are met; how many attributes fall clearly short; what to
fix first (the top of the priority ranking, :mod:`analysis.cx.priorities`, one line each); which
groups of customers fare clearly worst, on the gaps and on NPS; the change since the last survey.
"Clear" is the one meaning of :mod:`analysis.cx.vocabulary`: after the Benjamini-Hochberg
adjustment (``p_adjusted``). Suppressed rows are never mentioned. Rendered from
``templates/sections/glance.html.j2``; this module prepares its data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML

from analysis.config.params import Client
from analysis.cx import drivers as cx_drivers
from analysis.cx import vocabulary
from analysis.cx.segments import ALL_ITEMS
from analysis.cx.trend import TrendResult
from analysis.report import i18n
from analysis.report.formatting import (
    as_dict,
    flag,
    fmt_int,
    fmt_num,
    fmt_pct,
    group_name,
    interval,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_pct,
    missing,
    overall_rows,
    plural,
    segment_rows,
    word,
)
from analysis.report.key_drivers import drivers_title
from analysis.report.templating import section
from analysis.report.themes import ThemeTables, said_about
from analysis.report.trend import trend_facts

#: How many groups "Who fares worst" names at most (the clearest first).
WORST = 4


def at_a_glance(
    client: Client,
    ranked: pd.DataFrame,
    summary: Any | None = None,
    contrasts: pd.DataFrame | None = None,
    nps: pd.DataFrame | None = None,
    trend: TrendResult | None = None,
    confidence: float = 0.95,
    themes: ThemeTables | None = None,
) -> HTML:
    """The "At a glance" page and the contents, from the result tables.

    ``ranked`` is :func:`analysis.cx.priorities.priorities` output (``priority``, ``rank``,
    ``top_priority``, ``share_met``); ``summary`` the validation summary (its ``accepted``
    count); ``contrasts`` the segment contrasts; ``nps`` and ``trend`` their tables; ``themes``
    the pipeline's theme tables (what customers said beside each fix-first line) (each
    optional).
    """
    return section("glance.html.j2", **glance_view(client, ranked, summary, contrasts, nps, trend,
                                                   confidence, themes))  # fmt: skip


def glance_view(
    client: Client,
    ranked: pd.DataFrame,
    summary: Any | None,
    contrasts: pd.DataFrame | None,
    nps: pd.DataFrame | None,
    trend: TrendResult | None,
    confidence: float,
    themes: ThemeTables | None = None,
) -> dict[str, Any]:
    """The page's data: facts, the fix-first lines (each with what customers said about it,
    when a theme speaks to it), the worst-faring groups, the contents."""
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    shown.sort(key=lambda r: float(r["rank"]))
    short = [r for r in shown if r.get("priority") in vocabulary.ACTION_CLASSES]
    top = [r for r in shown if flag(r.get("top_priority"))]
    return {
        "conf": level_pct(confidence),
        "facts": _facts(summary, nps, shown, short, confidence),
        "top": [_priority_line(r, themes, min(1, client.config.analysis.quotes)) for r in top],
        "n_items": len(shown),
        "worst": _worst(contrasts, nps, confidence),
        "has_segments": contrasts is not None and not contrasts.empty,
        "changes": trend_facts(trend, confidence),
        "contents": _contents(client, trend, themes),
    }


def _facts(
    summary: Any | None,
    nps: pd.DataFrame | None,
    shown: list[pd.Series],
    short: list[pd.Series],
    confidence: float,
) -> list[dict[str, str]]:
    """The key figures: respondents, NPS, expectations met, attributes clearly short."""
    facts = []
    if summary is not None:
        facts.append(
            {
                "name": i18n.gettext("Customers who answered"),
                "value": fmt_int(as_dict(summary)["accepted"]),
                "note": i18n.gettext("weighted to stand for the whole customer base"),
            }
        )
    overall = None if nps is None else next(iter(overall_rows(nps).to_dict("records")), None)
    if overall is not None and not is_hidden(overall, "nps"):
        facts.append(
            {
                "name": i18n.gettext("Net Promoter Score"),
                "value": fmt_num(overall["nps"], 0, signed=True),
                "note": i18n.gettext("%(level)s interval %(interval)s")
                % {
                    "level": level_pct(confidence),
                    "interval": interval(overall["ci_low"], overall["ci_high"], 0),
                },
            }
        )
    met = [float(r["share_met"]) for r in shown if not missing(r.get("share_met"))]
    if met:
        facts.append(
            {
                "name": i18n.gettext("Expectations met"),
                "value": fmt_pct(np.mean(met)),
                "note": plural(
                    len(met),
                    i18n.ngettext(
                        "average over %(n)s attribute, from %(low)s to %(high)s",
                        "average over %(n)s attributes, from %(low)s to %(high)s",
                        len(met),
                    ),
                    low=fmt_pct(min(met)),
                    high=fmt_pct(max(met)),
                ),
            }
        )
    if shown:
        facts.append(
            {
                "name": i18n.gettext("Attributes clearly short"),
                "value": i18n.gettext("%(short)s of %(shown)s")
                % {"short": fmt_int(len(short)), "shown": fmt_int(len(shown))},
                "note": i18n.gettext("after allowing for the number of attributes tested"),
            }
        )
    return facts


def _priority_line(
    r: pd.Series, themes: ThemeTables | None = None, quotes: int = 1
) -> dict[str, Any]:
    """One fix-first line: ``label, priority, gap, met`` and ``said`` (what customers said
    about it, with up to ``quotes`` quotes (the params' ``analysis.quotes`` caps it):
    :func:`analysis.report.themes.said_about`; None without a theme)."""
    met = "" if missing(r.get("share_met")) else fmt_pct(r["share_met"])
    return {
        "label": item_label(r),
        "priority": word(r["priority"]),
        "fix_first": str(r["priority"]) == vocabulary.FIX_FIRST,
        "gap": fmt_num(r["gap"], signed=True),
        "met": met,
        "said": said_about(themes, str(r["item"]), k=quotes),
    }


def _worst(
    contrasts: pd.DataFrame | None, nps: pd.DataFrame | None, confidence: float
) -> list[dict[str, str]]:
    """The groups that fare clearly worst than the other customers: on the average gap over
    all attributes, and on NPS; the largest differences first, at most :data:`WORST`."""
    found: list[tuple[float, dict[str, str]]] = []
    if contrasts is not None and not contrasts.empty:
        rows = contrasts[contrasts["item"].astype(str) == ALL_ITEMS]
        for _, r in rows.iterrows():
            if is_hidden(r, "difference") or float(r["difference"]) >= 0:
                continue
            if is_clear_adjusted(r, confidence):
                found.append(
                    (float(r["difference"]) / _spread(rows), {
                        "group": group_name(r),
                        "what": i18n.gettext(
                            "average gap %(gap)s against %(rest)s for the other customers"
                        ) % {"gap": fmt_num(r["gap"], signed=True),
                             "rest": fmt_num(r["gap_rest"], signed=True)},
                    })
                )  # fmt: skip
    if nps is not None and "difference" in nps.columns:
        for _, r in segment_rows(nps).iterrows():
            if is_hidden(r, "difference") or float(r["difference"]) >= 0:
                continue
            if is_clear_adjusted(r, confidence):
                found.append(
                    (float(r["difference"]) / _spread(segment_rows(nps)), {
                        "group": group_name(r),
                        "what": i18n.gettext("NPS %(nps)s against %(rest)s for the other customers")
                        % {"nps": fmt_num(r["nps"], 0, signed=True),
                           "rest": fmt_num(r["nps_rest"], 0, signed=True)},
                    })
                )  # fmt: skip
    found.sort(key=lambda t: t[0])
    return [line for _, line in found[:WORST]]


def _spread(rows: pd.DataFrame) -> float:
    """The typical size of a table's differences (to put gap and NPS differences on one scale
    when ordering them): the largest absolute difference shown, 1 when there is none."""
    d = rows["difference"].astype(float).abs()
    return float(d.max()) if d.notna().any() and d.max() > 0 else 1.0


def _contents(
    client: Client, trend: TrendResult | None, themes: ThemeTables | None = None
) -> list[dict[str, str]]:
    """The report's sections, as the notebook lays them out (the ids of their headings)."""
    entries = [
        ("priorities", i18n.gettext("Priorities: what to fix first")),
    ]
    if client.codebook.owners():
        entries.append(("action-plan", i18n.gettext("Action plan: who can fix what")))
    entries.append(("gaps", i18n.gettext("Gaps")))
    if client.config.analysis.by:
        entries.append(("gaps-by-segment", i18n.gettext("Gaps by segment")))
    if client.codebook.value:
        entries.append(("value", i18n.gettext("Who matters most")))
    outcomes = cx_drivers.driver_outcomes(client.codebook)
    if outcomes:
        entries.append(("key-drivers", drivers_title(outcomes)))
    if client.codebook.recommend:
        entries.append(("nps", i18n.gettext("Net Promoter Score")))
    if themes is not None and not themes.table.empty:
        entries.append(("themes", i18n.gettext("What customers said")))
    if trend is not None:
        entries.append(("trend", i18n.gettext("Change since the last survey")))
    if client.config.staff_survey is not None:
        entries.append(("perception", i18n.gettext("What staff believe customers expect")))
    entries.append(("appendix", i18n.gettext("Technical appendix")))
    return [{"id": i, "title": t} for i, t in entries]
