"""The "About the survey" part of the client report, and its footer: what was received and set
aside, how the sample was drawn and weighted, who answered against the customer base, how
consistently each dimension is measured, a glossary, and the provenance of the report.

Each function returns an :class:`IPython.display.HTML` object rendered from its template in
``templates/sections/`` (``validation``, ``design``, ``representativeness``, ``reliability``,
``glossary`` and ``provenance.html.j2``) with the plain data it prepares. The wording is plain
and honest: what was received, what was set aside and why, and what the design means for the
results.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis import __version__
from analysis.config.params import Client
from analysis.files import file_sha256
from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    as_dict,
    fmt_date,
    fmt_int,
    interval,
    is_hidden,
    level_pct,
    missing,
)
from analysis.report.templating import section
from analysis.report.workbook import FILE_NAME as WORKBOOK


def calibration_method(method: str) -> str:
    """A calibration method (params ``weighting.method``) in words, in the report's language."""
    return {
        "rake": i18n.gettext("raking"),
        "poststratify": i18n.gettext("post-stratification"),
        "linear": i18n.gettext("linear calibration"),
    }[method]


def variance_method(variance: str, replicates: int) -> str:
    """Where the standard errors come from (params ``design.variance``), in words, in the
    report's language."""
    if variance == "taylor":
        return i18n.gettext("Taylor linearisation")
    if variance in ("jk1", "jkn"):
        return i18n.gettext("jackknife replicates that leave out one sampled group at a time")
    return i18n.gettext("%(n)s bootstrap replicates of the sample") % {"n": fmt_int(replicates)}


# ---------------------------------------------------------------------------------------------
# the responses received


def validation_summary(summary: Any) -> HTML:
    """What was received and what was set aside, and why (a ``ValidationSummary`` or dict),
    rendered from ``templates/sections/validation.html.j2``.

    Reads ``source, detected, received, accepted, rejected, reasons`` (rule -> rows), ``flags``
    (quality flag -> rows, kept in the analysis) and, when present, ``excluded, exclusions``
    (exclusion rule -> rows) and ``missing_codes`` (code -> answers).
    """
    return section("validation.html.j2", **validation_view(summary))


def validation_view(summary: Any) -> dict[str, Any]:
    """The data of the validation part: ``source`` (the file name only), ``received, accepted,
    rejected``, ``share`` (set aside for bad data of the rows checked), ``reasons`` (``rule,
    n``), ``overlap`` (the reasons add up to more than were set aside), ``excluded`` (left out
    before the checks), ``exclusions`` (``rule, n``), ``exclusion_overlap``, ``checked``
    (received less excluded), ``missing_codes`` (``code, n``: answers read as no answer),
    ``flags`` (``flag, n``) and ``notes`` (how the file was read, plain text)."""
    s = as_dict(summary)
    received, accepted, rejected, excluded = (
        int(s.get(k) or 0) for k in ("received", "accepted", "rejected", "excluded")
    )
    checked = received - excluded
    reasons = s.get("reasons") or {}
    exclusions = s.get("exclusions") or {}
    detected = s.get("detected") or {}
    notes = []
    if detected:
        how = "; ".join(f"{k} {_quoted(v)}" for k, v in detected.items())
        notes.append(i18n.gettext("File read as: %(how)s.") % {"how": how})
    return {
        "source": Path(str(s.get("source", ""))).name,
        "received": received,
        "accepted": accepted,
        "rejected": rejected,
        "share": rejected / checked if checked else math.nan,
        "reasons": [{"rule": str(rule), "n": n} for rule, n in reasons.items()],
        "overlap": sum(int(n) for n in reasons.values()) > rejected,
        "excluded": excluded,
        "checked": checked,
        "exclusions": [{"rule": str(rule), "n": n} for rule, n in exclusions.items()],
        "exclusion_overlap": sum(int(n) for n in exclusions.values()) > excluded,
        "missing_codes": [
            {"code": str(code), "n": n} for code, n in (s.get("missing_codes") or {}).items()
        ],
        "flags": [{"flag": str(f), "n": n} for f, n in (s.get("flags") or {}).items()],
        "notes": notes,
    }


def _quoted(value: Any) -> str:
    """A detected file property; a lone punctuation mark (a delimiter) in quotes."""
    text = str(value)
    return f"“{text}”" if len(text) == 1 and not text.isalnum() else text


# ---------------------------------------------------------------------------------------------
# the sample design


def sample_design(client: Client, weights: Mapping[str, Any] | None = None) -> HTML:
    """How the sample was drawn and weighted, in plain words, rendered from
    ``templates/sections/design.html.j2``.

    ``weights`` is :func:`analysis.survey.calibrate.weighting_summary` of the design: ``n,
    sum_weights, kish_neff, efficiency, adjustment_min, adjustment_max``.
    """
    return section("design.html.j2", **design_view(client, weights))


def _value(w: Mapping[str, Any], key: str) -> Any:
    """``w[key]``, None when absent or missing."""
    value = w.get(key)
    return None if missing(value) else value


def design_view(client: Client, weights: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The data of the design part: the design's ``weight``, ``strata``, ``clusters`` columns
    and ``fpc``; ``calibration`` (the margins file name, the method in words and the range of
    the adjustments, or None); ``n``, ``total``, ``neff``, ``efficiency`` (None when missing or,
    for the last three, unweighted); ``confidence``, ``variance`` (in words) and ``min_cell``."""
    d = client.config.design
    w = client.config.weighting
    w_sum = dict(weights or {})
    calibration = None
    if w is not None:
        lo, hi = _value(w_sum, "adjustment_min"), _value(w_sum, "adjustment_max")
        calibration = {
            "margins": Path(w.margins).name,
            "method": calibration_method(w.method),
            "adjustment_min": None if hi is None else lo,
            "adjustment_max": None if lo is None else hi,
        }
    n = _value(w_sum, "n")
    return {
        "weight": d.weight,
        "strata": d.strata,
        "clusters": list(d.clusters or []),
        "fpc": bool(d.fpcs),
        "calibration": calibration,
        "n": None if n is None else int(n),
        "total": _value(w_sum, "sum_weights") if d.weight else None,
        "neff": _value(w_sum, "kish_neff") if d.weight else None,
        "efficiency": _value(w_sum, "efficiency"),
        "confidence": client.config.analysis.confidence,
        "variance": _variance_text(client),
        "min_cell": client.config.analysis.min_cell,
    }


def _variance_text(client: Client) -> str:
    """How the standard errors were computed (``design.variance``), in words."""
    d = client.config.design
    text = variance_method(d.variance, d.replicates)
    if d.variance != "taylor" and client.config.weighting is not None:
        return i18n.gettext(
            "%(method)s, each weighted to the customer base as the full sample was"
        ) % {"method": text}
    return text


# ---------------------------------------------------------------------------------------------
# who answered, and how consistently each dimension is measured


def representativeness(table: pd.DataFrame | None) -> HTML:
    """Who answered against the customer base: chart and table (About the survey), rendered
    from ``templates/sections/representativeness.html.j2``."""
    if table is None or table.empty:
        return HTML("")
    figure = section_figure(
        lambda layout: plots.representativeness_chart(table, layout=layout),
        i18n.gettext(
            "Bar chart of each group's share of the customer base, of the respondents and of "
            "the weighted respondents; the values are in the table below."
        ),
    )
    return section(
        "representativeness.html.j2",
        balance=_balance(table),
        figure=Markup(figure),
        rows=table.to_dict("records"),
        notes=[
            i18n.gettext(
                "Design weights: the sampling weights only; final weights: after adjusting to "
                "the customer-base counts (when given). Shares are of respondents with a known "
                "value."
            )
        ],
    )


def _label(row: pd.Series, label: str, column: str) -> str:
    """A row's display name in ``label`` (the codebook's), else its ``column`` as it is."""
    value = row.get(label)
    return str(row[column]) if missing(value) else str(value)


def _balance(table: pd.DataFrame) -> dict[str, Any] | None:
    """The respondents' largest imbalance against the customer base (``variable, level,
    sample_share, population_share``), whether after weighting every share ``matches`` and the
    ``worst`` difference after weighting in percentage points; None without customer-base
    counts."""
    if not table["population_share"].notna().any():
        return None
    dev_raw = (table["sample_share"] - table["population_share"]).abs()
    dev_w = (table["weighted_share"] - table["population_share"]).abs()
    r = table.loc[dev_raw.idxmax()]
    worst_w = float(dev_w.max())
    return {
        "variable": _label(r, "variable_label", "variable"),
        "level": _label(r, "level_label", "level"),
        "sample_share": r["sample_share"],
        "population_share": r["population_share"],
        "matches": worst_w < 0.005,
        "worst": 100 * worst_w,
    }


def _alpha_cell(row: pd.Series | None) -> dict[str, Any] | None:
    """One rating's alphas of a dimension (None when hidden), the design-based alpha's
    replicate interval as ``design_ci`` text (None when there is none)."""
    if row is None or is_hidden(row, "alpha"):
        return None
    low, high = row.get("alpha_design_ci_low"), row.get("alpha_design_ci_high")
    design_ci = None if missing(low) or missing(high) else interval(low, high)
    return {**row.to_dict(), "design_ci": design_ci}


def reliability_table(table: pd.DataFrame | None) -> HTML:
    """Cronbach's alpha per dimension (About the survey), rendered from
    ``templates/sections/reliability.html.j2``."""
    if table is None or table.empty:
        return HTML("")
    dims = list(dict.fromkeys(table["dimension"].astype(str)))
    cell = {(str(r["dimension"]), str(r["rating"])): r for _, r in table.iterrows()}
    rows = [
        {
            "dimension": d,
            "n_items": table.loc[table["dimension"].astype(str) == d, "n_items"].max(),
            "cells": [
                _alpha_cell(cell.get((d, rating))) for rating in ("expectation", "performance")
            ],
        }
        for d in dims
    ]
    with_ci = "alpha_design_ci_low" in table and bool(table["alpha_design_ci_low"].notna().any())
    return section("reliability.html.j2", rows=rows, with_ci=with_ci)


# ---------------------------------------------------------------------------------------------
# glossary and provenance


def glossary_terms() -> list[tuple[str, str]]:
    """The glossary's terms and their explanations, in the report's language (``%(conf)s`` for
    the confidence level, ``%(dash)s`` for the mark of a hidden value)."""
    return [
        (
            i18n.gettext("Gap"),
            i18n.gettext(
                "Performance minus expectation for a service attribute, in points of the rating "
                "scale. Negative: we fall short of what customers expect; positive: we do better "
                "than they expect."
            ),
        ),
        (
            i18n.gettext("Expectation"),
            i18n.gettext(
                "How much customers expect of an attribute (or how important it is to them), as "
                "they rated it: their stated importance."
            ),
        ),
        (
            i18n.gettext("Performance"),
            i18n.gettext("How well customers say we deliver the attribute today."),
        ),
        (
            i18n.gettext("%(conf)s interval"),
            i18n.gettext(
                "The range the true value for the whole customer base most likely lies in, given "
                "that only a sample was asked (%(conf)s confidence). Narrow: a precise estimate."
            ),
        ),
        (
            i18n.gettext("Clear gap"),
            i18n.gettext(
                "A gap whose interval excludes zero, so it is unlikely to be chance. Where many "
                "attributes or groups are compared at once (priorities, segments, the first page), "
                "a result is called clear only if it holds after adjusting for multiple testing "
                "(Benjamini-Hochberg), which keeps chance findings from piling up."
            ),
        ),
        (
            i18n.gettext("Weighting"),
            i18n.gettext(
                "Giving each respondent the number of customers they stand for, so that groups that"
                " were sampled less often, or answered less readily, count as much as they should."
            ),
        ),
        (
            i18n.gettext("Design effect and effective sample size"),
            i18n.gettext(
                "Unequal weights and clustered sampling make a sample less informative than a "
                "simple random sample of the same size. The effective sample size (Kish) is the "
                "size of the simple random sample that would be as informative; the design effect "
                "is the ratio of the two."
            ),
        ),
        (
            i18n.gettext("NPS (Net Promoter Score)"),
            i18n.gettext(
                "The percentage of customers who would recommend us (9 or 10 out of 10) minus the "
                "percentage who would not (0 to 6); from −100 to +100."
            ),
        ),
        (
            i18n.gettext("Priority"),
            i18n.gettext(
                "One class per attribute from one rule (Priorities): Fix first, a clear shortfall "
                "on an attribute that matters (customers rate it at least as important as the "
                "average attribute, or it clearly moves their overall satisfaction); Improve, a "
                "clear shortfall on one that matters less; Monitor, a shortfall that is not clear; "
                "Maintain, expectations met or exceeded."
            ),
        ),
        (
            i18n.gettext("Expectations met"),
            i18n.gettext(
                "The share of customers whose performance rating of an attribute is at or above "
                "their expectation of it."
            ),
        ),
        (
            i18n.gettext("Derived importance"),
            i18n.gettext(
                "How much an attribute's performance moves overall satisfaction (or likelihood to "
                "recommend): its share of what the attributes explain together (relative weights, "
                "Key drivers)."
            ),
        ),
        (
            i18n.gettext("Suppressed cell"),
            i18n.gettext(
                "A result for a group with too few respondents, shown as %(dash)s: hidden to "
                "protect respondents and because it would be unreliable; where needed, a "
                "neighbouring result is hidden too so that it cannot be worked out by subtraction."
            ),
        ),
    ]


def glossary(confidence: float = 0.95) -> HTML:
    """A short glossary of the report's terms (About the survey), rendered from
    ``templates/sections/glossary.html.j2``."""
    conf = level_pct(confidence)
    terms = [
        {"term": term % {"conf": conf}, "text": text % {"conf": conf, "dash": DASH}}
        for term, text in glossary_terms()
    ]
    return section("glossary.html.j2", terms=terms)


def provenance(client: Client) -> HTML:
    """The report footer: when and with what it was made, which input files it used, and a link
    to the workbook of its tables (``report.xlsx`` beside the report, when the run wrote it:
    :func:`analysis.ops.pipeline.workbook`), rendered from
    ``templates/sections/provenance.html.j2``."""
    files = []
    for role, path in client.input_files().items():
        if role == "params":
            continue
        digest = file_sha256(path)[:12] if Path(path).is_file() else DASH
        files.append({"role": role, "name": Path(path).name, "digest": digest})
    now = dt.datetime.now().astimezone()
    when = i18n.gettext("%(day)s, %(time)s") % {
        "day": fmt_date(now.date()),
        "time": f"{now:%H:%M %Z}",
    }
    book = client.report_dir / WORKBOOK
    workbook = WORKBOOK if book.is_file() else None  # written by the cell before (pipeline)
    return section(
        "provenance.html.j2", version=__version__, when=when, files=files, workbook=workbook
    )
