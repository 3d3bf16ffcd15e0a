"""HTML pieces of the client report: cover, data checks, sample design, gap tables, figures.

Every function returns an :class:`IPython.display.HTML` object, which a notebook cell displays
and nbconvert copies into the report. All text that comes from data, codebooks or params is
escaped with :func:`html.escape` here, so a codebook label such as
``<img src=x onerror=alert(1)>`` shows as text. The wording is plain and honest: what was
received, what was set aside and why, which gaps are clear and which may be noise. No
statistics are computed here beyond formatting (and deciding which gaps are clear from the
p-values the estimators return).
"""

from __future__ import annotations

import base64
import datetime as dt
import io as _bytes_io
import math
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis import __version__
from analysis.config.params import Client
from analysis.cx import vocabulary

DASH = "–"  # shown for a suppressed or missing value
MINUS = "−"  # typographic minus sign for negative numbers

__all__ = [
    "DASH",
    "cover",
    "dimension_table",
    "drivers_section",
    "executive_summary",
    "fieldwork_dates",
    "figure",
    "fmt_int",
    "fmt_num",
    "fmt_pct",
    "gap_table",
    "glossary",
    "is_clear",
    "is_clear_adjusted",
    "is_hidden",
    "item_label",
    "nps_section",
    "ordered_items",
    "overall_rows",
    "perception_section",
    "priorities_section",
    "provenance",
    "reliability_table",
    "representativeness",
    "sample_design",
    "segment_comparison",
    "segment_section",
    "segment_tables",
    "trend_section",
    "validation_summary",
]


# ---------------------------------------------------------------------------------------------
# formatting helpers


def _e(value: Any) -> str:
    """Escape any value as HTML text (quotes too: safe inside attributes)."""
    return escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_num(value: Any, digits: int = 2, signed: bool = False) -> str:
    """A number with ``digits`` decimals and a real minus sign; missing values as ``–``."""
    if _missing(value):
        return DASH
    x = float(value)
    if round(x, digits) == 0:
        x = 0.0  # no "−0.00"
    text = f"{abs(x):,.{digits}f}"
    if x < 0:
        return MINUS + text
    return ("+" + text) if signed and x > 0 else text


def fmt_int(value: Any) -> str:
    """A whole number with thousands separators; missing values as ``–``."""
    if _missing(value):
        return DASH
    return f"{round(float(value)):,}"


def fmt_pct(value: Any, digits: int = 0) -> str:
    """A share (0-1) as a percentage."""
    if _missing(value):
        return DASH
    return f"{100 * float(value):.{digits}f}%"


def _level_pct(confidence: float) -> str:
    return f"{100 * confidence:g}%"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{fmt_int(n)} {one if n == 1 else (many or one + 's')}"


def _wrap_table(inner: str, caption: str | None = None, cls: str = "") -> str:
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'<div class="oi-table-wrap"><table class="oi-table {cls}">{cap}{inner}</table></div>'


def _html(body: str) -> HTML:
    return HTML(body)


# ---------------------------------------------------------------------------------------------
# significance (from the estimators' p-values; the CI is the fallback)


def is_clear(row: Mapping[str, Any], confidence: float) -> bool:
    """Whether a gap is clearly different from zero at the report's confidence level.

    Uses ``p_value < 1 - confidence``; when the p-value is missing, whether the confidence
    interval ``ci_low..ci_high`` excludes zero.
    """
    p = row.get("p_value")
    if not _missing(p):
        return vocabulary.is_clear(p, confidence)
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if _missing(lo) or _missing(hi):
        return False
    return float(lo) > 0 or float(hi) < 0


def is_hidden(row: Mapping[str, Any]) -> bool:
    """Whether a row's estimates are not shown (suppressed for small cells, or missing)."""
    return bool(row.get("suppressed", False)) or _missing(row.get("gap"))


def verdict(row: Mapping[str, Any], confidence: float) -> str:
    """Plain-language verdict of one gap: falls short, exceeds, no clear gap (or ``–``)."""
    if is_hidden(row):
        return DASH
    if not is_clear(row, confidence):
        return "No clear gap"
    return "Falls short" if float(row["gap"]) < 0 else "Exceeds expectations"


def overall_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The overall rows of a gap table (``group == level == 'all'``)."""
    rows = table[(table["group"].astype(str) == "all") & (table["level"].astype(str) == "all")]
    return rows.reset_index(drop=True)


def item_label(row: Mapping[str, Any]) -> str:
    """An item's label (its id when the table has no label)."""
    label = row.get("label")
    return str(row["item"]) if _missing(label) else str(label)


def ordered_items(over: pd.DataFrame) -> pd.DataFrame:
    """Overall rows grouped by dimension (first-appearance order), largest shortfall first."""
    dims = list(dict.fromkeys(over["dimension"].astype(str)))
    key = over["dimension"].astype(str).map({d: i for i, d in enumerate(dims)})
    out = over.assign(_dim=key, _gap=over["gap"].astype(float))
    out = out.sort_values(["_dim", "_gap"], na_position="last", kind="stable")
    return out.drop(columns=["_dim", "_gap"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# cover and data checks


FIELDWORK_COLUMNS = (("StartDate", "EndDate"), ("start_date", "end_date"))


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
        return f"{first.day} {first:%B %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
    return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"


def cover(client: Client, summary: Any | None = None, clean: pd.DataFrame | None = None) -> HTML:
    """The cover: survey title, what the report is, fieldwork dates, sample size, items and
    dimensions.

    ``summary`` is the :class:`~analysis.intake.schema.ValidationSummary` (or its ``to_dict()``);
    its
    ``accepted`` count is the sample size shown. ``clean`` (the accepted rows) gives the
    fieldwork dates where it has them (:func:`fieldwork_dates`).
    """
    cb = client.codebook
    facts = []
    dates = fieldwork_dates(clean)
    if dates is not None:
        facts.append(("Fieldwork", _e(_date_range(*dates))))
    if summary is not None:
        s = _as_dict(summary)
        facts.append(("Respondents analysed", fmt_int(s.get("accepted"))))
    facts.append(("Service attributes rated", fmt_int(len(cb.items))))
    dims = list(dict.fromkeys(i.dimension for i in cb.items))
    facts.append(("Dimensions", fmt_int(len(dims))))
    facts_html = "".join(f"<div><dt>{_e(k)}</dt><dd>{v}</dd></div>" for k, v in facts)
    d = dt.date.today()
    today = f"{d.day} {d:%B %Y}"
    return _html(
        '<header class="oi-cover">'
        '<p class="oi-kicker">Customer expectations and performance</p>'
        f"<h1>{_e(client.config.title)}</h1>"
        f'<p class="oi-subtitle">Gap analysis report &middot; {_e(today)}</p>'
        f'<dl class="oi-facts">{facts_html}</dl>'
        '<p class="oi-lede">For each service attribute, customers said how much they expect '
        "and how well we perform today. The <strong>gap</strong> is performance minus "
        "expectation: a negative gap means we fall short of what customers expect. Results are "
        "weighted to stand for the whole customer base, and each gap comes with a range of "
        "uncertainty, so that real gaps can be told apart from noise.</p>"
        "</header>"
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dict(vars(obj))


def validation_summary(summary: Any) -> HTML:
    """What was received and what was set aside, and why (a ``ValidationSummary`` or dict).

    Reads ``source, detected, received, accepted, rejected, reasons`` (rule -> rows) and ``flags``
    (quality flag -> rows, kept in the analysis).
    """
    s = _as_dict(summary)
    received, accepted, rejected = (
        int(s.get(k) or 0) for k in ("received", "accepted", "rejected")
    )
    source = Path(str(s.get("source", ""))).name
    detected = s.get("detected") or {}
    parts = ['<section class="oi-validation">', "<h3>The responses we received</h3>"]
    parts.append(
        f'<p>The survey file <span class="oi-file">{_e(source)}</span> held '
        f"<strong>{_plural(received, 'response')}</strong>. "
    )
    if rejected == 0:
        parts.append(f"All {fmt_int(accepted)} passed every check and are analysed.</p>")
    else:
        share = rejected / received if received else math.nan
        parts.append(
            f"<strong>{fmt_int(accepted)}</strong> passed every check and are analysed; "
            f"<strong>{fmt_int(rejected)}</strong> ({fmt_pct(share)}) broke at least one rule "
            "and were set aside whole. Nothing was corrected or guessed: every set-aside "
            "response is kept, with its reasons, for the research team to follow up.</p>"
        )
    reasons = s.get("reasons") or {}
    if reasons:
        body = "".join(
            f'<tr><th scope="row">{_e(rule)}</th><td class="num">{fmt_int(n)}</td></tr>'
            for rule, n in reasons.items()
        )
        parts.append(
            _wrap_table(
                '<thead><tr><th scope="col">Why responses were set aside</th>'
                '<th scope="col" class="num">Responses</th></tr></thead>'
                f"<tbody>{body}</tbody>",
                cls="oi-reasons",
            )
        )
        if sum(int(n) for n in reasons.values()) > rejected:
            parts.append(
                '<p class="oi-note">A response can break more than one rule, so the reasons '
                "add up to more than the number set aside.</p>"
            )
    flags = s.get("flags") or {}
    if flags:
        items = "".join(f"<li>{_e(flag)}: {fmt_int(n)}</li>" for flag, n in flags.items())
        parts.append(
            "<p>Some analysed responses were flagged for a closer look but kept, because "
            f"they break no rule:</p><ul>{items}</ul>"
        )
    if detected:
        how = "; ".join(f"{_e(k)} {_quoted(v)}" for k, v in detected.items())
        parts.append(f'<p class="oi-note">File read as: {how}.</p>')
    parts.append("</section>")
    return _html("".join(parts))


def _quoted(value: Any) -> str:
    """A detected file property; a lone punctuation mark (a delimiter) in quotes."""
    text = str(value)
    return f"“{_e(text)}”" if len(text) == 1 and not text.isalnum() else _e(text)


def sample_design(client: Client, weights: Mapping[str, Any] | None = None) -> HTML:
    """How the sample was drawn and weighted, in plain words.


    ``weights`` is :func:`analysis.survey.calibrate.weighting_summary` of the design: ``n,
    sum_weights, kish_neff, efficiency, adjustment_min, adjustment_max``.
    """
    d = client.config.design
    w = client.config.weighting
    w_sum = dict(weights or {})
    items = []
    if d.weight:
        items.append(
            "Each respondent carries a sampling weight (column "
            f"<code>{_e(d.weight)}</code>): the number of customers they stand for. Groups that "
            "were sampled less often count for more, so the results describe the customer base, "
            "not just the people who answered."
        )
    else:
        items.append(
            "The respondents are treated as a simple random sample of customers: each counts "
            "equally."
        )
    if d.strata:
        items.append(
            f"Customers were sampled separately within each <code>{_e(d.strata)}</code> "
            "(stratified sampling)."
        )
    if d.clusters:
        cols = ", then ".join(f"<code>{_e(c)}</code>" for c in d.clusters)
        items.append(
            f"Customers were sampled in groups ({cols}); answers within a group tend to be "
            "alike, which the uncertainty ranges take into account."
        )
    if d.fpcs:
        items.append(
            "A sizeable share of the customer base was sampled; the uncertainty ranges are "
            "narrowed accordingly (finite population correction)."
        )
    if w is not None:
        method = {
            "rake": "raking",
            "poststratify": "post-stratification",
            "linear": "linear calibration",
        }[w.method]
        items.append(
            "The weights were then adjusted so that the respondents match known counts of the "
            f'customer base (<span class="oi-file">{_e(Path(w.margins).name)}</span>; '
            f"{_e(method)})." + _adjustments(w_sum)
        )
    n, total = w_sum.get("n"), w_sum.get("sum_weights")
    neff, eff = w_sum.get("kish_neff"), w_sum.get("efficiency")
    facts = []
    if not _missing(n):
        line = f"<strong>{_plural(int(n), 'respondent')}</strong> are analysed"
        if d.weight and not _missing(total):
            line += f"; together they stand for about <strong>{fmt_int(total)}</strong> customers"
        facts.append(line + ".")
    if d.weight and not _missing(neff):
        text = (
            "Because the weights differ between respondents, the sample carries about as much "
            f"information as a simple random sample of <strong>{fmt_int(neff)}</strong> "
            "respondents (Kish's effective sample size"
        )
        if not _missing(eff):
            text += f"; {fmt_pct(eff)} efficiency"
        facts.append(text + ").")
    conf = _level_pct(client.config.analysis.confidence)
    facts.append(
        f"Each gap is shown with a {conf} confidence interval that takes the weights and the way "
        "the sample was drawn into account (design-based standard errors, Taylor linearisation)."
        " A gap is called <em>clear</em> when its interval excludes zero."
    )
    min_cell = client.config.analysis.min_cell
    facts.append(
        f"Results for groups of fewer than {_plural(min_cell, 'respondent')} are not shown, "
        "to protect respondents and because such small groups give unreliable figures."
    )
    body = "".join(f"<li>{t}</li>" for t in items)
    more = "".join(f"<li>{t}</li>" for t in facts)
    return _html(
        '<section class="oi-design"><h3>How the sample was drawn and weighted</h3>'
        f"<ul>{body}</ul><h3>What this means for the results</h3><ul>{more}</ul></section>"
    )


def _adjustments(w: Mapping[str, Any]) -> str:
    lo, hi = w.get("adjustment_min"), w.get("adjustment_max")
    if _missing(lo) or _missing(hi):
        return ""
    return f" The adjustment multiplied each weight by between {fmt_num(lo)} and {fmt_num(hi)}."


# ---------------------------------------------------------------------------------------------
# gap results


def gap_table(table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None) -> HTML:
    """The overall gap table: one row per item, grouped by dimension, largest shortfall first.

    ``table`` has the gap-table columns (``item, label, dimension, group, level, n, expectation,
    performance, gap, ci_low, ci_high, p_value``) and optionally the bool ``suppressed`` added by
    :func:`analysis.cx.gaps.suppress_small_cells`; only overall rows are shown.
    """
    over = ordered_items(overall_rows(table))
    conf = _level_pct(confidence)
    head = (
        "<thead><tr>"
        '<th scope="col">Service attribute</th>'
        '<th scope="col" class="num">Respondents</th>'
        '<th scope="col" class="num">Expectation</th>'
        '<th scope="col" class="num">Performance</th>'
        '<th scope="col" class="num">Gap</th>'
        f'<th scope="col" class="num">{conf} interval</th>'
        '<th scope="col">Verdict</th>'
        "</tr></thead>"
    )
    body, dim, any_hidden = [], None, False
    for _, r in over.iterrows():
        if str(r["dimension"]) != dim:
            dim = str(r["dimension"])
            body.append(f'<tr class="oi-dim"><th colspan="7" scope="colgroup">{_e(dim)}</th></tr>')
        hidden = is_hidden(r)
        any_hidden |= hidden
        body.append(
            "<tr>"
            + f'<th scope="row">{_e(item_label(r))}</th>'
            + _gap_cells(r, confidence)
            + "</tr>"
        )
    notes = [
        "Expectation and performance are weighted mean ratings; gap = performance − expectation. "
        f'<span class="oi-sig">*</span> a clear gap: its {conf} confidence interval excludes '
        "zero."
    ]
    if any_hidden:
        notes.append(_suppression_note(min_cell))
    return _html(
        _wrap_table(head + "<tbody>" + "".join(body) + "</tbody>", cls="oi-gaps")
        + "".join(f'<p class="oi-note">{n}</p>' for n in notes)
    )


def _gap_cells(r: Mapping[str, Any], confidence: float) -> str:
    if is_hidden(r):
        return (
            f'<td class="num">{fmt_int(r.get("n"))}</td>'
            + f'<td class="num oi-hidden">{DASH}</td>' * 4
            + f'<td class="oi-hidden">{DASH}</td>'
        )
    return (
        f'<td class="num">{fmt_int(r.get("n"))}</td>'
        f'<td class="num">{fmt_num(r.get("expectation"))}</td>'
        f'<td class="num">{fmt_num(r.get("performance"))}</td>'
        + _gap_cell(r, confidence)
        + f'<td class="num oi-ci">{fmt_num(r.get("ci_low"))} to {fmt_num(r.get("ci_high"))}</td>'
        f"<td>{_e(verdict(r, confidence))}</td>"
    )


def _suppression_note(min_cell: int | None) -> str:
    few = f"fewer than {_plural(min_cell, 'respondent')}" if min_cell else "too few respondents"
    return (
        f"{DASH} not shown: the group has {few}, or showing it would let a hidden figure be "
        "worked out from the others."
    )


def segment_tables(
    table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """One table per segment variable: gap of each item (rows) in each level (columns).

    The first numeric column repeats the overall gap for reference. Suppressed cells show ``–``.
    Empty when the table has no segment rows.
    """
    seg = table[table["group"].astype(str) != "all"]
    if seg.empty:
        return _html("")
    over = ordered_items(overall_rows(table))
    conf = _level_pct(confidence)
    parts, any_hidden = [], False
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["item"]), str(r["level"])): r for _, r in g.iterrows()}
        n_by_level = {lv: g.loc[g["level"].astype(str) == lv, "n"].max() for lv in levels}
        head = (
            '<thead><tr><th scope="col">Service attribute</th>'
            '<th scope="col" class="num">All customers</th>'
            + "".join(
                f'<th scope="col" class="num">{_e(lv)}'
                f'<span class="oi-n">n = {fmt_int(n_by_level[lv])}</span></th>'
                for lv in levels
            )
            + "</tr></thead>"
        )
        body, dim = [], None
        width = 2 + len(levels)
        for _, r in over.iterrows():
            if str(r["dimension"]) != dim:
                dim = str(r["dimension"])
                body.append(
                    f'<tr class="oi-dim"><th colspan="{width}" scope="colgroup">{_e(dim)}</th></tr>'
                )
            row = [f'<th scope="row">{_e(item_label(r))}</th>', _gap_cell(r, confidence)]
            for lv in levels:
                c = cells.get((str(r["item"]), lv))
                if c is None or is_hidden(c):
                    any_hidden = True
                    row.append(f'<td class="num oi-hidden">{DASH}</td>')
                else:
                    row.append(_gap_cell(c, confidence))
            body.append("<tr>" + "".join(row) + "</tr>")
        parts.append(
            f"<h3>Gap by {_e(group)}</h3>"
            + _wrap_table(head + "<tbody>" + "".join(body) + "</tbody>", cls="oi-segments")
        )
    notes = [
        "Each cell is the gap (performance − expectation) among that group's customers. "
        f'<span class="oi-sig">*</span> a clear gap: its {conf} confidence interval excludes '
        "zero. Differences between groups are only meaningful where both gaps are clear and "
        "far apart."
    ]
    if any_hidden:
        notes.append(_suppression_note(min_cell))
    return _html("".join(parts) + "".join(f'<p class="oi-note">{n}</p>' for n in notes))


def _gap_cell(r: Mapping[str, Any], confidence: float) -> str:
    if is_hidden(r):
        return f'<td class="num oi-hidden">{DASH}</td>'
    clear = is_clear(r, confidence)
    gap = float(r["gap"])
    cls = "num oi-gap" + (" oi-neg" if gap < 0 else " oi-pos") + (" oi-clear" if clear else "")
    mark = '<span class="oi-sig">*</span>' if clear else ""
    return f'<td class="{cls}">{fmt_num(gap, signed=True)}{mark}</td>'


def segment_section(
    table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Gaps by segment" section: heading, heatmap and one table per segment variable.

    Empty (no heading) when the table has no segment rows, so a client without segments gets no
    empty section.
    """
    if (table["group"].astype(str) == "all").all():
        return _html("")
    from analysis.report import plots

    ax = plots.segment_gap_heatmap(table, confidence=confidence)
    fig_html = figure(
        ax,
        alt="Heatmap of the gap of each service attribute in each customer group; "
        "the values are in the tables below.",
        dpi=120,
    ).data
    tables = segment_tables(table, confidence=confidence, min_cell=min_cell).data
    return _html(
        '<section class="oi-segment-section"><h2 id="gaps-by-segment">Gaps by segment</h2>'
        "<p>The same gaps, among each group of customers. Smaller groups have wider "
        "uncertainty, so a gap can be clear overall but not within every group.</p>"
        f"{fig_html}{tables}</section>"
    )


# ---------------------------------------------------------------------------------------------
# executive summary (from the result tables)


def _gap_phrase(r: Mapping[str, Any], conf: str) -> str:
    """``<strong>label</strong> (gap −1.10, 95% interval −1.18 to −1.03)``, escaped."""
    return (
        f"<strong>{_e(item_label(r))}</strong> (gap {fmt_num(r['gap'], signed=True)}, {conf} "
        f"interval {_interval(r['ci_low'], r['ci_high'])})"
    )


def executive_summary(
    ranked: pd.DataFrame,
    contrasts: pd.DataFrame | None = None,
    drivers: pd.DataFrame | None = None,
    nps: pd.DataFrame | None = None,
    trend: pd.DataFrame | None = None,
    confidence: float = 0.95,
    top: int = 5,
) -> HTML:
    """The executive summary, in plain words, from the result tables.

    ``ranked`` is :func:`analysis.cx.analyses.priorities` output (suppressed gap table plus
    ``p_adjusted, rank, verdict``); ``contrasts`` segment contrasts (``most_underserved``);
    ``drivers`` the key-driver table; ``nps`` and ``trend`` their tables (each optional).
    A gap, difference or change is called clear only when its Benjamini-Hochberg adjusted p-value
    is below ``1 - confidence``; suppressed rows are never mentioned.
    """
    conf = _level_pct(confidence)
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not _hidden_row(r, "gap")]
    shown.sort(key=lambda r: math.inf if _missing(r.get("rank")) else float(r["rank"]))
    short = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) < 0]
    above = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["gap"]) > 0]
    unclear = len(shown) - len(short) - len(above)
    k = len(over)
    counts = (
        f"<strong>{fmt_int(len(short))} of {fmt_int(len(shown))}</strong> service attributes "
        "fall clearly short of what customers expect"
    )
    if above:
        counts += f"; {fmt_int(len(above))} clearly exceed{'s' if len(above) == 1 else ''} them"
    if unclear:
        counts += f"; for {fmt_int(unclear)} the data show no clear gap (it could be chance)"
    parts = [
        '<section class="oi-summary"><h2 id="summary">Executive summary</h2>',
        f"<p>{counts}. A gap is called clear only if it holds after allowing for {fmt_int(k)} "
        "attributes tested at once.</p>",
    ]
    # the gaps that matter most: clear shortfalls by priority rank; at least three items named
    drivers_above = {str(r["item"]) for r in _key_drivers(drivers)}
    picked = short[:top]
    if len(picked) < 3:
        rest = [r for r in shown if not any(r["item"] == p["item"] for p in picked)]
        picked += rest[: 3 - len(picked)]
    if picked:
        items = []
        for r in picked:
            if is_clear_adjusted(r, confidence):
                what = "a clear shortfall" if float(r["gap"]) < 0 else "clearly above expectations"
            else:
                what = "not clearly different from zero: it could be chance"
            if str(r["item"]) in drivers_above:
                what += "; also a key driver of overall satisfaction"
            items.append(f"<li>{_gap_phrase(r, conf)}: {what}.</li>")
        title = "The gaps to close first" if short else "The largest gaps"
        parts.append(f'<h3>{title}</h3><ol class="oi-top-gaps">{"".join(items)}</ol>')
    facts = []
    facts += _summary_underserved(contrasts, confidence, conf)
    facts += _summary_drivers(drivers)
    facts += _summary_nps(nps, conf)
    facts += _summary_trend(trend, confidence, conf)
    if facts:
        parts.append("<h3>Customers, drivers and loyalty</h3>")
        parts.append("<ul>" + "".join(f"<li>{f}</li>" for f in facts) + "</ul>")
    parts.append(
        '<p class="oi-note">Gaps are performance − expectation on the rating scale (negative: '
        f"we fall short). Each comes with its {conf} interval, the range the true value most "
        "likely lies in; the sections below give the details and the glossary under About the "
        "survey explains the terms.</p></section>"
    )
    return _html("".join(parts))


def _summary_underserved(contrasts: pd.DataFrame | None, confidence: float, conf: str) -> list[str]:
    if contrasts is None or contrasts.empty:
        return []
    summary = contrasts[contrasts["item"].astype(str) == "all"]
    out = []
    for group in dict.fromkeys(summary["group"].astype(str)):
        g = summary[summary["group"].astype(str) == group]
        worst = [
            r
            for _, r in g.iterrows()
            if _flag(r.get("most_underserved"))
            and not _hidden_row(r, "difference")
            and is_clear_adjusted(r, confidence)
        ]
        if worst:
            r = worst[0]
            out.append(
                f"<strong>Most underserved by {_e(group)}: {_e(r['level'])}</strong>. Their "
                f"average gap is {fmt_num(r['gap'], signed=True)} against "
                f"{fmt_num(r['gap_rest'], signed=True)} for other customers (difference "
                f"{fmt_num(r['difference'], signed=True)}, {conf} interval "
                f"{_interval(r['ci_low'], r['ci_high'])}; clear after allowing for the groups "
                "compared)."
            )
        else:
            out.append(
                f"By {_e(group)}, no group falls clearly further short than the rest of the "
                "customers: the differences seen could be chance."
            )
    return out


def _drivers_known(drivers: pd.DataFrame | None) -> bool:
    """Whether the driver table has shares with intervals (else nothing can be claimed)."""
    if drivers is None or drivers.empty or _hidden_row(drivers.iloc[0], "share"):
        return False
    reps = drivers.iloc[0].get("replicates")
    return not _missing(reps) and int(reps) > 0


def _key_drivers(drivers: pd.DataFrame | None) -> list[pd.Series]:
    """Attributes whose share is clearly above the average share, largest first."""
    if not _drivers_known(drivers):
        return []
    rows = drivers.sort_values("share", ascending=False, kind="stable")
    return [r for _, r in rows.iterrows() if str(r.get("vs_average")) == vocabulary.ABOVE]


def _summary_drivers(drivers: pd.DataFrame | None) -> list[str]:
    if not _drivers_known(drivers):
        return []
    above = _key_drivers(drivers)
    if not above:
        return [
            "No attribute stands out as a driver of overall satisfaction: no share of the "
            "explained satisfaction is clearly above the average."
        ]
    names = "; ".join(f"{_e(item_label(r))} ({fmt_num(r['share'], 1)}%)" for r in above)
    r2 = fmt_pct(drivers.iloc[0]["r_squared"])
    return [
        f"<strong>Key drivers of overall satisfaction</strong> (clearly above the average "
        f"share of the {r2} of satisfaction the attributes explain): {names}."
    ]


def _summary_nps(nps: pd.DataFrame | None, conf: str) -> list[str]:
    if nps is None or nps.empty:
        return []
    over = overall_rows(nps)
    if over.empty or _hidden_row(over.iloc[0], "nps"):
        return []
    r = over.iloc[0]
    clear = float(r["ci_low"]) > 0 or float(r["ci_high"]) < 0
    sign = "above" if float(r["nps"]) > 0 else "below"
    judgement = f"clearly {sign} zero" if clear else "not clearly different from zero"
    return [
        f"<strong>Net Promoter Score {fmt_num(r['nps'], 0, signed=True)}</strong> ({conf} "
        f"interval {_interval(r['ci_low'], r['ci_high'], 0)}; {judgement})."
    ]


def _summary_trend(trend: pd.DataFrame | None, confidence: float, conf: str) -> list[str]:
    if trend is None or trend.empty:
        return []
    shown = [r for _, r in overall_rows(trend).iterrows() if not _hidden_row(r, "change")]
    better = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) > 0]
    worse = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) < 0]
    text = (
        f"<strong>Since the last survey</strong>, {fmt_int(len(better))} of {fmt_int(len(shown))} "
        f"gaps clearly narrowed and {fmt_int(len(worse))} clearly widened"
    )
    for word, rows, key in (("improved most", better, -1), ("worsened most", worse, 1)):
        if rows:
            r = sorted(rows, key=lambda x: key * float(x["change"]))[0]
            text += (
                f"; {word}: {_e(item_label(r))} (change {fmt_num(r['change'], signed=True)}, "
                f"{conf} interval {_interval(r['ci_low'], r['ci_high'])})"
            )
    if not better and not worse:
        text += "; the changes seen could be chance"
    return [text + "."]


# ---------------------------------------------------------------------------------------------
# figures and provenance


def figure(ax: Any, alt: str, caption: str | None = None, dpi: int = 144) -> HTML:
    """A matplotlib Axes' figure as an inline PNG (``data:`` URI) with alt text; closes it.

    Closing the figure keeps the notebook from showing it twice (once here, once inline). The PNG
    is reduced to a 256-colour palette when that makes it smaller (charts have few colours), which
    keeps an emailed report light.
    """
    fig = ax.figure
    buf = _bytes_io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = base64.b64encode(compact_png(buf.getvalue())).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return _html(
        f'<figure class="oi-figure"><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"{cap}</figure>"
    )


def compact_png(png: bytes) -> bytes:
    """The PNG as a 256-colour palette image (octree, no dithering) if that is smaller."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover (Pillow comes with matplotlib)
        return png
    image = Image.open(_bytes_io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = _bytes_io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png


def provenance(client: Client) -> HTML:
    """The report footer: when and with what it was made, and which input files it used."""
    from analysis.files import file_sha256

    rows = []
    for role, path in client.input_files().items():
        if role == "params":
            continue
        digest = file_sha256(path)[:12] if Path(path).is_file() else DASH
        rows.append(
            f'{_e(role)} <span class="oi-file">{_e(Path(path).name)}</span> (SHA-256 {_e(digest)}…)'
        )
    now = dt.datetime.now().astimezone()
    when = f"{now.day} {now:%B %Y, %H:%M %Z}"
    return _html(
        '<footer class="oi-provenance">'
        f"<p>Prepared with Outside-In {_e(__version__)} on {_e(when)} from: "
        + "; ".join(rows)
        + ". The full record of inputs, parameters and software versions is kept with the "
        "research team (manifest.json).</p></footer>"
    )


# ---------------------------------------------------------------------------------------------
# the customer-centred analyses (priorities, segments, drivers, NPS, trend, about the survey)


def _hidden_row(row: Mapping[str, Any], column: str) -> bool:
    """Suppressed (flag set) or without a value in ``column``."""
    flag = row.get("suppressed", False)
    return (not _missing(flag) and bool(flag)) or _missing(row.get(column))


def _flag(value: Any) -> bool:
    """A nullable boolean as a plain bool (missing: False)."""
    return not _missing(value) and bool(value)


def _p_text(p: Any) -> str:
    if _missing(p):
        return DASH
    p = float(p)
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _interval(lo: Any, hi: Any, digits: int = 2) -> str:
    if _missing(lo) or _missing(hi):
        return DASH
    return f"{fmt_num(lo, digits)} to {fmt_num(hi, digits)}"


def is_clear_adjusted(row: Mapping[str, Any], confidence: float) -> bool:
    """Whether a result holds after the multiple-testing adjustment (``p_adjusted``, BH)."""
    return vocabulary.is_clear(row.get("p_adjusted"), confidence)


def _table_html(head: list[str], rows: list[str], cls: str, numeric: Iterable[int] = ()) -> str:
    """A table from header cells (HTML, already escaped) and body rows; ``numeric`` columns are
    right-aligned."""
    right = set(numeric)
    cells = "".join(
        f'<th scope="col" class="num">{h}</th>' if i in right else f'<th scope="col">{h}</th>'
        for i, h in enumerate(head)
    )
    return _wrap_table(f"<thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody>", cls=cls)


def _notes(notes: list[str]) -> str:
    return "".join(f'<p class="oi-note">{n}</p>' for n in notes)


def _fig(ax: Any, alt: str) -> str:
    return figure(ax, alt=alt, dpi=110).data


def dimension_table(
    dims: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """Gaps by dimension: the overall table, then one compact table per segment variable.

    ``dims`` is :func:`analysis.cx.analyses.dimension_gaps` output (suppressed); empty when None.
    """
    if dims is None or dims.empty:
        return _html("")
    conf = _level_pct(confidence)
    over = overall_rows(dims)
    body, any_hidden = [], False
    for _, r in over.iterrows():
        any_hidden |= is_hidden(r)
        body.append(
            f'<tr><th scope="row">{_e(r["dimension"])}'
            f'<span class="oi-sub">{_plural(int(r["n_items"]), "attribute")}</span></th>'
            + _gap_cells(r, confidence)
            + "</tr>"
        )
    head = [
        "Dimension",
        "Respondents",
        "Expectation",
        "Performance",
        "Gap",
        f"{conf} interval",
        "Verdict",
    ]
    parts = [
        '<section class="oi-dimensions"><h3>Gaps by dimension</h3>',
        "<p>Each customer's gap on a dimension is the average of their gaps on its attributes "
        "(customers who rated fewer than half of them are left out of that dimension); the "
        "dimension's gap is the weighted average over customers.</p>",
        _table_html(head, body, "oi-gaps", numeric={1, 2, 3, 4, 5}),
    ]
    seg = dims[dims["group"].astype(str) != "all"]
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["dimension"]), str(r["level"])): r for _, r in g.iterrows()}
        rows = []
        for _, r in over.iterrows():
            row = [f'<th scope="row">{_e(r["dimension"])}</th>', _gap_cell(r, confidence)]
            for lv in levels:
                c = cells.get((str(r["dimension"]), lv))
                if c is None or is_hidden(c):
                    any_hidden = True
                    row.append(f'<td class="num oi-hidden">{DASH}</td>')
                else:
                    row.append(_gap_cell(c, confidence))
            rows.append("<tr>" + "".join(row) + "</tr>")
        parts.append(f"<h3>Dimension gaps by {_e(group)}</h3>")
        parts.append(
            _table_html(
                ["Dimension", "All customers", *(_e(lv) for lv in levels)],
                rows,
                "oi-segments",
                numeric=set(range(1, len(levels) + 2)),
            )
        )
    notes = [
        f'<span class="oi-sig">*</span> a clear gap: its {conf} confidence interval excludes zero.'
    ]
    if any_hidden:
        notes.append(_suppression_note(min_cell))
    parts.append(_notes(notes) + "</section>")
    return _html("".join(parts))


def priorities_section(
    ranked: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
) -> HTML:
    """The "Priorities" section: importance-performance chart, ranked list, dual-importance grid.

    ``ranked`` is :func:`analysis.cx.analyses.priorities` output; ``drivers`` (optional) is the
    driver table with tiers (:func:`analysis.cx.drivers.importance_tiers`).
    """
    from analysis.report import plots

    over = ranked[(ranked["group"].astype(str) == "all") & (ranked["level"].astype(str) == "all")]
    shown = [r for _, r in over.iterrows() if not _hidden_row(r, "gap")]
    conf = _level_pct(confidence)
    k = len(over)
    short = [r for r in shown if r["verdict"] == vocabulary.SHORTFALL]
    top = [r for r in shown if _flag(r.get("top_priority"))]
    tiers = {}
    if drivers is not None and "tier" in drivers.columns:
        tiers = {
            str(r["item"]): r["tier"] for _, r in drivers.iterrows() if not _missing(r["tier"])
        }
    parts = [
        '<section class="oi-priorities"><h2 id="priorities">Priorities: what to fix first</h2>',
        "<p>Service attributes ranked by how far performance falls short of what customers "
        f"expect (rank 1: the largest shortfall). Because {fmt_int(k)} attributes are tested at "
        "once, a shortfall is only called <em>clear</em> here if it holds after allowing for "
        "that (Benjamini-Hochberg adjustment), so a few gaps marked clear in the gap table may "
        "not be clear here.</p>",
    ]
    if top:
        names = "; ".join(f"{_e(item_label(r))} (gap {fmt_num(r['gap'])})" for r in top)
        parts.append(
            f"<p><strong>{fmt_int(len(short))} of {fmt_int(len(shown))}</strong> attributes fall "
            f"clearly short. The top priorities: {names}.</p>"
        )
    else:
        parts.append(
            "<p>No attribute falls clearly short of expectations once the number of attributes "
            "tested is allowed for: the gaps seen could be chance.</p>"
        )
    if shown:
        parts.append("<h3>Importance and performance</h3>")
        parts.append(
            "<p>Each attribute sits at its performance (across) and how much customers expect "
            "of it (up); the numbers are the ranks in the list below. The dashed lines are the "
            "averages over the attributes. Attributes in <em>Concentrate here</em> matter more "
            "than most and perform worse than most: they are where improvement pays off first. "
            "<em>Possible overkill</em>: performance above what the attribute's importance "
            "asks.</p>"
        )
        parts.append(
            _fig(
                plots.ipa_chart(ranked),
                "Importance-performance chart: each attribute's expectation against its "
                "performance, numbered by priority rank; the values are in the list below.",
            )
        )
    rows = []
    for _, r in over.iterrows():
        hidden = _hidden_row(r, "gap")
        if hidden:
            cells = f'<td class="num oi-hidden">{DASH}</td>' * 2 + f"<td>{DASH}</td>" * 2
        else:
            clear = r["verdict"] == vocabulary.SHORTFALL
            verdict = vocabulary.VERDICT_TEXT.get(str(r["verdict"]), DASH)
            cells = (
                _gap_cell({**r, "p_value": r["p_adjusted"]}, confidence)
                + f'<td class="num oi-ci">{_interval(r["ci_low"], r["ci_high"])}</td>'
                + f'<td><span class="oi-verdict">{"<strong>" if clear else ""}{_e(verdict)}'
                + f"{'</strong>' if clear else ''}</span>"
                + f'<span class="oi-sub">{_e(_p_text(r["p_adjusted"]))}</span></td>'
                + f"<td>{_e(r['quadrant'])}</td>"
            )
        tier = f"<td>{_e(tiers.get(str(r['item']), DASH))}</td>" if tiers else ""
        rank = DASH if _missing(r["rank"]) else fmt_int(r["rank"])
        rows.append(
            f'<tr><td class="num">{rank}</td><th scope="row">{_e(item_label(r))}'
            f'<span class="oi-sub">{_e(r["dimension"])}</span></th>{cells}{tier}</tr>'
        )
    head = ["Rank", "Service attribute", "Gap", f"{conf} interval", "Verdict", "Quadrant"]
    if tiers:
        head.append("Tier")
    parts.append("<h3>Ranked list</h3>")
    parts.append(_table_html(head, rows, "oi-priorities-table", numeric={0, 2, 3}))
    notes = [
        f'<span class="oi-sig">*</span> a clear gap after the adjustment for testing '
        f"{fmt_int(k)} attributes; its {conf} interval is shown unadjusted. Under each verdict, "
        "the adjusted p-value; under each attribute, its dimension."
        + (" Tier: see Stated and derived importance below." if tiers else "")
    ]
    if any(_hidden_row(r, "gap") for _, r in over.iterrows()):
        notes.append(_suppression_note(min_cell))
    parts.append(_notes(notes))
    if tiers:
        parts.append(_dual_importance(drivers, ranked))
    parts.append("</section>")
    return _html("".join(parts))


def _dual_importance(drivers: pd.DataFrame, ranked: pd.DataFrame) -> str:
    from analysis.report import plots

    over = overall_rows(ranked)
    numbers = {
        str(r["item"]): fmt_int(r["rank"]) for _, r in over.iterrows() if not _missing(r["rank"])
    }
    groups: dict[str, list[str]] = {}
    for _, r in drivers.iterrows():
        if not _missing(r.get("tier")):
            groups.setdefault(str(r["tier"]), []).append(_e(item_label(r)))
    meaning = {
        "Key driver": "customers say they matter and they move overall satisfaction",
        "Basic requirement": "customers say they matter, but they move satisfaction little: "
        "expected as a matter of course, and missed when they fail",
        "Hidden driver (delighter)": "customers rate them less important than most, yet they "
        "move overall satisfaction: a chance to delight",
        "Secondary": "lower on both",
    }
    items = "".join(
        f"<li><strong>{_e(t)}</strong> ({_e(meaning[t])}): {', '.join(groups[t])}.</li>"
        for t in meaning
        if t in groups
    )
    return (
        "<h3>Stated and derived importance</h3>"
        "<p>What customers <em>say</em> matters (their expectation) is not always what "
        "<em>moves</em> their overall satisfaction (derived importance, see Key drivers). "
        "Putting the two side by side sorts the attributes into tiers; the dashed lines are "
        "the averages, and the numbers are the priority ranks.</p>"
        + _fig(
            plots.importance_grid(drivers, numbers=numbers),
            "Dual-importance grid: stated importance against derived importance of each "
            "attribute, numbered by priority rank; the tiers are listed below.",
        )
        + f"<ul>{items}</ul>"
        + _notes(
            [
                "Tiers are read from the estimates; an attribute close to a dashed line could "
                "belong to the neighbouring tier (see the intervals under Key drivers)."
            ]
        )
    )


def segment_comparison(
    contrasts: pd.DataFrame | None,
    ranked: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    top: int = 3,
) -> HTML:
    """Which customer groups are underserved: each level against the rest of the customers,
    and the top priorities of each group.

    ``contrasts`` is :func:`analysis.cx.analyses.segment_contrasts` output (suppressed, with the
    ``item == "all"`` rows); ``ranked`` the priorities table. Empty when ``contrasts`` is None.
    """
    if contrasts is None or contrasts.empty:
        return _html("")
    conf = _level_pct(confidence)
    summary = contrasts[contrasts["item"].astype(str) == "all"]
    items = contrasts[contrasts["item"].astype(str) != "all"]
    parts = [
        '<section class="oi-underserved"><h3>Which customers are underserved</h3>',
        "<p>Each group against the rest of the customers: its average gap over all attributes "
        "(each customer's average), and the difference from everyone else's, with a "
        f"{conf} interval. A group is called <em>clearly</em> worse or better only if the "
        "difference holds after allowing for the number of groups compared.</p>",
    ]
    any_hidden = False
    for group in dict.fromkeys(summary["group"].astype(str)):
        g = summary[summary["group"].astype(str) == group]
        worst = g[g["most_underserved"].fillna(False).astype(bool)]
        if len(worst):
            r = worst.iloc[0]
            parts.append(
                f"<p><strong>By {_e(group)}: {_e(r['level'])}</strong> customers are the most "
                f"underserved. Their average gap is {fmt_num(r['gap'])} against "
                f"{fmt_num(r['gap_rest'])} for other customers (difference "
                f"{fmt_num(r['difference'])}, {conf} interval "
                f"{_interval(r['ci_low'], r['ci_high'])}; {_e(_p_text(r['p_adjusted']))} "
                "after adjustment).</p>"
            )
        else:
            parts.append(
                f"<p>By {_e(group)}: no group falls clearly further short than the rest of the "
                "customers; the differences seen could be chance.</p>"
            )
        rows, behind = [], []
        for _, r in g.iterrows():
            lv = str(r["level"])
            if _hidden_row(r, "difference"):
                any_hidden = True
                rows.append(
                    f'<tr><th scope="row">{_e(lv)}</th><td class="num">{fmt_int(r["n"])}</td>'
                    + f'<td class="num oi-hidden">{DASH}</td>' * 4
                    + f"<td>{DASH}</td></tr>"
                )
                continue
            clear = is_clear_adjusted(r, confidence)
            if clear:
                verdict = "Clearly worse" if float(r["difference"]) < 0 else "Clearly better"
            else:
                verdict = "No clear difference"
            worse = items[
                (items["group"].astype(str) == group)
                & (items["level"].astype(str) == lv)
                & (items["p_adjusted"].astype(float) < 1 - confidence)
                & (items["difference"].astype(float) < 0)
            ].sort_values("difference")
            if len(worse):
                names = ", ".join(_e(item_label(x)) for _, x in worse.head(top).iterrows())
                more = len(worse) - min(len(worse), top)
                if more > 0:
                    names += f" and {fmt_int(more)} more"
                behind.append(f"<li><strong>{_e(lv)}</strong>: {names}.</li>")
            rows.append(
                f'<tr><th scope="row">{_e(lv)}</th><td class="num">{fmt_int(r["n"])}</td>'
                f'<td class="num">{fmt_num(r["gap"], signed=True)}</td>'
                f'<td class="num">{fmt_num(r["gap_rest"], signed=True)}</td>'
                + _gap_cell(
                    {"gap": r["difference"], "p_value": r["p_adjusted"], "suppressed": False},
                    confidence,
                )
                + f'<td class="num oi-ci">{_interval(r["ci_low"], r["ci_high"])}</td>'
                f"<td>{_e(verdict)}</td></tr>"
            )
        parts.append(
            _table_html(
                [
                    _e(group.capitalize()),
                    "Respondents",
                    "Average gap",
                    "Others",
                    "Difference",
                    f"{conf} interval",
                    "Verdict",
                ],
                rows,
                "oi-contrasts",
                numeric={1, 2, 3, 4, 5},
            )
        )
        if behind:
            parts.append(
                "<p>Attributes on which a group falls clearly further short than the other "
                f"customers (largest difference first):</p><ul>{''.join(behind)}</ul>"
            )
    if ranked is not None:
        parts.append(_top_by_group(ranked))
    notes = [
        f'<span class="oi-sig">*</span> a clear difference after the adjustment; the {conf} '
        "interval is shown unadjusted."
    ]
    if any_hidden:
        notes.append(_suppression_note(min_cell))
    parts.append(_notes(notes) + "</section>")
    return _html("".join(parts))


def _top_by_group(ranked: pd.DataFrame) -> str:
    seg = ranked[ranked["group"].astype(str) != "all"]
    if seg.empty:
        return ""
    rows = []
    for (group, level), g in seg.groupby(
        [seg["group"].astype(str), seg["level"].astype(str)], sort=False
    ):
        hidden = g["gap"].isna().all()
        top = g[g["top_priority"].fillna(False).astype(bool)].sort_values("rank")
        if hidden:
            text = f'<span class="oi-hidden">{DASH} (too few respondents)</span>'
        elif top.empty:
            text = "No clear shortfall"
        else:
            text = "; ".join(
                f"{_e(item_label(r))} ({fmt_num(r['gap'])})" for _, r in top.iterrows()
            )
        rows.append(f'<tr><th scope="row">{_e(group)}: {_e(level)}</th><td>{text}</td></tr>')
    return (
        "<h3>Top priorities in each group</h3>"
        "<p>The largest clear shortfalls (after the adjustment) within each group of customers, "
        "with their gaps.</p>" + _table_html(["Group", "Top priorities"], rows, "oi-top")
    )


def drivers_section(drivers: pd.DataFrame | None, confidence: float = 0.95) -> HTML:
    """The "Key drivers" section: R^2, the relative-weights chart and table. Empty when None."""
    if drivers is None:
        return _html("")
    from analysis.report import plots

    conf = _level_pct(confidence)
    if drivers.empty or _hidden_row(drivers.iloc[0], "share"):
        return _html(
            '<section class="oi-drivers"><h2 id="key-drivers">What drives overall '
            "satisfaction</h2><p>Not shown: too few customers answered overall satisfaction "
            "and rated the performance of every attribute for a reliable analysis.</p>"
            "</section>"
        )
    first = drivers.iloc[0]
    has_intervals = not _missing(first.get("replicates")) and int(first["replicates"]) > 0
    rows = drivers.sort_values("share", ascending=False, kind="stable")
    above = [r for _, r in rows.iterrows() if r["vs_average"] == vocabulary.ABOVE]
    unclear = [r for _, r in rows.iterrows() if r["vs_average"] == vocabulary.UNCLEAR]
    r2 = float(first["r_squared"])
    r2_ci = ""
    if not _missing(first["r_squared_ci_low"]):
        r2_ci = (
            f" ({conf} interval {fmt_pct(first['r_squared_ci_low'])} to "
            f"{fmt_pct(first['r_squared_ci_high'])})"
        )
    parts = [
        '<section class="oi-drivers"><h2 id="key-drivers">What drives overall satisfaction</h2>',
        "<p>Customers did not only rate each attribute; they also gave their overall "
        "satisfaction. How closely an attribute's performance rating moves with overall "
        "satisfaction shows how much it matters to customers in practice (<em>derived "
        "importance</em>), whatever they say. The ratings of all "
        f"{fmt_int(len(drivers))} attributes together account for "
        f"<strong>{fmt_pct(r2)}</strong>{r2_ci} of the differences in overall satisfaction "
        f"among the {fmt_int(first['n'])} customers who answered it and rated the performance "
        "of every attribute. Relative "
        "weights (Johnson's method) split that share between the attributes, even though "
        "their ratings move together; the shares add up to 100%.</p>",
    ]
    if not has_intervals:
        parts.append(
            "<p>The uncertainty of the shares could not be estimated for this sample (the "
            "replicate samples could not be weighted to the customer base), so no attribute is "
            "called clearly more or less important than another.</p>"
        )
    elif above:
        names = "; ".join(f"{_e(item_label(r))} ({fmt_num(r['share'], 1)}%)" for r in above)
        parts.append(
            f"<p><strong>Clearly above the average share</strong> ({fmt_num(100 / len(drivers), 1)}"
            f"%): {names}.</p>"
        )
    else:
        parts.append(
            "<p>No attribute's share is clearly above the average share: the data do not single "
            "out particular drivers.</p>"
        )
    if unclear:
        parts.append(
            f"<p>For {_plural(len(unclear), 'attribute')} the share is not clearly different from "
            "the average. A small share does not mean an attribute does not matter: a basic "
            "requirement that everyone expects moves satisfaction little until it fails.</p>"
        )
    parts.append(
        _fig(
            plots.driver_chart(drivers, confidence=confidence),
            "Chart of each attribute's share of the explained overall satisfaction with its "
            "interval; the values are in the table below.",
        )
    )
    body = []
    verdicts = vocabulary.VS_AVERAGE_TEXT
    tiers = "tier" in drivers.columns
    for _, r in rows.iterrows():
        body.append(
            f'<tr><td class="num">{fmt_int(r["rank"])}</td>'
            f'<th scope="row">{_e(item_label(r))}</th>'
            f'<td class="num">{fmt_num(r["share"], 1)}%</td>'
            f'<td class="num oi-ci">{_interval(r["share_ci_low"], r["share_ci_high"], 1)}</td>'
            f'<td class="num">{fmt_num(r["correlation"])}</td>'
            f"<td>{_e(verdicts.get(str(r['vs_average']), DASH))}</td>"
            + (f"<td>{_e(r['tier'] if not _missing(r['tier']) else DASH)}</td>" if tiers else "")
            + "</tr>"
        )
    head = [
        "Rank",
        "Service attribute",
        "Share",
        f"{conf} interval",
        "Correlation",
        "Compared with average",
    ] + (["Importance tier"] if tiers else [])
    parts.append(_table_html(head, body, "oi-drivers-table", numeric={0, 2, 3, 4}))
    method = str(first.get("method") or "")
    reps = first.get("replicates")
    if not has_intervals:
        how = "no replicates (not available for this sample)"
    elif method == "bootstrap":
        how = f"{fmt_int(reps)} bootstrap replicates of the sample design"
    else:
        how = f"jackknife replicates of the sample design ({fmt_int(reps)})"
    parts.append(
        _notes(
            [
                "Share: relative weight as a percentage of the explained overall satisfaction. "
                f"Intervals from {_e(how)}, each weighted as the full sample was. Correlation: "
                "weighted correlation of the attribute's performance rating with overall "
                "satisfaction."
            ]
        )
        + "</section>"
    )
    return _html("".join(parts))


def nps_section(
    nps: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Net Promoter Score" section: headline, chart and table. Empty when None."""
    if nps is None or nps.empty:
        return _html("")
    from analysis.report import plots

    conf = _level_pct(confidence)
    over = overall_rows(nps)
    parts = [
        '<section class="oi-nps"><h2 id="nps">Net Promoter Score</h2>',
        "<p>How likely customers are to recommend us, on 0 to 10: promoters answer 9 or 10, "
        "detractors 0 to 6. The Net Promoter Score is the percentage of promoters minus the "
        "percentage of detractors (−100 to +100).</p>",
    ]
    if len(over) and not _hidden_row(over.iloc[0], "nps"):
        r = over.iloc[0]
        clear = float(r["ci_low"]) > 0 or float(r["ci_high"]) < 0
        sign = "above" if float(r["nps"]) > 0 else "below"
        judgement = f"clearly {sign} zero" if clear else "not clearly different from zero"
        parts.append(
            f"<p>Overall NPS: <strong>{fmt_num(r['nps'], 0, signed=True)}</strong> ({conf} "
            f"interval {_interval(r['ci_low'], r['ci_high'], 0)}; {judgement}): "
            f"{fmt_num(r['promoters'], 0)}% promoters, {fmt_num(r['detractors'], 0)}% "
            "detractors.</p>"
        )
    parts.append(
        _fig(
            plots.nps_chart(nps, confidence=confidence),
            "Chart of the Net Promoter Score of all customers and of each group, with its "
            "interval; the values are in the table below.",
        )
    )
    rows, any_hidden = [], False
    for _, r in nps.iterrows():
        name = "All customers" if str(r["group"]) == "all" else f"{r['group']}: {r['level']}"
        if _hidden_row(r, "nps"):
            any_hidden = True
            rows.append(
                f'<tr><th scope="row">{_e(name)}</th><td class="num">{fmt_int(r["n"])}</td>'
                + f'<td class="num oi-hidden">{DASH}</td>' * 5
                + "</tr>"
            )
            continue
        rows.append(
            f'<tr><th scope="row">{_e(name)}</th><td class="num">{fmt_int(r["n"])}</td>'
            f'<td class="num">{fmt_num(r["nps"], 0, signed=True)}</td>'
            f'<td class="num oi-ci">{_interval(r["ci_low"], r["ci_high"], 0)}</td>'
            f'<td class="num">{fmt_num(r["promoters"], 0)}%</td>'
            f'<td class="num">{fmt_num(r["passives"], 0)}%</td>'
            f'<td class="num">{fmt_num(r["detractors"], 0)}%</td></tr>'
        )
    head = ["Customers", "Respondents", "NPS", f"{conf} interval", "Promoters", "Passives"]
    head.append("Detractors")
    parts.append(_table_html(head, rows, "oi-nps-table", numeric={1, 2, 3, 4, 5, 6}))
    notes = [
        "Groups whose intervals overlap may not really differ; the intervals take the weights "
        "and the sample design into account."
    ]
    if any_hidden:
        notes.append(_suppression_note(min_cell))
    parts.append(_notes(notes) + "</section>")
    return _html("".join(parts))


def trend_section(
    trend: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Change since the last survey" section (overall rows). Empty when None."""
    if trend is None or trend.empty:
        return _html("")
    from analysis.report import plots

    conf = _level_pct(confidence)
    over = overall_rows(trend)
    shown = [r for _, r in over.iterrows() if not _hidden_row(r, "change")]
    better = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) > 0]
    worse = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) < 0]
    parts = [
        '<section class="oi-trend"><h2 id="trend">Change since the last survey</h2>',
        "<p>Each attribute's gap now against the previous survey. A positive change means the "
        "gap narrowed (or performance pulled further ahead of expectations). Changes are called "
        "clear only if they hold after allowing for the number of attributes compared.</p>",
        f"<p><strong>{fmt_int(len(better))}</strong> attributes clearly improved and "
        f"<strong>{fmt_int(len(worse))}</strong> clearly worsened; for the other "
        f"{fmt_int(len(shown) - len(better) - len(worse))} the change could be chance.</p>",
        _fig(
            plots.trend_chart(trend, confidence=confidence),
            "Chart of the change in each attribute's gap since the previous survey, with its "
            "interval; the values are in the table below.",
        ),
    ]
    rows = []
    for _, r in over.iterrows():
        if _hidden_row(r, "change"):
            rows.append(
                f'<tr><th scope="row">{_e(item_label(r))}</th>'
                + f'<td class="num oi-hidden">{DASH}</td>' * 4
                + f"<td>{DASH}</td></tr>"
            )
            continue
        clear = is_clear_adjusted(r, confidence)
        verdict = (
            ("Improved" if float(r["change"]) > 0 else "Worsened") if clear else "No clear change"
        )
        rows.append(
            f'<tr><th scope="row">{_e(item_label(r))}</th>'
            f'<td class="num">{fmt_num(r["gap_previous"], signed=True)}</td>'
            f'<td class="num">{fmt_num(r["gap"], signed=True)}</td>'
            f'<td class="num">{fmt_num(r["change"], signed=True)}</td>'
            f'<td class="num oi-ci">{_interval(r["ci_low"], r["ci_high"])}</td>'
            f"<td>{_e(verdict)}</td></tr>"
        )
    head = ["Service attribute", "Gap before", "Gap now", "Change", f"{conf} interval", "Verdict"]
    parts.append(_table_html(head, rows, "oi-trend-table", numeric={1, 2, 3, 4}))
    if any(_hidden_row(r, "change") for _, r in over.iterrows()):
        parts.append(_notes([_suppression_note(min_cell)]))
    parts.append("</section>")
    return _html("".join(parts))


def perception_section(
    table: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "What staff believe customers expect" section (the perception gap). Empty when None.

    Reads ``pipeline.perception_gap``'s table: ``difference = staff_belief -
    customer_expectation`` per item, with BH-adjusted ``p_adjusted``.
    """
    if table is None or table.empty:
        return _html("")
    conf = _level_pct(confidence)
    shown = [r for _, r in table.iterrows() if not _hidden_row(r, "difference")]
    under = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) < 0]
    over = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) > 0]
    n_staff = int(table["n_staff"].max())
    if not shown:
        return _html(
            '<section class="oi-perception"><h2 id="perception">What staff believe customers '
            f"expect</h2><p>{_plural(n_staff, 'member')} of staff answered the staff survey: too "
            f"few to show the comparison without revealing individual answers.</p></section>"
        )
    text = (
        f"<p>{_plural(n_staff, 'member')} of staff rated what they believe customers expect of "
        "each service attribute. Where staff underestimate expectations, the organisation may not "
        "see a shortfall that customers feel. "
        f"Staff clearly <strong>underestimate</strong> what customers expect on "
        f"<strong>{fmt_int(len(under))}</strong> attributes and clearly overestimate it on "
        f"<strong>{fmt_int(len(over))}</strong>; for the other "
        f"{fmt_int(len(shown) - len(under) - len(over))} the difference could be chance.</p>"
    )
    if under:
        worst = min(under, key=lambda r: float(r["difference"]))
        text += (
            f"<p>The largest underestimate: {_e(item_label(worst))} (staff "
            f"{fmt_num(worst['staff_belief'])} against customers' "
            f"{fmt_num(worst['customer_expectation'])}; difference "
            f"{fmt_num(worst['difference'], signed=True)}, {conf} interval "
            f"{_interval(worst['ci_low'], worst['ci_high'])}).</p>"
        )
    rows = []
    ordered = table.assign(_order=table["difference"].fillna(float("inf"))).sort_values("_order")
    for _, r in ordered.iterrows():
        if _hidden_row(r, "difference"):
            rows.append(
                f'<tr><th scope="row">{_e(item_label(r))}</th>'
                + f'<td class="num oi-hidden">{DASH}</td>' * 4
                + f"<td>{DASH}</td></tr>"
            )
            continue
        clear = is_clear_adjusted(r, confidence)
        verdict = "No clear difference"
        if clear:
            verdict = "Staff underestimate" if float(r["difference"]) < 0 else "Staff overestimate"
        rows.append(
            f'<tr><th scope="row">{_e(item_label(r))}</th>'
            f'<td class="num">{fmt_num(r["staff_belief"])}</td>'
            f'<td class="num">{fmt_num(r["customer_expectation"])}</td>'
            f'<td class="num">{fmt_num(r["difference"], signed=True)}</td>'
            f'<td class="num oi-ci">{_interval(r["ci_low"], r["ci_high"])}</td>'
            f"<td>{_e(verdict)}</td></tr>"
        )
    head = [
        "Service attribute",
        "Staff believe",
        "Customers expect",
        "Difference",
        f"{conf} interval",
        "Verdict",
    ]
    parts = [
        '<section class="oi-perception"><h2 id="perception">What staff believe customers expect'
        "</h2>",
        text,
        _table_html(head, rows, "oi-perception-table", numeric={1, 2, 3, 4}),
    ]
    notes = [
        "Difference = what staff believe customers expect − what customers said they expect "
        "(weighted). Called clear only if it holds after allowing for the number of attributes "
        "compared."
    ]
    if any(_hidden_row(r, "difference") for _, r in table.iterrows()):
        notes.append(_suppression_note(min_cell))
    parts += [_notes(notes), "</section>"]
    return _html("".join(parts))


def representativeness(table: pd.DataFrame | None) -> HTML:
    """Who answered against the customer base: chart and table (About the survey)."""
    if table is None or table.empty:
        return _html("")
    from analysis.report import plots

    has_pop = table["population_share"].notna().any()
    parts = ['<section class="oi-representativeness"><h3>Who answered</h3>']
    if has_pop:
        dev_raw = (table["sample_share"] - table["population_share"]).abs()
        dev_w = (table["weighted_share"] - table["population_share"]).abs()
        r = table.loc[dev_raw.idxmax()]
        worst_w = float(dev_w.max())
        text = (
            "<p>Some kinds of customer answer surveys more readily than others, and the sample "
            "may have been drawn unevenly on purpose. Compared with the customer base, the "
            f"respondents' largest imbalance is {_e(r['variable'])}: {_e(r['level'])}, "
            f"{fmt_pct(r['sample_share'])} of respondents against "
            f"{fmt_pct(r['population_share'])} of customers. "
        )
        if worst_w < 0.005:
            text += (
                "After weighting, every group's share matches the customer base, so the results "
                "speak for all customers, not only those most willing to answer.</p>"
            )
        else:
            text += (
                "After weighting, the largest difference from the customer base is "
                f"{fmt_num(100 * worst_w, 1)} percentage points.</p>"
            )
        parts.append(text)
    else:
        parts.append(
            "<p>The respondents' make-up, unweighted and weighted. No customer-base counts were "
            "given to compare against.</p>"
        )
    parts.append(
        _fig(
            plots.representativeness_chart(table),
            "Bar chart of each group's share of the customer base, of the respondents and of "
            "the weighted respondents; the values are in the table below.",
        )
    )
    rows = []
    for _, r in table.iterrows():
        rows.append(
            f'<tr><th scope="row">{_e(r["variable"])}: {_e(r["level"])}</th>'
            f'<td class="num">{fmt_pct(r["population_share"], 1)}</td>'
            f'<td class="num">{fmt_int(r["n"])}</td>'
            f'<td class="num">{fmt_pct(r["sample_share"], 1)}</td>'
            f'<td class="num">{fmt_pct(r["design_weighted_share"], 1)}</td>'
            f'<td class="num">{fmt_pct(r["weighted_share"], 1)}</td></tr>'
        )
    head = [
        "Group",
        "Customer base",
        "Respondents",
        "Share, unweighted",
        "Design weights",
        "Final weights",
    ]
    parts.append(_table_html(head, rows, "oi-representativeness", numeric={1, 2, 3, 4, 5}))
    parts.append(
        _notes(
            [
                "Design weights: the sampling weights only; final weights: after adjusting to the "
                "customer-base counts (when given). Shares are of respondents with a known value."
            ]
        )
        + "</section>"
    )
    return _html("".join(parts))


def reliability_table(table: pd.DataFrame | None) -> HTML:
    """Cronbach's alpha per dimension (About the survey)."""
    if table is None or table.empty:
        return _html("")
    dims = list(dict.fromkeys(table["dimension"].astype(str)))
    cell = {(str(r["dimension"]), str(r["rating"])): r for _, r in table.iterrows()}
    rows = []
    for d in dims:
        sizes = table.loc[table["dimension"].astype(str) == d, "n_items"]
        cells = [f'<th scope="row">{_e(d)}</th>', f'<td class="num">{fmt_int(sizes.max())}</td>']
        for rating in ("expectation", "performance"):
            r = cell.get((d, rating))
            if r is None or _hidden_row(r, "alpha"):
                cells += [f'<td class="num oi-hidden">{DASH}</td>'] * 2
                continue
            cells.append(f'<td class="num">{fmt_num(r["alpha_design"])}</td>')
            cells.append(
                f'<td class="num">{fmt_num(r["alpha"])} '
                f'<span class="oi-ci">({_interval(r["alpha_ci_low"], r["alpha_ci_high"])})</span>'
                "</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = [
        "Dimension",
        "Attributes",
        "Expectation, weighted",
        "Expectation, unweighted (interval)",
        "Performance, weighted",
        "Performance, unweighted (interval)",
    ]
    return _html(
        '<section class="oi-reliability"><h3>How consistently each dimension is measured</h3>'
        "<p>Cronbach's alpha: how closely the ratings of a dimension's attributes agree with "
        "each other (0 to 1; 0.7 or more is usually taken as consistent). Weighted: from the "
        "design-weighted covariances (as R's svycralpha); unweighted: the textbook value with "
        "its interval. Both use the customers who rated every attribute of the dimension.</p>"
        + _table_html(head, rows, "oi-reliability", numeric={1, 2, 3, 4, 5})
        + "</section>"
    )


GLOSSARY = (
    (
        "Gap",
        "Performance minus expectation for a service attribute, in points of the rating scale. "
        "Negative: we fall short of what customers expect; positive: we do better than they "
        "expect.",
    ),
    (
        "Expectation",
        "How much customers expect of an attribute (or how important it is to them), as they "
        "rated it: their stated importance.",
    ),
    ("Performance", "How well customers say we deliver the attribute today."),
    (
        "{conf} interval",
        "The range the true value for the whole customer base most likely lies in, given that "
        "only a sample was asked ({conf} confidence). Narrow: a precise estimate.",
    ),
    (
        "Clear gap",
        "A gap whose interval excludes zero, so it is unlikely to be chance. Where many "
        "attributes or groups are compared at once (priorities, segments, executive summary), "
        "a result is called clear only if it holds after adjusting for multiple testing "
        "(Benjamini-Hochberg), which keeps chance findings from piling up.",
    ),
    (
        "Weighting",
        "Giving each respondent the number of customers they stand for, so that groups that "
        "were sampled less often, or answered less readily, count as much as they should.",
    ),
    (
        "Design effect and effective sample size",
        "Unequal weights and clustered sampling make a sample less informative than a simple "
        "random sample of the same size. The effective sample size (Kish) is the size of the "
        "simple random sample that would be as informative; the design effect is the ratio "
        "of the two.",
    ),
    (
        "NPS (Net Promoter Score)",
        "The percentage of customers who would recommend us (9 or 10 out of 10) minus the "
        "percentage who would not (0 to 6); from −100 to +100.",
    ),
    (
        "Key driver",
        "An attribute whose performance moves overall satisfaction more than most (derived "
        "importance: its share of the explained satisfaction is clearly above the average "
        "share). In the stated and derived importance grid, a key driver is one customers also "
        "say matters.",
    ),
    (
        "Basic requirement",
        "An attribute customers say matters but which moves satisfaction little: expected as "
        "a matter of course, and missed when it fails.",
    ),
    (
        "Suppressed cell",
        "A result for a group with too few respondents, shown as {dash}: hidden to protect "
        "respondents and because it would be unreliable; where needed, a neighbouring result "
        "is hidden too so that it cannot be worked out by subtraction.",
    ),
)


def glossary(confidence: float = 0.95) -> HTML:
    """A short glossary of the report's terms (About the survey)."""
    conf = _level_pct(confidence)
    items = "".join(
        f"<div><dt>{_e(term.format(conf=conf))}</dt>"
        f"<dd>{_e(text.format(conf=conf, dash=DASH))}</dd></div>"
        for term, text in GLOSSARY
    )
    return _html(
        '<section class="oi-glossary"><h3 id="glossary">Glossary</h3>'
        f'<dl class="oi-terms">{items}</dl></section>'
    )
