"""Design-based estimates with Taylor-linearisation standard errors, as R's survey package has them.

Every estimator here works on many variables and many domains at once: it builds the matrix of
influence values (rows = respondents, columns = variable x domain level) and sums it over sampling
units with sparse indicator matrices, so a gap table of 40 items x 10 segments is a few matrix
products, not 400 small computations. Formulas are in METHODS.md; the R functions they match are
named below.

Domains (segment levels, and "answered this question") are estimated inside the full design: rows
outside the domain keep an influence value of 0 and stay in the design (R's ``svyby`` and
``svymean(..., na.rm = TRUE)``). A domain with no respondents gives ``n = 0`` and a NaN estimate
(the row is kept so the gap is visible); a domain with one respondent gives a NaN standard error.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from analysis.design import CENSUS_TOLERANCE, Calibration, Stage, SurveyDesign, degrees_of_freedom
from analysis.errors import DesignError

#: The ``domain`` label of estimates over all respondents (``domains=None``).
ALL = "all"

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


# ---------------------------------------------------------------------------------------------
# variance of influence values


def linearization_variance(
    design: SurveyDesign, z: np.ndarray, present: np.ndarray | None = None
) -> np.ndarray:
    """Variance of the totals of the columns of ``z`` under the design (R's ``svyrecvar``).

    ``V = sum_stages sum_h m_h (1 - f_h) n_h / (n_h - 1) sum_c (z_hc - zbar_h)^2`` with ``z_hc`` the
    unit totals, ``f_h`` the sampling fraction and ``m_h`` the product of the earlier stages'
    sampling fractions (1 at the first stage). Calibrations replace ``z`` by its residuals on the
    calibration variables first.

    Parameters
    ----------
    design
        The design.
    z
        (n, k) influence values, one column per estimate.
    present
        (n, k) boolean: the rows of each estimate's domain. Only used, as R does for subsets of an
        uncalibrated design, to count the strata of the ``average`` and ``adjust`` lonely-PSU rules.

    Returns
    -------
    numpy.ndarray
        (k,) variances.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
    for cal in design.calibrations:
        z = _residualise(cal, z)
    if design.is_calibrated:
        present = None  # R keeps every row of a calibrated design (zero weights outside a subset)
    total = np.zeros(z.shape[1])
    for stage in design.stages:
        total += _stage_variance(stage, z, present, design.lonely_psu)
    return total


def _residualise(cal: Calibration, z: np.ndarray) -> np.ndarray:
    """Residuals of ``z / wq`` on the calibration basis, times ``wq`` (R: ``qr.resid(...) * w``)."""
    wq = cal.wq[:, None]
    u = np.divide(z, wq, out=np.zeros_like(z), where=wq != 0)
    u -= cal.q @ (cal.q.T @ u)
    return u * wq


def _indicator(codes: np.ndarray, n_rows: int) -> sparse.csr_array:
    """(n_rows x len(codes)) sparse matrix with a 1 at (codes[i], i)."""
    m = codes.shape[0]
    return sparse.csr_array((np.ones(m), (codes, np.arange(m))), shape=(n_rows, m))


def _stage_variance(
    stage: Stage, z: np.ndarray, present: np.ndarray | None, policy: str
) -> np.ndarray:
    units = _indicator(stage.unit, stage.n_units)
    strata = _indicator(stage.unit_stratum, stage.n_strata)
    n_h = stage.stratum_size.astype(float)
    t = units @ z  # (U, k) unit totals
    t_h = strata @ t  # (S, k) stratum totals
    centred = t - (t_h / n_h[:, None])[stage.unit_stratum]

    keep = 1.0 - stage.stratum_fraction
    active = keep >= CENSUS_TOLERANCE  # census strata contribute nothing (and are never lonely)
    scale = keep * np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0) * stage.stratum_multiplier
    scale = np.where(active, scale, 0.0)
    lonely = stage.lonely

    if present is None:
        pres = np.ones((stage.n_strata, z.shape[1]), dtype=bool)
    else:
        pres = (strata @ (units @ present.astype(float))) > 0

    if lonely.any() and policy in ("adjust", "average"):
        scopes = _indicator(stage.stratum_scope, stage.n_scopes)
        if policy == "adjust":
            # A lonely PSU is centred at the grand mean of the PSU totals in its scope
            # (survey >= 4.0: colSums(x) / number of PSUs of the strata present).
            scope_n = scopes @ (pres * n_h[:, None])
            scope_sum = scopes @ t_h
            grand = np.divide(scope_sum, scope_n, out=np.zeros_like(scope_sum), where=scope_n > 0)
            lonely_units = lonely[stage.unit_stratum]
            centred[lonely_units] = (
                t[lonely_units] - grand[stage.stratum_scope[stage.unit_stratum[lonely_units]]]
            )
    contrib = (strata @ (centred * centred)) * scale[:, None]  # (S, k)

    if lonely.any() and policy == "average":
        # R: lonely strata are NA; the others are summed and scaled by strata / non-lonely strata.
        contrib[lonely] = 0.0
        n_strat = scopes @ pres.astype(float)
        n_ok = scopes @ (pres & ~lonely[:, None]).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            # all strata of a scope lonely: 0 * inf = NaN, as R's 0 * nstrat / 0
            per_scope = np.where(n_strat > 0, (scopes @ contrib) * (n_strat / n_ok), 0.0)
        return per_scope.sum(axis=0)
    return contrib.sum(axis=0)


# ---------------------------------------------------------------------------------------------
# inputs


def _as_matrix(
    design: SurveyDesign, values: pd.DataFrame | pd.Series
) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Variable names, values with NaN as 0, and the answered mask, checked against the design."""
    if isinstance(values, pd.Series):
        values = values.to_frame(name=values.name if values.name is not None else "value")
    if len(values) != design.n:
        raise ValueError(
            f"values have {len(values)} rows but the design has {design.n}; pass columns of the "
            "frame the design was built from, in the same row order"
        )
    try:
        y = values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        raise ValueError(f"columns {bad} are not numeric; estimates need numbers") from exc
    answered = np.isfinite(y)
    return list(values.columns), np.where(answered, y, 0.0), answered


def _domain_matrix(design: SurveyDesign, domains: pd.Series | None) -> tuple[list[Any], np.ndarray]:
    """Domain levels and the (n, L) membership matrix. Categorical: every category, in order."""
    if domains is None:
        return [ALL], np.ones((design.n, 1), dtype=bool)
    if len(domains) != design.n:
        raise ValueError(
            f"domains have {len(domains)} rows but the design has {design.n}; pass a column of "
            "the frame the design was built from"
        )
    if isinstance(domains.dtype, pd.CategoricalDtype):
        levels = list(domains.cat.categories)
        codes = domains.cat.codes.to_numpy()
    else:
        codes, uniques = pd.factorize(domains, sort=False)
        try:
            order = sorted(range(len(uniques)), key=lambda i: uniques[i])
        except TypeError:  # labels of mixed types: first appearance
            order = list(range(len(uniques)))
        levels = [uniques[i] for i in order]
        remap = np.empty(len(uniques), dtype=np.intp)
        remap[order] = np.arange(len(uniques))
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
    member = codes[:, None] == np.arange(len(levels))[None, :]
    return levels, member


@dataclass(frozen=True, eq=False)
class _Influence:
    """Estimates and influence values of every variable x domain cell (k = v * L, by variable)."""

    variables: list[Hashable]
    levels: list[Any]
    estimate: np.ndarray  # (v, L)
    weight_sum: np.ndarray  # (v, L) sum of weights in the cell
    n: np.ndarray  # (v, L) respondents with non-zero weight
    ssw: np.ndarray  # (v, L) sum of w (y - mean)^2 in the cell
    z: np.ndarray  # (n, v * L)
    member: np.ndarray  # (n, v * L) bool


def _influence(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None,
    kind: str,
) -> _Influence:
    variables, y, answered = _as_matrix(design, values)
    levels, dom = _domain_matrix(design, domains)
    w = design.weights
    domf = dom.astype(float)
    wsum = (w[:, None] * answered).T @ domf  # (v, L)
    wy = (w[:, None] * y).T @ domf
    n = ((w != 0)[:, None] & answered).astype(float).T @ domf
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(wsum != 0, wy / wsum, np.nan)
    member = answered[:, :, None] & dom[:, None, :]  # (n, v, L)
    centred = (y[:, :, None] - np.nan_to_num(mean)[None]) * member
    ssw = np.einsum("i,ivl->vl", w, centred * centred)
    if kind == "mean":
        safe = np.where(wsum != 0, wsum, 1.0)
        z = w[:, None, None] * centred / safe[None]
        estimate = mean
    else:
        z = w[:, None, None] * y[:, :, None] * member
        estimate = np.where(n > 0, wy, np.nan)
    k = len(variables) * len(levels)
    return _Influence(
        variables=variables,
        levels=levels,
        estimate=estimate,
        weight_sum=wsum,
        n=n.round().astype(np.int64),
        ssw=ssw,
        z=z.reshape(design.n, k),
        member=member.reshape(design.n, k),
    )


def _t_columns(
    estimate: np.ndarray, se: np.ndarray, df: float | np.ndarray, confidence: float
) -> dict[str, np.ndarray]:
    """CI and two-sided p-value (H0: 0) from the t distribution with ``df`` degrees of freedom."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    df_arr = np.broadcast_to(np.asarray(df, dtype=float), np.shape(estimate))
    ok_df = df_arr > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(ok_df, stats.t.ppf((1 + confidence) / 2, np.where(ok_df, df_arr, 1)), np.nan)
        t = estimate / se
        p = np.where(ok_df, 2 * stats.t.sf(np.abs(t), np.where(ok_df, df_arr, 1)), np.nan)
    return {"ci_low": estimate - q * se, "ci_high": estimate + q * se, "p_value": p}


def _table(design: SurveyDesign, inf: _Influence, confidence: float, kind: str) -> pd.DataFrame:
    var = linearization_variance(design, inf.z, inf.member).reshape(inf.estimate.shape)
    n = inf.n
    se = np.where(n >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
    # R's deff: variance / variance under simple random sampling without replacement of n from
    # N = sum of the weights: s^2 n/(n-1) (1 - n/N) / n (times N^2 for totals).
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = inf.ssw / inf.weight_sum * n / (n - 1)
        vsrs = s2 * (1 - n / inf.weight_sum) / n
        if kind == "total":
            vsrs = vsrs * inf.weight_sum**2
        # weights summing to n or less (e.g. no weights): no SRS variance to compare (R: Inf/NA)
        deff = np.where((n >= 2) & (inf.weight_sum > n), var / vsrs, np.nan)
    df = design.df
    cols = _t_columns(inf.estimate, se, df, confidence)
    v, levels = len(inf.variables), len(inf.levels)
    return pd.DataFrame(
        {
            "variable": np.repeat(np.asarray(inf.variables, dtype=object), levels),
            "domain": np.tile(np.asarray(inf.levels, dtype=object), v),
            "n": n.ravel(),
            "estimate": inf.estimate.ravel(),
            "se": se.ravel(),
            "ci_low": cols["ci_low"].ravel(),
            "ci_high": cols["ci_high"].ravel(),
            "df": np.full(v * levels, df, dtype=np.int64),
            "deff": deff.ravel(),
            "p_value": cols["p_value"].ravel(),
        }
    )[ESTIMATE_COLUMNS]


# ---------------------------------------------------------------------------------------------
# public estimators


def means(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Weighted (Hajek) means of every column of ``values`` in every domain, with design-based SEs.

    Matches R's ``svymean(..., na.rm = TRUE, deff = TRUE)`` and ``svyby(..., svymean)``: a missing
    value makes the row fall outside that variable's domain (it is not dropped from the design).

    Parameters
    ----------
    design
        The sampling design (possibly calibrated).
    values
        (n x k) numeric columns, rows in the order of the design's frame; NaN = not answered.
    domains
        Domain label of each row (NaN: in no domain). Categorical: one row per category, in
        category order, including categories without respondents; otherwise the sorted labels.
        ``None``: all respondents, ``domain = "all"``.
    confidence
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per variable x domain (variable-major) with columns ``variable, domain, n,
        estimate, se, ci_low, ci_high, df, deff, p_value``: ``n`` respondents with an answer and a
        non-zero weight; ``df`` the design degrees of freedom (PSUs - strata); ``ci_*`` from the t
        distribution with ``df``; ``deff`` R's design effect (variance over the SRS-without-
        replacement variance of ``n`` from ``N = sum of weights``; NaN when N <= n, e.g. without
        weights); ``p_value`` two-sided for
        H0: mean = 0. ``n = 0``: estimate NaN; ``n = 1``: se (and everything from it) NaN.
    """
    return _table(design, _influence(design, values, domains, "mean"), confidence, "mean")


def totals(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Weighted totals ``sum w y`` of every column in every domain (R's ``svytotal``, ``svyby``).

    Parameters and returned columns as :func:`means` (``estimate`` is the total, ``deff`` R's
    total design effect, ``p_value`` for H0: total = 0).
    """
    return _table(design, _influence(design, values, domains, "total"), confidence, "total")


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
    levels_all = _domain_matrix(design, domains)[0]
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
        two = pd.Categorical(two, categories=[level_a, level_b])
        two = pd.Series(two)
    inf = _influence(design, values, two, "mean")
    v = len(inf.variables)
    z = inf.z.reshape(design.n, v, 2)
    zd = z[:, :, 0] - z[:, :, 1]
    member = inf.member.reshape(design.n, v, 2).any(axis=2)
    var = linearization_variance(design, zd, member)
    est = inf.estimate[:, 0] - inf.estimate[:, 1]
    ok = (inf.n[:, 0] >= 2) & (inf.n[:, 1] >= 2)  # as means(): one respondent has no SE
    se = np.where(ok, np.sqrt(np.maximum(var, 0.0)), np.nan)
    df = design.df
    cols = _t_columns(est, se, df, confidence)
    return pd.DataFrame(
        {
            "variable": inf.variables,
            "level_a": [level_a] * v,
            "level_b": [level_b] * v,
            "n_a": inf.n[:, 0],
            "n_b": inf.n[:, 1],
            "estimate": est,
            "se": se,
            "ci_low": cols["ci_low"],
            "ci_high": cols["ci_high"],
            "df": np.full(v, df, dtype=np.int64),
            "p_value": cols["p_value"],
        }
    )[DIFFERENCE_COLUMNS]


@dataclass(frozen=True)
class TTestResult:
    """A design-based two-group t-test (R's ``svyttest(y ~ group, design)``).

    ``difference = mean_b - mean_a`` (R: the coefficient of the second factor level), ``t`` its
    ratio to ``se``, ``df`` the design degrees of freedom of the rows used minus 1 (R: residual df
    of ``svyglm``), ``p_value`` two-sided.
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
    df: int
    p_value: float
    ci_low: float
    ci_high: float


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
    groups = pd.Series(groups).reset_index(drop=True)
    if levels is None:
        found, member = _domain_matrix(design, groups)
        found = [lev for lev, m in zip(found, member.T, strict=True) if m.any()]
        if len(found) != 2:
            raise ValueError(
                f"a two-group t-test needs exactly two groups in {groups.name!r}; found "
                f"{len(found)} ({', '.join(map(str, found))}); pass levels=(a, b)"
            )
        levels = found
    a, b = levels
    y = pd.Series(np.asarray(y, dtype=float), name=getattr(y, "name", None) or "y")
    res = difference(design, y, groups, b, a, confidence)
    row = res.iloc[0]
    answered = _as_matrix(design, y)[2]
    rows = answered[:, 0] & groups.isin([a, b]).to_numpy() & (design.weights != 0)
    df = degrees_of_freedom(design, rows) - 1
    est, se = float(row["estimate"]), float(row["se"])
    cols = _t_columns(np.array([est]), np.array([se]), df, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = float(np.divide(est, se))
    mean_b_a = means(design, y, pd.Series(pd.Categorical(groups, categories=[a, b])))
    return TTestResult(
        level_a=a,
        level_b=b,
        n_a=int(row["n_b"]),
        n_b=int(row["n_a"]),
        mean_a=float(mean_b_a["estimate"].iloc[0]),
        mean_b=float(mean_b_a["estimate"].iloc[1]),
        difference=est,
        se=se,
        t=t,
        df=df,
        p_value=float(cols["p_value"][0]),
        ci_low=float(cols["ci_low"][0]),
        ci_high=float(cols["ci_high"][0]),
    )


# ---------------------------------------------------------------------------------------------
# replicate weights


def replicate_means(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    type: str = "JK1",
    confidence: float = 0.95,
    mse: bool = False,
) -> pd.DataFrame:
    """Means with delete-one-PSU jackknife (JK1) SEs (R's ``as.svrepdesign(type = "JK1")``).

    Replicate ``r`` drops PSU ``r`` and multiplies the other weights by ``n / (n - 1)``; the
    variance is ``(1 - f) (n - 1) / n * sum_r (theta_r - theta_bar)^2`` with ``theta_bar`` the mean
    of the replicates (``mse=True``: the full-sample estimate) and ``f`` the first-stage sampling
    fraction.
    All variables, domains and replicates are one matrix product.

    Parameters
    ----------
    design
        An unstratified, uncalibrated design (JKn and bootstrap are not implemented yet).
    values, domains, confidence
        As :func:`means`.
    type
        ``"JK1"``.
    mse
        Centre the replicates at the full-sample estimate instead of their mean.

    Returns
    -------
    pandas.DataFrame
        Columns as :func:`means`; ``deff`` is NaN (not defined for replicate designs here).
    """
    if type != "JK1":
        raise DesignError(f"replicate type {type!r} is not implemented; use 'JK1'")
    if design.n_strata > 1:
        raise DesignError("JK1 replicate weights need an unstratified design (R refuses it too)")
    if design.is_calibrated:
        raise DesignError(
            "replicate weights of a calibrated design would need every replicate recalibrated; "
            "use the linearisation estimator (means) for calibrated designs"
        )
    variables, y, answered = _as_matrix(design, values)
    levels, dom = _domain_matrix(design, domains)
    n_psu = design.n_psu
    if n_psu < 2:
        raise DesignError("JK1 needs at least two PSUs")
    w = design.weights
    member = (answered[:, :, None] & dom[:, None, :]).reshape(design.n, -1).astype(float)
    wy = (y[:, :, None] * dom[:, None, :]).reshape(design.n, -1)
    # (n, P) replicate weights: PSU r deleted, the others scaled by n/(n-1).
    psu = _indicator(design.psu, n_psu).T.toarray().astype(bool)
    rep = w[:, None] * (~psu) * (n_psu / (n_psu - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        full = (wy.T @ w) / (member.T @ w)
        theta = (wy.T @ rep) / (member.T @ rep)  # (k, P)
    centre = full[:, None] if mse else np.nanmean(theta, axis=1, keepdims=True)
    frac = design.fpc[0][0] if design.fpc else 0.0
    scale = (1 - frac) * (n_psu - 1) / n_psu
    var = scale * np.nansum((theta - centre) ** 2, axis=1)
    n = ((w != 0)[:, None] & answered).astype(float).T @ dom.astype(float)
    n = n.round().astype(np.int64).ravel()
    estimate = np.where(n > 0, full, np.nan)
    se = np.where(n >= 2, np.sqrt(var), np.nan)
    df = design.df
    cols = _t_columns(estimate, se, df, confidence)
    v, n_levels = len(variables), len(levels)
    return pd.DataFrame(
        {
            "variable": np.repeat(np.asarray(variables, dtype=object), n_levels),
            "domain": np.tile(np.asarray(levels, dtype=object), v),
            "n": n,
            "estimate": estimate,
            "se": se,
            "ci_low": cols["ci_low"],
            "ci_high": cols["ci_high"],
            "df": np.full(v * n_levels, df, dtype=np.int64),
            "deff": np.full(v * n_levels, np.nan),
            "p_value": cols["p_value"],
        }
    )[ESTIMATE_COLUMNS]
