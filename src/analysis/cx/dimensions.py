"""Each dimension's expectation, performance and gap, from every respondent's dimension scores.

A respondent's dimension score is the mean over the dimension's items they answered (both ratings;
at least ``min_share`` of the items); the dimension's gap is the weighted mean of those
per-respondent gaps with its design-based SE (:func:`analysis.cx.gaps.paired_means`, the gap
table's estimator), Benjamini-Hochberg across the dimensions of one group level.

R: ``svymean(~gap_d, design, na.rm = TRUE)`` and ``svyby(~gap_d, ~segment, design, svymean,
na.rm = TRUE)`` of the per-respondent dimension gap ``gap_d`` (``NA`` below ``min_share``), then
``p.adjust(p, "BH")``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import gaps
from analysis.cx.inputs import paired_ratings, scale_mean, segment_domains
from analysis.survey.design import SurveyDesign
from analysis.survey.inference import add_p_adjusted

DIMENSION_COLUMNS = [
    "dimension",
    "group",
    "level",
    "n",
    "n_items",
    "expectation",
    "performance",
    "gap",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
#: Identifying columns (and ``n``, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("dimension", "group", "level", "n", "n_items", "df")


def dimension_gaps(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
    min_share: float = 0.5,
) -> pd.DataFrame:
    """Expectation, performance and gap of each dimension, overall and by segment.

    Each respondent's dimension score is the mean over the dimension's items they answered (both
    expectation and performance); a respondent who answered fewer than ``min_share`` of the items
    (at least one) has no score for that dimension and is outside its domain. The dimension's gap
    is the weighted mean of those per-respondent gaps (so it is not simply the mean of the item
    gaps when respondents skip items), with its design-based standard error; expectation and
    performance are over the same respondents and items, so ``expectation + gap = performance``.

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension, group, level, n, n_items, expectation, performance, gap, se, ci_low,
        ci_high, df, p_value, p_adjusted``: per dimension (first-appearance order) the overall row
        then each ``by`` segment's levels (codebook order). ``p_adjusted``: Benjamini-Hochberg
        across the dimensions of one group level.
    """
    e, p = paired_ratings(clean, codebook)
    dims = list(dict.fromkeys(i.dimension for i in codebook.items))
    item_dims = np.array([i.dimension for i in codebook.items])
    cols_e, cols_p, sizes = [], [], []
    for d in dims:
        idx = np.flatnonzero(item_dims == d)
        ed = scale_mean(e[:, idx], min_share)
        pd_ = scale_mean(p[:, idx], min_share)
        cols_e.append(ed)
        cols_p.append(np.where(np.isfinite(ed), pd_, np.nan))
        sizes.append(len(idx))
    table = gaps.paired_means(
        design,
        np.column_stack(cols_e),
        np.column_stack(cols_p),
        {"dimension": dims, "n_items": sizes},
        segment_domains(clean, codebook, by),
        confidence,
    )
    table = add_p_adjusted(table)
    return table[DIMENSION_COLUMNS].reset_index(drop=True)
