"""Reliability: Cronbach's alpha of each dimension's expectation and performance items.

``alpha`` is the textbook (unweighted) Cronbach's alpha of the respondents who answered every
item of the dimension, with its confidence interval (``pingouin.cronbach_alpha``);
``alpha_design`` the design-based alpha of the same respondents, from the design-weighted
covariance matrix.

R: ``svycralpha(~e_1 + e_2 + ..., design, na.rm = TRUE)`` (survey package) for ``alpha_design``;
``psych::alpha`` or ``ltm::cronbach.alpha`` for the unweighted one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import drivers
from analysis.cx.inputs import ratings
from analysis.survey.design import SurveyDesign

RELIABILITY_COLUMNS = [
    "dimension",
    "rating",
    "n_items",
    "n",
    "alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "alpha_design",
]
#: Identifying columns (and ``n``): visible when a row is suppressed.
IDENTIFIERS = ("dimension", "rating", "n_items", "n")


def cronbach_alpha_design(design: SurveyDesign, values: pd.DataFrame) -> float:
    """Cronbach's alpha from the design-weighted covariance matrix (R's ``svycralpha``).

    ``K / (K - 1) * (1 - sum of item variances / variance of the total)`` over the respondents who
    answered every item (a domain), with design-weighted variances.
    """
    cov = drivers.covariance_matrix(design, values, missing="complete").to_numpy()
    k = cov.shape[0]
    total = cov.sum()
    if k < 2 or not np.isfinite(total) or total <= 0:
        return math.nan
    return float(k / (k - 1) * (1 - np.trace(cov) / total))


def reliability(
    design: SurveyDesign, clean: pd.DataFrame, codebook: Codebook, confidence: float = 0.95
) -> pd.DataFrame:
    """Internal consistency of each dimension's expectation and performance items.

    ``alpha``: Cronbach's alpha of the respondents who answered every item of the dimension
    (listwise; unweighted, ``pingouin.cronbach_alpha``) with its confidence interval;
    ``alpha_design``: the design-based alpha of the same respondents
    (:func:`cronbach_alpha_design`, R's ``svycralpha``). Dimensions with one item have no alpha.

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension, rating, n_items, n, alpha, alpha_ci_low, alpha_ci_high,
        alpha_design``; ``rating`` is ``expectation`` or ``performance``.
    """
    import pingouin  # slow to import; only this analysis needs it

    rows = []
    dims = list(dict.fromkeys(i.dimension for i in codebook.items))
    in_design = design.weights != 0
    for dim in dims:
        items = [i for i in codebook.items if i.dimension == dim]
        for rating in ("expectation", "performance"):
            cols = [getattr(i, rating) for i in items]
            x = ratings(clean, cols)
            complete = np.isfinite(x).all(axis=1) & in_design
            row: dict[str, Any] = {
                "dimension": dim,
                "rating": rating,
                "n_items": len(cols),
                "n": int(complete.sum()),
                "alpha": math.nan,
                "alpha_ci_low": math.nan,
                "alpha_ci_high": math.nan,
                "alpha_design": math.nan,
            }
            if len(cols) >= 2 and complete.sum() >= 3:
                frame = pd.DataFrame(x[complete], columns=cols)
                a, ci = pingouin.cronbach_alpha(data=frame, nan_policy="listwise", ci=confidence)
                row.update(alpha=float(a), alpha_ci_low=float(ci[0]), alpha_ci_high=float(ci[1]))
                row["alpha_design"] = cronbach_alpha_design(design, pd.DataFrame(x, columns=cols))
            rows.append(row)
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
