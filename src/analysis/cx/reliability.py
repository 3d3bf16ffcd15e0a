"""Reliability: Cronbach's alpha of each dimension's expectation and performance items.

``alpha`` is the textbook (unweighted) Cronbach's alpha of the respondents who answered every
item of the dimension (``pingouin.cronbach_alpha``), with Feldt's (1965) confidence interval
computed here unrounded (:func:`feldt_interval`; pingouin rounds it to three decimals);
``alpha_design`` the design-based alpha of the same respondents, from the design-weighted
covariance matrix, with its standard error and t interval from the design's replicate weights
when it has them (params ``design.variance``; NaN under Taylor linearisation): the alpha of every
replicate (:func:`design_alpha_interval`).

R: ``svycralpha(~e_1 + e_2 + ..., design, na.rm = TRUE)`` (survey package) for ``alpha_design``;
its interval ``withReplicates(repdesign, alpha_of_weights)`` and ``confint(..., df =
degf(repdesign))``; ``psych::alpha`` or ``ltm::cronbach.alpha`` for the unweighted one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.config.params import Codebook
from analysis.cx import drivers
from analysis.cx.inputs import ratings
from analysis.survey import inference
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
    "alpha_design_se",
    "alpha_design_ci_low",
    "alpha_design_ci_high",
]
#: Identifying columns (and ``n``): visible when a row is suppressed.
IDENTIFIERS = ("dimension", "rating", "n_items", "n")


def feldt_interval(alpha: float, n: int, k: int, confidence: float) -> tuple[float, float]:
    """Feldt's (1965) confidence interval of Cronbach's alpha (``n`` respondents, ``k`` items).

    ``1 - (1 - alpha) * F_{1 - a/2}(n - 1, (n - 1)(k - 1))`` to ``1 - (1 - alpha) * F_{a/2}(...)``
    with ``a = 1 - confidence`` (the upper quantile gives the lower bound): the interval of
    ``pingouin.cronbach_alpha`` and R's ``psychometric::alpha.CI``, without rounding.
    """
    a = 1 - confidence
    df1 = n - 1
    df2 = df1 * (k - 1)
    if df1 < 1 or df2 < 1 or not np.isfinite(alpha):
        return math.nan, math.nan
    lower = 1 - (1 - alpha) * stats.f.isf(a / 2, df1, df2)
    upper = 1 - (1 - alpha) * stats.f.isf(1 - a / 2, df1, df2)
    return float(lower), float(upper)


def _alpha(cov: np.ndarray) -> np.ndarray:
    """Cronbach's alpha of (a stack of) covariance matrices (..., k, k); NaN where undefined."""
    k = cov.shape[-1]
    total = cov.sum(axis=(-2, -1))
    trace = np.trace(cov, axis1=-2, axis2=-1)
    ok = (k >= 2) & np.isfinite(total) & (total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, k / max(k - 1, 1) * (1 - trace / np.where(ok, total, 1.0)), np.nan)


def cronbach_alpha_design(design: SurveyDesign, values: pd.DataFrame) -> float:
    """Cronbach's alpha from the design-weighted covariance matrix (R's ``svycralpha``).

    ``K / (K - 1) * (1 - sum of item variances / variance of the total)`` over the respondents who
    answered every item (a domain), with design-weighted variances.
    """
    cov = drivers.covariance_matrix(design, values, missing="complete").to_numpy()
    return float(_alpha(cov))


def design_alpha_interval(
    design: SurveyDesign, values: pd.DataFrame, confidence: float
) -> tuple[float, float, float]:
    """Standard error and t interval of :func:`cronbach_alpha_design` from the design's
    replicate weights: the alpha of every replicate (one matrix product for all), R's ``svrVar``
    of them, and ``alpha +- t_df se`` with the design's degrees of freedom. All NaN without
    replicate weights (Taylor linearisation).

    Returns
    -------
    tuple of float
        ``(se, ci_low, ci_high)``.
    """
    rep = design.replicates
    if rep is None:
        return math.nan, math.nan, math.nan
    alpha = cronbach_alpha_design(design, values)
    theta = _alpha(drivers.replicate_covariances(design, values, missing="complete"))
    se = float(np.sqrt(rep.variance(theta, np.asarray(alpha))))
    cols = inference.t_interval(alpha, se, design.df, confidence)
    return se, float(cols["ci_low"]), float(cols["ci_high"])


def reliability(
    design: SurveyDesign, clean: pd.DataFrame, codebook: Codebook, confidence: float = 0.95
) -> pd.DataFrame:
    """Internal consistency of each dimension's expectation and performance items.

    ``alpha``: Cronbach's alpha of the respondents who answered every item of the dimension
    (listwise; unweighted, ``pingouin.cronbach_alpha``) with its Feldt interval;
    ``alpha_design``: the design-based alpha of the same respondents
    (:func:`cronbach_alpha_design`, R's ``svycralpha``), with its replicate standard error and
    interval when the design carries replicate weights (:func:`design_alpha_interval`).
    Dimensions with one item have no alpha.

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension, rating, n_items, n, alpha, alpha_ci_low, alpha_ci_high,
        alpha_design, alpha_design_se, alpha_design_ci_low, alpha_design_ci_high``; ``rating``
        is ``expectation`` or ``performance``; the last three NaN without replicate weights.
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
                "alpha_design_se": math.nan,
                "alpha_design_ci_low": math.nan,
                "alpha_design_ci_high": math.nan,
            }
            if len(cols) >= 2 and complete.sum() >= 3:
                frame = pd.DataFrame(x[complete], columns=cols)
                a = float(pingouin.cronbach_alpha(data=frame, nan_policy="listwise")[0])
                low, high = feldt_interval(a, len(frame), len(cols), confidence)
                row.update(alpha=a, alpha_ci_low=low, alpha_ci_high=high)
                values = pd.DataFrame(x, columns=cols)
                row["alpha_design"] = cronbach_alpha_design(design, values)
                se, low, high = design_alpha_interval(design, values, confidence)
                row.update(alpha_design_se=se, alpha_design_ci_low=low, alpha_design_ci_high=high)
            rows.append(row)
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)
