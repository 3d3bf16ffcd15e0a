"""Derived importance: what drives overall satisfaction (METHODS.md, "Customer-centred analyses").

The building blocks are a design-weighted covariance / correlation matrix
(:func:`covariance_matrix`, :func:`correlation_matrix`), Johnson's (2000) relative weights on a
correlation matrix (:func:`relative_weights`) and replicate weights for the design
(:func:`replicate_weights`: the Rao-Wu rescaling bootstrap of PSUs within strata, or the
delete-one-PSU jackknife). On top of them, :func:`key_drivers` is the key-driver table of a survey
and :func:`importance_tiers` places each item on the dual-importance grid (stated against derived
importance).

Missing answers. The driver model uses the respondents who answered the overall question and every
item's performance question (``missing="complete"``, the default): a domain of the full design
(weights of the other rows are 0; nothing is dropped from the design), as R's ``svyglm`` uses the
complete cases of the model variables. ``missing="pairwise"`` instead estimates each correlation
from the respondents who answered both of its questions (R's ``cor(use = "pairwise")`` with
weights); it keeps more respondents when many skip one question or another, at the price of a
matrix that is not the correlation matrix of any one group of respondents (its smallest
eigenvalues are clipped at zero if needed). Its ``n`` is the number answering the overall
question and at least one item.

Uncertainty. The relative weights are smooth functions of the weighted covariance matrix; their
intervals come from replicate weights, each replicate recalibrated to the margins when the design is
calibrated (treating calibrated weights as fixed would misstate the standard errors). Bootstrap:
percentile intervals from the replicates; jackknife: ``estimate +- t * se``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import vocabulary
from analysis.errors import DesignError
from analysis.survey import inference
from analysis.survey.design import CENSUS_TOLERANCE, SurveyDesign, level_text

#: Replicate methods of :func:`replicate_weights`.
REPLICATE_METHODS = ("bootstrap", "jackknife")
DEFAULT_REPLICATES = 500
DEFAULT_SEED = 2026
#: Eigenvalues of a correlation matrix below this are treated as 0 (a redundant predictor).
EIGEN_TOLERANCE = 1e-10

DRIVER_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "correlation",
    "raw_weight",
    "raw_weight_se",
    "raw_weight_ci_low",
    "raw_weight_ci_high",
    "share",
    "share_se",
    "share_ci_low",
    "share_ci_high",
    "rank",
    "vs_average",
    "r_squared",
    "r_squared_ci_low",
    "r_squared_ci_high",
    "method",
    "replicates",
]


# ---------------------------------------------------------------------------------------------
# weighted covariance and correlation


def _moments(
    x: np.ndarray, weights: np.ndarray, pairwise: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted covariances, and each variable's variance on each pair's rows.

    ``x`` (n, p) with NaN for missing; ``weights`` (n,) or (R, n). Every weighted sum over rows
    is one matrix product of the weights with row-wise products of the variables (``n x p^2``,
    in chunks of rows), so R replicates cost one GEMM. Returns arrays (..., p, p): ``cov[j, k]``,
    ``var[j, k]`` (the variance of j among the rows answering j and k) and ``count[j, k]`` (those
    rows with a non-zero weight; from the first weight vector).
    """
    answered = np.isfinite(x)
    if not pairwise:
        answered = np.broadcast_to(answered.all(axis=1)[:, None], x.shape)
    m = answered.astype(float)
    xm = np.where(answered, x, 0.0)
    w = np.atleast_2d(np.asarray(weights, dtype=float))  # (R, n)
    n, p = x.shape
    sums = np.zeros((4, w.shape[0], p * p))
    step = max(1, 2_000_000 // max(p * p, 1))
    for lo in range(0, n, step):
        mc, xc, wc = m[lo : lo + step], xm[lo : lo + step], w[:, lo : lo + step]
        both = (mc[:, :, None] * mc[:, None, :]).reshape(len(mc), -1)  # m_j m_k
        xj = (xc[:, :, None] * mc[:, None, :]).reshape(len(mc), -1)  # x_j m_j m_k
        xjxk = (xc[:, :, None] * xc[:, None, :]).reshape(len(mc), -1)  # x_j x_k
        xj2 = (xc[:, :, None] ** 2 * mc[:, None, :]).reshape(len(mc), -1)  # x_j^2 m_j m_k
        for k, prod in enumerate((both, xj, xjxk, xj2)):
            sums[k] += wc @ prod
    s, sx, sxx, sx2 = (a.reshape(-1, p, p) for a in sums)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = sx / s  # mean of j among the rows answering j and k
        cov = sxx / s - mu * np.swapaxes(mu, -1, -2)
        var = sx2 / s - mu * mu
    nonzero = m * (w[0] != 0)[:, None]
    count = nonzero.T @ m
    if np.ndim(weights) == 1:
        return cov[0], var[0], count
    return cov, var, count


def covariance_matrix(
    design: SurveyDesign, values: pd.DataFrame, missing: str = "complete"
) -> pd.DataFrame:
    """Design-weighted covariance matrix of the columns of ``values`` (R's ``svyvar``).

    ``sum w (x_j - mean_j)(x_k - mean_k) / sum w`` times ``n / (n - 1)`` with ``n`` the respondents
    (non-zero weight) in the domain, as R's ``svyvar`` scales it.

    Parameters
    ----------
    design
        The design the rows of ``values`` belong to (same rows, same order).
    values
        (n, p) numeric columns; NaN = not answered.
    missing
        ``complete``: the respondents who answered every column (a domain); ``pairwise``: each
        entry from the respondents who answered both of its columns.

    Returns
    -------
    pandas.DataFrame
        (p, p), indexed and labelled by the columns of ``values``.
    """
    x = _numeric(values)
    cov, _var, count = _moments(x, design.weights, _pairwise(missing))
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = cov * count / (count - 1)
    return pd.DataFrame(cov, index=values.columns, columns=values.columns)


def correlation_matrix(
    design: SurveyDesign, values: pd.DataFrame, missing: str = "complete"
) -> pd.DataFrame:
    """Design-weighted correlation matrix of the columns of ``values``.

    The weighted covariance divided by the product of the weighted standard deviations, each taken
    over the same respondents as the covariance (``missing`` as :func:`covariance_matrix`).
    """
    x = _numeric(values)
    corr = _correlation(x, design.weights, _pairwise(missing))
    return pd.DataFrame(corr, index=values.columns, columns=values.columns)


def _correlation(x: np.ndarray, weights: np.ndarray, pairwise: bool) -> np.ndarray:
    cov, var, _count = _moments(x, weights, pairwise)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.sqrt(var * np.swapaxes(var, -1, -2))
    p = x.shape[1]
    idx = np.arange(p)
    corr[..., idx, idx] = 1.0
    return corr


def _pairwise(missing: str) -> bool:
    if missing not in ("complete", "pairwise"):
        raise ValueError(f"missing must be 'complete' or 'pairwise', got {missing!r}")
    return missing == "pairwise"


def _numeric(values: pd.DataFrame) -> np.ndarray:
    try:
        return values.to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
        raise ValueError(f"columns {bad} are not numeric") from exc


# ---------------------------------------------------------------------------------------------
# Johnson's relative weights


def relative_weights(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Johnson's (2000) relative weights of predictors ``0..p-1`` for the outcome ``p``.

    With ``R_xx = V diag(l) V'`` the predictors' correlation matrix and ``r_xy`` their correlations
    with the outcome: ``Lambda = V diag(sqrt(l)) V'`` (the correlations of the predictors with their
    closest orthonormal counterparts ``Z``), ``beta = Lambda^-1 r_xy`` (the outcome regressed on
    ``Z``) and the raw weight of predictor ``j`` is ``sum_k Lambda_jk^2 beta_k^2``. The raw weights
    sum to the model's R^2. Eigenvalues below ``EIGEN_TOLERANCE`` count as 0 (a predictor that is a
    combination of others shares its weight with them rather than breaking the computation).

    Parameters
    ----------
    corr
        (..., p + 1, p + 1) correlation matrices with the outcome last; a stack of them is
        computed at once.

    Returns
    -------
    tuple of numpy.ndarray
        Raw weights (..., p) and R^2 (...,).
    """
    corr = np.asarray(corr, dtype=float)
    rxx = corr[..., :-1, :-1]
    rxy = corr[..., :-1, -1]
    lam, vec = np.linalg.eigh(rxx)
    keep = lam > EIGEN_TOLERANCE
    root = np.where(keep, np.sqrt(np.where(keep, lam, 1.0)), 0.0)
    inv_root = np.where(keep, 1.0 / np.where(keep, root, 1.0), 0.0)
    vt = np.swapaxes(vec, -1, -2)
    lambda_ = (vec * root[..., None, :]) @ vt
    beta = ((vec * inv_root[..., None, :]) @ vt @ rxy[..., None])[..., 0]
    raw = (lambda_**2) @ (beta**2)[..., None]
    raw = raw[..., 0]
    return raw, raw.sum(axis=-1)


# ---------------------------------------------------------------------------------------------
# replicate weights


@dataclass(frozen=True, eq=False)
class Replicates:
    """Replicate weights of a design and how to turn replicate estimates into a variance.

    ``variance(theta) = scale * sum_r rscales_r (theta_r - mean_r theta_r)^2`` (R's ``svrVar`` with
    ``mse = FALSE``).

    Attributes
    ----------
    weights
        (R, n) replicate weights (calibrated when the design is).
    method
        ``bootstrap`` or ``jackknife``.
    scale
        Overall multiplier.
    rscales
        (R,) per-replicate multipliers.
    failed
        Replicates dropped because recalibration failed (e.g. a margin level lost all its
        respondents in that replicate).
    """

    weights: np.ndarray
    method: str
    scale: float
    rscales: np.ndarray
    failed: int = 0

    @property
    def count(self) -> int:
        return int(self.weights.shape[0])

    def variance(self, theta: np.ndarray) -> np.ndarray:
        """Variance of each estimate from (R, ...) replicate estimates (NaN replicates ignored)."""
        theta = np.asarray(theta, dtype=float)
        centre = np.nanmean(theta, axis=0)
        shape = (-1,) + (1,) * (theta.ndim - 1)
        return self.scale * np.nansum(self.rscales.reshape(shape) * (theta - centre) ** 2, axis=0)


#: Calibrates replicate design weights: (R, n) uncalibrated -> (R, n) calibrated; a row of NaN
#: marks a replicate that could not be calibrated.
Recalibrator = Callable[[np.ndarray], np.ndarray]


def raking_recalibrator(
    design: SurveyDesign, frame: pd.DataFrame, max_iter: int = 100, tolerance: float = 1e-8
) -> Recalibrator:
    """Rake (or post-stratify) every replicate at once to the margins ``design`` was calibrated to.

    The margins are the calibrated design's own totals over the levels of its calibration
    variables (which equal the margins file's counts), so the replicates are calibrated exactly as
    the full sample was: iterative proportional fitting of all replicates together (one matrix
    product per margin and cycle) until no weight changes by more than ``tolerance`` (relative),
    as :func:`analysis.weighting.calibrate` does for one set of weights. Raking's fixed point does
    not depend on the starting weights' order of adjustment, so this equals calling
    ``weighting.calibrate`` on each replicate (up to ``tolerance``).

    Parameters
    ----------
    design
        A design with one ``rake`` or ``poststratify`` calibration.
    frame
        The rows the design was built from (holds the calibration variables).

    Raises
    ------
    DesignError
        The design has no such calibration (use :func:`design_recalibrator`).
    """
    if len(design.calibrations) != 1 or design.calibrations[0].method not in (
        "rake",
        "poststratify",
    ):
        raise DesignError(
            "raking_recalibrator needs a design with one rake or poststratify calibration; "
            "use design_recalibrator for other calibrations"
        )
    margins = []
    for var in design.calibrations[0].variables:
        text = level_text(frame[var]).astype(object)
        codes, levels = pd.factorize(text, sort=True)
        if (codes < 0).any():
            raise DesignError(f"calibration variable {var!r} has missing values")
        onehot = np.zeros((len(codes), len(levels)))
        onehot[np.arange(len(codes)), codes] = 1.0
        margins.append((codes, onehot, design.weights @ onehot))

    def recalibrate(weights: np.ndarray) -> np.ndarray:
        w0 = np.asarray(weights, dtype=float)
        w = w0.copy()
        positive = w0 > 0
        failed = np.zeros(len(w), dtype=bool)
        for _ in range(max_iter):
            prev = w.copy()
            for codes, onehot, target in margins:
                sums = w @ onehot  # (R, L)
                failed |= ((sums <= 0) & (target > 0)).any(axis=1)
                factor = np.divide(target, sums, out=np.zeros_like(sums), where=sums > 0)
                w = w * factor[:, codes]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(positive, np.abs(w - prev) / np.where(positive, prev, 1.0), 0.0)
            change = np.nanmax(np.where(failed[:, None], 0.0, rel), axis=1)
            if (change < tolerance).all():
                break
        else:
            failed |= change >= tolerance
        w[failed] = np.nan
        return w

    return recalibrate


def design_recalibrator(
    design: SurveyDesign, calibrate: Callable[[SurveyDesign], SurveyDesign]
) -> Recalibrator:
    """Calibrate replicates one by one with ``calibrate`` (any method; slower than raking all
    at once).

    ``calibrate`` takes an uncalibrated design (``design`` with a replicate's design weights) and
    returns it calibrated as the run calibrated ``design``, e.g.
    ``lambda d: weighting.calibrate(d, clean, margins, method="linear")``. A replicate whose
    calibration raises :class:`~analysis.errors.DesignError` is marked failed (NaN).
    """

    def recalibrate(weights: np.ndarray) -> np.ndarray:
        out = np.full(np.shape(weights), np.nan)
        for r, wr in enumerate(np.asarray(weights, dtype=float)):
            uncal = dataclasses.replace(design, weights=wr, base_weights=wr, calibrations=())
            try:
                out[r] = calibrate(uncal).weights
            except DesignError:
                continue
        return out

    return recalibrate


def replicate_weights(
    design: SurveyDesign,
    method: str = "bootstrap",
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    recalibrate: Recalibrator | None = None,
) -> Replicates:
    """Replicate weights for ``design``: PSUs resampled (bootstrap) or deleted (jackknife).

    Bootstrap: the Rao-Wu rescaling bootstrap with ``n_h - 1`` PSUs drawn with replacement in each
    stratum (R's ``as.svrepdesign(type = "subbootstrap")``); with a first-stage sampling fraction
    ``f_h`` the factors are ``1 - a + a * n_h / (n_h - 1) * r_hc`` with ``a = sqrt(1 - f_h)``
    (Rao, Wu & Yue 1992), so a census stratum contributes no variance. Variance
    ``sum_r (theta_r - theta_bar)^2 / (R - 1)``. Jackknife: delete one PSU at a time and scale the
    rest of its stratum by ``n_h / (n_h - 1)``; variance ``sum_r (1 - f_h) (n_h - 1) / n_h
    (theta_r - theta_bar)^2`` (R's JK1 when there is one stratum, JKn otherwise). Strata with a
    single PSU keep their weights in every replicate (no variance contribution). Later sampling
    stages are not resampled (ultimate-cluster variance).

    Parameters
    ----------
    design
        The design; when calibrated, ``recalibrate`` must be given.
    method
        ``bootstrap`` or ``jackknife``.
    replicates
        Number of bootstrap replicates (the jackknife has one per PSU).
    seed
        Seed of the bootstrap draws (results are reproducible).
    recalibrate
        For a calibrated design: calibrates the replicates' design weights as the run calibrated
        the full sample (:func:`raking_recalibrator`, :func:`design_recalibrator`). Replicates it
        cannot calibrate are dropped (at most 5% of them).

    Returns
    -------
    Replicates
    """
    if method not in REPLICATE_METHODS:
        known = ", ".join(REPLICATE_METHODS)
        raise ValueError(f"replicate method {method!r} is not one of {known}")
    if design.is_calibrated and recalibrate is None:
        raise DesignError(
            "the design is calibrated: replicate weights must be recalibrated (pass "
            "recalibrate=...), or their variance would treat the calibrated weights as fixed"
        )
    psu = design.psu
    n_psu = design.n_psu
    psu_stratum = np.zeros(n_psu, dtype=np.intp)
    psu_stratum[psu] = design.strata
    n_h = np.bincount(psu_stratum, minlength=design.n_strata).astype(float)
    frac_h = np.zeros(design.n_strata)
    if design.fpc:
        frac_h[design.strata] = design.fpc[0]
    lonely = n_h[psu_stratum] < 2  # (P,)

    if method == "bootstrap":
        if replicates < 2:
            raise ValueError("the bootstrap needs at least 2 replicates")
        rng = np.random.default_rng(seed)
        counts = np.zeros((replicates, n_psu))
        for h in range(design.n_strata):
            members = np.flatnonzero(psu_stratum == h)
            if members.size < 2:
                continue
            draws = rng.integers(0, members.size, size=(replicates, members.size - 1))
            hits = np.zeros((replicates, members.size))
            np.add.at(hits, (np.arange(replicates)[:, None], draws), 1.0)
            counts[:, members] = hits
        nh = n_h[psu_stratum]
        a = np.sqrt(np.clip(1.0 - frac_h[psu_stratum], 0.0, 1.0))
        factor = 1.0 - a + a * nh / np.maximum(nh - 1.0, 1.0) * counts
        factor[:, lonely] = 1.0
        rscales = np.ones(replicates)
    else:
        usable = np.flatnonzero(~lonely)
        if usable.size == 0:
            raise DesignError("the jackknife needs a stratum with at least two PSUs")
        factor = np.ones((usable.size, n_psu))
        for r, c in enumerate(usable):
            h = psu_stratum[c]
            factor[r, psu_stratum == h] = n_h[h] / (n_h[h] - 1.0)
            factor[r, c] = 0.0
        h = psu_stratum[usable]
        keep = 1.0 - frac_h[h]
        rscales = np.where(keep >= CENSUS_TOLERANCE, keep, 0.0) * (n_h[h] - 1.0) / n_h[h]
    base = design.base_weights if design.is_calibrated else design.weights
    weights = base[None, :] * factor[:, psu]
    failed = 0
    if design.is_calibrated and recalibrate is not None:
        weights = np.asarray(recalibrate(weights), dtype=float)
        ok = np.isfinite(weights).all(axis=1)
        failed = int((~ok).sum())
        if failed > 0.05 * len(weights):
            raise DesignError(
                f"{failed} of {len(weights)} replicates could not be recalibrated to the margins "
                "(a margin level with too few respondents); merge small levels in the margins"
            )
        weights, rscales = weights[ok], rscales[ok]
    scale = 1.0 / (len(weights) - 1) if method == "bootstrap" else 1.0
    return Replicates(
        weights=weights, method=method, scale=float(scale), rscales=rscales, failed=failed
    )


# ---------------------------------------------------------------------------------------------
# the key-driver table


def key_drivers(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    replicates: Replicates | None = None,
    missing: str = "complete",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Derived importance of each item: its performance rating as a driver of overall satisfaction.

    The outcome is the codebook's ``overall`` question; the predictors are every item's performance
    rating. From the design-weighted correlation matrix: each item's correlation with overall
    satisfaction, and Johnson's relative weights (raw: parts of R^2 that sum to it; ``share``: as a
    percentage of R^2, summing to 100).

    Parameters
    ----------
    design, clean
        The design and the rows it was built from.
    codebook
        Names the items and the ``overall`` column.
    replicates
        Replicate weights (:func:`replicate_weights`) for intervals; ``None``: no intervals.
    missing
        ``complete`` (default) or ``pairwise``; see the module docstring.
    confidence
        Level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per item (codebook order) with columns ``item, label, dimension, group, level, n,
        correlation, raw_weight, raw_weight_se, raw_weight_ci_low, raw_weight_ci_high, share,
        share_se, share_ci_low, share_ci_high, rank, vs_average, r_squared, r_squared_ci_low,
        r_squared_ci_high, method, replicates``. ``group = level = "all"``; ``n`` the respondents
        in the model; ``rank`` 1 = largest share; ``vs_average`` whether the share's interval lies
        above (``above``) or below (``below``) the average share ``100 / p``, else ``unclear``
        (``NaN`` without replicates); ``r_squared`` and its interval repeat on every row;
        ``method`` the replicate method, ``replicates`` their number.

    Raises
    ------
    DesignError
        The codebook names no overall question, or too few respondents answered everything.
    """
    if not codebook.overall:
        raise DesignError("the codebook names no overall satisfaction question ('overall')")
    items = codebook.items
    columns = [i.performance for i in items] + [codebook.overall]
    missing_cols = [c for c in columns if c not in clean.columns]
    if missing_cols:
        raise DesignError(f"columns not in the data: {', '.join(missing_cols)}")
    x = _numeric(clean[columns])
    pairwise = _pairwise(missing)
    w = design.weights
    p = len(items)
    if pairwise:
        in_model = np.isfinite(x[:, -1]) & np.isfinite(x[:, :-1]).any(axis=1)
    else:
        in_model = np.isfinite(x).all(axis=1)
    n = int((in_model & (w != 0)).sum())
    if n < p + 2:
        raise DesignError(
            f"only {n} respondents answered overall satisfaction and every item's performance; "
            f"a driver model of {p} items needs more than {p + 1}"
        )
    corr = _correlation(x, w, pairwise)
    if pairwise:
        corr = _nearest_correlation(corr)
    raw, r2 = relative_weights(corr)
    share = 100 * raw / r2
    out = pd.DataFrame(
        {
            "item": [i.id for i in items],
            "label": [i.label for i in items],
            "dimension": [i.dimension for i in items],
            "group": "all",
            "level": "all",
            "n": n,
            "correlation": corr[:-1, -1],
            "raw_weight": raw,
            "share": share,
        }
    )
    out["rank"] = out["share"].rank(ascending=False, method="min").astype(int)
    nan = np.full(p, np.nan)
    cols: dict[str, np.ndarray | float] = {
        "raw_weight_se": nan,
        "raw_weight_ci_low": nan,
        "raw_weight_ci_high": nan,
        "share_se": nan,
        "share_ci_low": nan,
        "share_ci_high": nan,
        "r_squared_ci_low": np.nan,
        "r_squared_ci_high": np.nan,
    }
    vs = np.full(p, None, dtype=object)
    if replicates is not None:
        rep_corr = _correlation(x, replicates.weights, pairwise)
        if pairwise:
            rep_corr = _nearest_correlation(rep_corr)
        rep_raw, rep_r2 = relative_weights(rep_corr)
        rep_share = 100 * rep_raw / rep_r2[:, None]
        est = {"raw_weight": raw, "share": share, "r_squared": np.array([r2])}
        reps = {"raw_weight": rep_raw, "share": rep_share, "r_squared": rep_r2[:, None]}
        for name in est:
            se, lo, hi = _interval(est[name], reps[name], replicates, design.df, confidence)
            if name == "r_squared":
                cols["r_squared_ci_low"], cols["r_squared_ci_high"] = float(lo[0]), float(hi[0])
            else:
                cols[f"{name}_se"], cols[f"{name}_ci_low"], cols[f"{name}_ci_high"] = se, lo, hi
        average = 100.0 / p
        lo, hi = np.asarray(cols["share_ci_low"]), np.asarray(cols["share_ci_high"])
        vs = np.where(
            lo > average,
            vocabulary.ABOVE,
            np.where(hi < average, vocabulary.BELOW, vocabulary.UNCLEAR),
        )
    for name, value in cols.items():
        out[name] = value
    out["vs_average"] = vs
    out["r_squared"] = r2
    out["method"] = replicates.method if replicates is not None else None
    out["replicates"] = replicates.count if replicates is not None else 0
    return out[DRIVER_COLUMNS]


def _interval(
    est: np.ndarray, reps: np.ndarray, replicates: Replicates, df: int, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    se = np.sqrt(replicates.variance(reps))
    if replicates.method == "bootstrap":
        tail = 100 * (1 - confidence) / 2
        lo, hi = np.nanpercentile(reps, [tail, 100 - tail], axis=0)
        return se, lo, hi
    q = inference.t_quantile(df, confidence)
    return se, est - q * se, est + q * se


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues of (a stack of) pairwise correlation matrices and rescale."""
    lam, vec = np.linalg.eigh(corr)
    if (lam >= 0).all():
        return corr
    fixed = (vec * np.clip(lam, 0.0, None)[..., None, :]) @ np.swapaxes(vec, -1, -2)
    d = np.sqrt(np.diagonal(fixed, axis1=-2, axis2=-1))
    return fixed / (d[..., :, None] * d[..., None, :])


# ---------------------------------------------------------------------------------------------
# stated vs derived importance


def importance_tiers(
    drivers: pd.DataFrame,
    stated: pd.Series,
    stated_split: float | None = None,
    derived_split: float | None = None,
) -> pd.DataFrame:
    """Place each item on the dual-importance grid: stated against derived importance.

    High stated and high derived importance: ``Key driver`` (perceived-value tier
    ``satisfaction``); high stated, low derived: ``Basic requirement`` (expected; must not fail);
    low stated, high derived: ``Hidden driver (delighter)`` (``delight``); low and low:
    ``Secondary``. "High" means at or above the split, by default the mean over the items of
    stated importance and the average share of R^2 (``100 / p``).

    Parameters
    ----------
    drivers
        :func:`key_drivers` output (columns ``item, share``).
    stated
        Stated importance (the expectation mean) of each item, indexed by item id.
    stated_split, derived_split
        Where to split the axes; the means by default.

    Returns
    -------
    pandas.DataFrame
        ``drivers`` with columns ``stated, stated_split, derived_split, tier, value_tier`` added.
        Items without a stated or derived value get no tier (``NaN``).
    """
    out = drivers.copy()
    out["stated"] = out["item"].map(stated).astype(float)
    derived = out["share"].astype(float)
    s_split = float(np.nanmean(out["stated"])) if stated_split is None else float(stated_split)
    d_split = 100.0 / len(out) if derived_split is None else float(derived_split)
    out["stated_split"] = s_split
    out["derived_split"] = d_split
    known = out["stated"].notna() & derived.notna()
    hi_s = out["stated"] >= s_split
    hi_d = derived >= d_split
    tier = [
        vocabulary.TIERS[(bool(a), bool(b))] if k else (None, None)
        for a, b, k in zip(hi_s, hi_d, known, strict=True)
    ]
    out["tier"] = [t[0] for t in tier]
    out["value_tier"] = [t[1] for t in tier]
    return out


def stated_importance(gap_table: pd.DataFrame) -> pd.Series:
    """Each item's stated importance: its overall expectation mean from a gap table."""
    over = gap_table[(gap_table["group"] == "all") & (gap_table["level"] == "all")]
    return over.set_index("item")["expectation"].astype(float)
