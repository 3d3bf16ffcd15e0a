"""Priorities: the priority model (one class and one rank per item and group level), with the
significance verdict and the importance-performance quadrant.

From a (suppressed) gap table and, when there is one, the key-drivers table: each shown item's
``priority`` class (:data:`analysis.cx.vocabulary.PRIORITY_CLASSES`) from the size and certainty
of its shortfall (Benjamini-Hochberg across the items of the group level) and its importance
(stated: its expectation at or above the mean over the shown items; derived: its share of R^2
clearly above the average share), its ``rank`` (by class, then gap, so every class is an unbroken
run down the ranking) and the ``top_priority`` flags (the top of the ranking, clear shortfalls
only). The verdict and the quadrant (Martilla & James; crosshairs at the means of the shown items
or the scale midpoint) stay for the report. The rule is METHODS.md's "The priority model"; the
words are :mod:`analysis.cx.vocabulary`'s.

R: the inputs are the gap table's (``svyby`` + ``p.adjust(p, "BH")``) and the drivers'; the
rest is comparison and ordering, e.g. ``order(class, gap, -expectation)`` per group level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cx import drivers as drivers_mod
from analysis.cx import gaps, vocabulary
from analysis.cx.suppression import FLAG
from analysis.survey.inference import add_p_adjusted

CROSSHAIRS = ("mean", "midpoint")

_GAP = gaps.GAP_COLUMNS
PRIORITY_COLUMNS = [
    *_GAP[: _GAP.index("p_value") + 1],
    "p_adjusted",
    *_GAP[_GAP.index("p_value") + 1 :],
    "rank",
    "priority",
    "stated_high",
    "derived_high",
    "derived_importance",
    "verdict",
    "quadrant",
    "importance_cross",
    "performance_cross",
    "top_priority",
]


def priorities(
    gap_table: pd.DataFrame,
    drivers: pd.DataFrame | None = None,
    scale: tuple[float, float] | None = None,
    crosshairs: str = "mean",
    confidence: float = 0.95,
    top: int = 3,
    outcome: str = vocabulary.OVERALL,
) -> pd.DataFrame:
    """Every item's priority class and rank in every group level, with verdict and quadrant.

    Parameters
    ----------
    gap_table
        A gap table with ``p_adjusted``, normally suppressed: hidden rows get no class, rank,
        quadrant or flag, and the means behind stated importance and the crosshairs are over the
        shown items only, so nothing hidden can be worked out from them.
    drivers
        The key-drivers table (:func:`analysis.cx.drivers.key_drivers`: columns ``outcome,
        item, share, vs_average``, one block per outcome); the model of ``outcome`` serves
        every group level. None, or no rows of ``outcome`` (the codebook names no such
        question, or too few answered it): stated importance alone.
    scale
        ``(min, max)`` of the rating scale, for ``crosshairs="midpoint"``.
    crosshairs
        The quadrant's crosshairs: ``mean`` (default) over the shown items of the group level
        of expectation and of performance (Martilla & James), or the scale ``midpoint``.
    confidence
        A shortfall is clear when ``p_adjusted < 1 - confidence``.
    top
        How many ``Fix first`` / ``Improve`` rows atop each ranking are ``top_priority``.
    outcome
        Whose drivers give derived importance: ``overall`` (overall satisfaction, default) or
        ``recommend`` (likelihood to recommend); params ``analysis.drivers_outcome``.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, expectation, performance, gap, se,
        ci_low, ci_high, df, p_value, p_adjusted, share_met, share_met_se, rank, priority,
        stated_high, derived_high, derived_importance, verdict, quadrant, importance_cross,
        performance_cross, top_priority`` (and ``suppressed`` if the input has it), sorted by
        group level (table order) and rank, hidden rows last. ``priority``: ``Fix first`` (clear
        shortfall, important), ``Improve`` (clear shortfall, not important), ``Monitor``
        (``gap < 0``, not clear), ``Maintain`` (``gap >= 0``); ``rank`` 1..k within the group
        level by class in that order, then gap ascending, then expectation descending, then
        table order. ``stated_high``: expectation at or above the mean over the shown items of
        the group level; ``derived_high`` (nullable): the share of R^2 clearly above the average
        share (drivers ``vs_average == "above"``), ``<NA>`` without drivers or interval;
        ``derived_importance``: that share (percent). ``verdict``: clear ``shortfall`` /
        ``exceeds`` or ``unclear``; ``quadrant``: one of :data:`~analysis.cx.vocabulary.QUADRANTS`.
    """
    if crosshairs not in CROSSHAIRS:
        raise ValueError(f"crosshairs must be one of {', '.join(CROSSHAIRS)}, got {crosshairs!r}")
    if crosshairs == "midpoint" and scale is None:
        raise ValueError("crosshairs='midpoint' needs the rating scale (min, max)")
    t = _work_frame(gap_table)
    _verdict(t, confidence)
    _quadrants(t, crosshairs, scale)
    _importance(t, None if drivers is None else drivers_mod.for_outcome(drivers, outcome))
    _classes(t)
    _rank(t)
    t["top_priority"] = _top(t, top)
    t = t.sort_values(["_fam", "rank", "_order"], na_position="last", kind="stable")
    return t[PRIORITY_COLUMNS + ([FLAG] if FLAG in t.columns else [])].reset_index(drop=True)


def _work_frame(gap_table: pd.DataFrame) -> pd.DataFrame:
    """A copy of the gap table (with ``p_adjusted``) and the helper columns ``_shown`` (not
    suppressed, has a gap), ``_order`` (table order) and ``_fam`` (the group level)."""
    if "p_adjusted" not in gap_table.columns:
        gap_table = add_p_adjusted(gap_table)
    t = gap_table.copy().reset_index(drop=True)
    hidden = t["gap"].isna().to_numpy().copy()
    if FLAG in t.columns:
        hidden |= t[FLAG].fillna(False).astype(bool).to_numpy()
    t["_shown"] = ~hidden
    t["_order"] = np.arange(len(t))
    t["_fam"] = t.groupby(["group", "level"], sort=False).ngroup().to_numpy()
    return t


def _verdict(t: pd.DataFrame, confidence: float) -> None:
    """Add ``verdict`` (shown rows: clear shortfall, clear excess or unclear) to ``t``."""
    gap = t["gap"].astype(float)
    sig = (t["p_adjusted"].astype(float) < 1 - confidence) & t["_shown"]
    direction = np.where(gap < 0, vocabulary.SHORTFALL, vocabulary.EXCEEDS)
    t["verdict"] = np.where(~t["_shown"], None, np.where(sig, direction, vocabulary.UNCLEAR))


def _quadrants(t: pd.DataFrame, crosshairs: str, scale: tuple[float, float] | None) -> None:
    """Add the crosshairs and each shown row's importance-performance ``quadrant`` to ``t``."""
    if crosshairs == "mean":
        t["importance_cross"] = _shown_mean(t, "expectation")
        t["performance_cross"] = _shown_mean(t, "performance")
    else:
        mid = (float(scale[0]) + float(scale[1])) / 2  # type: ignore[index]
        t["importance_cross"] = mid
        t["performance_cross"] = mid
    high_imp = t["expectation"].astype(float) >= t["importance_cross"]
    high_perf = t["performance"].astype(float) >= t["performance_cross"]
    t["quadrant"] = [
        vocabulary.QUADRANTS[(bool(a), bool(b))] if s else None
        for a, b, s in zip(high_imp, high_perf, t["_shown"], strict=True)
    ]


def _shown_mean(t: pd.DataFrame, column: str) -> pd.Series:
    """Per row: the mean of ``column`` over the shown rows of its group level."""
    return t[column].astype(float).where(t["_shown"]).groupby(t["_fam"]).transform("mean")


def _importance(t: pd.DataFrame, drivers: pd.DataFrame | None) -> None:
    """Add ``stated_high``, ``derived_high`` and ``derived_importance`` (shown rows) to ``t``."""
    shown = t["_shown"].to_numpy()
    stated = t["expectation"].astype(float) >= _shown_mean(t, "expectation")
    t["stated_high"] = pd.array(np.where(shown, stated, False), dtype="boolean")
    t.loc[~shown, "stated_high"] = pd.NA
    share = pd.Series(np.nan, index=t.index)
    derived = pd.array([pd.NA] * len(t), dtype="boolean")
    if drivers is not None and len(drivers):
        by_item = drivers.drop_duplicates("item").set_index("item")
        share = t["item"].map(by_item["share"].astype(float)).astype(float)
        vs = t["item"].map(by_item["vs_average"])
        known = vs.isin([vocabulary.ABOVE, vocabulary.BELOW, vocabulary.UNCLEAR]).to_numpy()
        derived = pd.array(np.where(known, vs == vocabulary.ABOVE, False), dtype="boolean")
        derived[~known] = pd.NA
    derived[~shown] = pd.NA
    t["derived_high"] = derived
    t["derived_importance"] = share.where(shown)


def _classes(t: pd.DataFrame) -> None:
    """Add ``priority`` (shown rows) to ``t``: the priority model's class."""
    gap = t["gap"].astype(float).to_numpy()
    clear = (t["verdict"] == vocabulary.SHORTFALL).to_numpy()
    important = (t["stated_high"].fillna(False) | t["derived_high"].fillna(False)).to_numpy()
    cls = np.select(
        [clear & important, clear, gap < 0],
        [vocabulary.FIX_FIRST, vocabulary.IMPROVE, vocabulary.MONITOR],
        vocabulary.MAINTAIN,
    ).astype(object)
    cls[~t["_shown"].to_numpy()] = None
    t["priority"] = cls


def _rank(t: pd.DataFrame) -> None:
    """Add ``rank`` 1..k within the group level (shown rows): class in vocabulary order, then
    gap ascending, expectation descending, table order."""
    order = {c: i for i, c in enumerate(vocabulary.PRIORITY_CLASSES)}
    key = pd.DataFrame(
        {
            "fam": t["_fam"],
            "cls": t["priority"].map(order),
            "gap": t["gap"].astype(float),
            "neg_e": -t["expectation"].astype(float),
            "order": t["_order"],
        }
    )[t["_shown"]]
    key = key.sort_values(["fam", "cls", "gap", "neg_e", "order"], kind="stable")
    rank = pd.Series(pd.NA, index=t.index, dtype="Int64")
    rank[key.index] = key.groupby("fam").cumcount().to_numpy() + 1
    t["rank"] = rank


def _top(t: pd.DataFrame, top: int) -> pd.Series:
    """The first ``top`` rows of each group level's ranking among ``Fix first`` and ``Improve``
    (``<NA>``: hidden rows)."""
    action = t["priority"].isin(vocabulary.ACTION_CLASSES)
    order = t[action].sort_values(["_fam", "rank"], kind="stable")
    first = order.groupby("_fam").head(max(int(top), 0)).index
    flag = pd.Series(False, index=t.index, dtype="boolean")
    flag[first] = True
    flag[~t["_shown"].to_numpy()] = pd.NA
    return flag
