"""The "What drives overall satisfaction" section of the client report (derived importance:
Johnson's relative weights with replicate intervals), and the executive summary's line on the key
drivers.

An attribute is a key driver when its share of the explained satisfaction is clearly above the
average share (the drivers table's ``vs_average``, words from :mod:`analysis.cx.vocabulary`);
without replicate intervals nothing is claimed.
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
    fmt_int,
    fmt_num,
    fmt_pct,
    interval,
    is_hidden,
    item_label,
    level_pct,
    missing,
    notes,
    plural,
    table_html,
)


def has_intervals(drivers: pd.DataFrame | None) -> bool:
    """Whether the driver table has shares with replicate intervals (else nothing can be
    claimed about which attribute matters more)."""
    if drivers is None or drivers.empty or is_hidden(drivers.iloc[0], "share"):
        return False
    reps = drivers.iloc[0].get("replicates")
    return not missing(reps) and int(reps) > 0


def key_driver_rows(drivers: pd.DataFrame | None) -> list[pd.Series]:
    """Attributes whose share is clearly above the average share, largest first (none without
    intervals)."""
    if not has_intervals(drivers):
        return []
    rows = drivers.sort_values("share", ascending=False, kind="stable")
    return [r for _, r in rows.iterrows() if str(r.get("vs_average")) == vocabulary.ABOVE]


def _shares(rows: list[pd.Series]) -> str:
    """``label (12.3%); label (10.1%)``, escaped."""
    return "; ".join(f"{esc(item_label(r))} ({fmt_num(r['share'], 1)}%)" for r in rows)


def driver_facts(drivers: pd.DataFrame | None) -> list[str]:
    """For the executive summary: the key drivers, or that none stands out (HTML, escaped);
    nothing without intervals."""
    if not has_intervals(drivers):
        return []
    above = key_driver_rows(drivers)
    if not above:
        return [
            "No attribute stands out as a driver of overall satisfaction: no share of the "
            "explained satisfaction is clearly above the average."
        ]
    r2 = fmt_pct(drivers.iloc[0]["r_squared"])
    return [
        f"<strong>Key drivers of overall satisfaction</strong> (clearly above the average "
        f"share of the {r2} of satisfaction the attributes explain): {_shares(above)}."
    ]


def drivers_section(drivers: pd.DataFrame | None, confidence: float = 0.95) -> HTML:
    """The "Key drivers" section: R^2, the relative-weights chart and table. Empty when None."""
    if drivers is None:
        return HTML("")
    if drivers.empty or is_hidden(drivers.iloc[0], "share"):
        return HTML(
            '<section class="oi-drivers"><h2 id="key-drivers">What drives overall '
            "satisfaction</h2><p>Not shown: too few customers answered overall satisfaction "
            "and rated the performance of every attribute for a reliable analysis.</p>"
            "</section>"
        )
    rows = drivers.sort_values("share", ascending=False, kind="stable")
    parts = [
        '<section class="oi-drivers"><h2 id="key-drivers">What drives overall satisfaction</h2>',
        _explained(drivers, confidence),
        *_verdicts(drivers, rows),
        section_figure(
            lambda layout: plots.driver_chart(drivers, confidence=confidence, layout=layout),
            "Chart of each attribute's share of the explained overall satisfaction with its "
            "interval; the values are in the table below.",
        ),
        _driver_table(rows, confidence),
        notes(
            [
                "Share: relative weight as a percentage of the explained overall satisfaction. "
                f"Intervals from {esc(_replicates_text(drivers))}, each weighted as the full "
                "sample was. Correlation: weighted correlation of the attribute's performance "
                "rating with overall satisfaction."
            ]
        )
        + "</section>",
    ]
    return HTML("".join(parts))


def _explained(drivers: pd.DataFrame, confidence: float) -> str:
    """How much of overall satisfaction the attributes explain (R^2 with its interval)."""
    first = drivers.iloc[0]
    r2_ci = ""
    if not missing(first["r_squared_ci_low"]):
        r2_ci = (
            f" ({level_pct(confidence)} interval {fmt_pct(first['r_squared_ci_low'])} to "
            f"{fmt_pct(first['r_squared_ci_high'])})"
        )
    return (
        "<p>Customers did not only rate each attribute; they also gave their overall "
        "satisfaction. How closely an attribute's performance rating moves with overall "
        "satisfaction shows how much it matters to customers in practice (<em>derived "
        "importance</em>), whatever they say. The ratings of all "
        f"{fmt_int(len(drivers))} attributes together account for "
        f"<strong>{fmt_pct(float(first['r_squared']))}</strong>{r2_ci} of the differences in "
        f"overall satisfaction among the {fmt_int(first['n'])} customers who answered it and "
        "rated the performance of every attribute. Relative "
        "weights (Johnson's method) split that share between the attributes, even though "
        "their ratings move together; the shares add up to 100%.</p>"
    )


def _verdicts(drivers: pd.DataFrame, rows: pd.DataFrame) -> list[str]:
    """Which attributes are clearly above the average share, and what an unclear share means."""
    parts = []
    above = key_driver_rows(drivers)
    if not has_intervals(drivers):
        parts.append(
            "<p>The uncertainty of the shares could not be estimated for this sample (the "
            "replicate samples could not be weighted to the customer base), so no attribute is "
            "called clearly more or less important than another.</p>"
        )
    elif above:
        parts.append(
            f"<p><strong>Clearly above the average share</strong> ({fmt_num(100 / len(drivers), 1)}"
            f"%): {_shares(above)}.</p>"
        )
    else:
        parts.append(
            "<p>No attribute's share is clearly above the average share: the data do not single "
            "out particular drivers.</p>"
        )
    unclear = [r for _, r in rows.iterrows() if r["vs_average"] == vocabulary.UNCLEAR]
    if unclear:
        parts.append(
            f"<p>For {plural(len(unclear), 'attribute')} the share is not clearly different from "
            "the average. A small share does not mean an attribute does not matter: a basic "
            "requirement that everyone expects moves satisfaction little until it fails.</p>"
        )
    return parts


def _driver_table(rows: pd.DataFrame, confidence: float) -> str:
    """Rank, attribute, share with its interval, correlation, verdict (and tier)."""
    verdicts = vocabulary.VS_AVERAGE_TEXT
    tiers = "tier" in rows.columns
    body = []
    for _, r in rows.iterrows():
        body.append(
            f'<tr><td class="num">{fmt_int(r["rank"])}</td>'
            f'<th scope="row">{esc(item_label(r))}</th>'
            f'<td class="num">{fmt_num(r["share"], 1)}%</td>'
            f'<td class="num oi-ci">{interval(r["share_ci_low"], r["share_ci_high"], 1)}</td>'
            f'<td class="num">{fmt_num(r["correlation"])}</td>'
            f"<td>{esc(verdicts.get(str(r['vs_average']), DASH))}</td>"
            + (f"<td>{esc(r['tier'] if not missing(r['tier']) else DASH)}</td>" if tiers else "")
            + "</tr>"
        )
    head = [
        "Rank",
        "Service attribute",
        "Share",
        f"{level_pct(confidence)} interval",
        "Correlation",
        "Compared with average",
    ] + (["Importance tier"] if tiers else [])
    return table_html(head, body, "oi-drivers-table", numeric={0, 2, 3, 4})


def _replicates_text(drivers: pd.DataFrame) -> str:
    """Where the intervals come from: bootstrap or jackknife replicates (or none)."""
    first = drivers.iloc[0]
    reps = first.get("replicates")
    if not has_intervals(drivers):
        return "no replicates (not available for this sample)"
    if str(first.get("method") or "") == "bootstrap":
        return f"{fmt_int(reps)} bootstrap replicates of the sample design"
    return f"jackknife replicates of the sample design ({fmt_int(reps)})"
