"""The "Gaps by segment" part of the client report: the heatmap and one table per segment
variable, which customer groups are underserved (each level against the rest of the customers),
and the top priorities within each group; plus the executive summary's line on the most
underserved groups.

Each function returns an :class:`IPython.display.HTML` object (or, for the summary, HTML text).
Differences between groups are called clear only after the Benjamini-Hochberg adjustment
(``p_adjusted``); suppressed cells show ``–``.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

from analysis.cx import vocabulary
from analysis.report import plots
from analysis.report.figures import figure
from analysis.report.formatting import (
    DASH,
    dimension_row,
    esc,
    flag,
    fmt_int,
    fmt_num,
    gap_cell,
    hidden_cells,
    interval,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_cells,
    level_pct,
    notes,
    ordered_items,
    overall_rows,
    p_text,
    rows_of,
    segment_rows,
    suppression_note,
    table_html,
    wrap_table,
)

# ---------------------------------------------------------------------------------------------
# gaps by segment: heatmap and tables


def segment_tables(
    table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """One table per segment variable: gap of each item (rows) in each level (columns).

    The first numeric column repeats the overall gap for reference. Suppressed cells show ``–``.
    Empty when the table has no segment rows.
    """
    seg = segment_rows(table)
    if seg.empty:
        return HTML("")
    over = ordered_items(overall_rows(table))
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
                f'<th scope="col" class="num">{esc(lv)}'
                f'<span class="oi-n">n = {fmt_int(n_by_level[lv])}</span></th>'
                for lv in levels
            )
            + "</tr></thead>"
        )
        body, dim = [], None
        for _, r in over.iterrows():
            if str(r["dimension"]) != dim:
                dim = str(r["dimension"])
                body.append(dimension_row(dim, 2 + len(levels)))
            by_level, hidden = level_cells(cells, str(r["item"]), levels, confidence)
            any_hidden |= hidden
            body.append(
                f'<tr><th scope="row">{esc(item_label(r))}</th>{gap_cell(r, confidence)}'
                + "".join(by_level)
                + "</tr>"
            )
        parts.append(
            f"<h3>Gap by {esc(group)}</h3>"
            + wrap_table(head + "<tbody>" + "".join(body) + "</tbody>", cls="oi-segments")
        )
    texts = [
        "Each cell is the gap (performance − expectation) among that group's customers. "
        f'<span class="oi-sig">*</span> a clear gap: its {level_pct(confidence)} confidence '
        "interval excludes zero. Differences between groups are only meaningful where both gaps "
        "are clear and far apart."
    ]
    if any_hidden:
        texts.append(suppression_note(min_cell))
    return HTML("".join(parts) + notes(texts))


def segment_section(
    table: pd.DataFrame, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Gaps by segment" section: heading, heatmap and one table per segment variable.

    Empty (no heading) when the table has no segment rows, so a client without segments gets no
    empty section.
    """
    if (table["group"].astype(str) == vocabulary.ALL).all():
        return HTML("")
    fig_html = figure(
        lambda layout: plots.segment_gap_heatmap(table, confidence=confidence, layout=layout),
        alt="Heatmap of the gap of each service attribute in each customer group; "
        "the values are in the tables below.",
        dpi=120,
    ).data
    tables = segment_tables(table, confidence=confidence, min_cell=min_cell).data
    return HTML(
        '<section class="oi-segment-section"><h2 id="gaps-by-segment">Gaps by segment</h2>'
        "<p>The same gaps, among each group of customers. Smaller groups have wider "
        "uncertainty, so a gap can be clear overall but not within every group.</p>"
        f"{fig_html}{tables}</section>"
    )


# ---------------------------------------------------------------------------------------------
# which customers are underserved


def segment_comparison(
    contrasts: pd.DataFrame | None,
    ranked: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    top: int = 3,
) -> HTML:
    """Which customer groups are underserved: each level against the rest of the customers,
    and the top priorities of each group.

    ``contrasts`` is :func:`analysis.cx.segments.segment_contrasts` output (suppressed, with the
    ``item == "all"`` rows); ``ranked`` the priorities table. Empty when ``contrasts`` is None.
    """
    if contrasts is None or contrasts.empty:
        return HTML("")
    conf = level_pct(confidence)
    summary = contrasts[contrasts["item"].astype(str) == vocabulary.ALL]
    items = contrasts[contrasts["item"].astype(str) != vocabulary.ALL]
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
        parts.append(_most_underserved(group, g, conf))
        parts += _group_contrasts(group, g, items, confidence, top)
        any_hidden |= any(is_hidden(r, "difference") for _, r in g.iterrows())
    if ranked is not None:
        parts.append(_top_by_group(ranked))
    texts = [
        f'<span class="oi-sig">*</span> a clear difference after the adjustment; the {conf} '
        "interval is shown unadjusted."
    ]
    if any_hidden:
        texts.append(suppression_note(min_cell))
    parts.append(notes(texts) + "</section>")
    return HTML("".join(parts))


def _most_underserved(group: str, g: pd.DataFrame, conf: str) -> str:
    """The paragraph naming the group's most underserved level (or saying there is none)."""
    worst = g[g["most_underserved"].fillna(False).astype(bool)]
    if not len(worst):
        return (
            f"<p>By {esc(group)}: no group falls clearly further short than the rest of the "
            "customers; the differences seen could be chance.</p>"
        )
    r = worst.iloc[0]
    return (
        f"<p><strong>By {esc(group)}: {esc(r['level'])}</strong> customers are the most "
        f"underserved. Their average gap is {fmt_num(r['gap'])} against "
        f"{fmt_num(r['gap_rest'])} for other customers (difference "
        f"{fmt_num(r['difference'])}, {conf} interval "
        f"{interval(r['ci_low'], r['ci_high'])}; {esc(p_text(r['p_adjusted']))} "
        "after adjustment).</p>"
    )


def _group_contrasts(
    group: str, g: pd.DataFrame, items: pd.DataFrame, confidence: float, top: int
) -> list[str]:
    """The contrast table of one segment variable and the attributes each level falls clearly
    further short on."""
    rows, behind = [], []
    for _, r in g.iterrows():
        rows.append(_contrast_row(r, confidence))
        if not is_hidden(r, "difference"):
            level = str(r["level"])
            behind += _falls_behind(rows_of(items, group, level), level, confidence, top)
    head = [
        esc(group.capitalize()),
        "Respondents",
        "Average gap",
        "Others",
        "Difference",
        f"{level_pct(confidence)} interval",
        "Verdict",
    ]
    parts = [table_html(head, rows, "oi-contrasts", numeric={1, 2, 3, 4, 5})]
    if behind:
        parts.append(
            "<p>Attributes on which a group falls clearly further short than the other "
            f"customers (largest difference first):</p><ul>{''.join(behind)}</ul>"
        )
    return parts


def _contrast_row(r: pd.Series, confidence: float) -> str:
    """One level against the rest: its average gap, the others', the difference and verdict."""
    lead = f'<tr><th scope="row">{esc(r["level"])}</th><td class="num">{fmt_int(r["n"])}</td>'
    if is_hidden(r, "difference"):
        return lead + hidden_cells(4, 1) + "</tr>"
    if is_clear_adjusted(r, confidence):
        verdict = "Clearly worse" if float(r["difference"]) < 0 else "Clearly better"
    else:
        verdict = "No clear difference"
    difference = {"gap": r["difference"], "p_value": r["p_adjusted"], "suppressed": False}
    return (
        lead
        + f'<td class="num">{fmt_num(r["gap"], signed=True)}</td>'
        + f'<td class="num">{fmt_num(r["gap_rest"], signed=True)}</td>'
        + gap_cell(difference, confidence)
        + f'<td class="num oi-ci">{interval(r["ci_low"], r["ci_high"])}</td>'
        + f"<td>{esc(verdict)}</td></tr>"
    )


def _falls_behind(rows: pd.DataFrame, level: str, confidence: float, top: int) -> list[str]:
    """The attributes (item rows of one level) on which the level falls clearly further short
    than the other customers, largest difference first, as a list item (none: empty)."""
    keep = [
        is_clear_adjusted(r, confidence) and float(r["difference"]) < 0 for _, r in rows.iterrows()
    ]
    worse = rows.loc[keep].sort_values("difference")
    if not len(worse):
        return []
    names = ", ".join(esc(item_label(x)) for _, x in worse.head(top).iterrows())
    more = len(worse) - min(len(worse), top)
    if more > 0:
        names += f" and {fmt_int(more)} more"
    return [f"<li><strong>{esc(level)}</strong>: {names}.</li>"]


def _top_by_group(ranked: pd.DataFrame) -> str:
    """The largest clear shortfalls within each group of customers."""
    seg = segment_rows(ranked)
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
                f"{esc(item_label(r))} ({fmt_num(r['gap'])})" for _, r in top.iterrows()
            )
        rows.append(f'<tr><th scope="row">{esc(group)}: {esc(level)}</th><td>{text}</td></tr>')
    return (
        "<h3>Top priorities in each group</h3>"
        "<p>The largest clear shortfalls (after the adjustment) within each group of customers, "
        "with their gaps.</p>" + table_html(["Group", "Top priorities"], rows, "oi-top")
    )


# ---------------------------------------------------------------------------------------------
# the executive summary's line


def underserved_facts(contrasts: pd.DataFrame | None, confidence: float) -> list[str]:
    """For the executive summary: per segment variable, the most underserved level when its
    difference from the other customers is clear after the adjustment (HTML, escaped)."""
    if contrasts is None or contrasts.empty:
        return []
    conf = level_pct(confidence)
    summary = contrasts[contrasts["item"].astype(str) == vocabulary.ALL]
    out = []
    for group in dict.fromkeys(summary["group"].astype(str)):
        g = summary[summary["group"].astype(str) == group]
        worst = [
            r
            for _, r in g.iterrows()
            if flag(r.get("most_underserved"))
            and not is_hidden(r, "difference")
            and is_clear_adjusted(r, confidence)
        ]
        if worst:
            r = worst[0]
            out.append(
                f"<strong>Most underserved by {esc(group)}: {esc(r['level'])}</strong>. Their "
                f"average gap is {fmt_num(r['gap'], signed=True)} against "
                f"{fmt_num(r['gap_rest'], signed=True)} for other customers (difference "
                f"{fmt_num(r['difference'], signed=True)}, {conf} interval "
                f"{interval(r['ci_low'], r['ci_high'])}; clear after allowing for the groups "
                "compared)."
            )
        else:
            out.append(
                f"By {esc(group)}, no group falls clearly further short than the rest of the "
                "customers: the differences seen could be chance."
            )
    return out
