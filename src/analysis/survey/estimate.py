"""Design-based estimators: means, totals, proportions, domain contrasts and t-tests, with
Taylor-linearisation or replicate-weight standard errors, as R's survey package computes them.

Every estimator works on many variables and many domains at once, from one pass over the rows
(:mod:`analysis.survey.domains`). The design decides the variance: by Taylor linearisation from
the per-unit totals of influence values (:mod:`analysis.survey.variance`), or, when it carries
replicate weights (``design.replicates``, params ``design.variance``; made by
:mod:`analysis.survey.replicates`), from the estimates of every replicate (R's ``svrVar``).
Intervals and p-values come from :mod:`analysis.survey.inference` (the t distribution with the
design's degrees of freedom: PSUs - strata, or R's ``degf`` of the replicate design, or Bell &
McCaffrey's df with ``weighting.small_sample: bell-mccaffrey``).

The R call each reproduces (survey 4.1; ``design`` a ``svydesign``, possibly calibrated, or with
replicate weights ``as.svrepdesign(design, type = ...)``, possibly recalibrated, e.g.
``rake(as.svrepdesign(design, type = "JKn"), ...)``):

- :func:`means` ``svymean(~y, design, na.rm = TRUE, deff = TRUE)``; with domains
  ``svyby(~y, ~d, design, svymean, na.rm = TRUE)``;
- :func:`totals` ``svytotal`` (and ``svyby(..., svytotal)``);
- :func:`proportions` ``svymean(~factor(y), design, na.rm = TRUE)``;
- :func:`by` / :func:`means_by` one ``svyby`` per domain variable, in one call;
- :func:`difference` ``svycontrast(svyby(~y, ~d, design, svymean, covmat = TRUE),
  c(a = 1, b = -1))``;
- :func:`versus_rest` the same contrast for every level of every domain variable against the rest
  of the rows with a level;
- :func:`ttest` ``svyttest(y ~ d, design)``;
- :func:`ratios` / :func:`ratios_by` ``svyratio(~y, ~x, design, na.rm = TRUE)`` and
  ``svyby(~y, ~d, design, svyratio, denominator = ~x)``.

Domains (segment levels, and "answered this question") are estimated inside the full design: a
missing value makes the row fall outside that variable's domain, it is not dropped from the design.
A domain with no respondents gives ``n = 0`` and a NaN estimate (the row is kept so the gap is
visible); a domain with one respondent gives a NaN standard error. Calibrated designs take the
variance from the residuals of the influence values on the calibration variables (R's
``calibrate``), corrected for small samples if the calibration asks
(:mod:`analysis.survey.small_sample`). Formulas are in METHODS.md.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.survey import inference
from analysis.survey.design import SurveyDesign, degrees_of_freedom, one_blas_thread
from analysis.survey.domains import ALL, Cells, Request, compute, grouping, values_frame

ESTIMATE_COLUMNS = [
    "variable",
    "domain",
    "n",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "deff",
    "p_value",
]
GROUP_COLUMNS = ["group", *ESTIMATE_COLUMNS]
DIFFERENCE_COLUMNS = [
    "variable",
    "level_a",
    "level_b",
    "n_a",
    "n_b",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
]
VERSUS_REST_COLUMNS = [
    "group",
    "level",
    "variable",
    "n",
    "n_rest",
    "mean",
    "mean_rest",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
]
RATIO_COLUMNS = [
    "group",
    "variable",
    "domain",
    "n",
    "numerator",
    "denominator",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
]
ESTIMATORS = ("mean", "total", "proportion")


# ---------------------------------------------------------------------------------------------
# result tables


def _se(variance: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Standard errors; NaN where ``ok`` is False (a domain of one respondent has no SE)."""
    return np.where(ok, np.sqrt(np.maximum(variance, 0.0)), np.nan)


def _deff(cells: Cells, kind: str) -> np.ndarray:
    """R's deff: variance / variance under simple random sampling without replacement of n from
    N = sum of the weights: s^2 n/(n-1) (1 - n/N) / n (times N^2 for totals)."""
    n, wsum = cells.n, cells.weight_sum
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = cells.ssw / wsum * n / (n - 1)
        vsrs = s2 * (1 - n / wsum) / n
        if kind == "total":
            vsrs = vsrs * wsum**2
        # weights summing to n or less (e.g. no weights): no SRS variance to compare (R: Inf/NA)
        return np.where((n >= 2) & (wsum > n), cells.variance / vsrs, np.nan)


def _frame(
    design: SurveyDesign, variables: list[Hashable], cells: Cells, kind: str, confidence: float
) -> pd.DataFrame:
    se = _se(cells.variance, cells.n >= 2)
    df = design.df
    cols = inference.t_interval(cells.estimate, se, df, confidence)
    v, levels = len(variables), len(cells.levels)
    return pd.DataFrame(
        {
            "variable": np.repeat(np.asarray(variables, dtype=object), levels),
            "domain": np.tile(np.asarray(cells.levels, dtype=object), v),
            "n": cells.n.ravel(),
            "estimate": cells.estimate.ravel(),
            "se": se.ravel(),
            "ci_low": cols["ci_low"].ravel(),
            "ci_high": cols["ci_high"].ravel(),
            "df": inference.df_column(df, v * levels),
            "deff": _deff(cells, kind).ravel(),
            "p_value": cols["p_value"].ravel(),
        }
    )


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def _cells(
    design: SurveyDesign,
    frame: pd.DataFrame,
    requests: Sequence[Request],
    kind: str,
    deff: bool,
) -> list[Cells]:
    if frame.shape[1] == 0:
        return [Cells.empty(r, 0) for r in requests]
    with one_blas_thread():
        return compute(design, frame, requests, kind, deff=deff)


def _estimates(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: Sequence[pd.Series | None],
    kind: str,
    confidence: float,
    deff: bool,
) -> list[pd.DataFrame]:
    _check_confidence(confidence)
    frame = values_frame(design, values)
    requests = [Request(grouping(design, d)) for d in domains]
    cells = _cells(design, frame, requests, kind, deff)
    return [_frame(design, list(frame.columns), c, kind, confidence) for c in cells]


def _indicators(values: pd.DataFrame | pd.Series) -> tuple[pd.DataFrame, list[tuple[Any, Any]]]:
    """One 0/1 column per category of every column (NaN where the column is missing), and the
    (column, category) of each (categories in category order, else sorted)."""
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    indicators, names = {}, []
    for col in frame.columns:
        s = frame[col]
        cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.dropna().unique()
        cats = list(cats) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(cats, key=str)
        for cat in cats:
            indicators[f"{col}\x1f{cat}"] = (s == cat).astype(float).where(s.notna())
            names.append((col, cat))
    return pd.DataFrame(indicators, index=frame.index), names


def _with_categories(table: pd.DataFrame, names: list[tuple[Any, Any]], keys: list) -> None:
    split = dict(zip(keys, names, strict=True))
    table.insert(
        table.columns.get_loc("variable") + 1,
        "category",
        table["variable"].map(lambda k: split[k][1]),
    )
    table["variable"] = table["variable"].map(lambda k: split[k][0])


# ---------------------------------------------------------------------------------------------
# public estimators


def means(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """Weighted (Hajek) means of every column of ``values`` in every domain, with design-based SEs.

    Matches R's ``svymean(..., na.rm = TRUE, deff = TRUE)`` and ``svyby(..., svymean)``: a missing
    value makes the row fall outside that variable's domain (it is not dropped from the design).

    Parameters
    ----------
    design
        The sampling design (possibly calibrated; with replicate weights, their variance).
    values
        (n x k) numeric columns, rows in the order of the design's frame; NaN = not answered.
    domains
        Domain label of each row (NaN: in no domain). Categorical: one row per category, in
        category order, including categories without respondents; otherwise the sorted labels.
        ``None``: all respondents, ``domain = "all"``.
    confidence
        Confidence level of the interval.
    deff
        Compute the design effect (one more pass over the data); ``False``: ``deff`` is NaN.

    Returns
    -------
    pandas.DataFrame
        One row per variable x domain (variable-major) with columns ``variable, domain, n,
        estimate, se, ci_low, ci_high, df, deff, p_value``: ``n`` respondents with an answer and a
        non-zero weight; ``df`` the design degrees of freedom (``design.df``: an integer, or a float
        under ``bell-mccaffrey``); ``ci_*`` from the t
        distribution with ``df``; ``deff`` R's design effect (variance over the SRS-without-
        replacement variance of ``n`` from ``N = sum of weights``; NaN when N <= n, e.g. without
        weights); ``p_value`` two-sided for H0: mean = 0. ``n = 0``: estimate NaN; ``n = 1``: se
        (and everything from it) NaN.
    """
    return _estimates(design, values, [domains], "mean", confidence, deff)[0]


def totals(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """Weighted totals ``sum w y`` of every column in every domain (R's ``svytotal``, ``svyby``).

    Parameters and returned columns as :func:`means` (``estimate`` is the total, ``deff`` R's
    total design effect, ``p_value`` for H0: total = 0).
    """
    return _estimates(design, values, [domains], "total", confidence, deff)[0]


def proportions(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """Proportions of the categories of every column of ``values`` (R's ``svymean`` of a factor).

    Each category is the mean of its indicator; a missing value makes the row fall outside that
    column's domain (``na.rm = TRUE``), so a column's proportions sum to 1 in every domain.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`means` plus ``category`` after ``variable``: one row per column x
        category (categories in category order, else sorted) x domain.
    """
    indicators, names = _indicators(values)
    out = means(design, indicators, domains, confidence, deff)
    _with_categories(out, names, list(indicators.columns))
    return out


def by(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    groups: Mapping[str, pd.Series | None],
    estimator: str = "mean",
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """Any estimator for several domain variables at once, in one pass over the data.

    Parameters
    ----------
    design, values, confidence, deff
        As :func:`means`.
    groups
        Group name -> domain labels per row (``None``: all respondents), e.g.
        ``{"all": None, "segment": frame["segment"], "region": frame["region"]}``.
    estimator
        ``mean`` (:func:`means`), ``total`` (:func:`totals`) or ``proportion``
        (:func:`proportions`).

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` and those of the estimator (``category`` after ``variable`` for
        proportions): for each group in order, the rows the estimator gives with
        ``domains=groups[group]`` (identical numbers).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator {estimator!r} is not one of {', '.join(ESTIMATORS)}")
    names = list(groups)
    frame, labels = _indicators(values) if estimator == "proportion" else (values, None)
    kind = "total" if estimator == "total" else "mean"
    tables = _estimates(design, frame, [groups[g] for g in names], kind, confidence, deff)
    if not tables:
        columns = (
            GROUP_COLUMNS
            if labels is None
            else [*GROUP_COLUMNS[:2], "category", *GROUP_COLUMNS[2:]]
        )
        return pd.DataFrame(columns=columns)
    for name, table in zip(names, tables, strict=True):
        table.insert(0, "group", name)
    out = pd.concat(tables, ignore_index=True)
    if labels is not None:
        _with_categories(out, labels, list(frame.columns))
    return out


def means_by(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    groups: Mapping[str, pd.Series | None],
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """:func:`means` for several domain variables at once: ``by(..., estimator="mean")``."""
    return by(design, values, groups, "mean", confidence, deff)


def ratios(
    design: SurveyDesign,
    numerators: pd.DataFrame,
    denominators: pd.DataFrame,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Ratios of weighted totals ``sum w y / sum w x`` in every domain (R's ``svyratio``).

    :func:`ratios_by` with one group (its rows, without the ``group`` column).
    """
    out = ratios_by(design, numerators, denominators, {ALL: domains}, confidence)
    return out.drop(columns="group")


def ratios_by(
    design: SurveyDesign,
    numerators: pd.DataFrame,
    denominators: pd.DataFrame,
    groups: Mapping[str, pd.Series | None],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Ratios ``R = sum w y / sum w x`` of column ``j`` of ``numerators`` to column ``j`` of
    ``denominators``, in every domain of every group, with design-based standard errors.

    The ratio's variance is that of the total of its linearised values ``z = (y - R x) / X``
    (``X = sum w x`` in the domain; ``z = 0`` outside it), as R's ``svyratio`` computes it: the
    totals of ``y`` and ``x`` come from one call of :func:`by` (``total``), then the variance of
    every domain's ratio from one :func:`totals` call per group on ``z``, so the design's
    strata, clusters, fpc and calibration residuals (or replicate weights) enter exactly as for
    every other estimate (one variance kernel). With replicate weights the variance is that of
    the linearised total under the replicates (R's ``svyratio`` of a replicate design instead
    recomputes the ratio in each replicate; the two agree to first order).

    Parameters
    ----------
    design
        The sampling design (possibly calibrated).
    numerators, denominators
        (n x k) numeric columns, pairwise: the ratio of column ``j`` uses the rows where both
        ``numerators.iloc[:, j]`` and ``denominators.iloc[:, j]`` are finite (NaN: outside the
        ratio's domain; the row stays in the design). The variables are named by the
        numerators' columns.
    groups
        Group name -> domain labels per row (``None``: all respondents), as :func:`by`.
    confidence
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per group x variable x domain (group, then variable-major) with columns ``group,
        variable, domain, n, numerator, denominator, estimate, se, ci_low, ci_high, df,
        p_value``: ``n`` rows with both values and a non-zero weight in the domain;
        ``numerator`` and ``denominator`` the weighted totals; ``estimate`` their ratio (NaN
        when the denominator is 0); ``se`` NaN below two respondents; ``p_value`` two-sided for
        H0: ratio = 0, t with the design degrees of freedom.
    """
    _check_confidence(confidence)
    num = values_frame(design, numerators)
    den = values_frame(design, denominators)
    if num.shape[1] != den.shape[1]:
        raise ValueError(
            f"{num.shape[1]} numerators but {den.shape[1]} denominators: give one denominator "
            "column per numerator column"
        )
    variables = list(num.columns)
    k = len(variables)
    # y and x are views of one (n x 2k) array, the frame of the totals (no copies of it; at 1M
    # rows and 20 items each (n x k) float64 array is 160 MB)
    values = np.empty((2 * k, design.n))  # the frame's block layout: variables x rows
    y, x = values[:k].T, values[k:].T
    y[:] = num.to_numpy(dtype=float, na_value=np.nan)
    x[:] = den.to_numpy(dtype=float, na_value=np.nan)
    outside = ~(np.isfinite(y) & np.isfinite(x))
    y[outside] = np.nan
    x[outside] = np.nan
    del outside
    stacked = pd.DataFrame(values.T, columns=range(2 * k), copy=False)
    names = list(groups)
    sums = _estimates(design, stacked, [groups[g] for g in names], "total", confidence, False)
    tables = []
    for name, table in zip(names, sums, strict=True):
        levels = len(table) // (2 * k)
        ty = table["estimate"].to_numpy()[: k * levels].reshape(k, levels)
        tx = table["estimate"].to_numpy()[k * levels :].reshape(k, levels)
        n = table["n"].to_numpy()[: k * levels]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(tx != 0, ty / tx, np.nan)
        codes = grouping(design, groups[name]).codes
        outside = codes < 0
        at = np.maximum(codes, 0)
        z = np.empty((k, design.n))
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in range(k):  # variable by variable: no (n x k) temporaries
                zj = z[j]
                np.multiply(ratio[j][at], x[:, j], out=zj)
                np.subtract(y[:, j], zj, out=zj)
                np.divide(zj, tx[j][at], out=zj)
                zj[outside | ~np.isfinite(zj)] = np.nan
        lin = _estimates(
            design,
            pd.DataFrame(z.T, columns=range(k), copy=False),
            [groups[name]],
            "total",
            confidence,
            False,
        )[0]
        del z
        se = lin["se"].to_numpy()
        est = ratio.ravel()
        cols = inference.t_interval(est, se, design.df, confidence)
        tables.append(
            pd.DataFrame(
                {
                    "group": name,
                    "variable": np.repeat(np.asarray(variables, dtype=object), levels),
                    "domain": table["domain"].to_numpy()[: k * levels],
                    "n": n,
                    "numerator": ty.ravel(),
                    "denominator": tx.ravel(),
                    "estimate": est,
                    "se": np.where(np.isfinite(est), se, np.nan),
                    "ci_low": cols["ci_low"],
                    "ci_high": cols["ci_high"],
                    "df": inference.df_column(design.df, k * levels),
                    "p_value": cols["p_value"],
                }
            )
        )
    if not tables:
        return pd.DataFrame(columns=RATIO_COLUMNS)
    return pd.concat(tables, ignore_index=True)[RATIO_COLUMNS]


# ---------------------------------------------------------------------------------------------
# contrasts and tests


def _contrast_frame(
    design: SurveyDesign, variables: list[Hashable], cells: Cells, confidence: float
) -> dict[str, np.ndarray]:
    """Columns (variables, contrasts) of a contrast of two domain means."""
    assert cells.estimate_b is not None and cells.n_b is not None
    est = cells.estimate - cells.estimate_b
    se = _se(cells.variance, (cells.n >= 2) & (cells.n_b >= 2))  # as means(): n = 1 has no SE
    cols = inference.t_interval(est, se, design.df, confidence)
    return {"estimate": est, "se": se, **cols}


def difference(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series,
    level_a: Any,
    level_b: Any,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Difference of two domains' means, ``mean(level_a) - mean(level_b)``, for every column.

    The standard error comes from the joint influence values of the two means (their covariance is
    included, as R's ``svyby(covmat = TRUE)`` + ``svycontrast``); the t distribution uses the design
    degrees of freedom.

    Returns
    -------
    pandas.DataFrame
        One row per variable with columns ``variable, level_a, level_b, n_a, n_b, estimate, se,
        ci_low, ci_high, df, p_value`` (``p_value``: two-sided, H0: no difference).
    """
    _check_confidence(confidence)
    levels_all = grouping(design, domains).levels
    for level in (level_a, level_b):
        if level not in levels_all:
            raise ValueError(
                f"domain level {level!r} does not occur in {domains.name!r} "
                f"(levels: {', '.join(map(str, levels_all))})"
            )
    two = domains.where(domains.isin([level_a, level_b]))
    if isinstance(two.dtype, pd.CategoricalDtype):
        two = two.cat.set_categories([level_a, level_b])
    else:
        two = pd.Series(pd.Categorical(two, categories=[level_a, level_b]))
    frame = values_frame(design, values)
    cells = _cells(design, frame, [Request(grouping(design, two), "pair")], "mean", False)[0]
    v = frame.shape[1]
    cols = _contrast_frame(design, list(frame.columns), cells, confidence)
    return pd.DataFrame(
        {
            "variable": list(frame.columns),
            "level_a": [level_a] * v,
            "level_b": [level_b] * v,
            "n_a": cells.n[:, 0],
            "n_b": cells.n_b[:, 0] if cells.n_b is not None else 0,
            **{k: a[:, 0] for k, a in cols.items()},
            "df": inference.df_column(design.df, v),
        }
    )[DIFFERENCE_COLUMNS]


def versus_rest(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    groups: Mapping[str, pd.Series],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each level of every domain variable against the rest of the rows, for every column, at once.

    For level ``L`` of group ``g``: ``mean(L) - mean(rest)``, where the rest is every row with
    another level of ``g`` (rows without a level of ``g`` are in neither). Both are domain means of
    the full design and the standard error of their difference comes from their joint influence
    values, as :func:`difference` (R's ``svyby(covmat = TRUE)`` + ``svycontrast``): the numbers
    equal ``difference(design, values, two, "level", "rest")`` with ``two`` labelling the level's
    rows ``"level"`` and the rest's ``"rest"``, but every level of every group comes from one pass
    over the data.

    Parameters
    ----------
    design, values, confidence
        As :func:`means`.
    groups
        Group name -> domain labels per row (levels as :func:`means`: a categorical's categories
        in order, including empty ones, else the sorted labels).

    Returns
    -------
    pandas.DataFrame
        One row per group x level x variable (in that order) with columns ``group, level,
        variable, n, n_rest, mean, mean_rest, estimate, se, ci_low, ci_high, df, p_value``:
        ``n`` and ``n_rest`` the respondents (answered, non-zero weight) of the level and of the
        rest; ``mean`` and ``mean_rest`` their means; ``estimate = mean - mean_rest``; ``se``
        (NaN unless both have two respondents), the t interval and the two-sided p-value (H0: no
        difference) with the design degrees of freedom.
    """
    _check_confidence(confidence)
    frame = values_frame(design, values)
    names = list(groups)
    for name in names:
        if groups[name] is None:
            raise ValueError(f"group {name!r} has no domain labels: nothing to compare with")
    requests = [Request(grouping(design, groups[g]), "rest") for g in names]
    cells = _cells(design, frame, requests, "mean", False)
    tables = [
        _rest_frame(design, name, list(frame.columns), c, confidence)
        for name, c in zip(names, cells, strict=True)
    ]
    if not tables:
        return pd.DataFrame(columns=VERSUS_REST_COLUMNS)
    return pd.concat(tables, ignore_index=True)


def _rest_frame(
    design: SurveyDesign, name: str, variables: list[Hashable], cells: Cells, confidence: float
) -> pd.DataFrame:
    """The :func:`versus_rest` rows of one group: level-major."""
    assert cells.estimate_b is not None and cells.n_b is not None
    cols = _contrast_frame(design, variables, cells, confidence)
    n_lev, v = len(cells.levels), len(variables)

    def level_major(a: np.ndarray) -> np.ndarray:
        return a.T.ravel()

    return pd.DataFrame(
        {
            "group": name,
            "level": np.repeat(np.asarray(cells.levels, dtype=object), v),
            "variable": np.tile(np.asarray(variables, dtype=object), n_lev),
            "n": level_major(cells.n),
            "n_rest": level_major(cells.n_b),
            "mean": level_major(cells.estimate),
            "mean_rest": level_major(cells.estimate_b),
            **{k: level_major(a) for k, a in cols.items()},
            "df": inference.df_column(design.df, n_lev * v),
        }
    )[VERSUS_REST_COLUMNS]


@dataclass(frozen=True)
class TTestResult:
    """A design-based two-group t-test (R's ``svyttest(y ~ group, design)``).

    ``difference = mean_b - mean_a`` (R: the coefficient of the second factor level), ``t`` its
    ratio to ``se``, ``df`` the design degrees of freedom of the rows used minus 1 (R: residual df
    of ``svyglm``; with replicate weights the whole replicate design's ``degf`` minus 1, as R's
    ``svyglm.svyrep.design``; with ``weighting.small_sample: bell-mccaffrey`` the design's
    Bell-McCaffrey df, which does not depend on the rows), ``p_value`` two-sided.
    """

    level_a: Any
    level_b: Any
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    se: float
    t: float
    df: int | float
    p_value: float
    ci_low: float
    ci_high: float


def _two_levels(design: SurveyDesign, groups: pd.Series, levels: Sequence[Any] | None) -> list:
    """The two levels a t-test compares: ``levels``, or the only two with respondents."""
    g = grouping(design, groups)
    if levels is None:
        found = [lev for i, lev in enumerate(g.levels) if (g.codes == i).any()]
        if len(found) != 2:
            raise ValueError(
                f"a two-group t-test needs exactly two groups in {groups.name!r}; found "
                f"{len(found)} ({', '.join(map(str, found))}); pass levels=(a, b)"
            )
        return found
    for level in levels:
        if level not in g.levels:
            raise ValueError(
                f"group {level!r} does not occur in {groups.name!r} "
                f"(levels: {', '.join(map(str, g.levels))})"
            )
    return list(levels)


def ttest(
    design: SurveyDesign,
    y: pd.Series,
    groups: pd.Series,
    levels: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> TTestResult:
    """Design-based t-test of the difference of ``y``'s mean between two groups (R's ``svyttest``).

    Parameters
    ----------
    design
        The sampling design.
    y
        Numeric values per row (NaN: not answered; such rows are outside the test's domain).
    groups
        Group label per row; exactly two levels (categorical: its categories with respondents, in
        order; otherwise sorted), unless ``levels`` names the two to compare.
    levels
        ``(a, b)``: test ``mean_b - mean_a``.
    confidence
        Confidence level of the interval for the difference.
    """
    _check_confidence(confidence)
    groups = pd.Series(groups).reset_index(drop=True)
    a, b = _two_levels(design, groups, levels)
    y = pd.Series(np.asarray(y, dtype=float), name=getattr(y, "name", None) or "y")
    two = pd.Series(pd.Categorical(groups.where(groups.isin([a, b])), categories=[b, a]))
    cells = _cells(design, y.to_frame(), [Request(grouping(design, two), "pair")], "mean", False)[0]
    assert cells.estimate_b is not None and cells.n_b is not None
    cols = _contrast_frame(design, [y.name], cells, confidence)
    if design.small_sample == "bell-mccaffrey":  # its df (of the design, whatever the rows)
        df = design.df
    elif design.replicates is None:  # R: the residual df of svyglm on the rows used
        rows = np.isfinite(y.to_numpy()) & groups.isin([a, b]).to_numpy() & (design.weights != 0)
        df = degrees_of_freedom(design, rows) - 1
    else:  # R's svyglm.svyrep.design: degf of the whole replicate design - 1
        df = design.df - 1
    est, se = float(cols["estimate"][0, 0]), float(cols["se"][0, 0])
    inter = inference.t_interval(np.array([est]), np.array([se]), df, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(np.divide(est, se))
    return TTestResult(
        level_a=a,
        level_b=b,
        n_a=int(cells.n_b[0, 0]),
        n_b=int(cells.n[0, 0]),
        mean_a=float(cells.estimate_b[0, 0]),
        mean_b=float(cells.estimate[0, 0]),
        difference=est,
        se=se,
        t=t,
        df=df,
        p_value=float(inter["p_value"][0]),
        ci_low=float(inter["ci_low"][0]),
        ci_high=float(inter["ci_high"][0]),
    )
