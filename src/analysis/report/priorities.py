"""The "Priorities: what to fix first" section of the client report: the importance-performance
chart, the ranked list of attributes and, when the drivers are known, the stated and derived
importance grid with its tiers.

Returns an :class:`IPython.display.HTML` object. A shortfall is clear only after the
Benjamini-Hochberg adjustment (the priorities table's ``verdict``); the class names (verdicts,
quadrants, tiers) are those of :mod:`analysis.cx.vocabulary`.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

from analysis.cx import vocabulary
from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    esc,
    flag,
    fmt_int,
    fmt_num,
    gap_cell,
    hidden_cells,
    interval,
    is_hidden,
    item_label,
    level_pct,
    missing,
    notes,
    overall_rows,
    p_text,
    suppression_note,
    table_html,
)

#: What each tier of the dual-importance grid means, in the order they are listed.
TIER_MEANING = {
    vocabulary.KEY_DRIVER: "customers say they matter and they move overall satisfaction",
    vocabulary.BASIC: "customers say they matter, but they move satisfaction little: "
    "expected as a matter of course, and missed when they fail",
    vocabulary.HIDDEN_DRIVER: "customers rate them less important than most, yet they "
    "move overall satisfaction: a chance to delight",
    vocabulary.SECONDARY: "lower on both",
}


def priorities_section(
    ranked: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    confidence: float = 0.95,
    min_cell: int | None = None,
) -> HTML:
    """The "Priorities" section: importance-performance chart, ranked list, dual-importance grid.

    ``ranked`` is :func:`analysis.cx.priorities.priorities` output; ``drivers`` (optional) is the
    driver table with tiers (:func:`analysis.cx.drivers.importance_tiers`).
    """
    over = overall_rows(ranked)
    shown = [r for _, r in over.iterrows() if not is_hidden(r)]
    short = [r for r in shown if r["verdict"] == vocabulary.SHORTFALL]
    top = [r for r in shown if flag(r.get("top_priority"))]
    tiers = {}
    if drivers is not None and "tier" in drivers.columns:
        tiers = {str(r["item"]): r["tier"] for _, r in drivers.iterrows() if not missing(r["tier"])}
    parts = [
        '<section class="oi-priorities"><h2 id="priorities">Priorities: what to fix first</h2>',
        "<p>Service attributes ranked by how far performance falls short of what customers "
        f"expect (rank 1: the largest shortfall). Because {fmt_int(len(over))} attributes are "
        "tested at once, a shortfall is only called <em>clear</em> here if it holds after "
        "allowing for that (Benjamini-Hochberg adjustment), so a few gaps marked clear in the "
        "gap table may not be clear here.</p>",
    ]
    if top:
        names = "; ".join(f"{esc(item_label(r))} (gap {fmt_num(r['gap'])})" for r in top)
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
        parts.append(_importance_performance(ranked))
    parts.append(_ranked_list(over, tiers, confidence, min_cell))
    if tiers:
        parts.append(_dual_importance(drivers, ranked))
    parts.append("</section>")
    return HTML("".join(parts))


def _importance_performance(ranked: pd.DataFrame) -> str:
    """The importance-performance chart, with how to read it."""
    return (
        "<h3>Importance and performance</h3>"
        "<p>Each attribute sits at its performance (across) and how much customers expect "
        "of it (up); the numbers are the ranks in the list below. The dashed lines are the "
        "averages over the attributes. Attributes in <em>Concentrate here</em> matter more "
        "than most and perform worse than most: they are where improvement pays off first. "
        "<em>Possible overkill</em>: performance above what the attribute's importance "
        "asks.</p>"
        + section_figure(
            lambda layout: plots.ipa_chart(ranked, layout=layout),
            "Importance-performance chart: each attribute's expectation against its "
            "performance, numbered by priority rank; the values are in the list below.",
        )
    )


def _ranked_list(
    over: pd.DataFrame, tiers: dict[str, str], confidence: float, min_cell: int | None
) -> str:
    """The ranked list: rank, attribute, gap, interval, verdict, quadrant (and tier)."""
    conf = level_pct(confidence)
    rows = []
    for _, r in over.iterrows():
        if is_hidden(r):
            cells = hidden_cells(2, 2)
        else:
            clear = r["verdict"] == vocabulary.SHORTFALL
            verdict = vocabulary.VERDICT_TEXT.get(str(r["verdict"]), DASH)
            cells = (
                gap_cell({**r, "p_value": r["p_adjusted"]}, confidence)
                + f'<td class="num oi-ci">{interval(r["ci_low"], r["ci_high"])}</td>'
                + f'<td><span class="oi-verdict">{"<strong>" if clear else ""}{esc(verdict)}'
                + f"{'</strong>' if clear else ''}</span>"
                + f'<span class="oi-sub">{esc(p_text(r["p_adjusted"]))}</span></td>'
                + f"<td>{esc(r['quadrant'])}</td>"
            )
        tier = f"<td>{esc(tiers.get(str(r['item']), DASH))}</td>" if tiers else ""
        rank = DASH if missing(r["rank"]) else fmt_int(r["rank"])
        rows.append(
            f'<tr><td class="num">{rank}</td><th scope="row">{esc(item_label(r))}'
            f'<span class="oi-sub">{esc(r["dimension"])}</span></th>{cells}{tier}</tr>'
        )
    head = ["Rank", "Service attribute", "Gap", f"{conf} interval", "Verdict", "Quadrant"]
    if tiers:
        head.append("Tier")
    texts = [
        f'<span class="oi-sig">*</span> a clear gap after the adjustment for testing '
        f"{fmt_int(len(over))} attributes; its {conf} interval is shown unadjusted. Under each "
        "verdict, the adjusted p-value; under each attribute, its dimension."
        + (" Tier: see Stated and derived importance below." if tiers else "")
    ]
    if any(is_hidden(r) for _, r in over.iterrows()):
        texts.append(suppression_note(min_cell))
    return (
        "<h3>Ranked list</h3>"
        + table_html(head, rows, "oi-priorities-table", numeric={0, 2, 3})
        + notes(texts)
    )


def _dual_importance(drivers: pd.DataFrame, ranked: pd.DataFrame) -> str:
    """The stated and derived importance grid, numbered by priority rank, and its tiers."""
    over = overall_rows(ranked)
    numbers = {
        str(r["item"]): fmt_int(r["rank"]) for _, r in over.iterrows() if not missing(r["rank"])
    }
    groups: dict[str, list[str]] = {}
    for _, r in drivers.iterrows():
        if not missing(r.get("tier")):
            groups.setdefault(str(r["tier"]), []).append(esc(item_label(r)))
    items = "".join(
        f"<li><strong>{esc(t)}</strong> ({esc(meaning)}): {', '.join(groups[t])}.</li>"
        for t, meaning in TIER_MEANING.items()
        if t in groups
    )
    return (
        "<h3>Stated and derived importance</h3>"
        "<p>What customers <em>say</em> matters (their expectation) is not always what "
        "<em>moves</em> their overall satisfaction (derived importance, see Key drivers). "
        "Putting the two side by side sorts the attributes into tiers; the dashed lines are "
        "the averages, and the numbers are the priority ranks.</p>"
        + section_figure(
            lambda layout: plots.importance_grid(drivers, numbers=numbers, layout=layout),
            "Dual-importance grid: stated importance against derived importance of each "
            "attribute, numbered by priority rank; the tiers are listed below.",
        )
        + f"<ul>{items}</ul>"
        + notes(
            [
                "Tiers are read from the estimates; an attribute close to a dashed line could "
                "belong to the neighbouring tier (see the intervals under Key drivers)."
            ]
        )
    )
