"""Segment contrasts: each segment level's gaps against the rest of the customers.

For level ``L`` of segment ``s``: ``difference = gap(L) - gap(rest)``, "rest" being every
respondent with another level of ``s``. Both are domain means of the full design; the standard
error of their difference comes from their joint influence values
(:func:`analysis.survey.estimate.difference`). Besides one row per item, a row with
``item = "all"`` compares each customer's average gap over all items; ``most_underserved`` marks
the level of each segment that falls furthest short across the board (significantly).

R: per level, ``svyby(~gap_j, ~I(s == L), subset(design, !is.na(s)), svymean, na.rm = TRUE,
covmat = TRUE)`` then ``svycontrast(..., c(1, -1))``; ``p.adjust(p, "BH")`` across the items and
levels of a segment.

Every level of every segment comes from one vectorised call,
:func:`analysis.survey.estimate.versus_rest` (one pass over the data for all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import suppression
from analysis.cx.inputs import paired_ratings, scale_mean, segment_column
from analysis.cx.vocabulary import ALL
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign
from analysis.survey.inference import add_p_adjusted

#: Pseudo-item of the rows about all items together (a respondent's mean gap over the items).
ALL_ITEMS = "all"
ALL_ITEMS_LABEL = "All attributes (each customer's average gap)"

SEGMENT_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "n_rest",
    "gap",
    "gap_rest",
    "difference",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
    "most_underserved",
]
#: Identifying columns (and the counts, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("item", "label", "dimension", "group", "level", "n", "n_rest", "df")


def segment_contrasts(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str],
    confidence: float = 0.95,
    min_share: float = 0.5,
) -> pd.DataFrame:
    """Each segment level's gap on every item against the rest of the customers.

    For level ``L`` of segment ``s``: ``difference = gap(L) - gap(rest)``, where "rest" is every
    respondent with another level of ``s`` (respondents without a value of ``s`` are in neither).
    Both are domain means of the full design and the standard error of their difference comes
    from their joint influence values (:func:`analysis.survey.estimate.versus_rest`, R's
    ``svyby`` with ``covmat = TRUE`` + ``svycontrast``). Besides one row per item, a row with
    ``item = "all"`` compares each customer's average gap over all items (answered at least
    ``min_share`` of them): its ``difference`` is how much more (negative) or less a level falls
    short across the board. ``p_adjusted`` is Benjamini-Hochberg across the items and levels of a
    segment (the ``all`` rows: across its levels). ``most_underserved`` marks, per segment, the
    level with the most negative significant (``p_adjusted < 1 - confidence``) all-items
    difference; no level is marked when none is significant.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, n_rest, gap, gap_rest, difference, se,
        ci_low, ci_high, df, p_value, p_adjusted, most_underserved``.
    """
    e, p = paired_ratings(clean, codebook)
    g = p - e
    values = pd.DataFrame(np.column_stack([g, scale_mean(g, min_share)]))
    units = {
        "item": [i.id for i in codebook.items] + [ALL_ITEMS],
        "label": [i.label for i in codebook.items] + [ALL_ITEMS_LABEL],
        "dimension": [i.dimension for i in codebook.items] + [ALL],
    }
    if not by:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    groups = {group: segment_column(clean, codebook, group) for group in by}
    rows = estimate.versus_rest(design, values, groups, confidence)
    keys = pd.DataFrame(units).iloc[rows["variable"].to_numpy()].reset_index(drop=True)
    renamed = rows.drop(columns="variable").rename(
        columns={"mean": "gap", "mean_rest": "gap_rest", "estimate": "difference"}
    )
    table = pd.concat([keys, renamed.assign(level=renamed["level"].astype(str))], axis=1)
    table["_kind"] = np.where(table["item"] == ALL_ITEMS, "all", "item")
    table = add_p_adjusted(table, family=("group", "_kind"))
    table["most_underserved"] = _most_underserved(table, confidence)
    return table[SEGMENT_COLUMNS]


def _most_underserved(table: pd.DataFrame, confidence: float) -> pd.Series:
    """Per segment, the level with the most negative significant all-items difference."""
    flag = pd.Series(False, index=table.index)
    summary = table[(table["_kind"] == "all") & (table["p_adjusted"] < 1 - confidence)]
    summary = summary[summary["difference"] < 0]
    if not summary.empty:
        worst = summary.sort_values("difference", kind="stable").groupby("group").head(1).index
        flag[worst] = True
    return flag


def suppress_contrasts(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`analysis.cx.suppression.suppress` of a :func:`segment_contrasts` table: a level is
    hidden (all its estimates, ``gap_rest`` and the contrast) where the gap table would hide it
    (fewer than ``min_cell`` respondents, or complementary suppression), and where the rest of
    the customers number fewer than ``min_cell``."""
    rest_small = suppression.small(table["n_rest"], min_cell)
    return suppression.suppress(table, min_cell, IDENTIFIERS, also=rest_small)
