"""The "What staff believe customers expect" section of the client report: the perception gap
(what staff believe customers expect, against what customers said they expect).

A difference is called clear only when it holds after the Benjamini-Hochberg adjustment across
the attributes (``p_adjusted``); when too few staff answered, the comparison is not shown.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import HTML

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
    plural,
    suppression_note,
    table_html,
)

_HEADING = (
    '<section class="oi-perception"><h2 id="perception">What staff believe customers expect</h2>'
)


def perception_section(
    table: pd.DataFrame | None, confidence: float = 0.95, min_cell: int | None = None
) -> HTML:
    """The "What staff believe customers expect" section (the perception gap). Empty when None.

    Reads ``pipeline.perception_gap``'s table: ``difference = staff_belief -
    customer_expectation`` per item, with BH-adjusted ``p_adjusted``.
    """
    if table is None or table.empty:
        return HTML("")
    shown = [r for _, r in table.iterrows() if not is_hidden(r, "difference")]
    n_staff = int(table["n_staff"].max())
    if not shown:
        return HTML(
            f"{_HEADING}<p>{plural(n_staff, 'member')} of staff answered the staff survey: too "
            f"few to show the comparison without revealing individual answers.</p></section>"
        )
    texts = [
        "Difference = what staff believe customers expect − what customers said they expect "
        "(weighted). Called clear only if it holds after allowing for the number of attributes "
        "compared."
    ]
    if len(shown) < len(table):
        texts.append(suppression_note(min_cell))
    return HTML(
        _HEADING
        + _findings(shown, n_staff, confidence)
        + _perception_table(table, confidence)
        + notes(texts)
        + "</section>"
    )


def _findings(shown: list[pd.Series], n_staff: int, confidence: float) -> str:
    """How many attributes staff clearly under- and overestimate, and the largest underestimate."""
    under = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) < 0]
    over = [r for r in shown if is_clear_adjusted(r, confidence) and float(r["difference"]) > 0]
    text = (
        f"<p>{plural(n_staff, 'member')} of staff rated what they believe customers expect of "
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
            f"<p>The largest underestimate: {esc(item_label(worst))} (staff "
            f"{fmt_num(worst['staff_belief'])} against customers' "
            f"{fmt_num(worst['customer_expectation'])}; difference "
            f"{fmt_num(worst['difference'], signed=True)}, {level_pct(confidence)} interval "
            f"{interval(worst['ci_low'], worst['ci_high'])}).</p>"
        )
    return text


def _perception_table(table: pd.DataFrame, confidence: float) -> str:
    """One row per attribute, the largest underestimate first."""
    rows = []
    ordered = table.assign(_order=table["difference"].fillna(float("inf"))).sort_values("_order")
    for _, r in ordered.iterrows():
        lead = f'<tr><th scope="row">{esc(item_label(r))}</th>'
        if is_hidden(r, "difference"):
            rows.append(lead + hidden_cells(4, 1) + "</tr>")
            continue
        verdict = "No clear difference"
        if is_clear_adjusted(r, confidence):
            verdict = "Staff underestimate" if float(r["difference"]) < 0 else "Staff overestimate"
        rows.append(
            lead + f'<td class="num">{fmt_num(r["staff_belief"])}</td>'
            f'<td class="num">{fmt_num(r["customer_expectation"])}</td>'
            f'<td class="num">{fmt_num(r["difference"], signed=True)}</td>'
            f'<td class="num oi-ci">{interval(r["ci_low"], r["ci_high"])}</td>'
            f"<td>{esc(verdict)}</td></tr>"
        )
    head = [
        "Service attribute",
        "Staff believe",
        "Customers expect",
        "Difference",
        f"{level_pct(confidence)} interval",
        "Verdict",
    ]
    return table_html(head, rows, "oi-perception-table", numeric={1, 2, 3, 4})
