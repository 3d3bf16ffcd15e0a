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
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis import __version__
from analysis.params import Client

DASH = "–"  # shown for a suppressed or missing value
MINUS = "−"  # typographic minus sign for negative numbers

__all__ = [
    "DASH",
    "cover",
    "figure",
    "fmt_int",
    "fmt_num",
    "fmt_pct",
    "gap_table",
    "is_clear",
    "is_hidden",
    "item_label",
    "key_findings",
    "ordered_items",
    "overall_rows",
    "provenance",
    "sample_design",
    "segment_section",
    "segment_tables",
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
        return float(p) < 1 - confidence
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


def cover(client: Client, summary: Any | None = None) -> HTML:
    """The cover: survey title, what the report is, sample size, items and dimensions.

    ``summary`` is the :class:`~analysis.schema.ValidationSummary` (or its ``to_dict()``); its
    ``accepted`` count is the sample size shown.
    """
    cb = client.codebook
    facts = []
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

    ``weights`` is :func:`analysis.weighting.weighting_summary` of the design: ``n, sum_weights,
    kish_neff, efficiency, adjustment_min, adjustment_max``.
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


def key_findings(table: pd.DataFrame, confidence: float = 0.95, top: int = 3) -> HTML:
    """The headline: how many gaps are clear shortfalls, and the largest of them.

    ``table`` is a gap table (overall rows: ``group == level == 'all'``).
    """
    over = overall_rows(table)
    rows = [r for _, r in over.iterrows() if not is_hidden(r)]
    short = sorted(
        (r for r in rows if is_clear(r, confidence) and float(r["gap"]) < 0),
        key=lambda r: float(r["gap"]),
    )
    above = sorted(
        (r for r in rows if is_clear(r, confidence) and float(r["gap"]) > 0),
        key=lambda r: -float(r["gap"]),
    )
    unclear = len(rows) - len(short) - len(above)
    conf = _level_pct(confidence)
    bullets = [
        f"<strong>{fmt_int(len(short))} of {fmt_int(len(rows))}</strong> service attributes "
        "fall clearly short of what customers expect."
    ]
    if short:
        names = "; ".join(
            f"{_e(item_label(r))} (gap {fmt_num(r['gap'])}, {conf} interval "
            f"{fmt_num(r['ci_low'])} to {fmt_num(r['ci_high'])})"
            for r in short[:top]
        )
        bullets.append(f"The largest shortfalls: {names}.")
    if above:
        names = "; ".join(
            f"{_e(item_label(r))} (gap {fmt_num(r['gap'], signed=True)})" for r in above[:top]
        )
        bullets.append(
            f"{_plural(len(above), 'attribute')} clearly exceed{'s' if len(above) == 1 else ''} "
            f"expectations: {names}."
        )
    if unclear:
        bullets.append(
            f"For {_plural(unclear, 'attribute')} the data show no clear gap: the difference "
            "could be chance."
        )
    items = "".join(f"<li>{b}</li>" for b in bullets)
    return _html(f'<section class="oi-findings"><h3>Key findings</h3><ul>{items}</ul></section>')


def gap_table(table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None) -> HTML:
    """The overall gap table: one row per item, grouped by dimension, largest shortfall first.

    ``table`` has the gap-table columns (``item, label, dimension, group, level, n, expectation,
    performance, gap, ci_low, ci_high, p_value``) and optionally the bool ``suppressed`` added by
    :func:`analysis.gaps.suppress_small_cells`; only overall rows are shown.
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
    from analysis import plots

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
    from analysis.io import file_sha256

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
