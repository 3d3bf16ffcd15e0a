"""The "What drives overall satisfaction" section of the client report (derived importance:
Johnson's relative weights with replicate intervals); its table of every share is the detail part,
in the technical appendix.

An attribute is a key driver when its share of the explained satisfaction is clearly above the
average share (the drivers table's ``vs_average``, words from :mod:`analysis.cx.vocabulary`);
without replicate intervals nothing is claimed. The section is rendered from
``templates/sections/key_drivers.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import vocabulary
from analysis.report import plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    fmt_int,
    is_hidden,
    item_label,
    missing,
)
from analysis.report.templating import check_part, section


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


def _shares(rows: list[pd.Series]) -> list[dict[str, Any]]:
    """The ``label`` and ``share`` of each driver row."""
    return [{"label": item_label(r), "share": r["share"]} for r in rows]


def drivers_view(drivers: pd.DataFrame, confidence: float) -> dict[str, Any]:
    """The data of the key-drivers section: ``shown`` (False, and nothing else, when too few
    customers answered); else ``n_attributes``, ``n``, ``r_squared`` with its interval
    (``r_squared_ci_low, r_squared_ci_high``), ``intervals`` (:func:`has_intervals`),
    ``above`` (the key drivers' ``label, share``), ``n_unclear``, ``figure``, ``rows`` (the
    table's rows by share with their ``label`` and ``verdict`` as text),
    ``confidence`` and ``notes`` (plain text)."""
    if drivers.empty or is_hidden(drivers.iloc[0], "share"):
        return {"shown": False}
    first = drivers.iloc[0]
    ordered = drivers.sort_values("share", ascending=False, kind="stable")
    verdicts = vocabulary.VS_AVERAGE_TEXT
    rows = [
        {
            **r.to_dict(),
            "label": item_label(r),
            "verdict": verdicts.get(str(r["vs_average"]), DASH),
        }
        for _, r in ordered.iterrows()
    ]
    figure = section_figure(
        lambda layout: plots.driver_chart(drivers, confidence=confidence, layout=layout),
        "Chart of each attribute's share of the explained overall satisfaction with its "
        "interval; the values are in the table below.",
    )
    notes = [
        "Share: relative weight as a percentage of the explained overall satisfaction. "
        f"Intervals from {_replicates_text(drivers)}, each weighted as the full "
        "sample was. Correlation: weighted correlation of the attribute's performance "
        "rating with overall satisfaction."
    ]
    return {
        "shown": True,
        "n_attributes": len(drivers),
        "n": first["n"],
        "r_squared": float(first["r_squared"]),
        "r_squared_ci_low": first["r_squared_ci_low"],
        "r_squared_ci_high": first["r_squared_ci_high"],
        "intervals": has_intervals(drivers),
        "above": _shares(key_driver_rows(drivers)),
        "n_unclear": sum(r["vs_average"] == vocabulary.UNCLEAR for r in rows),
        "figure": Markup(figure),
        "rows": rows,
        "confidence": confidence,
        "notes": notes,
    }


def drivers_section(
    drivers: pd.DataFrame | None, confidence: float = 0.95, part: str = "story"
) -> HTML:
    """The "Key drivers" section, rendered from ``templates/sections/key_drivers.html.j2``:
    ``part="story"`` R^2, the key drivers and the relative-weights chart; ``part="detail"`` (for
    the technical appendix) the table of every share with its interval. Empty when None."""
    if drivers is None:
        return HTML("")
    view = drivers_view(drivers, confidence)
    return section("key_drivers.html.j2", part=check_part(part), **view)


def _replicates_text(drivers: pd.DataFrame) -> str:
    """Where the intervals come from: bootstrap or jackknife replicates (or none)."""
    first = drivers.iloc[0]
    reps = first.get("replicates")
    if not has_intervals(drivers):
        return "no replicates (not available for this sample)"
    if str(first.get("method") or "") == "bootstrap":
        return f"{fmt_int(reps)} bootstrap replicates of the sample design"
    return f"jackknife replicates of the sample design ({fmt_int(reps)})"
