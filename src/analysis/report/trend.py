"""The "Change since the last survey" section of the client report (each attribute's gap now
against the previous wave), and the executive summary's line on the changes.

A change is called clear only when it holds after the Benjamini-Hochberg adjustment across the
attributes (``p_adjusted``); suppressed rows show ``–``.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    esc,
    fmt_int,
    fmt_num,
    hidden_cells,
    interval,
    is_clear_adjusted,
    is_hidden,
    item_label,
    level_pct,
    notes,
    overall_rows,
    suppression_note,
    table_html,
)


def _changes(
    trend: pd.DataFrame, confidence: float
) -> tuple[list[pd.Series], list[pd.Series], list[pd.Series]]:
    """The overall rows shown, and those that clearly improved and clearly worsened."""
    shown = [r for _, r in overall_rows(trend).iterrows() if not is_hidden(r, "change")]
    better = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) > 0]
    worse = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["change"]) < 0]
    return shown, better, worse


def trend_facts(trend: pd.DataFrame | None, confidence: float) -> list[str]:
    """For the executive summary: how many gaps clearly narrowed or widened, and the largest
    change each way (HTML, escaped)."""
    if trend is None or trend.empty:
        return []
    shown, better, worse = _changes(trend, confidence)
    text = (
        f"<strong>Since the last survey</strong>, {fmt_int(len(better))} of {fmt_int(len(shown))} "
        f"gaps clearly narrowed and {fmt_int(len(worse))} clearly widened"
    )
    for word, rows, key in (("improved most", better, -1), ("worsened most", worse, 1)):
        if rows:
            r = sorted(rows, key=lambda x: key * float(x["change"]))[0]
            text += (
                f"; {word}: {esc(item_label(r))} (change {fmt_num(r['change'], signed=True)}, "
                f"{level_pct(confidence)} interval {interval(r['ci_low'], r['ci_high'])})"
            )
    if not better and not worse:
        text += "; the changes seen could be chance"
    return [text + "."]


def trend_section(
    trend: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Change since the last survey" section (overall rows). Empty when None."""
    if trend is None or trend.empty:
        return HTML("")
    conf = level_pct(confidence)
    over = overall_rows(trend)
    shown, better, worse = _changes(trend, confidence)
    parts = [
        '<section class="oi-trend"><h2 id="trend">Change since the last survey</h2>',
        "<p>Each attribute's gap now against the previous survey. A positive change means the "
        "gap narrowed (or performance pulled further ahead of expectations). Changes are called "
        "clear only if they hold after allowing for the number of attributes compared.</p>",
        f"<p><strong>{fmt_int(len(better))}</strong> attributes clearly improved and "
        f"<strong>{fmt_int(len(worse))}</strong> clearly worsened; for the other "
        f"{fmt_int(len(shown) - len(better) - len(worse))} the change could be chance.</p>",
        section_figure(
            lambda layout: plots.trend_chart(trend, confidence=confidence, layout=layout),
            "Chart of the change in each attribute's gap since the previous survey, with its "
            "interval; the values are in the table below.",
        ),
    ]
    rows = []
    for _, r in over.iterrows():
        lead = f'<tr><th scope="row">{esc(item_label(r))}</th>'
        if is_hidden(r, "change"):
            rows.append(lead + hidden_cells(4, 1) + "</tr>")
            continue
        if is_clear_adjusted(r, confidence):
            verdict = "Improved" if float(r["change"]) > 0 else "Worsened"
        else:
            verdict = "No clear change"
        rows.append(
            lead + f'<td class="num">{fmt_num(r["gap_previous"], signed=True)}</td>'
            f'<td class="num">{fmt_num(r["gap"], signed=True)}</td>'
            f'<td class="num">{fmt_num(r["change"], signed=True)}</td>'
            f'<td class="num oi-ci">{interval(r["ci_low"], r["ci_high"])}</td>'
            f"<td>{esc(verdict)}</td></tr>"
        )
    head = ["Service attribute", "Gap before", "Gap now", "Change", f"{conf} interval", "Verdict"]
    parts.append(table_html(head, rows, "oi-trend-table", numeric={1, 2, 3, 4}))
    if len(shown) < len(over):
        parts.append(notes([suppression_note(min_cell)]))
    parts.append("</section>")
    return HTML("".join(parts))
