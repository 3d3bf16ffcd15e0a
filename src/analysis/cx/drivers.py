"""Derived importance: what drives overall satisfaction and loyalty (METHODS.md, "Customer-centred
analyses").

The outcome of a driver model is one of the codebook's 0-10 questions
(:data:`analysis.cx.vocabulary.DRIVER_OUTCOMES`): overall satisfaction (``overall``) or likelihood
to recommend (``recommend``, loyalty); :func:`key_drivers` fits one outcome, and
:func:`driver_outcomes` names those the codebook has. Every outcome uses the same predictors, the
same method and the same replicate weights (built once by the caller), so the two models differ
only in their outcome and the respondents who answered it.

The building blocks are a design-weighted covariance / correlation matrix
(:func:`covariance_matrix`, :func:`correlation_matrix`) and Johnson's (2000) relative weights on a
correlation matrix (:func:`relative_weights`); the replicate weights of the intervals come from
the survey engine (:func:`analysis.survey.replicates.replicate_weights` with the types of
:data:`REPLICATE_TYPES`: the Rao-Wu bootstrap of PSUs within strata with the Rao-Wu-Yue fpc
rescaling, or R's delete-one-PSU jackknife). On top of them, :func:`key_drivers` is the key-driver
table of a survey and :func:`importance_tiers` places each item on the dual-importance grid
(stated against derived importance).

Missing answers. The driver model uses the respondents who answered the outcome question and every
item's performance question (``missing="complete"``, the default): a domain of the full design
(weights of the other rows are 0; nothing is dropped from the design), as R's ``svyglm`` uses the
complete cases of the model variables. ``missing="pairwise"`` instead estimates each correlation
from the respondents who answered both of its questions (R's ``cor(use = "pairwise")`` with
weights); it keeps more respondents when many skip one question or another, at the price of a
matrix that is not the correlation matrix of any one group of respondents (its smallest
eigenvalues are clipped at zero if needed). Its ``n`` is the number answering the outcome
question and at least one item.

Uncertainty. The relative weights are smooth functions of the weighted covariance matrix; their
intervals come from replicate weights, each replicate recalibrated to the margins when the design is
calibrated (treating calibrated weights as fixed would misstate the standard errors): the design's
own when it carries them (params ``design.variance``), else the drivers' (``analysis.replicates``,
``analysis.replicate_method``). Bootstrap: percentile intervals from the replicates; jackknife:
``estimate +- t * se``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import vocabulary
from analysis.errors import DesignError
from analysis.survey import inference
from analysis.survey.design import REPLICATE_BLOCK_CELLS, ReplicateWeights, SurveyDesign

#: The replicate weights of each ``analysis.replicate_method`` of the params file: the engine's
#: type, used with ``rescale_fpc=True`` (:func:`analysis.survey.replicates.replicate_weights`).
REPLICATE_TYPES = {"bootstrap": "subbootstrap", "jackknife": "auto"}
#: Eigenvalues of a correlation matrix below this are treated as 0 (a redundant predictor).
EIGEN_TOLERANCE = 1e-10

DRIVER_COLUMNS = [
    "outcome",
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
#: Identifying columns (and ``n``): visible when a row is suppressed.
IDENTIFIERS = ("outcome", "item", "label", "dimension", "group", "level", "n")


# ---------------------------------------------------------------------------------------------
# weighted covariance and correlation


#: Weights of the moments: (n,) or (R, n) weights, or replicate weights and their design (made
#: for blocks of rows, :meth:`~analysis.survey.design.ReplicateWeights.row_weights`).
Weights = np.ndarray | tuple[ReplicateWeights, SurveyDesign]


def _moments(
    x: np.ndarray, weights: Weights, pairwise: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted covariances, and each variable's variance on each pair's rows.

    ``x`` (n, p) with NaN for missing; ``weights`` (n,) or (R, n), or replicate weights with
    their design. Every weighted sum over rows is one matrix product of the weights with
    row-wise products of the variables, in blocks of rows, so R replicates cost one GEMM per
    block and replicate weights are only ever made for one block of rows. Pairwise, the
    products are the ``4 p^2`` of each pair's rows (:func:`_pair_products`); with complete
    cases every pair has the same rows, so only ``1 + 2p + p (p + 1) / 2`` distinct products
    are formed (:func:`_complete_products`: the count, ``x_j``, ``x_j^2``, ``x_j x_k`` for ``j
    <= k``; the same values, 6.4x fewer operations for 20 items and an outcome; the sums agree
    with the pairwise products' to rounding, about 1e-14). Returns arrays (..., p, p):
    ``cov[j, k]``, ``var[j, k]`` (the variance of j among the rows answering j and k) and
    ``count[j, k]`` (those rows with a non-zero weight; from the first weight vector).
    """
    answered = np.isfinite(x)
    if not pairwise:
        answered = np.broadcast_to(answered.all(axis=1)[:, None], x.shape)
    m = answered.astype(float)
    xm = np.where(answered, x, 0.0)
    if isinstance(weights, tuple):
        rep, design = weights
        n_sets = rep.n_replicates

        def block(rows: slice) -> np.ndarray:
            return rep.row_weights(design, rows).T

    else:
        w = np.atleast_2d(np.asarray(weights, dtype=float))  # (R, n)
        n_sets = w.shape[0]

        def block(rows: slice) -> np.ndarray:
            return w[:, rows]

    n, p = x.shape
    products = _pair_products if pairwise else _complete_products
    upper = np.triu_indices(p)
    widths = (p * p,) * 4 if pairwise else (1, p, upper[0].size, p)
    sums = [np.zeros((n_sets, k)) for k in widths]
    count = np.zeros((p, p))
    step = max(1, min(2_000_000 // max(p * p, 1), REPLICATE_BLOCK_CELLS // max(n_sets, 1)))
    for lo in range(0, n, step):
        rows = slice(lo, lo + step)
        mc, xc, wc = m[rows], xm[rows], block(rows)
        for acc, prod in zip(sums, products(mc, xc, upper), strict=True):
            acc += wc @ prod
        weighted = wc[0] != 0
        if pairwise:
            count += (mc * weighted[:, None]).T @ mc
        else:  # the same rows for every pair: a count (exact, as the product's integer sums)
            count += np.count_nonzero(weighted & (mc[:, 0] > 0))
    s, sx, sxx, sx2 = _per_pair(sums, n_sets, p, pairwise)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = sx / s  # mean of j among the rows answering j and k
        cov = sxx / s - mu * np.swapaxes(mu, -1, -2)
        var = sx2 / s - mu * mu
    if not isinstance(weights, tuple) and np.ndim(weights) == 1:
        return cov[0], var[0], count
    return cov, var, count


def _pair_products(
    mc: np.ndarray, xc: np.ndarray, _upper: tuple[np.ndarray, np.ndarray]
) -> list[np.ndarray]:
    """The (rows, p^2) products of :func:`_moments` per pair (j, k): ``m_j m_k``,
    ``x_j m_j m_k``, ``x_j x_k`` and ``x_j^2 m_j m_k`` (``x`` 0 where not answered)."""
    rows = len(mc)
    both = (mc[:, :, None] * mc[:, None, :]).reshape(rows, -1)
    xj = (xc[:, :, None] * mc[:, None, :]).reshape(rows, -1)
    xjxk = (xc[:, :, None] * xc[:, None, :]).reshape(rows, -1)
    xj2 = (xc[:, :, None] ** 2 * mc[:, None, :]).reshape(rows, -1)
    return [both, xj, xjxk, xj2]


def _complete_products(
    mc: np.ndarray, xc: np.ndarray, upper: tuple[np.ndarray, np.ndarray]
) -> list[np.ndarray]:
    """:func:`_pair_products` when every variable has the same answered rows (``mc`` the same
    0/1 column p times, ``x`` 0 outside them): ``m`` (rows, 1), ``x_j`` (rows, p), ``x_j x_k``
    for the pairs ``upper`` (``j <= k``: rows, p (p + 1) / 2) and ``x_j^2`` (rows, p), the
    values the pair products repeat (``m m = m``, ``x m = x``, ``x_j x_k = x_k x_j``)."""
    return [mc[:, :1], xc, xc[:, upper[0]] * xc[:, upper[1]], xc**2]


def _per_pair(
    sums: list[np.ndarray], n_sets: int, p: int, pairwise: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(R, p, p) sums over each pair's rows of ``m``, ``x_j``, ``x_j x_k`` and ``x_j^2``, from
    the sums of :func:`_pair_products` ((R, p^2) each) or of :func:`_complete_products`
    ((R, 1), (R, p), (R, p (p + 1) / 2), (R, p): the same for every pair, or every ``k``; the
    products of ``j <= k``)."""
    s, sx, tri, sx2 = sums
    full = (n_sets, p, p)
    if pairwise:
        return s.reshape(full), sx.reshape(full), tri.reshape(full), sx2.reshape(full)
    j, k = np.triu_indices(p)
    sxx = np.empty(full)
    sxx[:, j, k] = tri
    sxx[:, k, j] = tri
    return (
        np.broadcast_to(s[:, :, None], full),
        np.broadcast_to(sx[:, :, None], full),
        sxx,
        np.broadcast_to(sx2[:, :, None], full),
    )


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


def replicate_covariances(
    design: SurveyDesign, values: pd.DataFrame, missing: str = "complete"
) -> np.ndarray:
    """(R, p, p) :func:`covariance_matrix` under each of the design's replicate weights
    (``design.replicates``), scaled by the same ``n / (n - 1)`` of the full design; every
    replicate in one matrix product.

    Raises
    ------
    DesignError
        The design has no replicate weights.
    """
    if design.replicates is None:
        raise DesignError("the design has no replicate weights (params design.variance)")
    x = _numeric(values)
    pairwise = _pairwise(missing)
    cov, _var, _count = _moments(x, (design.replicates, design), pairwise)
    _cov, _var, count = _moments(x, design.weights, pairwise)
    with np.errstate(divide="ignore", invalid="ignore"):
        return cov * (count / (count - 1))[None, :, :]


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


def _correlation(x: np.ndarray, weights: Weights, pairwise: bool) -> np.ndarray:
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
# the key-driver table


def driver_outcomes(codebook: Codebook) -> list[str]:
    """The outcomes the codebook names a question for (``overall``, ``recommend``), in
    :data:`~analysis.cx.vocabulary.DRIVER_OUTCOMES` order."""
    return [o for o in vocabulary.DRIVER_OUTCOMES if getattr(codebook, o)]


def for_outcome(drivers: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The rows of one outcome's model of a drivers table (:func:`key_drivers`, one or more
    outcomes), in table order; empty when the table has none of that outcome."""
    _check_outcome(outcome)
    if "outcome" not in drivers.columns:
        raise ValueError("the drivers table has no 'outcome' column (key_drivers output)")
    return drivers[drivers["outcome"] == outcome]


def _check_outcome(outcome: str) -> None:
    if outcome not in vocabulary.DRIVER_OUTCOMES:
        raise ValueError(
            f"outcome must be one of {', '.join(vocabulary.DRIVER_OUTCOMES)}, got {outcome!r}"
        )


def key_drivers(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    replicates: ReplicateWeights | None = None,
    missing: str = "complete",
    confidence: float = 0.95,
    outcome: str = vocabulary.OVERALL,
) -> pd.DataFrame:
    """Derived importance of each item: its performance rating as a driver of an outcome.

    The outcome is the codebook's ``overall`` (overall satisfaction) or ``recommend``
    (likelihood to recommend) question; the predictors are every item's performance rating.
    From the design-weighted correlation matrix: each item's correlation with the outcome, and
    Johnson's relative weights (raw: parts of R^2 that sum to it; ``share``: as a percentage of
    R^2, summing to 100). For both outcomes, call once per outcome with the same
    ``replicates`` (built once; each call costs one matrix product over them).

    Parameters
    ----------
    design, clean
        The design and the rows it was built from.
    codebook
        Names the items and the outcome's column.
    replicates
        Replicate weights for intervals (recalibrated when the design is calibrated); ``None``:
        the design's own (``design.replicates``, params ``design.variance``), if it has any.
    missing
        ``complete`` (default) or ``pairwise``; see the module docstring.
    confidence
        Level of the intervals.
    outcome
        ``overall`` (default) or ``recommend`` (:data:`~analysis.cx.vocabulary.DRIVER_OUTCOMES`).

    Returns
    -------
    pandas.DataFrame
        One row per item (codebook order) with columns ``outcome, item, label, dimension, group,
        level, n, correlation, raw_weight, raw_weight_se, raw_weight_ci_low, raw_weight_ci_high,
        share, share_se, share_ci_low, share_ci_high, rank, vs_average, r_squared,
        r_squared_ci_low, r_squared_ci_high, method, replicates``. ``outcome`` as given;
        ``group = level = "all"``; ``n`` the respondents in the model; ``rank`` 1 = largest
        share; ``vs_average`` whether the share's interval lies above (``above``) or below
        (``below``) the average share ``100 / p``, else ``unclear``
        (``NaN`` without replicates); ``r_squared`` and its interval repeat on every row;
        ``method`` the replicate method, ``replicates`` their number.

    Raises
    ------
    DesignError
        The codebook names no question for the outcome, or too few respondents answered
        everything.
    """
    pairwise = _pairwise(missing)
    _check_outcome(outcome)
    replicates = design.replicates if replicates is None else replicates
    x, n = _model_data(design, clean, codebook, pairwise, outcome)
    items = codebook.items
    corr = _correlation(x, design.weights, pairwise)
    if pairwise:
        corr = _nearest_correlation(corr)
    raw, r2 = relative_weights(corr)
    share = 100 * raw / r2
    out = pd.DataFrame(
        {
            "outcome": outcome,
            "item": [i.id for i in items],
            "label": [i.label for i in items],
            "dimension": [i.dimension for i in items],
            "group": "all",
            "level": "all",
            "n": n,
            "correlation": corr[:-1, -1],
            "raw_weight": raw,
            "share": share,
            "rank": pd.Series(share).rank(ascending=False, method="min").astype(int),
        }
    )
    cols, vs = _replicate_intervals(design, x, replicates, pairwise, (raw, share, r2), confidence)
    out = out.assign(
        **cols,
        vs_average=vs,
        r_squared=r2,
        method=replicates.family if replicates is not None else None,
        replicates=replicates.n_replicates if replicates is not None else 0,
    )
    return out[DRIVER_COLUMNS]


def _model_data(
    design: SurveyDesign, clean: pd.DataFrame, codebook: Codebook, pairwise: bool, outcome: str
) -> tuple[np.ndarray, int]:
    """The items' performance ratings and the outcome's rating (last), and the respondents in
    the model; refused when too few."""
    column = getattr(codebook, outcome)
    words = vocabulary.OUTCOME_TEXT[outcome]
    if not column:
        raise DesignError(f"the codebook names no {words} question ({outcome!r})")
    items = codebook.items
    columns = [i.performance for i in items] + [column]
    missing_cols = [c for c in columns if c not in clean.columns]
    if missing_cols:
        raise DesignError(f"columns not in the data: {', '.join(missing_cols)}")
    x = _numeric(clean[columns])
    p = len(items)
    if pairwise:
        in_model = np.isfinite(x[:, -1]) & np.isfinite(x[:, :-1]).any(axis=1)
    else:
        in_model = np.isfinite(x).all(axis=1)
    n = int((in_model & (design.weights != 0)).sum())
    if n < p + 2:
        raise DesignError(
            f"only {n} respondents answered {words} and every item's performance; "
            f"a driver model of {p} items needs more than {p + 1}"
        )
    return x, n


def _replicate_intervals(
    design: SurveyDesign,
    x: np.ndarray,
    replicates: ReplicateWeights | None,
    pairwise: bool,
    estimates: tuple[np.ndarray, np.ndarray, float],
    confidence: float,
) -> tuple[dict[str, np.ndarray | float], np.ndarray]:
    """SEs and intervals of the raw weights, shares and R^2 from the replicates (NaN without
    them), and each share's place against the average share."""
    raw, share, r2 = estimates
    p = raw.shape[0]
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
        rep_corr = _correlation(x, (replicates, design), pairwise)
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
    return cols, vs


def _interval(
    est: np.ndarray, reps: np.ndarray, replicates: ReplicateWeights, df: int, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    se = np.sqrt(replicates.variance(reps, est))
    if replicates.family == "bootstrap":
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
    stated importance and the average share of R^2 (``100 / p``). Each outcome's model (the
    ``outcome`` column) gets its own grid: the same stated importance, its own derived one.

    Parameters
    ----------
    drivers
        :func:`key_drivers` output (columns ``outcome, item, share``), one or more outcomes.
    stated
        Stated importance (the expectation mean) of each item, indexed by item id.
    stated_split, derived_split
        Where to split the axes; the means by default.

    Returns
    -------
    pandas.DataFrame
        ``drivers`` (same rows and order) with columns ``stated, stated_split, derived_split,
        tier, value_tier`` added. Items without a stated or derived value get no tier (``NaN``).
    """
    if "outcome" not in drivers.columns or drivers.empty:
        return _tiers(drivers, stated, stated_split, derived_split)
    blocks = [
        _tiers(block, stated, stated_split, derived_split)
        for _, block in drivers.groupby("outcome", sort=False)
    ]
    return pd.concat(blocks).loc[drivers.index]


def _tiers(
    drivers: pd.DataFrame,
    stated: pd.Series,
    stated_split: float | None,
    derived_split: float | None,
) -> pd.DataFrame:
    """:func:`importance_tiers` of one outcome's rows."""
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
