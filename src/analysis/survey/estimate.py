"""Design-based estimates with Taylor-linearisation or replicate-weight standard errors, as R's
survey package has them.

Every estimator here works on many variables and many domains at once. The variance of a mean or
total only needs, for each sampling unit and domain, a few sums of the unit's rows (``sum w y``,
``sum w`` over the respondents who answered); so the rows are summed once per block of variables
into those sufficient statistics (``numpy.bincount`` over a (unit, cell) key, where a cell is a
combination of the domains' levels that occurs), and everything after that works on arrays the
size of the number of units, not of respondents. Several domain variables (overall, by segment, by
region) share that one pass over the data (:func:`means_by`). A gap table of 30 items x 9 domains
at a million respondents therefore never builds a respondents x (items x domains) matrix. Formulas
are in METHODS.md; the R functions they match are named below.

Domains (segment levels, and "answered this question") are estimated inside the full design: rows
outside the domain contribute zero to their unit's total and stay in the design (R's ``svyby`` and
``svymean(..., na.rm = TRUE)``). A domain with no respondents gives ``n = 0`` and a NaN estimate
(the row is kept so the gap is visible); a domain with one respondent gives a NaN standard error.

Calibrated designs take the variance from the residuals of the influence values on the calibration
variables (R's ``calibrate``); that needs the per-row influence values, which are built in blocks of
variables small enough to bound memory.

Replicate weights (:func:`replicate_weights`): JK1, JKn, the bootstrap and the (n - 1)
"subbootstrap" (Rao-Wu rescaling) as R's ``as.svrepdesign`` makes them; the replicate estimates of
all variables x domains x replicates are one matrix product of unit totals with replicate factors
(jackknife: a closed form of the same product).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.errors import DesignError
from analysis.survey import inference
from analysis.survey.design import (
    CENSUS_TOLERANCE,
    Stage,
    SurveyDesign,
    degrees_of_freedom,
    one_blas_thread,
)

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
REPLICATE_TYPES = ("auto", "JK1", "JKn", "bootstrap", "subbootstrap")

#: Cells of one block of per-row work (variables x rows); bounds the memory of an estimate.
BLOCK_CELLS = 1 << 25
#: Threads for blocks of variables (numpy releases the GIL in the per-row passes), used when the
#: data have at least PARALLEL_CELLS values (below that, threads cost more than they save).
THREADS = max(1, min(4, os.cpu_count() or 1))
PARALLEL_CELLS = 1 << 20


# ---------------------------------------------------------------------------------------------
# small helpers


def _indicator(codes: np.ndarray, n_rows: int) -> sparse.csr_array:
    """(n_rows x len(codes)) sparse matrix with a 1 at (codes[i], i)."""
    m = codes.shape[0]
    return sparse.csr_array((np.ones(m), (codes, np.arange(m))), shape=(n_rows, m))


def _group_sum(index: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
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


def _compress(raw: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
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


def _stage_scale(stage: Stage) -> np.ndarray:
    """(S,) ``m_h (1 - f_h) n_h / (n_h - 1)``; 0 for census strata (``1 - f_h < 1e-7``)."""
    n_h = stage.stratum_size.astype(float)
    keep = 1.0 - stage.stratum_fraction
    scale = keep * np.where(n_h > 1, n_h / np.maximum(n_h - 1, 1), 1.0) * stage.stratum_multiplier
    return np.where(keep >= CENSUS_TOLERANCE, scale, 0.0)


# ---------------------------------------------------------------------------------------------
# variance of unit totals


def _pairs_variance(
    stage: Stage,
    unit: np.ndarray,
    level: np.ndarray,
    t: np.ndarray,
    n_levels: int,
    present: np.ndarray | None,
    policy: str,
    cell: np.ndarray | None = None,
    count: np.ndarray | None = None,
) -> np.ndarray:
    """One stage's variance of domain totals from the units' totals (R's ``onestage``).

    ``t`` (c, P) holds, for each (unit, level) pair ``p`` that has rows, the unit's total of the
    influence values of ``c`` variables in domain ``level[p]``; units without a pair have total 0.
    Per stratum ``h`` (``n_h`` units, all of them, as the domain is estimated in the full design):
    ``sum_c (t_hc - tbar_h)^2``, scaled by :func:`_stage_scale`; lonely strata as ``policy``.
    ``present`` (c, S, L): whether the domain has rows in the stratum (for ``adjust``/``average``).

    ``cell`` (P,) ``stratum * L + level`` of each pair and ``count`` (S * L,) pairs per cell, if
    already known.

    Returns
    -------
    numpy.ndarray
        (c, L) variances.
    """
    c, n_strata, n_lev = t.shape[0], stage.n_strata, n_levels
    g = stage.unit_stratum[unit] * n_lev + level if cell is None else cell
    n_h = stage.stratum_size.astype(float)
    s1 = _group_sum(g, n_strata * n_lev, t).reshape(c, n_strata, n_lev)
    centre = s1 / n_h[None, :, None]
    if count is None:
        count = np.bincount(g, minlength=n_strata * n_lev)
    npairs = count.reshape(n_strata, n_lev)
    lonely = stage.lonely
    special = bool(lonely.any()) and policy in ("adjust", "average")
    if special:
        pres = np.ones((c, n_strata, n_lev), dtype=bool) if present is None else present
        scopes = _indicator(stage.stratum_scope, stage.n_scopes)

        def by_scope(a: np.ndarray) -> np.ndarray:  # (c, S, L) -> (c, scopes, L)
            flat = np.asarray(a, dtype=float).transpose(1, 0, 2).reshape(n_strata, c * n_lev)
            return (scopes @ flat).reshape(-1, c, n_lev).transpose(1, 0, 2)

        if policy == "adjust":
            # A lonely PSU is centred at the grand mean of the PSU totals in its scope
            # (survey >= 4.0: colSums(x) / number of PSUs of the strata present).
            scope_n = by_scope(pres * n_h[None, :, None])
            scope_sum = by_scope(s1)
            grand = np.divide(scope_sum, scope_n, out=np.zeros_like(scope_sum), where=scope_n > 0)
            centre[:, lonely, :] = grand[:, stage.stratum_scope[lonely], :]
    dev = t - centre.reshape(c, n_strata * n_lev)[:, g]
    ss = _group_sum(g, n_strata * n_lev, dev * dev).reshape(c, n_strata, n_lev)
    ss += (n_h[:, None] - npairs)[None] * centre * centre  # units with no rows in the domain
    contrib = ss * _stage_scale(stage)[None, :, None]
    if special and policy == "average":
        # R: lonely strata are NA; the others are summed and scaled by strata / non-lonely strata.
        contrib[:, lonely, :] = 0.0
        n_strat = by_scope(pres)
        n_ok = by_scope(pres & ~lonely[None, :, None])
        with np.errstate(divide="ignore", invalid="ignore"):
            # all strata of a scope lonely: 0 * inf = NaN, as R's 0 * nstrat / 0
            per_scope = np.where(n_strat > 0, by_scope(contrib) * (n_strat / n_ok), 0.0)
        return per_scope.sum(axis=1)
    return contrib.sum(axis=1)


def _residualise_t(design: SurveyDesign, zt: np.ndarray) -> np.ndarray:
    """Residuals of ``z / wq`` on each calibration's basis, times ``wq`` (R: ``qr.resid * w``);
    ``zt`` (k, n), variables first."""
    for cal in design.calibrations:
        wq = cal.wq[None, :]
        u = np.divide(zt, wq, out=np.zeros_like(zt), where=wq != 0)
        u -= (u @ cal.q) @ cal.q.T
        zt = u * wq
    return zt


def _variance_t(design: SurveyDesign, zt: np.ndarray, present_t: np.ndarray | None) -> np.ndarray:
    """:func:`linearization_variance` with variables first: ``zt`` (k, n) -> (k,)."""
    zt = _residualise_t(design, np.asarray(zt, dtype=float))
    if design.is_calibrated:
        present_t = None  # R keeps every row of a calibrated design (zero weights outside a subset)
    total = np.zeros(zt.shape[0])
    for stage in design.stages:
        units = np.arange(stage.n_units)
        t = _group_sum(stage.unit, stage.n_units, zt)
        pres = None
        if present_t is not None and stage.lonely.any():
            counts = _group_sum(stage.unit, stage.n_units, present_t)
            by_stratum = _group_sum(stage.unit_stratum, stage.n_strata, counts)
            pres = (by_stratum > 0)[:, :, None]
        level = np.zeros(stage.n_units, dtype=np.intp)
        total += _pairs_variance(stage, units, level, t, 1, pres, design.lonely_psu)[:, 0]
    return total


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
    present_t = None if present is None else np.asarray(present, dtype=float).reshape(z.shape).T
    with one_blas_thread():
        return _variance_t(design, np.ascontiguousarray(z.T), present_t)


# ---------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True, eq=False)
class _Grouping:
    """A domain variable: its levels and each row's level code (-1: in none of them)."""

    levels: list[Any]
    codes: np.ndarray


def _grouping(design: SurveyDesign, domains: pd.Series | None) -> _Grouping:
    """Domain levels and codes. Categorical: every category, in order; otherwise sorted labels."""
    if domains is None:
        return _Grouping([ALL], np.zeros(design.n, dtype=np.intp))
    if len(domains) != design.n:
        raise ValueError(
            f"domains have {len(domains)} rows but the design has {design.n}; pass a column of "
            "the frame the design was built from"
        )
    if isinstance(domains.dtype, pd.CategoricalDtype):
        levels = list(domains.cat.categories)
        codes = np.asarray(domains.cat.codes.to_numpy(), dtype=np.intp)
        return _Grouping(levels, codes)
    codes, uniques = pd.factorize(domains, sort=False)
    try:
        order = sorted(range(len(uniques)), key=lambda i: uniques[i])
    except TypeError:  # labels of mixed types: first appearance
        order = list(range(len(uniques)))
    levels = [uniques[i] for i in order]
    remap = np.empty(len(uniques), dtype=np.intp)
    remap[order] = np.arange(len(uniques))
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.intp)
    return _Grouping(levels, codes)


def _domain_matrix(design: SurveyDesign, domains: pd.Series | None) -> tuple[list[Any], np.ndarray]:
    """Domain levels and the (n, L) membership matrix."""
    g = _grouping(design, domains)
    return g.levels, g.codes[:, None] == np.arange(len(g.levels))[None, :]


def _values_frame(design: SurveyDesign, values: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """``values`` as a DataFrame of numeric columns with the design's number of rows."""
    if isinstance(values, pd.Series):
        values = values.to_frame(name=values.name if values.name is not None else "value")
    if len(values) != design.n:
        raise ValueError(
            f"values have {len(values)} rows but the design has {design.n}; pass columns of the "
            "frame the design was built from, in the same row order"
        )
    bad = [
        c
        for c, dtype in values.dtypes.items()
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype))
    ]
    if bad:
        raise ValueError(f"columns {bad} are not numeric; estimates need numbers")
    return values


def _block_t(values: pd.DataFrame, start: int, stop: int) -> np.ndarray:
    """Columns ``start:stop`` as a float array, variables first (c, n); NaN: not answered."""
    block = values.iloc[:, start:stop].to_numpy(dtype=float, na_value=np.nan)
    return block.T


# ---------------------------------------------------------------------------------------------
# the layout of the sufficient statistics


@dataclass(frozen=True, eq=False)
class _Pairs:
    """The (unit, level) pairs of one grouping at one stage that have rows."""

    unit: np.ndarray  # (P,) the stage's unit
    level: np.ndarray  # (P,)
    index: np.ndarray | None  # (Kg,) the pair of each of the grouping's keys (None: key i = pair i)
    size: int
    cell: np.ndarray  # (P,) stratum * L + level
    count: np.ndarray  # (S * L,) pairs per (stratum, level)


def _pairs(
    stage: Stage, unit: np.ndarray, level: np.ndarray, index: np.ndarray | None, n_lev: int
) -> _Pairs:
    cell = stage.unit_stratum[unit] * n_lev + level
    count = np.bincount(cell, minlength=stage.n_strata * n_lev)
    return _Pairs(unit, level, index, int(unit.size), cell, count)


@dataclass(frozen=True, eq=False)
class _GroupLayout:
    grouping: _Grouping
    keys: np.ndarray | None  # the keys with a level (None: all keys)
    key_level: np.ndarray  # (Kg,) level of those keys
    cell_level: np.ndarray  # (C,) level of each cell (-1: none)
    pairs: tuple[_Pairs, ...]  # per stage


@dataclass(frozen=True, eq=False)
class _Layout:
    """Rows summed by key = (finest unit, cell); a cell is an occurring combination of levels."""

    row_key: np.ndarray | None  # (n,) key of each row (None: row i is key i)
    n_keys: int
    key_weight: np.ndarray  # (K,) sum of the weights
    key_count: np.ndarray  # (K,) rows
    key_nonzero: np.ndarray  # (K,) rows with a non-zero weight
    row_cell: np.ndarray  # (n,)
    n_cells: int
    groups: tuple[_GroupLayout, ...]

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.row_key is None else self.row_key[rows]

    def sum_rows(self, values_t: np.ndarray) -> np.ndarray:
        """(c, n) per-row values -> (c, K) key totals."""
        return values_t if self.row_key is None else _group_sum(self.row_key, self.n_keys, values_t)


def _layout(
    design: SurveyDesign, groupings: Sequence[_Grouping], stages: Sequence[Stage]
) -> _Layout:
    n = design.n
    w = design.weights
    cell = np.zeros(n, dtype=np.intp)
    n_cells = 1
    cell_levels: list[np.ndarray] = []
    for g in groupings:
        radix = len(g.levels) + 1
        cell, uniq = _compress(cell * radix + (g.codes + 1), n_cells * radix)
        previous = uniq // radix
        cell_levels = [cl[previous] for cl in cell_levels] + [(uniq % radix - 1).astype(np.intp)]
        n_cells = int(uniq.size)

    finest = stages[-1].unit
    n_finest = stages[-1].n_units
    if n_finest == n:  # every row is its own unit: the rows are the keys
        row_key = None
        n_keys = n
        key_unit, key_cell = finest, cell
        key_weight, key_count = w.astype(float), np.ones(n)
        key_nonzero = (w != 0).astype(float)
    else:
        row_key, uniq = _compress(finest.astype(np.int64) * n_cells + cell, n_finest * n_cells)
        n_keys = int(uniq.size)
        key_unit, key_cell = uniq // n_cells, uniq % n_cells
        key_weight = np.bincount(row_key, weights=w, minlength=n_keys)
        key_count = np.bincount(row_key, minlength=n_keys).astype(float)
        key_nonzero = np.bincount(row_key, weights=(w != 0), minlength=n_keys)

    unit_maps = []
    for stage in stages:
        umap = np.zeros(n_finest, dtype=np.intp)
        umap[finest] = stage.unit
        unit_maps.append(umap[key_unit])

    groups = []
    for g, cl in zip(groupings, cell_levels, strict=True):
        n_lev = len(g.levels)
        lev = cl[key_cell]
        valid = lev >= 0
        keys = None if valid.all() else np.flatnonzero(valid)
        key_level = lev if keys is None else lev[keys]
        pairs = []
        for stage, umap in zip(stages, unit_maps, strict=True):
            unit = umap if keys is None else umap[keys]
            raw = unit.astype(np.int64) * n_lev + key_level
            index, uniq = _compress(raw, stage.n_units * n_lev)
            if uniq.size == key_level.size:  # one key per pair: the keys are the pairs
                pairs.append(_pairs(stage, unit, key_level, None, n_lev))
            else:
                pairs.append(_pairs(stage, uniq // n_lev, uniq % n_lev, index, n_lev))
        groups.append(_GroupLayout(g, keys, key_level, cl, tuple(pairs)))
    return _Layout(
        row_key=row_key,
        n_keys=n_keys,
        key_weight=key_weight,
        key_count=key_count,
        key_nonzero=key_nonzero,
        row_cell=cell,
        n_cells=n_cells,
        groups=tuple(groups),
    )


# ---------------------------------------------------------------------------------------------
# the estimates of one block of variables


@dataclass(frozen=True, eq=False)
class _Cells:
    """Estimates of every variable x level of one grouping: arrays (v, L)."""

    levels: list[Any]
    estimate: np.ndarray
    weight_sum: np.ndarray
    n: np.ndarray
    ssw: np.ndarray  # sum of w (y - mean)^2 in the cell (NaN unless asked for)
    variance: np.ndarray


def _compute(
    design: SurveyDesign,
    frame: pd.DataFrame,
    groupings: Sequence[_Grouping],
    kind: str,
    *,
    deff: bool,
    replicate: ReplicateWeights | None = None,
) -> list[_Cells]:
    """Estimates and variances of every column of ``frame`` in every level of every grouping."""
    n, v = design.n, frame.shape[1]
    w = design.weights
    stages = design.stages if replicate is None else design.stages[:1]
    layout = _layout(design, groupings, stages)
    k = layout.n_keys
    zero_w = bool((w == 0).any())
    widest = max(len(g.levels) for g in groupings)
    per_var = 2 * n + 5 * k
    if replicate is not None:
        per_var += 4 * replicate.n_replicates * widest
        if replicate.bootstrap is None:
            per_var += 2 * stages[0].n_units * widest
    threads = THREADS if n * v >= PARALLEL_CELLS else 1
    chunk = max(1, min(v, BLOCK_CELLS // (per_var * threads)))
    if threads > 1:  # at least one block of variables per thread
        chunk = max(1, min(chunk, -(-v // threads)))
    if replicate is not None and per_var > 4 * BLOCK_CELLS:
        raise DesignError(
            f"{replicate.n_replicates} {replicate.type} replicates x {widest} domains x "
            f"{stages[0].n_units} PSUs is too large to estimate; use the linearisation "
            "estimator (means, totals) or bootstrap replicates"
        )
    out = [
        _Cells(
            levels=list(g.levels),
            estimate=np.full((v, len(g.levels)), np.nan),
            weight_sum=np.zeros((v, len(g.levels))),
            n=np.zeros((v, len(g.levels)), dtype=np.int64),
            ssw=np.full((v, len(g.levels)), np.nan),
            variance=np.full((v, len(g.levels)), np.nan),
        )
        for g in groupings
    ]

    def block(start: int) -> None:
        """Variables ``start : start + chunk``: one pass over their rows, then every grouping."""
        stop = min(v, start + chunk)
        c = stop - start
        yt = _block_t(frame, start, stop)
        wy = yt * w[None, :]
        miss = np.isfinite(yt)
        np.logical_not(miss, out=miss)
        m_flat = np.flatnonzero(miss)
        wy.reshape(-1)[m_flat] = 0.0  # not answered: outside the variable's domain
        m_var, m_row = np.divmod(m_flat, n)
        m_idx = m_var * k + layout.keys_of(m_row)
        a1 = layout.sum_rows(wy)
        if layout.row_key is None:  # every row its own key: the row values themselves
            a0 = np.where(miss, 0.0, w[None, :])
            cnt = np.logical_not(miss).astype(float)
            nz = cnt if not zero_w else np.where(miss, 0.0, (w != 0)[None, :].astype(float))
        else:  # key totals less what the missing cells would have added
            a0 = layout.key_weight[None, :] - np.bincount(
                m_idx, weights=w[m_row], minlength=c * k
            ).reshape(c, k)
            cnt = layout.key_count[None, :] - np.bincount(m_idx, minlength=c * k).reshape(c, k)
            nz = cnt
            if zero_w:
                nz = layout.key_nonzero[None, :] - np.bincount(
                    m_idx, weights=w[m_row] != 0, minlength=c * k
                ).reshape(c, k)
        wyy_cells = None
        if deff:
            wyy = wy * yt
            np.copyto(wyy, 0.0, where=miss)
            wyy_cells = _group_sum(layout.row_cell, layout.n_cells, wyy)
            del wyy
        for res, gl in zip(out, layout.groups, strict=True):
            est, wsum, n_cell, ssw, var = _block_estimates(
                design, stages, gl, kind, a1, a0, cnt, nz, wyy_cells, yt, miss, replicate
            )
            res.estimate[start:stop] = est
            res.weight_sum[start:stop] = wsum
            res.n[start:stop] = np.rint(n_cell).astype(np.int64)
            res.ssw[start:stop] = ssw
            res.variance[start:stop] = var

    starts = list(range(0, v, chunk))
    if threads > 1 and len(starts) > 1:
        # numpy releases the GIL in the row passes: blocks of variables run side by side, each
        # writing its own rows of the results
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return out


def _block_estimates(
    design: SurveyDesign,
    stages: Sequence[Stage],
    gl: _GroupLayout,
    kind: str,
    a1: np.ndarray,
    a0: np.ndarray,
    cnt: np.ndarray,
    nz: np.ndarray,
    wyy_cells: np.ndarray | None,
    yt: np.ndarray,
    miss: np.ndarray,
    replicate: ReplicateWeights | None,
) -> tuple[np.ndarray, ...]:
    """Estimates of one block of variables (key totals ``a1 = sum w y``, ``a0 = sum w`` over
    the answered rows, ``cnt`` and ``nz`` answered rows (with non-zero weight)) in one grouping's
    levels: (c, L) estimate, weight sum, n, ssw, variance."""

    def take(a: np.ndarray) -> np.ndarray:
        return a if gl.keys is None else a[:, gl.keys]

    k1, k0 = take(a1), take(a0)
    n_lev = len(gl.grouping.levels)
    s1 = _group_sum(gl.key_level, n_lev, k1)
    wsum = _group_sum(gl.key_level, n_lev, k0)
    n_cell = _group_sum(gl.key_level, n_lev, take(nz))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(wsum != 0, s1 / wsum, np.nan)
    estimate = mean if kind == "mean" else np.where(n_cell > 0.5, s1, np.nan)
    mean0 = np.nan_to_num(mean)
    wsafe = np.where(wsum != 0, wsum, 1.0)
    ssw = np.full_like(s1, np.nan)
    if wyy_cells is not None:
        has = gl.cell_level >= 0
        s2 = _group_sum(gl.cell_level[has], n_lev, wyy_cells[:, has])
        ssw = np.maximum(s2 - mean0 * s1, 0.0)

    if replicate is not None:
        pr = gl.pairs[0]
        p1 = k1 if pr.index is None else _group_sum(pr.index, pr.size, k1)
        p0 = k0 if pr.index is None else _group_sum(pr.index, pr.size, k0)
        var = _replicate_block(replicate, stages[0], pr, p1, p0, n_lev, kind, estimate)
    elif design.is_calibrated:
        var = _calibrated_block(design, yt, miss, gl.grouping, kind, mean0, wsafe)
    else:
        var = np.zeros_like(s1)
        for stage, pr in zip(stages, gl.pairs, strict=True):
            p1 = k1 if pr.index is None else _group_sum(pr.index, pr.size, k1)
            if kind == "mean":
                p0 = k0 if pr.index is None else _group_sum(pr.index, pr.size, k0)
                if n_lev == 1:  # broadcast instead of gathering one level
                    t = (p1 - mean0 * p0) / wsafe
                else:
                    t = (p1 - mean0[:, pr.level] * p0) / wsafe[:, pr.level]
            else:
                t = p1
            present = None
            if stage.lonely.any() and design.lonely_psu in ("adjust", "average"):
                kc = take(cnt)
                pc = kc if pr.index is None else _group_sum(pr.index, pr.size, kc)
                present = _group_sum(pr.cell, stage.n_strata * n_lev, pc) > 0
                present = present.reshape(-1, stage.n_strata, n_lev)
            var += _pairs_variance(
                stage, pr.unit, pr.level, t, n_lev, present, design.lonely_psu, pr.cell, pr.count
            )
    return estimate, wsum, n_cell, ssw, var


def _calibrated_block(
    design: SurveyDesign,
    yt: np.ndarray,
    miss: np.ndarray,
    grouping: _Grouping,
    kind: str,
    mean0: np.ndarray,
    wsafe: np.ndarray,
) -> np.ndarray:
    """(c, L) variances of a calibrated design from per-row influence values, in sub-blocks."""
    c, n = yt.shape
    n_lev = len(grouping.levels)
    w = design.weights
    answered = ~miss
    y0 = np.where(answered, yt, 0.0)
    rows_of = [np.flatnonzero(grouping.codes == lev) for lev in range(n_lev)]
    out = np.empty((c, n_lev))
    step = max(1, BLOCK_CELLS // max(1, n * n_lev))
    for j0 in range(0, c, step):
        j1 = min(c, j0 + step)
        z = np.zeros((j1 - j0, n_lev, n))
        for lev, rows in enumerate(rows_of):
            wy = w[rows] * y0[j0:j1, rows]
            if kind == "mean":
                centred = wy - w[rows] * answered[j0:j1, rows] * mean0[j0:j1, lev, None]
                z[:, lev, rows] = centred / wsafe[j0:j1, lev, None]
            else:
                z[:, lev, rows] = wy
        out[j0:j1] = _variance_t(design, z.reshape(-1, n), None).reshape(j1 - j0, n_lev)
    return out


# ---------------------------------------------------------------------------------------------
# result tables


def _frame(
    design: SurveyDesign,
    variables: list[Hashable],
    cells: _Cells,
    kind: str,
    confidence: float,
) -> pd.DataFrame:
    n = cells.n
    var = cells.variance
    se = np.where(n >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
    # R's deff: variance / variance under simple random sampling without replacement of n from
    # N = sum of the weights: s^2 n/(n-1) (1 - n/N) / n (times N^2 for totals).
    wsum = cells.weight_sum
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = cells.ssw / wsum * n / (n - 1)
        vsrs = s2 * (1 - n / wsum) / n
        if kind == "total":
            vsrs = vsrs * wsum**2
        # weights summing to n or less (e.g. no weights): no SRS variance to compare (R: Inf/NA)
        deff = np.where((n >= 2) & (wsum > n), var / vsrs, np.nan)
    df = design.df
    cols = inference.t_interval(cells.estimate, se, df, confidence)
    v, levels = len(variables), len(cells.levels)
    return pd.DataFrame(
        {
            "variable": np.repeat(np.asarray(variables, dtype=object), levels),
            "domain": np.tile(np.asarray(cells.levels, dtype=object), v),
            "n": n.ravel(),
            "estimate": cells.estimate.ravel(),
            "se": se.ravel(),
            "ci_low": cols["ci_low"].ravel(),
            "ci_high": cols["ci_high"].ravel(),
            "df": np.full(v * levels, df, dtype=np.int64),
            "deff": deff.ravel(),
            "p_value": cols["p_value"].ravel(),
        }
    )


def _estimates(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: Sequence[pd.Series | None],
    kind: str,
    confidence: float,
    deff: bool,
    replicate: ReplicateWeights | None = None,
) -> list[pd.DataFrame]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    frame = _values_frame(design, values)
    groupings = [_grouping(design, d) for d in domains]
    variables = list(frame.columns)
    if frame.shape[1] == 0:
        cells = [
            _Cells(g.levels, *(np.zeros((0, len(g.levels))) for _ in range(5))) for g in groupings
        ]
    else:
        with one_blas_thread():
            cells = _compute(design, frame, groupings, kind, deff=deff, replicate=replicate)
    return [_frame(design, variables, c, kind, confidence) for c in cells]


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
        The sampling design (possibly calibrated).
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
        non-zero weight; ``df`` the design degrees of freedom (PSUs - strata); ``ci_*`` from the t
        distribution with ``df``; ``deff`` R's design effect (variance over the SRS-without-
        replacement variance of ``n`` from ``N = sum of weights``; NaN when N <= n, e.g. without
        weights); ``p_value`` two-sided for
        H0: mean = 0. ``n = 0``: estimate NaN; ``n = 1``: se (and everything from it) NaN.
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
    frame = values.to_frame() if isinstance(values, pd.Series) else values
    indicators, names = {}, []
    for col in frame.columns:
        s = frame[col]
        cats = s.cat.categories if isinstance(s.dtype, pd.CategoricalDtype) else s.dropna().unique()
        cats = list(cats) if isinstance(s.dtype, pd.CategoricalDtype) else sorted(cats, key=str)
        for cat in cats:
            key = f"{col}\x1f{cat}"
            indicators[key] = (s == cat).astype(float).where(s.notna())
            names.append((col, cat))
    out = means(design, pd.DataFrame(indicators, index=frame.index), domains, confidence, deff)
    split = dict(zip(indicators, names, strict=True))
    out.insert(1, "category", out["variable"].map(lambda k: split[k][1]))
    out["variable"] = out["variable"].map(lambda k: split[k][0])
    return out


def means_by(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    groups: Mapping[str, pd.Series | None],
    confidence: float = 0.95,
    deff: bool = True,
) -> pd.DataFrame:
    """:func:`means` for several domain variables at once, in one pass over the data.

    Parameters
    ----------
    design, values, confidence, deff
        As :func:`means`.
    groups
        Group name -> domain labels per row (``None``: all respondents), e.g.
        ``{"all": None, "segment": frame["segment"], "region": frame["region"]}``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group`` and those of :func:`means`: for each group in order, the rows
        ``means(design, values, groups[group])`` would give (identical numbers).
    """
    names = list(groups)
    tables = _estimates(design, values, [groups[g] for g in names], "mean", confidence, deff)
    if not tables:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    for name, table in zip(names, tables, strict=True):
        table.insert(0, "group", name)
    return pd.concat(tables, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# contrasts and tests (per-row influence values of two domains)


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
    with one_blas_thread():
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
    cols = inference.t_interval(est, se, df, confidence)
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
    cols = inference.t_interval(np.array([est]), np.array([se]), df, confidence)
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


@dataclass(frozen=True, eq=False)
class ReplicateWeights:
    """Replicate weights of a design, as R's ``as.svrepdesign(design, type = ...)`` makes them.

    Replicate ``r`` multiplies the weight of every row of PSU ``u`` by a factor ``F[u, r]``
    (:meth:`factors`). Jackknife factors are kept by their structure: replicate ``r`` deletes PSU
    ``deleted[r]`` (``-1``: its whole stratum, R's lonely-PSU ``adjust`` replicate), multiplies the
    other PSUs of stratum ``stratum[r]`` by ``inside[r]`` and the PSUs of every other stratum by
    ``outside[r]``. Bootstrap factors are the matrix ``bootstrap`` (n_psu x R).

    The variance of an estimate is R's ``svrVar``:
    ``scale * sum_r rscales[r] * (theta_r - centre)^2``, ``centre`` the mean of the replicate
    estimates (``mse = False``, R's default) or the full-sample estimate (``mse = True``).
    Replicates whose estimate is undefined (a domain with no weight left in it) are left out of
    that estimate's variance, as R's ``na.action`` does.
    """

    type: str
    scale: float
    rscales: np.ndarray
    psu_stratum: np.ndarray
    stratum: np.ndarray | None = None
    deleted: np.ndarray | None = None
    inside: np.ndarray | None = None
    outside: np.ndarray | None = None
    bootstrap: np.ndarray | None = None
    mse: bool = False
    seed: int | None = None

    @property
    def n_replicates(self) -> int:
        return int(self.rscales.shape[0])

    @property
    def n_psu(self) -> int:
        return int(self.psu_stratum.shape[0])

    def factors(self) -> np.ndarray:
        """(n_psu, R) replicate factor of every PSU (dense: for inspection and small designs)."""
        if self.bootstrap is not None:
            return self.bootstrap
        if self.stratum is None or self.deleted is None or self.inside is None:
            raise DesignError("replicate weights without factors")
        same = self.psu_stratum[:, None] == self.stratum[None, :]
        f = np.where(same, self.inside[None, :], self.outside[None, :])
        has = np.flatnonzero(self.deleted >= 0)
        f[self.deleted[has], has] = 0.0
        return f

    def weights(self, design: SurveyDesign) -> np.ndarray:
        """(n, R) replicate weights of the design's rows: weight x factor of the row's PSU."""
        return design.weights[:, None] * self.factors()[design.psu]


def replicate_weights(
    design: SurveyDesign,
    type: str = "auto",
    replicates: int = 50,
    seed: int | None = 0,
    mse: bool = False,
) -> ReplicateWeights:
    """Replicate weights of ``design`` (R's ``as.svrepdesign``; survey 4.x conventions).

    Types
    -----
    ``JK1``
        Unstratified delete-one-PSU jackknife: replicate ``r`` drops PSU ``r`` and multiplies the
        others by ``n / (n - 1)``; ``scale = (1 - f) (n - 1) / n`` (``f`` the first-stage sampling
        fraction). A stratified design is an error, as in R.
    ``JKn``
        Stratified jackknife: one replicate per PSU, deleting it and multiplying the other PSUs of
        its stratum by ``n_h / (n_h - 1)``; ``rscales = (1 - f_h) (n_h - 1) / n_h``, ``scale = 1``.
        Strata sampled completely (``f_h = 1``) get no replicates. A stratum with a single PSU
        follows the design's ``lonely_psu``: ``remove`` and ``average`` give it no replicate
        (``average`` then multiplies ``scale`` by PSUs / replicates, as R does), ``adjust`` gives
        it one replicate that deletes the stratum and multiplies every other row by
        ``H / (H - 1)`` (``rscale (H - 1) / H``, ``H`` strata). Unlike R, an unstratified design is
        accepted (it is the JK1 jackknife).
    ``bootstrap``
        R's ``bootweights`` (Canty & Davison): in each stratum, ``n_h`` PSUs drawn with
        replacement (with an fpc: without replacement from ``N_h`` copies, R's pseudo-population);
        the factor is how often the PSU was drawn; ``scale = nbar / ((nbar - 1) (R - 1))`` with
        ``nbar`` the harmonic mean of the ``n_h``.
    ``subbootstrap``
        The Rao-Wu (n - 1) bootstrap (R's ``subbootweights``): ``n_h - 1`` PSUs drawn with
        replacement in each stratum, factor ``count * n_h / (n_h - 1)``; ``scale = 1 / (R - 1)``.
        The fpc is not used (as R); every stratum needs two PSUs.
    ``auto``
        ``JK1`` for an unstratified design, ``JKn`` otherwise (R's default).

    Only the first sampling stage is used; finite population corrections of later stages are
    dropped with a warning (as R). Replicate draws come from ``numpy.random.default_rng(seed)``:
    the same seed gives the same replicates; they are not R's random numbers.

    Parameters
    ----------
    design
        An uncalibrated design.
    type
        ``auto``, ``JK1``, ``JKn``, ``bootstrap`` or ``subbootstrap``.
    replicates
        Bootstrap replicates (R's default 50); ignored by the jackknives (one per PSU).
    seed
        Seed of the bootstrap draws.
    mse
        Centre the variance at the full-sample estimate instead of the replicates' mean.

    Raises
    ------
    DesignError
        Unknown type; a calibrated design; JK1 on a stratified design; fewer than two PSUs; the
        (n - 1) bootstrap with a single-PSU stratum; every stratum sampled completely (JKn).
    """
    if type not in REPLICATE_TYPES:
        raise DesignError(
            f"replicate type {type!r} is not one of {', '.join(REPLICATE_TYPES)} (BRR and Fay "
            "are not implemented)"
        )
    if design.is_calibrated:
        raise DesignError(
            "replicate weights of a calibrated design would need every replicate recalibrated, "
            "which is not implemented; use the linearisation estimators (means, totals), whose "
            "variance uses the calibration residuals"
        )
    stage = design.stages[0]
    n_strata = stage.n_strata
    if type == "auto":
        type = "JK1" if n_strata == 1 else "JKn"
    if any(np.any(f > 0) for f in design.fpc[1:]):
        warnings.warn(
            "replicate weights use the first sampling stage only: the finite population "
            "corrections of later stages are dropped (as R's as.svrepdesign)",
            UserWarning,
            stacklevel=2,
        )
    if design.n_psu < 2:
        raise DesignError(f"{type} replicate weights need at least two PSUs")
    psu_stratum = stage.unit_stratum
    n_h = stage.stratum_size
    keep = 1.0 - stage.stratum_fraction
    if type in ("JK1", "JKn"):
        return _jackknife(design, stage, type, mse)
    if replicates < 2:
        raise DesignError(f"the bootstrap needs at least two replicates, got {replicates}")
    rng = np.random.default_rng(seed)
    factors = np.empty((design.n_psu, replicates))
    for h in range(n_strata):
        psus = np.flatnonzero(psu_stratum == h)
        m = psus.size
        if type == "subbootstrap":
            if m < 2:
                raise DesignError(
                    f"stratum {stage.stratum_label[h]!r} has a single PSU: the (n - 1) bootstrap "
                    "needs two or more PSUs in every stratum; use type 'bootstrap' or merge strata"
                )
            counts = rng.multinomial(m - 1, np.full(m, 1.0 / m), size=replicates)
            factors[psus] = counts.T * (m / (m - 1))
        elif keep[h] < 1.0:  # R: n_h draws without replacement from N_h copies of the PSUs
            pop = int(np.floor(m / stage.stratum_fraction[h] + 1e-9))
            colors = np.full(m, pop // m, dtype=np.int64)
            colors[rng.permutation(m)[: pop % m]] += 1
            counts = rng.multivariate_hypergeometric(colors, m, size=replicates)
            factors[psus] = counts.T
        else:
            counts = rng.multinomial(m, np.full(m, 1.0 / m), size=replicates)
            factors[psus] = counts.T
    if type == "bootstrap":
        nbar = 1.0 / np.mean(1.0 / n_h)
        if nbar <= 1:
            raise DesignError("the bootstrap needs strata with more than one PSU")
        scale = nbar / ((nbar - 1) * (replicates - 1))
    else:
        scale = 1.0 / (replicates - 1)
    return ReplicateWeights(
        type=type,
        scale=float(scale),
        rscales=np.ones(replicates),
        psu_stratum=psu_stratum,
        bootstrap=factors,
        mse=mse,
        seed=seed,
    )


def _jackknife(design: SurveyDesign, stage: Stage, type: str, mse: bool) -> ReplicateWeights:
    n_strata = stage.n_strata
    n_h = stage.stratum_size
    keep = 1.0 - stage.stratum_fraction
    psu_stratum = stage.unit_stratum
    if type == "JK1":
        if n_strata > 1:
            raise DesignError(
                "JK1 replicate weights need an unstratified design (R refuses it too); use JKn"
            )
        n = int(n_h[0])
        reps = n if keep[0] >= CENSUS_TOLERANCE else 0  # a census: no replicates, variance 0
        return ReplicateWeights(
            type="JK1",
            scale=float(keep[0] * (n - 1) / n),
            rscales=np.ones(reps),
            psu_stratum=psu_stratum,
            stratum=np.zeros(reps, dtype=np.intp),
            deleted=np.arange(reps),
            inside=np.full(reps, n / (n - 1)),
            outside=np.ones(reps),
            mse=mse,
        )
    rows: list[tuple[int, int, float, float, float]] = []  # stratum, deleted, in, out, rscale
    for h in range(n_strata):
        if keep[h] < CENSUS_TOLERANCE:
            continue  # sampled completely: no replicates (R's survey.drop.replicates)
        psus = np.flatnonzero(psu_stratum == h)
        m = psus.size
        if m == 1:
            policy = design.lonely_psu
            if policy == "fail":
                raise DesignError(
                    f"stratum {stage.stratum_label[h]!r} has only one PSU (lonely PSU); set "
                    "design.lonely_psu to adjust, average or remove"
                )
            if policy == "adjust":
                if n_strata < 2:
                    raise DesignError("a single stratum with a single PSU has no replicates")
                ratio = n_strata / (n_strata - 1)
                rows.append((h, -1, 0.0, ratio, 1.0 / ratio))
            continue  # remove, average: no replicate
        for u in psus:
            rows.append((h, int(u), m / (m - 1), 1.0, float(keep[h] * (m - 1) / m)))
    if not rows:
        raise DesignError("every stratum was sampled completely: the sample is the population")
    arr = np.array(rows, dtype=float)
    scale = 1.0
    if design.lonely_psu == "average" and len(rows) < design.n_psu:
        scale = design.n_psu / len(rows)  # R: length(unique PSUs) / replicates
    return ReplicateWeights(
        type="JKn",
        scale=scale,
        rscales=arr[:, 4],
        psu_stratum=psu_stratum,
        stratum=arr[:, 0].astype(np.intp),
        deleted=arr[:, 1].astype(np.intp),
        inside=arr[:, 2],
        outside=arr[:, 3],
        mse=mse,
    )


def _replicate_block(
    rep: ReplicateWeights,
    stage: Stage,
    pr: _Pairs,
    p1: np.ndarray,
    p0: np.ndarray,
    n_levels: int,
    kind: str,
    estimate: np.ndarray,
) -> np.ndarray:
    """(c, L) replicate variances from the PSU x level totals ``p1 = sum w y``, ``p0 = sum w``."""
    c = p1.shape[0]
    n_rep = rep.n_replicates
    if n_rep == 0:
        return np.where(np.isfinite(estimate), 0.0, np.nan)
    if rep.bootstrap is not None:
        # one sparse product: (variables x levels, pairs) @ (pairs, replicates)
        f_pairs = rep.bootstrap[pr.unit]
        rows = (np.arange(c)[:, None] * n_levels + pr.level[None, :]).ravel()
        cols = np.tile(np.arange(pr.size), c)
        shape = (c * n_levels, pr.size)
        num = (sparse.csr_array((p1.ravel(), (rows, cols)), shape=shape) @ f_pairs).reshape(
            c, n_levels, n_rep
        )
        den = (sparse.csr_array((p0.ravel(), (rows, cols)), shape=shape) @ f_pairs).reshape(
            c, n_levels, n_rep
        )
    else:
        num = _jackknife_totals(rep, stage, pr, p1, n_levels)
        den = _jackknife_totals(rep, stage, pr, p0, n_levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = num / den if kind == "mean" else np.where(den != 0, num, np.nan)
    return _replicate_variance(rep, theta, estimate)


def _jackknife_totals(
    rep: ReplicateWeights, stage: Stage, pr: _Pairs, p: np.ndarray, n_levels: int
) -> np.ndarray:
    """(c, L, R) replicate totals in closed form: ``outside * (total - stratum total) +
    inside * (stratum total - deleted PSU's total)``."""
    c = p.shape[0]
    n_strata, n_units = stage.n_strata, stage.n_units
    total = _group_sum(pr.level, n_levels, p)  # (c, L)
    g = stage.unit_stratum[pr.unit] * n_levels + pr.level
    by_stratum = _group_sum(g, n_strata * n_levels, p).reshape(c, n_strata, n_levels)
    by_unit = np.zeros((c, n_units * n_levels))
    by_unit[:, pr.unit * n_levels + pr.level] = p
    by_unit = by_unit.reshape(c, n_units, n_levels)
    h, d = rep.stratum, rep.deleted
    deleted = by_unit[:, np.maximum(d, 0), :] * (d >= 0)[None, :, None]
    stratum_total = by_stratum[:, h, :]  # (c, R, L)
    out = rep.outside[None, :, None] * (total[:, None, :] - stratum_total)
    out += rep.inside[None, :, None] * (stratum_total - deleted)
    return out.transpose(0, 2, 1)


def _replicate_variance(
    rep: ReplicateWeights, theta: np.ndarray, estimate: np.ndarray
) -> np.ndarray:
    """R's ``svrVar`` for each (variable, level): ``theta`` (..., R), ``estimate`` (...)."""
    ok = np.isfinite(theta)
    rs = rep.rscales
    if rep.mse:
        centre = estimate
    else:
        use = ok & (rs > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            centre = np.where(use, theta, 0.0).sum(axis=-1) / use.sum(axis=-1)
    dev = np.where(ok, theta - centre[..., None], 0.0)
    var = rep.scale * (dev * dev * rs).sum(axis=-1)
    return np.where(ok.any(axis=-1), var, np.nan)


def replicate_means(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    type: str = "auto",
    confidence: float = 0.95,
    mse: bool | None = None,
    *,
    replicates: int = 50,
    seed: int | None = 0,
    weights: ReplicateWeights | None = None,
) -> pd.DataFrame:
    """Means with replicate-weight SEs (R's ``svymean`` / ``svyby`` on ``as.svrepdesign``).

    Each replicate's estimate is the weighted mean with the replicate weights, inside the same
    domains as :func:`means`; all variables x domains x replicates come from one matrix product
    of the PSU x domain totals with the replicate factors.

    Parameters
    ----------
    design
        An uncalibrated design.
    values, domains, confidence
        As :func:`means`.
    type, replicates, seed
        Which replicate weights to make (:func:`replicate_weights`; ``auto``: JK1 unstratified,
        JKn stratified, R's default); ignored when ``weights`` is given.
    mse
        Centre the replicates at the full-sample estimate (default: the weights' setting, False).
    weights
        Replicate weights made earlier with :func:`replicate_weights` for this design.

    Returns
    -------
    pandas.DataFrame
        Columns as :func:`means`. ``df`` is the design degrees of freedom (PSUs - strata), as for
        the linearisation estimator (R's replicate designs use the rank of the replicate weights
        minus 1 instead); ``deff`` compares with simple random sampling as :func:`means`.
    """
    rep = _replicates_for(design, type, replicates, seed, mse, weights)
    return _estimates(design, values, [domains], "mean", confidence, True, rep)[0]


def replicate_totals(
    design: SurveyDesign,
    values: pd.DataFrame | pd.Series,
    domains: pd.Series | None = None,
    type: str = "auto",
    confidence: float = 0.95,
    mse: bool | None = None,
    *,
    replicates: int = 50,
    seed: int | None = 0,
    weights: ReplicateWeights | None = None,
) -> pd.DataFrame:
    """Totals with replicate-weight SEs (R's ``svytotal`` on ``as.svrepdesign``); parameters and
    columns as :func:`replicate_means`."""
    rep = _replicates_for(design, type, replicates, seed, mse, weights)
    return _estimates(design, values, [domains], "total", confidence, True, rep)[0]


def _replicates_for(
    design: SurveyDesign,
    type: str,
    replicates: int,
    seed: int | None,
    mse: bool | None,
    weights: ReplicateWeights | None,
) -> ReplicateWeights:
    if weights is None:
        return replicate_weights(design, type, replicates, seed, bool(mse))
    if design.is_calibrated:
        raise DesignError("replicate weights of a calibrated design are not implemented")
    if weights.n_psu != design.n_psu:
        raise DesignError(
            f"the replicate weights are for {weights.n_psu} PSUs but the design has "
            f"{design.n_psu}; make them with replicate_weights(design)"
        )
    if mse is not None and mse != weights.mse:
        return dataclasses.replace(weights, mse=mse)
    return weights
