"""The "About the survey" part of the client report, and its footer: what was received and set
aside, how the sample was drawn and weighted, who answered against the customer base, how
consistently each dimension is measured, a glossary, and the provenance of the report.

Each function returns an :class:`IPython.display.HTML` object. The wording is plain and honest:
what was received, what was set aside and why, and what the design means for the results.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis import __version__
from analysis.config.params import Client
from analysis.cx import vocabulary
from analysis.files import file_sha256
from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    as_dict,
    esc,
    fmt_int,
    fmt_num,
    fmt_pct,
    hidden_cells,
    interval,
    is_hidden,
    level_pct,
    missing,
    notes,
    plural,
    table_html,
    wrap_table,
)

CALIBRATION_METHODS = {
    "rake": "raking",
    "poststratify": "post-stratification",
    "linear": "linear calibration",
}
#: Where the standard errors come from (params ``design.variance``), in words.
VARIANCE_METHODS = {
    "taylor": "Taylor linearisation",
    "jk1": "jackknife replicates that leave out one sampled group at a time",
    "jkn": "jackknife replicates that leave out one sampled group at a time",
    "bootstrap": "{replicates} bootstrap replicates of the sample",
    "subbootstrap": "{replicates} bootstrap replicates of the sample",
}

# ---------------------------------------------------------------------------------------------
# the responses received


def validation_summary(summary: Any) -> HTML:
    """What was received and what was set aside, and why (a ``ValidationSummary`` or dict).

    Reads ``source, detected, received, accepted, rejected, reasons`` (rule -> rows) and ``flags``
    (quality flag -> rows, kept in the analysis).
    """
    s = as_dict(summary)
    received, accepted, rejected = (
        int(s.get(k) or 0) for k in ("received", "accepted", "rejected")
    )
    source = Path(str(s.get("source", ""))).name
    detected = s.get("detected") or {}
    parts = ['<section class="oi-validation">', "<h3>The responses we received</h3>"]
    parts.append(
        f'<p>The survey file <span class="oi-file">{esc(source)}</span> held '
        f"<strong>{plural(received, 'response')}</strong>. "
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
    parts += _reasons(s.get("reasons") or {}, rejected)
    flags = s.get("flags") or {}
    if flags:
        items = "".join(f"<li>{esc(flag)}: {fmt_int(n)}</li>" for flag, n in flags.items())
        parts.append(
            "<p>Some analysed responses were flagged for a closer look but kept, because "
            f"they break no rule:</p><ul>{items}</ul>"
        )
    if detected:
        how = "; ".join(f"{esc(k)} {_quoted(v)}" for k, v in detected.items())
        parts.append(notes([f"File read as: {how}."]))
    parts.append("</section>")
    return HTML("".join(parts))


def _reasons(reasons: Mapping[str, Any], rejected: int) -> list[str]:
    """Why responses were set aside: rule and number of responses (none: empty)."""
    if not reasons:
        return []
    body = "".join(
        f'<tr><th scope="row">{esc(rule)}</th><td class="num">{fmt_int(n)}</td></tr>'
        for rule, n in reasons.items()
    )
    parts = [
        wrap_table(
            '<thead><tr><th scope="col">Why responses were set aside</th>'
            '<th scope="col" class="num">Responses</th></tr></thead>'
            f"<tbody>{body}</tbody>",
            cls="oi-reasons",
        )
    ]
    if sum(int(n) for n in reasons.values()) > rejected:
        parts.append(
            notes(
                [
                    "A response can break more than one rule, so the reasons add up to more "
                    "than the number set aside."
                ]
            )
        )
    return parts


def _quoted(value: Any) -> str:
    """A detected file property; a lone punctuation mark (a delimiter) in quotes."""
    text = str(value)
    return f"“{esc(text)}”" if len(text) == 1 and not text.isalnum() else esc(text)


# ---------------------------------------------------------------------------------------------
# the sample design


def sample_design(client: Client, weights: Mapping[str, Any] | None = None) -> HTML:
    """How the sample was drawn and weighted, in plain words.

    ``weights`` is :func:`analysis.survey.calibrate.weighting_summary` of the design: ``n,
    sum_weights, kish_neff, efficiency, adjustment_min, adjustment_max``.
    """
    w_sum = dict(weights or {})
    body = "".join(f"<li>{t}</li>" for t in _how_drawn(client, w_sum))
    more = "".join(f"<li>{t}</li>" for t in _what_it_means(client, w_sum))
    return HTML(
        '<section class="oi-design"><h3>How the sample was drawn and weighted</h3>'
        f"<ul>{body}</ul><h3>What this means for the results</h3><ul>{more}</ul></section>"
    )


def _how_drawn(client: Client, w_sum: Mapping[str, Any]) -> list[str]:
    """Weights, strata, clusters, finite population correction and calibration, in words."""
    d = client.config.design
    w = client.config.weighting
    items = []
    if d.weight:
        items.append(
            "Each respondent carries a sampling weight (column "
            f"<code>{esc(d.weight)}</code>): the number of customers they stand for. Groups that "
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
            f"Customers were sampled separately within each <code>{esc(d.strata)}</code> "
            "(stratified sampling)."
        )
    if d.clusters:
        cols = ", then ".join(f"<code>{esc(c)}</code>" for c in d.clusters)
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
        items.append(
            "The weights were then adjusted so that the respondents match known counts of the "
            f'customer base (<span class="oi-file">{esc(Path(w.margins).name)}</span>; '
            f"{esc(CALIBRATION_METHODS[w.method])})." + _adjustments(w_sum)
        )
    return items


def _variance_text(client: Client) -> str:
    """How the standard errors were computed (``design.variance``), in words."""
    d = client.config.design
    text = VARIANCE_METHODS[d.variance].format(replicates=fmt_int(d.replicates))
    if d.variance != "taylor" and client.config.weighting is not None:
        text += ", each weighted to the customer base as the full sample was"
    return text


def _adjustments(w: Mapping[str, Any]) -> str:
    lo, hi = w.get("adjustment_min"), w.get("adjustment_max")
    if missing(lo) or missing(hi):
        return ""
    return f" The adjustment multiplied each weight by between {fmt_num(lo)} and {fmt_num(hi)}."


def _what_it_means(client: Client, w_sum: Mapping[str, Any]) -> list[str]:
    """Sample size, effective sample size, intervals and suppression, in words."""
    d = client.config.design
    n, total = w_sum.get("n"), w_sum.get("sum_weights")
    neff, eff = w_sum.get("kish_neff"), w_sum.get("efficiency")
    facts = []
    if not missing(n):
        line = f"<strong>{plural(int(n), 'respondent')}</strong> are analysed"
        if d.weight and not missing(total):
            line += f"; together they stand for about <strong>{fmt_int(total)}</strong> customers"
        facts.append(line + ".")
    if d.weight and not missing(neff):
        text = (
            "Because the weights differ between respondents, the sample carries about as much "
            f"information as a simple random sample of <strong>{fmt_int(neff)}</strong> "
            "respondents (Kish's effective sample size"
        )
        if not missing(eff):
            text += f"; {fmt_pct(eff)} efficiency"
        facts.append(text + ").")
    conf = level_pct(client.config.analysis.confidence)
    facts.append(
        f"Each gap is shown with a {conf} confidence interval that takes the weights and the way "
        "the sample was drawn into account (design-based standard errors, "
        f"{_variance_text(client)}). A gap is called <em>clear</em> when its interval excludes "
        "zero."
    )
    min_cell = client.config.analysis.min_cell
    facts.append(
        f"Results for groups of fewer than {plural(min_cell, 'respondent')} are not shown, "
        "to protect respondents and because such small groups give unreliable figures."
    )
    return facts


# ---------------------------------------------------------------------------------------------
# who answered, and how consistently each dimension is measured


def representativeness(table: pd.DataFrame | None) -> HTML:
    """Who answered against the customer base: chart and table (About the survey)."""
    if table is None or table.empty:
        return HTML("")
    parts = [
        '<section class="oi-representativeness"><h3>Who answered</h3>',
        _balance(table),
        section_figure(
            lambda layout: plots.representativeness_chart(table, layout=layout),
            "Bar chart of each group's share of the customer base, of the respondents and of "
            "the weighted respondents; the values are in the table below.",
        ),
    ]
    rows = [
        f'<tr><th scope="row">{esc(r["variable"])}: {esc(r["level"])}</th>'
        f'<td class="num">{fmt_pct(r["population_share"], 1)}</td>'
        f'<td class="num">{fmt_int(r["n"])}</td>'
        f'<td class="num">{fmt_pct(r["sample_share"], 1)}</td>'
        f'<td class="num">{fmt_pct(r["design_weighted_share"], 1)}</td>'
        f'<td class="num">{fmt_pct(r["weighted_share"], 1)}</td></tr>'
        for _, r in table.iterrows()
    ]
    head = [
        "Group",
        "Customer base",
        "Respondents",
        "Share, unweighted",
        "Design weights",
        "Final weights",
    ]
    parts.append(table_html(head, rows, "oi-representativeness", numeric={1, 2, 3, 4, 5}))
    parts.append(
        notes(
            [
                "Design weights: the sampling weights only; final weights: after adjusting to the "
                "customer-base counts (when given). Shares are of respondents with a known value."
            ]
        )
        + "</section>"
    )
    return HTML("".join(parts))


def _balance(table: pd.DataFrame) -> str:
    """The respondents' largest imbalance against the customer base, before and after weighting
    (or that there is no customer base to compare with)."""
    if not table["population_share"].notna().any():
        return (
            "<p>The respondents' make-up, unweighted and weighted. No customer-base counts were "
            "given to compare against.</p>"
        )
    dev_raw = (table["sample_share"] - table["population_share"]).abs()
    dev_w = (table["weighted_share"] - table["population_share"]).abs()
    r = table.loc[dev_raw.idxmax()]
    worst_w = float(dev_w.max())
    text = (
        "<p>Some kinds of customer answer surveys more readily than others, and the sample "
        "may have been drawn unevenly on purpose. Compared with the customer base, the "
        f"respondents' largest imbalance is {esc(r['variable'])}: {esc(r['level'])}, "
        f"{fmt_pct(r['sample_share'])} of respondents against "
        f"{fmt_pct(r['population_share'])} of customers. "
    )
    if worst_w < 0.005:
        return text + (
            "After weighting, every group's share matches the customer base, so the results "
            "speak for all customers, not only those most willing to answer.</p>"
        )
    return text + (
        "After weighting, the largest difference from the customer base is "
        f"{fmt_num(100 * worst_w, 1)} percentage points.</p>"
    )


def _design_ci(row: pd.Series) -> str:
    """The design-based alpha's replicate interval after it, when there is one."""
    low, high = row.get("alpha_design_ci_low"), row.get("alpha_design_ci_high")
    if missing(low) or missing(high):
        return ""
    return f' <span class="oi-ci">({interval(low, high)})</span>'


def reliability_table(table: pd.DataFrame | None) -> HTML:
    """Cronbach's alpha per dimension (About the survey)."""
    if table is None or table.empty:
        return HTML("")
    dims = list(dict.fromkeys(table["dimension"].astype(str)))
    cell = {(str(r["dimension"]), str(r["rating"])): r for _, r in table.iterrows()}
    rows = []
    for d in dims:
        sizes = table.loc[table["dimension"].astype(str) == d, "n_items"]
        cells = [f'<th scope="row">{esc(d)}</th>', f'<td class="num">{fmt_int(sizes.max())}</td>']
        for rating in ("expectation", "performance"):
            r = cell.get((d, rating))
            if r is None or is_hidden(r, "alpha"):
                cells.append(hidden_cells(2))
                continue
            cells.append(f'<td class="num">{fmt_num(r["alpha_design"])}{_design_ci(r)}</td>')
            cells.append(
                f'<td class="num">{fmt_num(r["alpha"])} '
                f'<span class="oi-ci">({interval(r["alpha_ci_low"], r["alpha_ci_high"])})</span>'
                "</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    with_ci = "alpha_design_ci_low" in table and bool(table["alpha_design_ci_low"].notna().any())
    weighted = "weighted (interval)" if with_ci else "weighted"
    head = [
        "Dimension",
        "Attributes",
        f"Expectation, {weighted}",
        "Expectation, unweighted (interval)",
        f"Performance, {weighted}",
        "Performance, unweighted (interval)",
    ]
    return HTML(
        '<section class="oi-reliability"><h3>How consistently each dimension is measured</h3>'
        "<p>Cronbach's alpha: how closely the ratings of a dimension's attributes agree with "
        "each other (0 to 1; 0.7 or more is usually taken as consistent). Weighted: from the "
        "design-weighted covariances (as R's svycralpha)"
        + ("; its interval from the replicate samples" if with_ci else "")
        + "; unweighted: the textbook value with its interval. Both use the customers who rated "
        "every attribute of the dimension.</p>"
        + table_html(head, rows, "oi-reliability", numeric={1, 2, 3, 4, 5})
        + "</section>"
    )


# ---------------------------------------------------------------------------------------------
# glossary and provenance

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
        vocabulary.KEY_DRIVER,
        "An attribute whose performance moves overall satisfaction more than most (derived "
        "importance: its share of the explained satisfaction is clearly above the average "
        "share). In the stated and derived importance grid, a key driver is one customers also "
        "say matters.",
    ),
    (
        vocabulary.BASIC,
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
    conf = level_pct(confidence)
    items = "".join(
        f"<div><dt>{esc(term.format(conf=conf))}</dt>"
        f"<dd>{esc(text.format(conf=conf, dash=DASH))}</dd></div>"
        for term, text in GLOSSARY
    )
    return HTML(
        '<section class="oi-glossary"><h3 id="glossary">Glossary</h3>'
        f'<dl class="oi-terms">{items}</dl></section>'
    )


def provenance(client: Client) -> HTML:
    """The report footer: when and with what it was made, and which input files it used."""
    rows = []
    for role, path in client.input_files().items():
        if role == "params":
            continue
        digest = file_sha256(path)[:12] if Path(path).is_file() else DASH
        rows.append(
            f'{esc(role)} <span class="oi-file">{esc(Path(path).name)}</span> '
            f"(SHA-256 {esc(digest)}…)"
        )
    now = dt.datetime.now().astimezone()
    when = f"{now.day} {now:%B %Y, %H:%M %Z}"
    return HTML(
        '<footer class="oi-provenance">'
        f"<p>Prepared with Outside-In {esc(__version__)} on {esc(when)} from: "
        + "; ".join(rows)
        + ". The full record of inputs, parameters and software versions is kept with the "
        "research team (manifest.json).</p></footer>"
    )
