"""Trend: the change of each item's gap since the previous wave (independent samples).

``change = gap(current) - gap(previous)`` with ``se = sqrt(se_current^2 + se_previous^2)`` (two
independent samples: no covariance), ``df`` the sum of the two designs' degrees of freedom, a
t interval and two-sided p-value (:func:`analysis.survey.inference.t_interval`) and
Benjamini-Hochberg across the items of a group level.

R: each wave's ``svymean(~gap_j, design_wave, na.rm = TRUE)`` (the gap tables), the change's SE
``sqrt(SE(current)^2 + SE(previous)^2)``; for uncalibrated waves this is ``svycontrast(...,
c(-1, 1))`` of ``svyby(~gap_j, ~wave, stacked, svymean, na.rm = TRUE, covmat = TRUE)`` with
the two waves stacked into one design (each wave's strata and PSUs kept apart, so ``degf`` is
the sum of the two). Then ``p.adjust(p, "BH")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.cx import suppression
from analysis.survey import inference
from analysis.survey.inference import add_p_adjusted

TREND_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n_previous",
    "n",
    "gap_previous",
    "gap",
    "change",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
#: Identifying columns (and the counts, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("item", "label", "dimension", "group", "level", "n_previous", "n", "df")
#: The rows of the two waves that are compared.
_KEYS = ["item", "group", "level"]


def trend(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    confidence: float = 0.95,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Change of each item's gap between two waves (independent samples), from two gap tables.

    ``change = gap(current) - gap(previous)`` with ``se = sqrt(se_current^2 + se_previous^2)``
    (the two samples are independent, so their covariance is 0), ``df`` the sum of the two
    designs' degrees of freedom (the two waves as strata of one design), t-based interval and
    two-sided p-value, Benjamini-Hochberg across the items of a group level. Rows are matched on
    ``item, group, level``; items or levels in only one wave are left out.

    Parameters
    ----------
    previous, current
        Unsuppressed gap tables of the two waves (:func:`analysis.cx.gaps.gap_table`).
    min_cell
        If given, a row is suppressed when either wave's gap table hides it (its own
        primary and complementary suppression), so that a hidden gap cannot be worked out from a
        published one and the change.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n_previous, n, gap_previous, gap, change,
        se, ci_low, ci_high, df, p_value, p_adjusted`` (plus ``suppressed`` with ``min_cell``),
        in the current table's order.
    """
    prev = _hidden(previous, min_cell)
    cur = _hidden(current, min_cell)
    merged = cur.merge(
        prev[[*_KEYS, "n", "gap", "se", "df", "_hidden"]],
        on=_KEYS,
        how="inner",
        suffixes=("", "_previous"),
    )
    out = add_p_adjusted(_changes(merged, confidence))[TREND_COLUMNS]
    if min_cell is not None:
        hide = (merged["_hidden"] | merged["_hidden_previous"]).to_numpy()
        out = suppression.blank(out, hide, IDENTIFIERS)
    return out.reset_index(drop=True)


def _hidden(table: pd.DataFrame, min_cell: int | None) -> pd.DataFrame:
    """A copy with the keys as text and ``_hidden``: the rows its suppression would hide."""
    out = table.copy()
    for k in _KEYS:
        out[k] = out[k].astype(str)
    out["_hidden"] = False if min_cell is None else suppression.cells(out, min_cell)
    return out


def _changes(merged: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The change of each matched row (current columns, and the previous ones as ``*_previous``)."""
    change = merged["gap"].astype(float) - merged["gap_previous"].astype(float)
    se = np.sqrt(merged["se"].astype(float) ** 2 + merged["se_previous"].astype(float) ** 2)
    df = merged["df"].astype(float) + merged["df_previous"].astype(float)
    tcols = inference.t_interval(change.to_numpy(), se.to_numpy(), df.to_numpy(), confidence)
    return pd.DataFrame(
        {
            "item": merged["item"],
            "label": merged["label"],
            "dimension": merged["dimension"],
            "group": merged["group"],
            "level": merged["level"],
            "n_previous": merged["n_previous"].astype(int),
            "n": merged["n"].astype(int),
            "gap_previous": merged["gap_previous"].astype(float),
            "gap": merged["gap"].astype(float),
            "change": change,
            "se": se,
            "ci_low": tcols["ci_low"],
            "ci_high": tcols["ci_high"],
            "df": inference.df_column(df.to_numpy()),
            "p_value": tcols["p_value"],
        }
    )
