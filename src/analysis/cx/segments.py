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

The level-against-rest estimates are :func:`_versus_rest` (one level at a time today); the
survey layer's vectorised ``versus_rest`` (all levels in one pass) replaces it there.
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
#: Columns of :func:`_versus_rest`: the level and its contrast with the rest.
_VERSUS_COLUMNS = SEGMENT_COLUMNS[
    SEGMENT_COLUMNS.index("level") : SEGMENT_COLUMNS.index("p_value") + 1
]


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
    from their joint influence values (:func:`analysis.survey.estimate.difference`, R's
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
    frames = []
    for group in by:
        rows = _versus_rest(design, values, segment_column(clean, codebook, group), confidence)
        n_levels = len(rows) // values.shape[1]
        keys = pd.DataFrame({name: np.tile(col, n_levels) for name, col in units.items()})
        frames.append(pd.concat([keys.assign(group=group), rows], axis=1))
    if not frames:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["_kind"] = np.where(table["item"] == ALL_ITEMS, "all", "item")
    table = add_p_adjusted(table, family=("group", "_kind"))
    table["most_underserved"] = _most_underserved(table, confidence)
    return table[SEGMENT_COLUMNS]


def _versus_rest(
    design: SurveyDesign, values: pd.DataFrame, segment: pd.Series, confidence: float
) -> pd.DataFrame:
    """Every column of ``values`` in each level of ``segment`` against the rest (the other levels;
    rows without a level are in neither).

    Returns
    -------
    pandas.DataFrame
        Columns ``level, n, n_rest, gap, gap_rest, difference, se, ci_low, ci_high, df,
        p_value``: per level (category order) one row per column of ``values``; ``gap`` and
        ``gap_rest`` the means in the level and in the rest, the interval and p-value those of
        their difference.
    """
    known = segment.notna().to_numpy()
    frames = []
    for level in segment.cat.categories:
        inside = (segment == level).to_numpy()
        two = pd.Series(
            pd.Categorical(
                np.where(inside, "level", np.where(known, "rest", None)),
                categories=["level", "rest"],
            )
        )
        m = estimate.means(design, values, two, confidence)
        est = m["estimate"].to_numpy().reshape(-1, 2)
        diff = estimate.difference(design, values, two, "level", "rest", confidence)
        frames.append(
            pd.DataFrame(
                {
                    "level": str(level),
                    "n": diff["n_a"].to_numpy(),
                    "n_rest": diff["n_b"].to_numpy(),
                    "gap": est[:, 0],
                    "gap_rest": est[:, 1],
                    "difference": diff["estimate"].to_numpy(),
                    "se": diff["se"].to_numpy(),
                    "ci_low": diff["ci_low"].to_numpy(),
                    "ci_high": diff["ci_high"].to_numpy(),
                    "df": diff["df"].to_numpy(),
                    "p_value": diff["p_value"].to_numpy(),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=_VERSUS_COLUMNS)
    return pd.concat(frames, ignore_index=True)


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
