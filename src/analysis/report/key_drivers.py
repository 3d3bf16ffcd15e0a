"""The "What drives satisfaction and loyalty" section of the client report (derived importance:
Johnson's relative weights with replicate intervals, for overall satisfaction and for likelihood
to recommend when the codebook names both); its tables of every share, one per outcome, are the
detail part, in the technical appendix.

An attribute is a key driver of an outcome when its share of the explained outcome is clearly
above the average share (the drivers table's ``vs_average``, words from
:mod:`analysis.cx.vocabulary`); without replicate intervals nothing is claimed. With both outcomes,
the section says which attributes clearly drive one outcome but not the other. The section is
rendered from ``templates/sections/key_drivers.html.j2``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import drivers as cx_drivers
from analysis.cx import vocabulary
from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    DASH,
    fmt_int,
    is_hidden,
    item_label,
    missing,
    word,
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


def drivers_title(outcomes: Sequence[str]) -> str:
    """The section's heading for the outcomes it shows: ``What drives overall satisfaction``,
    ``What drives likelihood to recommend``, or both joined."""
    shown = tuple(o for o in vocabulary.DRIVER_OUTCOMES if o in outcomes)
    if shown == (vocabulary.RECOMMEND,):
        return i18n.gettext("What drives likelihood to recommend")
    if len(shown) == 2:
        return i18n.gettext("What drives overall satisfaction and likelihood to recommend")
    return i18n.gettext("What drives overall satisfaction")


def _block(drivers: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """One outcome's rows (none when the table is empty or has no ``outcome`` column)."""
    if drivers.empty or "outcome" not in drivers.columns:
        return drivers.iloc[0:0]
    return cx_drivers.for_outcome(drivers, outcome)


def model_view(drivers: pd.DataFrame, outcome: str) -> dict[str, Any]:
    """One outcome's model: ``outcome``, ``text`` (its words in a sentence), ``shown`` (False,
    and nothing else, when too few customers answered); else ``n_attributes``, ``n``,
    ``r_squared`` with its interval (``r_squared_ci_low, r_squared_ci_high``), ``intervals``
    (:func:`has_intervals`), ``above`` (the key drivers' ``label, share``), ``n_unclear``,
    ``rows`` (the table's rows by share with their ``label`` and ``verdict`` as text) and
    ``notes`` (plain text)."""
    text = word(vocabulary.OUTCOME_TEXT[outcome])
    block = _block(drivers, outcome)
    if block.empty or is_hidden(block.iloc[0], "share"):
        return {"outcome": outcome, "text": text, "shown": False}
    first = block.iloc[0]
    ordered = block.sort_values("share", ascending=False, kind="stable")
    verdicts = vocabulary.VS_AVERAGE_TEXT
    rows = [
        {
            **r.to_dict(),
            "label": item_label(r),
            "verdict": word(verdicts[str(r["vs_average"])])
            if str(r["vs_average"]) in verdicts
            else DASH,
        }
        for _, r in ordered.iterrows()
    ]
    notes = [
        i18n.gettext(
            "Share: relative weight as a percentage of the explained %(outcome)s. Intervals from "
            "%(replicates)s, each weighted as the full sample was. Correlation: weighted "
            "correlation of the attribute's performance rating with %(outcome)s."
        )
        % {"outcome": text, "replicates": _replicates_text(block)}
    ]
    return {
        "outcome": outcome,
        "text": text,
        "shown": True,
        "n_attributes": len(block),
        "n": first["n"],
        "r_squared": float(first["r_squared"]),
        "r_squared_ci_low": first["r_squared_ci_low"],
        "r_squared_ci_high": first["r_squared_ci_high"],
        "intervals": has_intervals(block),
        "above": _shares(key_driver_rows(block)),
        "n_unclear": sum(r["vs_average"] == vocabulary.UNCLEAR for r in rows),
        "rows": rows,
        "notes": notes,
    }


def _contrast(drivers: pd.DataFrame, models: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With two shown models that both have intervals: the attributes clearly above the
    average share for both (``both``: labels), and for each outcome those clearly above for it
    but not for the other (``only``: ``text, other, labels``); None otherwise."""
    shown = [m for m in models if m["shown"] and m["intervals"]]
    if len(shown) != 2:
        return None
    above = {
        m["outcome"]: {
            str(r["item"]): item_label(r) for r in key_driver_rows(_block(drivers, m["outcome"]))
        }
        for m in shown
    }
    a, b = (m["outcome"] for m in shown)
    only = [
        {
            "text": word(vocabulary.OUTCOME_TEXT[x]),
            "other": word(vocabulary.OUTCOME_TEXT[y]),
            "labels": [lab for item, lab in above[x].items() if item not in above[y]],
        }
        for x, y in ((a, b), (b, a))
    ]
    return {
        "both": [lab for item, lab in above[a].items() if item in above[b]],
        "only": [o for o in only if o["labels"]],
    }


def drivers_view(
    drivers: pd.DataFrame, confidence: float, outcomes: Sequence[str] | None = None
) -> dict[str, Any]:
    """The data of the key-drivers section: ``title`` (:func:`drivers_title`), ``models`` (one
    :func:`model_view` per outcome, in :data:`~analysis.cx.vocabulary.DRIVER_OUTCOMES` order:
    the ``outcomes`` given, by default those the table has), ``shown`` (whether any model is
    shown), ``contrast`` (:func:`_contrast`), ``figure`` (one chart of every shown model's
    shares) and ``confidence``."""
    present = (
        list(dict.fromkeys(drivers["outcome"].dropna().astype(str)))
        if "outcome" in drivers.columns
        else []
    )
    wanted = present if outcomes is None else list(outcomes)
    if not wanted:
        wanted = [vocabulary.OVERALL]
    order = [o for o in vocabulary.DRIVER_OUTCOMES if o in wanted]
    models = [model_view(drivers, o) for o in order]
    shown = [m for m in models if m["shown"]]
    if not shown:
        return {"title": drivers_title(order), "models": models, "shown": False}
    table = drivers[drivers["outcome"].isin([m["outcome"] for m in shown])]
    if len(shown) > 1:
        alt = i18n.gettext(
            "Chart of each attribute's share of the explained %(first)s and %(second)s with its "
            "interval; the values are in the technical appendix."
        ) % {"first": shown[0]["text"], "second": shown[1]["text"]}
    else:
        alt = i18n.gettext(
            "Chart of each attribute's share of the explained %(outcome)s with its interval; "
            "the values are in the table below."
        ) % {"outcome": shown[0]["text"]}
    figure = section_figure(
        lambda layout: plots.driver_chart(table, confidence=confidence, layout=layout), alt
    )
    return {
        "title": drivers_title(order),
        "models": models,
        "shown": True,
        "contrast": _contrast(drivers, models),
        "figure": Markup(figure),
        "confidence": confidence,
    }


def drivers_section(
    drivers: pd.DataFrame | None,
    confidence: float = 0.95,
    part: str = "story",
    outcomes: Sequence[str] | None = None,
) -> HTML:
    """The "Key drivers" section, rendered from ``templates/sections/key_drivers.html.j2``:
    ``part="story"`` each outcome's R^2 and key drivers, what drives one outcome but not the
    other, and one relative-weights chart; ``part="detail"`` (for the technical appendix) one
    table per outcome of every share with its interval. ``outcomes``: the outcomes the codebook
    names (:func:`analysis.cx.drivers.driver_outcomes`), so that one too few customers
    answered is said to be missing; by default those the table has. Empty when None."""
    if drivers is None:
        return HTML("")
    view = drivers_view(drivers, confidence, outcomes)
    return section("key_drivers.html.j2", part=check_part(part), **view)


def _replicates_text(drivers: pd.DataFrame) -> str:
    """Where the intervals come from: bootstrap or jackknife replicates (or none)."""
    first = drivers.iloc[0]
    reps = first.get("replicates")
    if not has_intervals(drivers):
        return i18n.gettext("no replicates (not available for this sample)")
    if str(first.get("method") or "") == "bootstrap":
        return i18n.gettext("%(n)s bootstrap replicates of the sample design") % {
            "n": fmt_int(reps)
        }
    return i18n.gettext("jackknife replicates of the sample design (%(n)s)") % {"n": fmt_int(reps)}
