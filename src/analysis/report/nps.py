"""The "Net Promoter Score" section of the client report (headline, chart and table of every
group), and the executive summary's line on the NPS.

A score is called clearly above or below zero when its interval excludes zero (one test, no
adjustment); suppressed groups show ``–``.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    esc,
    excludes_zero,
    fmt_int,
    fmt_num,
    group_name,
    hidden_cells,
    interval,
    is_hidden,
    level_pct,
    notes,
    overall_rows,
    suppression_note,
    table_html,
)


def _overall(nps: pd.DataFrame | None) -> pd.Series | None:
    """The overall row of the NPS table, None when there is none or it is hidden."""
    if nps is None or nps.empty:
        return None
    over = overall_rows(nps)
    if over.empty or is_hidden(over.iloc[0], "nps"):
        return None
    return over.iloc[0]


def _score(r: pd.Series, confidence: float) -> tuple[str, str]:
    """The signed score and ``(95% interval +4 to +20; clearly above zero)``: its interval and
    whether it is clearly different from zero."""
    if excludes_zero(r["ci_low"], r["ci_high"]):
        judgement = f"clearly {'above' if float(r['nps']) > 0 else 'below'} zero"
    else:
        judgement = "not clearly different from zero"
    return fmt_num(r["nps"], 0, signed=True), (
        f"({level_pct(confidence)} interval {interval(r['ci_low'], r['ci_high'], 0)}; {judgement})"
    )


def nps_facts(nps: pd.DataFrame | None, confidence: float) -> list[str]:
    """For the executive summary: the overall NPS with its interval (none when hidden)."""
    r = _overall(nps)
    if r is None:
        return []
    score, detail = _score(r, confidence)
    return [f"<strong>Net Promoter Score {score}</strong> {detail}."]


def nps_section(
    nps: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "Net Promoter Score" section: headline, chart and table. Empty when None."""
    if nps is None or nps.empty:
        return HTML("")
    parts = [
        '<section class="oi-nps"><h2 id="nps">Net Promoter Score</h2>',
        "<p>How likely customers are to recommend us, on 0 to 10: promoters answer 9 or 10, "
        "detractors 0 to 6. The Net Promoter Score is the percentage of promoters minus the "
        "percentage of detractors (−100 to +100).</p>",
    ]
    r = _overall(nps)
    if r is not None:
        score, detail = _score(r, confidence)
        parts.append(
            f"<p>Overall NPS: <strong>{score}</strong> {detail}: "
            f"{fmt_num(r['promoters'], 0)}% promoters, {fmt_num(r['detractors'], 0)}% "
            "detractors.</p>"
        )
    parts.append(
        section_figure(
            lambda layout: plots.nps_chart(nps, confidence=confidence, layout=layout),
            "Chart of the Net Promoter Score of all customers and of each group, with its "
            "interval; the values are in the table below.",
        )
    )
    rows = []
    for _, r in nps.iterrows():
        lead = (
            f'<tr><th scope="row">{esc(group_name(r))}</th><td class="num">{fmt_int(r["n"])}</td>'
        )
        if is_hidden(r, "nps"):
            rows.append(lead + hidden_cells(5) + "</tr>")
            continue
        rows.append(
            lead + f'<td class="num">{fmt_num(r["nps"], 0, signed=True)}</td>'
            f'<td class="num oi-ci">{interval(r["ci_low"], r["ci_high"], 0)}</td>'
            f'<td class="num">{fmt_num(r["promoters"], 0)}%</td>'
            f'<td class="num">{fmt_num(r["passives"], 0)}%</td>'
            f'<td class="num">{fmt_num(r["detractors"], 0)}%</td></tr>'
        )
    head = ["Customers", "Respondents", "NPS", f"{level_pct(confidence)} interval", "Promoters"]
    head += ["Passives", "Detractors"]
    texts = [
        "Groups whose intervals overlap may not really differ; the intervals take the weights "
        "and the sample design into account."
    ]
    if any(is_hidden(r, "nps") for _, r in nps.iterrows()):
        texts.append(suppression_note(min_cell))
    parts.append(
        table_html(head, rows, "oi-nps-table", numeric={1, 2, 3, 4, 5, 6})
        + notes(texts)
        + "</section>"
    )
    return HTML("".join(parts))
