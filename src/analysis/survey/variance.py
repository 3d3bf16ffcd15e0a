"""The one variance kernel of the linearisation estimators: per-unit totals of influence values ->
variance, as R's ``svyrecvar`` computes it.

Every Taylor-linearisation standard error of the project (means, totals, proportions, domain
contrasts; :mod:`analysis.survey.estimate`) takes the same three steps, all here:

1. **Influence totals** (:func:`influence`). An estimate's influence value of row ``i`` is
   ``w_i (y_i - mean) / sum w`` for a (Hajek) mean and ``w_i y_i`` for a total, over the rows of
   its domain (0 elsewhere). Only their totals per sampling unit enter the variance, so they are
   formed from the unit's sufficient statistics ``p1 = sum w y`` and ``p0 = sum w`` (the rows are
   summed once, by :mod:`analysis.survey.domains`): ``(p1 - mean * p0) / sum w``. A contrast of two
   domains (R's ``svycontrast`` of ``svyby(covmat = TRUE)``) is the difference of their influence
   totals, unit by unit.
2. **Calibration** (:class:`CalibrationBasis`). A calibrated design replaces the influence values
   by their residuals on the calibration variables (R's ``calibrate``: ``qr.resid`` with weights
   ``g sqrt(w0)``). The residual's unit total is the raw unit total less ``G_u b``, where
   ``G_u = sum_{i in u} wq_i Q_i`` depends only on the design and ``b = Q' (z / wq)`` only on the
   domain sums (``sum V y`` and ``sum V`` over its rows, ``V_i = Q_i w_i / wq_i``), so no per-row
   influence values are built. Sequential calibrations chain the same way.
3. **The stage variance** (:func:`stage_variance`, R's ``onestage``): per stratum ``h`` of
   ``n_h`` units, ``m_h (1 - f_h) n_h / (n_h - 1) sum_u (t_u - tbar_h)^2`` with ``f_h`` the
   sampling fraction and ``m_h`` the product of the earlier stages' fractions, summed over the
   strata and the stages (multistage fpc, see :mod:`analysis.survey.design`); strata with a single
   unit follow the design's ``lonely_psu`` policy (``adjust``, ``average``, ``remove``) as R's
   ``survey.lonely.psu`` option; census strata (``1 - f_h < 1e-7``) add nothing.

Unit totals are held as (unit, column) :class:`Pairs`: only the units that have rows in a column's
domain are listed (sparse, the means of an uncalibrated design), or every unit (:func:`grid`:
calibrated designs and contrasts, where every unit can have a non-zero total). Formulas are in
METHODS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from analysis.errors import DesignError
from analysis.survey.design import CENSUS_TOLERANCE, Stage, SurveyDesign

# ---------------------------------------------------------------------------------------------
# grouped sums


def indicator(codes: np.ndarray, n_rows: int) -> sparse.csr_array:
    """(n_rows x len(codes)) sparse matrix with a 1 at (codes[i], i)."""
    m = codes.shape[0]
    return sparse.csr_array((np.ones(m), (codes, np.arange(m))), shape=(n_rows, m))


def group_sum(index: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    """Sum the last axis of ``values`` (..., m) by ``index`` (m,) into (..., size)."""
    values = np.asarray(values, dtype=float)
    if size == 1:  # one group: a plain sum (bincount into one bin is a slow dependency chain)
        return values.sum(axis=-1, keepdims=True)
    if values.ndim == 1:
        return np.bincount(index, weights=values, minlength=size)
    flat = values.reshape(-1, values.shape[-1])
    out = np.empty((flat.shape[0], size))
    for r in range(flat.shape[0]):
        out[r] = np.bincount(index, weights=flat[r], minlength=size)
    return out.reshape((*values.shape[:-1], size))


def compress(raw: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of the values of ``raw`` (all in ``0 .. size - 1``), numbered in increasing order
    of value, and the distinct values."""
    raw = np.asarray(raw, dtype=np.int64)
    if size <= 4 * raw.shape[0] + (1 << 20):
        seen = np.zeros(size, dtype=bool)
        seen[raw] = True
        uniq = np.flatnonzero(seen)
        code = np.zeros(size, dtype=np.intp)
        code[uniq] = np.arange(uniq.size)
        return code[raw], uniq
    uniq, inverse = np.unique(raw, return_inverse=True)
    return inverse.reshape(-1).astype(np.intp), uniq


# ---------------------------------------------------------------------------------------------
# unit totals


@dataclass(frozen=True, eq=False)
class Pairs:
    """The (unit, column) pairs of one stage that carry unit totals; units not listed have total 0.

    A column is one estimate's domain (a level, or a contrast). ``cell`` is ``stratum * K +
    column`` of each pair and ``count`` the pairs per (stratum, column) cell.
    """

    unit: np.ndarray  # (P,)
    column: np.ndarray  # (P,)
    n_columns: int
    cell: np.ndarray  # (P,)
    count: np.ndarray  # (S * K,)

    @property
    def size(self) -> int:
        return int(self.unit.size)


def pairs(stage: Stage, unit: np.ndarray, column: np.ndarray, n_columns: int) -> Pairs:
    """The pairs ``(unit[p], column[p])`` of ``stage`` (each pair listed once)."""
    cell = stage.unit_stratum[unit] * n_columns + column
    count = np.bincount(cell, minlength=stage.n_strata * n_columns)
    return Pairs(unit, column, n_columns, cell, count)


def grid(stage: Stage, n_columns: int) -> Pairs:
    """Every unit of ``stage`` x every column, unit-major: pair ``u * K + k``."""
    unit = np.repeat(np.arange(stage.n_units), n_columns)
    column = np.tile(np.arange(n_columns), stage.n_units)
    return pairs(stage, unit, column, n_columns)


def influence(
    kind: str, p1: np.ndarray, p0: np.ndarray, mean: np.ndarray, wsum: np.ndarray
) -> np.ndarray:
    """Unit totals of the influence values of a domain mean or total (arrays broadcast).

    ``p1 = sum w y`` and ``p0 = sum w`` over the unit's rows in the domain; ``mean`` its estimate
    (0 where undefined) and ``wsum`` its weight total (1 where 0). A mean: ``(p1 - mean p0) /
    wsum`` (the linearised ratio); a total: ``p1``.
    """
    if kind == "mean":
        return (p1 - mean * p0) / wsum
    return np.asarray(p1, dtype=float)


def stratum_present(stage: Stage, pr: Pairs, counts: np.ndarray) -> np.ndarray:
    """(c, S, K): whether each estimate's domain has rows in each stratum, from the rows per pair
    ``counts`` (c, P) (R counts the strata of a subset for the ``adjust``/``average`` rules)."""
    present = group_sum(pr.cell, stage.n_strata * pr.n_columns, counts) > 0
    return present.reshape(-1, stage.n_strata, pr.n_columns)


def stage_scale(stage: Stage) -> np.ndarray:
    """(S,) ``m_h (1 - f_h) n_h / (n_h - 1)``; 0 for census strata (``1 - f_h < 1e-7``)."""
    n_h = stage.stratum_size.astype(float)
    keep = 1.0 - stage.stratum_fraction
    scale = keep * np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0) * stage.stratum_multiplier
    return np.where(keep >= CENSUS_TOLERANCE, scale, 0.0)


def stage_variance(
    stage: Stage, pr: Pairs, t: np.ndarray, policy: str, present: np.ndarray | None = None
) -> np.ndarray:
    """One stage's variance of the estimates from their unit totals (R's ``onestage``).

    ``t`` (c, P): the unit totals of ``c`` variables at the pairs ``pr``. Per stratum ``h`` (its
    ``n_h`` units, all of them: domains are estimated in the full design)
    ``sum_u (t_u - tbar_h)^2``, scaled by ``m_h (1 - f_h) n_h / (n_h - 1)``; lonely strata as
    ``policy``. ``present`` (c, S, K): whether the domain has rows in the stratum (for ``adjust``
    and ``average``; None: every stratum).

    Returns
    -------
    numpy.ndarray
        (c, K) variances.
    """
    c, n_strata, n_col = t.shape[0], stage.n_strata, pr.n_columns
    g = pr.cell
    n_h = stage.stratum_size.astype(float)
    s1 = group_sum(g, n_strata * n_col, t).reshape(c, n_strata, n_col)
    centre = s1 / n_h[None, :, None]
    lonely = stage.lonely
    special = bool(lonely.any()) and policy in ("adjust", "average")
    if special:
        pres = np.ones((c, n_strata, n_col), dtype=bool) if present is None else present
        pres = np.broadcast_to(pres, (c, n_strata, n_col))
        if policy == "adjust":
            centre[:, lonely, :] = _lonely_centre(stage, s1, pres)
    dev = t - centre.reshape(c, n_strata * n_col)[:, g]
    ss = group_sum(g, n_strata * n_col, dev * dev).reshape(c, n_strata, n_col)
    npairs = pr.count.reshape(n_strata, n_col)
    ss += (n_h[:, None] - npairs)[None] * centre * centre  # units with no rows in the domain
    return _policy_total(stage, ss, policy, special, pres if special else None)


def _by_scope(stage: Stage, a: np.ndarray) -> np.ndarray:
    """(c, S, K) per stratum -> (c, scopes, K) summed over the strata of each scope."""
    c, n_strata, n_col = a.shape
    scopes = indicator(stage.stratum_scope, stage.n_scopes)
    flat = np.asarray(a, dtype=float).transpose(1, 0, 2).reshape(n_strata, c * n_col)
    return (scopes @ flat).reshape(-1, c, n_col).transpose(1, 0, 2)


def _lonely_centre(stage: Stage, s1: np.ndarray, pres: np.ndarray) -> np.ndarray:
    """(c, lonely strata, K) the centre of a lonely PSU under ``adjust``: the grand mean of the
    PSU totals in its scope (survey >= 4.0: colSums(x) / number of PSUs of the strata present);
    ``s1`` (c, S, K) the strata's sums of unit totals."""
    n_h = stage.stratum_size.astype(float)
    scope_n = _by_scope(stage, pres * n_h[None, :, None])
    scope_sum = _by_scope(stage, s1)
    grand = np.divide(scope_sum, scope_n, out=np.zeros_like(scope_sum), where=scope_n > 0)
    return grand[:, stage.stratum_scope[stage.lonely], :]


def _policy_total(
    stage: Stage, ss: np.ndarray, policy: str, special: bool, pres: np.ndarray | None
) -> np.ndarray:
    """(c, K) stage variance from the per-stratum sums of squares ``ss`` (c, S, K) about the
    strata's centres (the scope's grand mean for lonely strata under ``adjust``)."""
    contrib = ss * stage_scale(stage)[None, :, None]
    lonely = stage.lonely
    if special and policy == "average" and pres is not None:

        def by_scope(a: np.ndarray) -> np.ndarray:
            return _by_scope(stage, a)

        # R: lonely strata are NA; the others are summed and scaled by strata / non-lonely strata.
        contrib[:, lonely, :] = 0.0
        n_strat = by_scope(pres)
        n_ok = by_scope(pres & ~lonely[None, :, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            # all strata of a scope lonely: 0 * inf = NaN, as R's 0 * nstrat / 0
            per_scope = np.where(n_strat > 0, by_scope(contrib) * (n_strat / n_ok), 0.0)
        return per_scope.sum(axis=1)
    return contrib.sum(axis=1)


@dataclass(frozen=True, eq=False)
class Absent:
    """Per (stratum, column) of one stage of a calibrated design, the units with no rows in the
    column's domain: their calibrated unit totals are ``-G_u b``, so their count, mean ``G_u``
    and centred scatter of ``G_u`` are all the variance needs of them."""

    count: np.ndarray  # (S, K)
    mean: np.ndarray  # (S, K, r)
    scatter: np.ndarray  # (S, K, r, r)
    # the pairs in (column, stratum) order (the same for every block of variables): the order,
    # each column's bounds, the starts of the (column, stratum) runs, and G_u at the sorted pairs
    order: np.ndarray | None = None
    col_bounds: np.ndarray | None = None
    starts: np.ndarray | None = None
    g_sorted: np.ndarray | None = None


def absent_units(stage: Stage, pr: Pairs, g_units: np.ndarray) -> Absent:
    """The :class:`Absent` units of ``stage`` for the pairs ``pr``; ``g_units`` (U, r) ``G``."""
    n_strata, n_col, r = stage.n_strata, pr.n_columns, g_units.shape[1]
    present = np.zeros((stage.n_units, n_col), dtype=bool)
    present[pr.unit, pr.column] = True
    order = np.argsort(stage.unit_stratum, kind="stable")
    bounds = np.searchsorted(stage.unit_stratum[order], np.arange(n_strata + 1))
    count = np.zeros((n_strata, n_col))
    mean = np.zeros((n_strata, n_col, r))
    scatter = np.zeros((n_strata, n_col, r, r))
    for h in range(n_strata):
        units = order[bounds[h] : bounds[h + 1]]
        g_h, pres_h = g_units[units], present[units]
        for k in range(n_col):
            a = g_h[~pres_h[:, k]]
            if a.shape[0] == 0:
                continue
            m = a.mean(axis=0)
            d = a - m
            count[h, k], mean[h, k], scatter[h, k] = a.shape[0], m, d.T @ d
    order, col_bounds, starts = _column_runs(stage, pr)
    return Absent(count, mean, scatter, order, col_bounds, starts, g_units[pr.unit[order]])


def _column_runs(stage: Stage, pr: Pairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs in (column, stratum) order: the order, each column's bounds in it and the starts
    of its (column, stratum) runs."""
    key = pr.column.astype(np.int64) * stage.n_strata + stage.unit_stratum[pr.unit]
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    col_bounds = np.searchsorted(key_sorted, np.arange(pr.n_columns + 1) * stage.n_strata)
    starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]]) if key.size else key
    return order, col_bounds, starts


def calibrated_stage_variance(
    stage: Stage,
    pr: Pairs,
    t: np.ndarray,
    g_units: np.ndarray,
    b: np.ndarray,
    absent: Absent,
    policy: str,
) -> np.ndarray:
    """:func:`stage_variance` of the calibration residuals ``t_u - G_u b``, without a unit x
    column grid.

    ``t`` (c, P) the raw unit totals at the pairs ``pr`` (every other unit's is 0), ``g_units``
    (U, r) ``G``, ``b`` (c, K, r) the residuals' coefficients. The residuals are formed at the
    pairs only; the units without rows in a column's domain (residual ``-G_u b``) enter through
    their count, mean and centred scatter (:class:`Absent`): per stratum and column the sum of
    squares about the stratum's mean is ``SS_p + b' C_a b + n_p (m_p - m)^2 + n_a (m_a - m)^2``
    (present and absent units, each about its own mean ``m_p``, ``m_a``; all terms
    non-negative, so no cancellation). Every unit of the stratum counts (R keeps every row of a
    calibrated design), lonely strata as ``policy``.

    Returns
    -------
    numpy.ndarray
        (c, K) variances.
    """
    c, n_strata, n_col = t.shape[0], stage.n_strata, pr.n_columns
    # pairs in (column, stratum) order: each column's pairs contiguous (one matrix product for
    # G_u b_k), each (column, stratum) cell a run (its moments by one reduceat)
    key = pr.column.astype(np.int64) * n_strata + stage.unit_stratum[pr.unit]
    if absent.order is None or absent.col_bounds is None or absent.starts is None:
        order, col_bounds, starts = _column_runs(stage, pr)
        g_sorted = g_units[pr.unit[order]]
    else:  # formed once per estimate (absent_units)
        order, col_bounds, starts = absent.order, absent.col_bounds, absent.starts
        g_sorted = g_units[pr.unit[order]] if absent.g_sorted is None else absent.g_sorted
    res = t[:, order]
    for k in range(n_col):
        lo, hi = col_bounds[k], col_bounds[k + 1]
        if hi > lo:
            res[:, lo:hi] -= b[:, k, :] @ g_sorted[lo:hi].T
    cell_of_run = key[order[starts]]  # column * S + stratum
    runs = np.diff(np.r_[starts, key.size]).astype(float)

    def by_cell(a: np.ndarray) -> np.ndarray:  # (c, runs) -> (c, S, K)
        out = np.zeros((c, n_col * n_strata))
        out[:, cell_of_run] = a
        return out.reshape(c, n_col, n_strata).transpose(0, 2, 1)

    s1_run = np.add.reduceat(res, starts, axis=1) if key.size else np.zeros((c, 0))
    mean_run = s1_run / runs
    dev = res - np.repeat(mean_run, runs.astype(np.intp), axis=1)
    ss_run = np.add.reduceat(dev * dev, starts, axis=1) if key.size else np.zeros((c, 0))
    n_p = by_cell(np.broadcast_to(runs, (c, runs.size)))
    s1_p, mean_p, ss_p = by_cell(s1_run), by_cell(mean_run), by_cell(ss_run)
    n_a = absent.count[None]
    mean_a = -np.einsum("hkr,ckr->chk", absent.mean, b, optimize=True)
    ss_a = np.einsum("ckr,hkrq,ckq->chk", b, absent.scatter, b, optimize=True)
    n_h = stage.stratum_size.astype(float)[None, :, None]
    s1 = s1_p + n_a * mean_a
    centre = s1 / n_h
    ss = ss_p + ss_a + n_p * (mean_p - centre) ** 2 + n_a * (mean_a - centre) ** 2
    return _centred_total(stage, s1, ss, policy, np.ones((c, n_strata, n_col), dtype=bool))


def _centred_total(
    stage: Stage, s1: np.ndarray, ss: np.ndarray, policy: str, pres: np.ndarray
) -> np.ndarray:
    """(c, K) stage variance from the strata's sums of unit totals ``s1`` (c, S, K) and their
    sums of squares about the strata's means ``ss`` (c, S, K; every unit of the stratum counted);
    lonely strata as ``policy``, ``pres`` (c, S, K) whether the domain has rows in the stratum
    (for ``adjust`` and ``average``)."""
    n_h = stage.stratum_size.astype(float)[None, :, None]
    lonely = stage.lonely
    special = bool(lonely.any()) and policy in ("adjust", "average")
    if special and policy == "adjust":  # about the scope's grand mean instead
        grand = _lonely_centre(stage, s1, pres)
        ss[:, lonely, :] += n_h[:, lonely, :] * (s1[:, lonely, :] / n_h[:, lonely, :] - grand) ** 2
    return _policy_total(stage, ss, policy, special, pres if special else None)


@dataclass(frozen=True, eq=False)
class UnitScatter:
    """Per stratum of one stage of a calibrated design, the moments of the units' ``G_u``: their
    sums (S, r), centred scatter (S, r, r) and each unit's ``G_u`` less its stratum's mean (U, r)
    (what :func:`linear_stage_variance` needs of the calibration)."""

    total: np.ndarray
    scatter: np.ndarray
    centred: np.ndarray


def unit_scatter(stage: Stage, g_units: np.ndarray) -> UnitScatter:
    """The :class:`UnitScatter` of ``g_units`` (U, r) ``G`` in the strata of ``stage``."""
    n_strata, r = stage.n_strata, g_units.shape[1]
    total = group_sum(stage.unit_stratum, n_strata, g_units.T).T.reshape(n_strata, r)
    mean = total / stage.stratum_size.astype(float)[:, None]
    centred = g_units - mean[stage.unit_stratum]
    order = np.argsort(stage.unit_stratum, kind="stable")
    bounds = np.searchsorted(stage.unit_stratum[order], np.arange(n_strata + 1))
    scatter = np.zeros((n_strata, r, r))
    for h in range(n_strata):
        d = centred[order[bounds[h] : bounds[h + 1]]]
        scatter[h] = d.T @ d
    return UnitScatter(total, scatter, centred)


@dataclass(frozen=True, eq=False)
class PairSums:
    """The sparse maps of :func:`linear_stage_variance` for one stage's pairs, built once per
    estimate: ``single`` (S L, P1) sums the pairs of units with one pair by (stratum, level) cell;
    ``multi`` the pairs of the other units (their features are summed densely) and their units'
    slots; ``spread`` (P, S L r) each pair's ``G_u - mean_h G`` in its cell's columns (None:
    uncalibrated)."""

    single_pairs: np.ndarray
    single: sparse.csr_array
    multi_pairs: np.ndarray
    multi_units: np.ndarray
    multi_slot: np.ndarray
    spread: sparse.csr_array | None


def pair_sums(stage: Stage, pr: Pairs, moments: UnitScatter | None = None) -> PairSums:
    """The :class:`PairSums` of the pairs ``pr`` of ``stage``; ``moments`` of a calibration."""
    cells = stage.n_strata * pr.n_columns
    per_unit = np.bincount(pr.unit, minlength=stage.n_units)
    multi = per_unit[pr.unit] > 1
    single_pairs = np.flatnonzero(~multi)
    multi_pairs = np.flatnonzero(multi)
    units, slot = np.unique(pr.unit[multi_pairs], return_inverse=True)
    spread = None
    if moments is not None:
        r = moments.centred.shape[1]
        cols = (pr.cell[:, None] * r + np.arange(r)[None, :]).ravel()
        rows = np.repeat(np.arange(pr.size), r)
        values = moments.centred[pr.unit].ravel()
        spread = sparse.csr_array((values, (rows, cols)), shape=(pr.size, cells * r))
    return PairSums(
        single_pairs=single_pairs,
        single=indicator(pr.cell[single_pairs], cells),
        multi_pairs=multi_pairs,
        multi_units=units,
        multi_slot=slot.reshape(-1),
        spread=spread,
    )


#: A stratum's sum of squares below this share of its terms' (``a' C a + b' C_G b``) is rounding
#: noise of the quadratic form (the influence values are the calibration's own, e.g. a
#: calibration variable's share): its variance is 0.
RESOLUTION = 1e-12


def linear_stage_variance(
    stage: Stage,
    pr: Pairs,
    maps: PairSums,
    p: np.ndarray,
    alpha: np.ndarray,
    policy: str,
    present: np.ndarray | None = None,
    calibration: tuple[UnitScatter, np.ndarray] | None = None,
) -> np.ndarray:
    """:func:`stage_variance` of unit totals that are linear in the units' per-level sums, for
    many columns at once and without a unit x column grid (contrasts of domains).

    ``p`` (c, F, P): ``F`` sums of each (unit, level) pair ``pr`` (a unit's sums at the levels it
    has no pair in are 0); ``maps`` from :func:`pair_sums`. Column ``k``'s total of unit ``u`` is
    ``t_uk = sum_{f, j} alpha[c, k, f, j] p[c, f, (u, j)] - G_u b_k``, ``alpha`` (c, K, F, L),
    ``calibration = (G, b)`` the moments of the units' ``G`` (:class:`UnitScatter`) and ``b``
    (c, K, r) (None: no calibration). So per stratum the sum of squares of every column about its
    mean is a quadratic form ``a' C a`` of the (F L + r) x (F L + r) centred scatter ``C`` of the
    units' sums and ``G_u``, formed once for all columns: from the pairs (units with one pair add
    to the diagonal blocks only), the pairs' centred ``G_u`` and the design's scatter of ``G``.
    Every unit of the stratum counts; ``present`` (c, S, K) whether the column's domains have
    rows in the stratum (lonely ``adjust``/``average``; None: every stratum), lonely strata as
    ``policy``. A sum of squares within :data:`RESOLUTION` of its terms is 0.

    Returns
    -------
    numpy.ndarray
        (c, K) variances.
    """
    c, n_feat, n_pairs = p.shape
    n_strata, n_lev, n_col = stage.n_strata, pr.n_columns, alpha.shape[1]
    m = n_feat * n_lev
    n_h = stage.stratum_size.astype(float)
    # per (stratum, level) cell, in one sparse product: the sums of the features and, over the
    # units with one pair, their products (c, F, F)
    upper = [(f, g) for f in range(n_feat) for g in range(f, n_feat)]
    n_single = maps.single_pairs.size
    stacked = np.empty((c, n_feat + len(upper), n_single))
    if n_single == n_pairs:  # every unit has one pair (each respondent its own PSU)
        stacked[:, :n_feat] = p
    else:
        np.take(p, maps.single_pairs, axis=2, out=stacked[:, :n_feat])
    for i, (f, g) in enumerate(upper):
        np.multiply(stacked[:, f], stacked[:, g], out=stacked[:, n_feat + i])
    flat_in = stacked.reshape(c * (n_feat + len(upper)), n_single)
    per_cell = (flat_in @ maps.single.T).reshape(c, -1, n_strata * n_lev)
    per_cell = per_cell.reshape(c, n_feat + len(upper), n_strata, n_lev)
    sums = per_cell[:, :n_feat].copy()
    raw = np.zeros((c, n_strata, n_feat, n_lev, n_feat, n_lev))
    diag = np.arange(n_lev)
    for i, (f, g) in enumerate(upper):
        sq = per_cell[:, n_feat + i]
        raw[:, :, f, diag, g, diag] += sq
        if g != f:
            raw[:, :, g, diag, f, diag] += sq
    flat = raw.reshape(c, n_strata, m, m)
    if maps.multi_pairs.size:  # units with pairs in several levels: their features densely
        mp = maps.multi_pairs
        dense = np.zeros((c, maps.multi_units.size, n_feat, n_lev))
        dense[:, maps.multi_slot, :, pr.column[mp]] = np.moveaxis(p[:, :, mp], 2, 0)
        dense = dense.reshape(c, maps.multi_units.size, m)
        stratum = stage.unit_stratum[maps.multi_units]
        for h in np.unique(stratum):
            d = dense[:, stratum == h]
            flat[:, h] += np.swapaxes(d, 1, 2) @ d
            sums[:, :, h, :] += d.sum(axis=1).reshape(c, n_feat, n_lev)
    sums_f = sums.transpose(0, 2, 1, 3).reshape(c, n_strata, m)
    a = alpha.reshape(c, n_col, m)
    scatter = flat - sums_f[..., :, None] * sums_f[..., None, :] / n_h[None, :, None, None]
    ss = np.einsum("cki,chij,ckj->chk", a, scatter, a, optimize=True)
    terms = ss.copy()
    s1 = np.einsum("cki,chi->chk", a, sums_f, optimize=True)
    if calibration is not None and maps.spread is not None:
        moments, b = calibration
        r = b.shape[2]
        # sum over the pairs of p (G_u - mean_h G) per (stratum, level): one sparse product
        cross = (maps.spread.T @ p.reshape(c * n_feat, n_pairs).T).T
        cross = cross.reshape(c, n_feat, n_strata, n_lev, r).transpose(0, 2, 1, 3, 4)
        cross = cross.reshape(c, n_strata, m, r)
        ss -= 2.0 * np.einsum("cki,chiq,ckq->chk", a, cross, b, optimize=True)
        fitted = np.einsum("ckq,hqs,cks->chk", b, moments.scatter, b, optimize=True)
        ss += fitted
        terms += fitted
        s1 -= np.einsum("ckq,hq->chk", b, moments.total, optimize=True)
    ss = np.where(ss > RESOLUTION * terms, ss, 0.0)  # rounding noise of the form: 0
    pres = np.ones((c, n_strata, n_col), dtype=bool) if present is None else present
    pres = np.array(np.broadcast_to(pres, (c, n_strata, n_col)))
    return _centred_total(stage, s1, ss, policy, pres)


# ---------------------------------------------------------------------------------------------
# calibration


@dataclass(frozen=True, eq=False)
class CalibrationBasis:
    """What the calibrations of a design take from the unit totals (R: ``greg_calibration``).

    For calibration ``k`` (basis ``Q_k``, ``wq_k = g_k sqrt(w0_k)``, in the order applied), the
    residual of the influence values ``z`` is ``z - wq_k Q_k b_k`` with ``b_k = Q_k' (z / wq_k)``
    (R: ``qr.resid(qr, z / wq) * wq``), applied in turn. With ``z = w * y~`` (``y~`` the row's
    centred value over the domain's weight total), ``b_k = V_k' y~ - sum_{j<k} M_kj b_j``:

    Attributes
    ----------
    rows
        (n, r) ``V``: the columns of every calibration's ``V_k = Q_k w / wq_k`` side by side; the
        domain sums ``sum V y`` and ``sum V`` give ``V' y~``.
    blocks
        The columns of ``rows`` belonging to each calibration.
    chain
        ``M_kj`` for ``j < k`` (empty for one calibration).
    fit
        For a calibration whose residuals are not the least-squares ones (R's ``rake()``:
        ``Calibration.coefficients``), the (r, r) map ``L`` with ``b = L V' y~``; None: ``b = V'
        y~`` (an orthonormal basis).
    units
        Per variance stage, (U, r) ``G``: unit totals of ``wq_k Q_k`` (rows zeroed by later
        calibrations excluded); the residual's unit totals are ``t_u - G_u b``.
    """

    rows: np.ndarray
    blocks: tuple[slice, ...]
    chain: tuple[tuple[int, int, np.ndarray], ...]
    units: tuple[np.ndarray, ...]
    fit: np.ndarray | None = None

    @property
    def rank(self) -> int:
        return int(self.rows.shape[1])

    def coefficients(self, raw: np.ndarray) -> np.ndarray:
        """``b`` (..., r) from ``V' y~`` (..., r): the sequential calibrations chained."""
        if self.fit is not None:
            return raw @ self.fit.T
        if not self.chain:
            return raw
        b = np.array(raw, dtype=float, copy=True)
        for k, j, m_kj in self.chain:
            b[..., self.blocks[k]] -= b[..., self.blocks[j]] @ m_kj.T
        return b

    def residual(self, stage_index: int, t: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Unit totals (c, U, K) of the residuals: ``t - G_u b`` with ``b`` (c, K, r)."""
        return t - np.einsum("ur,ckr->cuk", self.units[stage_index], b, optimize=True)


def calibration_basis(design: SurveyDesign, stages: Sequence[Stage]) -> CalibrationBasis | None:
    """The :class:`CalibrationBasis` of a calibrated design at ``stages``; None if uncalibrated."""
    cals = design.calibrations
    if not cals:
        return None
    fitted = [cal for cal in cals if cal.coefficients is not None]
    if fitted and len(cals) > 1:
        raise DesignError(
            "weighting.variance r-rake (R's rake() residuals) needs the design's only calibration; "
            "this design was calibrated more than once: use greg"
        )
    w = design.weights
    masks = [cal.wq != 0 for cal in cals]
    inv = [
        np.divide(1.0, cal.wq, out=np.zeros_like(cal.wq), where=m)
        for cal, m in zip(cals, masks, strict=True)
    ]

    def kept(lo: int, hi: int) -> np.ndarray:  # rows not zeroed by calibrations lo .. hi - 1
        out = np.ones(design.n)
        for m in masks[lo:hi]:
            out = out * m
        return out

    cols, blocks, start = [], [], 0
    for k, cal in enumerate(cals):
        cols.append(cal.q * (inv[k] * kept(0, k) * w)[:, None])
        blocks.append(slice(start, start + cal.q.shape[1]))
        start += cal.q.shape[1]
    chain = []
    for k in range(1, len(cals)):
        for j in range(k):
            between = inv[k] * kept(j + 1, k) * cals[j].wq
            chain.append((k, j, cals[k].q.T @ (cals[j].q * between[:, None])))
    row_g = np.hstack(
        [cal.q * (cal.wq * kept(k + 1, len(cals)))[:, None] for k, cal in enumerate(cals)]
    )
    units = tuple(group_sum(stage.unit, stage.n_units, row_g.T).T for stage in stages)
    return CalibrationBasis(
        rows=np.ascontiguousarray(np.hstack(cols)),
        blocks=tuple(blocks),
        chain=tuple(chain),
        units=units,
        fit=fitted[0].coefficients if fitted else None,
    )
