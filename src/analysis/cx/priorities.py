"""Priorities: the items of each group level ranked by shortfall, with significance and quadrant.

From a (suppressed) gap table: ``rank`` (1 = the most negative gap), the verdict (a shortfall or
an excess that is significant after Benjamini-Hochberg across the items of the group level, or
unclear), the importance-performance quadrant (Martilla & James; crosshairs at the means of the
shown items or the scale midpoint) and the top significant shortfalls. The words are
:mod:`analysis.cx.vocabulary`'s.

R: the inputs are the gap table's (``svyby`` + ``p.adjust(p, "BH")``); the rest is ordering
and comparison, e.g. ``rank(gap, ties.method = "min")`` per group level.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cx import gaps, vocabulary
from analysis.cx.suppression import FLAG
from analysis.survey.inference import add_p_adjusted

CROSSHAIRS = ("mean", "midpoint")

PRIORITY_COLUMNS = [
    *gaps.GAP_COLUMNS,
    "p_adjusted",
    "rank",
    "verdict",
    "quadrant",
    "importance_cross",
    "performance_cross",
    "top_priority",
]


def priorities(
    gap_table: pd.DataFrame,
    scale: tuple[float, float] | None = None,
    crosshairs: str = "mean",
    confidence: float = 0.95,
    top: int = 3,
) -> pd.DataFrame:
    """Items ranked by shortfall in every group level, with significance and IPA quadrant.

    Parameters
    ----------
    gap_table
        A gap table with ``p_adjusted`` (:func:`analysis.survey.inference.add_p_adjusted`),
        normally already suppressed (:func:`analysis.cx.suppression.suppress`): hidden rows get
        no rank, quadrant or flag, and the crosshairs are the means of the shown items only, so
        nothing hidden can be worked out from them.
    scale
        ``(min, max)`` of the rating scale, for ``crosshairs="midpoint"``.
    crosshairs
        ``mean`` (default): the importance-performance crosshairs at the mean over the shown items
        of expectation and of performance in that group level (Martilla & James); ``midpoint``:
        both at the scale midpoint.
    confidence
        A shortfall is significant when ``p_adjusted < 1 - confidence``.
    top
        How many significant shortfalls per group level are flagged ``top_priority``.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, expectation, performance, gap, se,
        ci_low, ci_high, df, p_value, p_adjusted, rank, verdict, quadrant, importance_cross,
        performance_cross, top_priority`` (and ``suppressed`` if the input has it), sorted by group
        level (table order) and rank. ``rank`` 1 = the largest shortfall (most negative gap);
        ``verdict``: ``shortfall`` / ``exceeds`` (significant after the adjustment) or
        ``unclear``; ``quadrant``: ``Concentrate here`` (expectation at or above the crosshair,
        performance below), ``Keep up the good work``, ``Low priority``, ``Possible overkill``.
    """
    if crosshairs not in CROSSHAIRS:
        raise ValueError(f"crosshairs must be one of {', '.join(CROSSHAIRS)}, got {crosshairs!r}")
    if crosshairs == "midpoint" and scale is None:
        raise ValueError("crosshairs='midpoint' needs the rating scale (min, max)")
    if "p_adjusted" not in gap_table.columns:
        gap_table = add_p_adjusted(gap_table)
    t = gap_table.copy().reset_index(drop=True)
    hidden = t["gap"].isna().to_numpy().copy()
    if FLAG in t.columns:
        hidden |= t[FLAG].fillna(False).astype(bool).to_numpy()
    t["_shown"] = ~hidden
    t["_order"] = np.arange(len(t))
    t["_fam"] = t.groupby(["group", "level"], sort=False).ngroup().to_numpy()
    _rank_and_verdict(t, confidence)
    _quadrants(t, crosshairs, scale)
    t["top_priority"] = _top(t, hidden, top)
    t = t.sort_values(["_fam", "rank", "_order"], na_position="last", kind="stable")
    cols = PRIORITY_COLUMNS + ([FLAG] if FLAG in t.columns else [])
    return t[cols].reset_index(drop=True)


def _rank_and_verdict(t: pd.DataFrame, confidence: float) -> None:
    """Add ``rank`` (within the group level, shown rows only) and ``verdict`` to ``t``."""
    gap = t["gap"].astype(float).where(t["_shown"])
    t["rank"] = gap.groupby(t["_fam"]).rank(method="min").astype("Int64")
    sig = (t["p_adjusted"].astype(float) < 1 - confidence) & t["_shown"]
    direction = np.where(gap < 0, vocabulary.SHORTFALL, vocabulary.EXCEEDS)
    t["verdict"] = np.where(~t["_shown"], None, np.where(sig, direction, vocabulary.UNCLEAR))


def _quadrants(t: pd.DataFrame, crosshairs: str, scale: tuple[float, float] | None) -> None:
    """Add the crosshairs and each shown row's importance-performance ``quadrant`` to ``t``."""
    if crosshairs == "mean":
        shown_e = t["expectation"].astype(float).where(t["_shown"])
        shown_p = t["performance"].astype(float).where(t["_shown"])
        t["importance_cross"] = shown_e.groupby(t["_fam"]).transform("mean")
        t["performance_cross"] = shown_p.groupby(t["_fam"]).transform("mean")
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


def _top(t: pd.DataFrame, hidden: np.ndarray, top: int) -> pd.Series:
    """The ``top`` largest significant shortfalls of each group level (``<NA>``: hidden rows)."""
    short = t["verdict"] == vocabulary.SHORTFALL
    order = t[short].sort_values(["_fam", "gap"], kind="stable")
    first = order.groupby("_fam").head(max(int(top), 0)).index
    flag = pd.Series(False, index=t.index, dtype="boolean")
    flag[first] = True
    flag[hidden] = pd.NA
    return flag
