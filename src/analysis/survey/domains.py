"""Domain sums: one pass over the rows into per-(unit, domain cell) totals, for many variables and
many domain variables at once; then every estimate and its variance from those totals.

The variance of a mean or total only needs, for each sampling unit and domain, a few sums of the
unit's rows (``sum w y``, ``sum w`` over the respondents who answered). So the rows are summed once
per block of variables into those sufficient statistics (``numpy.bincount`` over a (unit, cell) key,
where a cell is a combination of the domain variables' levels that occurs), and everything after
that works on arrays the size of the number of units, not of respondents: a gap table of 30 items x
9 domains at a million respondents never builds a respondents x (items x domains) matrix. Blocks of
variables are sized to bound memory and run on a thread pool (numpy releases the GIL in the row
passes).

A :class:`Request` asks, for one domain variable, either the estimate of every level or a contrast
of domains: ``pair`` (level 0 - level 1) or ``rest`` (each level - the rows with any other level,
"the rest"). The unit totals of the estimates' influence values, their calibration residuals and
their variance all come from :mod:`analysis.survey.variance` (one path for means, totals and
contrasts). A design with replicate weights gets replicate variances instead: each replicate's
level sums from the same (PSU, level) totals, or from the rows for recalibrated replicates
(:mod:`analysis.survey.replicates`), and its estimates of the levels and contrasts from them.
Domains (segment levels, and "answered this question") are estimated inside the full design: rows
outside the domain contribute zero to their unit's total and stay in the design (R's ``svyby`` and
``svymean(..., na.rm = TRUE)``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from analysis.errors import DesignError
from analysis.survey import replicates as rep_mod
from analysis.survey import small_sample, variance
from analysis.survey.design import ReplicateWeights, Stage, SurveyDesign, svr_variance
from analysis.survey.variance import Pairs, group_sum

#: The domain label of estimates over all respondents (``domains=None``).
ALL = "all"
#: Cells of one block of per-row work (variables x rows); bounds the memory of an estimate.
BLOCK_CELLS = 1 << 25
#: Threads for blocks of variables (numpy releases the GIL in the per-row passes), used when the
#: data have at least PARALLEL_CELLS values (below that, threads cost more than they save).
THREADS = max(1, min(4, os.cpu_count() or 1))
PARALLEL_CELLS = 1 << 20


# ---------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True, eq=False)
class Grouping:
    """A domain variable: its levels and each row's level code (-1: in none of them)."""

    levels: list[Any]
    codes: np.ndarray


def grouping(design: SurveyDesign, domains: pd.Series | None) -> Grouping:
    """Domain levels and codes. Categorical: every category, in order; otherwise sorted labels."""
    if domains is None:
        return Grouping([ALL], np.zeros(design.n, dtype=np.intp))
    if len(domains) != design.n:
        raise ValueError(
            f"domains have {len(domains)} rows but the design has {design.n}; pass a column of "
            "the frame the design was built from"
        )
    if isinstance(domains.dtype, pd.CategoricalDtype):
        levels = list(domains.cat.categories)
        codes = np.asarray(domains.cat.codes.to_numpy(), dtype=np.intp)
        return Grouping(levels, codes)
    codes, uniques = pd.factorize(domains, sort=False)
    try:
        order = sorted(range(len(uniques)), key=lambda i: uniques[i])
    except TypeError:  # labels of mixed types: first appearance
        order = list(range(len(uniques)))
    levels = [uniques[i] for i in order]
    remap = np.empty(len(uniques), dtype=np.intp)
    remap[order] = np.arange(len(uniques))
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.intp)
    return Grouping(levels, codes)


def values_frame(design: SurveyDesign, values: pd.DataFrame | pd.Series) -> pd.DataFrame:
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


@dataclass(frozen=True, eq=False)
class Request:
    """What to estimate for one domain variable: every level (``contrast=None``), level 0 - level
    1 (``pair``), or each level - the rest of the rows with a level (``rest``)."""

    grouping: Grouping
    contrast: str | None = None

    @property
    def n_columns(self) -> int:
        return 1 if self.contrast == "pair" else len(self.grouping.levels)


@dataclass(frozen=True, eq=False)
class Cells:
    """Results of one request: arrays (variables, columns). A column is a level, or a contrast
    (``estimate``, ``weight_sum``, ``n`` of its first domain, ``*_b`` of the second; ``variance``
    of the difference)."""

    levels: list[Any]
    estimate: np.ndarray
    weight_sum: np.ndarray
    n: np.ndarray
    ssw: np.ndarray  # sum of w (y - mean)^2 in the cell (NaN unless asked for)
    variance: np.ndarray
    estimate_b: np.ndarray | None = None
    n_b: np.ndarray | None = None

    @classmethod
    def empty(cls, request: Request, v: int) -> Cells:
        k = request.n_columns
        contrast = request.contrast is not None
        return cls(
            levels=list(request.grouping.levels),
            estimate=np.full((v, k), np.nan),
            weight_sum=np.zeros((v, k)),
            n=np.zeros((v, k), dtype=np.int64),
            ssw=np.full((v, k), np.nan),
            variance=np.full((v, k), np.nan),
            estimate_b=np.full((v, k), np.nan) if contrast else None,
            n_b=np.zeros((v, k), dtype=np.int64) if contrast else None,
        )


# ---------------------------------------------------------------------------------------------
# the layout of the sufficient statistics


@dataclass(frozen=True, eq=False)
class _GroupLayout:
    grouping: Grouping
    keys: np.ndarray | None  # the keys with a level (None: all keys)
    key_level: np.ndarray  # (Kg,) level of those keys
    cell_level: np.ndarray  # (C,) level of each cell (-1: none)
    pairs: tuple[Pairs, ...]  # per stage: the (unit, level) pairs with rows
    index: tuple[np.ndarray | None, ...]  # per stage: pair of each key (None: key i = pair i)


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
    key_index: tuple[np.ndarray, np.ndarray]  # (K,) finest unit and cell of each key

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        return rows if self.row_key is None else self.row_key[rows]

    def sum_rows(self, values_t: np.ndarray) -> np.ndarray:
        """(c, n) per-row values -> (c, K) key totals."""
        return values_t if self.row_key is None else group_sum(self.row_key, self.n_keys, values_t)


def _cells(groupings: Sequence[Grouping], n: int) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Each row's cell (an occurring combination of levels), the number of cells, and each
    grouping's level of each cell."""
    cell = np.zeros(n, dtype=np.intp)
    n_cells = 1
    cell_levels: list[np.ndarray] = []
    for g in groupings:
        radix = len(g.levels) + 1
        cell, uniq = variance.compress(cell * radix + (g.codes + 1), n_cells * radix)
        previous = uniq // radix
        cell_levels = [cl[previous] for cl in cell_levels] + [(uniq % radix - 1).astype(np.intp)]
        n_cells = int(uniq.size)
    return cell, n_cells, cell_levels


def _layout(
    design: SurveyDesign, groupings: Sequence[Grouping], stages: Sequence[Stage]
) -> _Layout:
    n = design.n
    w = design.weights
    cell, n_cells, cell_levels = _cells(groupings, n)
    finest = stages[-1].unit
    n_finest = stages[-1].n_units
    if n_finest == n:  # every row is its own unit: the rows are the keys
        row_key, n_keys = None, n
        key_unit, key_cell = finest, cell
        key_weight, key_count = w.astype(float), np.ones(n)
        key_nonzero = (w != 0).astype(float)
    else:
        row_key, uniq = variance.compress(
            finest.astype(np.int64) * n_cells + cell, n_finest * n_cells
        )
        n_keys = int(uniq.size)
        key_unit, key_cell = (uniq // n_cells).astype(np.intp), (uniq % n_cells).astype(np.intp)
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
        stage_pairs, stage_index = [], []
        for stage, umap in zip(stages, unit_maps, strict=True):
            unit = umap if keys is None else umap[keys]
            index, uniq = variance.compress(
                unit.astype(np.int64) * n_lev + key_level, stage.n_units * n_lev
            )
            if uniq.size == key_level.size:  # one key per pair: the keys are the pairs
                stage_pairs.append(variance.pairs(stage, unit, key_level, n_lev))
                stage_index.append(None)
            else:
                stage_pairs.append(variance.pairs(stage, uniq // n_lev, uniq % n_lev, n_lev))
                stage_index.append(index)
        groups.append(_GroupLayout(g, keys, key_level, cl, tuple(stage_pairs), tuple(stage_index)))
    return _Layout(
        row_key=row_key,
        n_keys=n_keys,
        key_weight=key_weight,
        key_count=key_count,
        key_nonzero=key_nonzero,
        row_cell=cell,
        n_cells=n_cells,
        groups=tuple(groups),
        key_index=(key_unit, key_cell),
    )


# ---------------------------------------------------------------------------------------------
# one block of variables: key totals


@dataclass(frozen=True, eq=False)
class _Context:
    """What every block of one computation shares."""

    design: SurveyDesign
    stages: tuple[Stage, ...]
    layout: _Layout
    requests: tuple[Request, ...]
    kind: str
    deff: bool
    replicate: ReplicateWeights | None
    basis: variance.CalibrationBasis | None
    basis_cells: sparse.csr_array | None  # (n, C * r): V of each row in its cell's columns
    # small-sample correction (one variance stage): its per-PSU matrices, and (n, K * r) V of
    # each row in its key's (PSU, cell) columns (basis_cells is then None)
    basis_keys: sparse.csr_array | None = None
    correction: small_sample.Correction | None = None
    # calibrated, no small-sample correction: per request and stage, the units without rows in
    # each level (their residuals enter the level variances through their moments)
    absent: tuple[tuple[variance.Absent, ...], ...] | None = None
    # calibrated, no small-sample correction, with contrasts: per stage, the moments of the
    # units' G (the contrasts' variances from the pairs' sums, variance.linear_stage_variance)
    scatter: tuple[variance.UnitScatter, ...] | None = None
    # per request (contrasts, no small-sample correction) and stage: the pairs' sparse maps
    pair_maps: tuple[tuple[variance.PairSums, ...], ...] | None = None


@dataclass(frozen=True, eq=False)
class _Sums:
    """Totals of one block of ``c`` variables over the answered rows: per key (c, K) ``a1 = sum w
    y``, ``a0 = sum w``, ``cnt`` rows, ``nz`` rows with a non-zero weight; per cell (c, C)
    ``sum w y^2`` (for the design effect) and (c, C, r) the calibration sums ``sum V y``,
    ``sum V``."""

    a1: np.ndarray
    a0: np.ndarray
    cnt: np.ndarray
    nz: np.ndarray
    wyy: np.ndarray | None
    vy: np.ndarray | None
    v0: np.ndarray | None
    kvy: np.ndarray | None = None  # (c, K, r) per key (small-sample corrections)
    kv0: np.ndarray | None = None


def _block_sums(ctx: _Context, yt: np.ndarray) -> _Sums:
    """One pass over the rows of a block of variables ``yt`` (c, n; NaN: not answered)."""
    layout, w = ctx.layout, ctx.design.weights
    c, n = yt.shape
    k = layout.n_keys
    wy = yt * w[None, :]
    miss = np.isfinite(yt)
    np.logical_not(miss, out=miss)
    m_flat = np.flatnonzero(miss)
    wy.reshape(-1)[m_flat] = 0.0  # not answered: outside the variable's domain
    m_var, m_row = np.divmod(m_flat, n)
    m_idx = m_var * k + layout.keys_of(m_row)
    a1 = layout.sum_rows(wy)
    zero_w = bool((w == 0).any())
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
    wyy = None
    if ctx.deff:
        prod = wy * yt
        np.copyto(prod, 0.0, where=miss)
        wyy = group_sum(layout.row_cell, layout.n_cells, prod)
        del prod
    vy = v0 = kvy = kv0 = None
    if ctx.basis is not None and ctx.basis_cells is not None:
        vy, v0 = _basis_sums(ctx, ctx.basis_cells, layout.n_cells, yt, miss)
    elif ctx.basis is not None and ctx.basis_keys is not None:  # per key, then per cell
        kvy, kv0 = _basis_sums(ctx, ctx.basis_keys, k, yt, miss)
        vy, v0 = (
            np.moveaxis(
                group_sum(layout.key_index[1], layout.n_cells, np.moveaxis(a, 1, -1)), -1, 1
            )
            for a in (kvy, kv0)
        )
    return _Sums(a1, a0, cnt, nz, wyy, vy, v0, kvy, kv0)


def _basis_sums(
    ctx: _Context, by_group: sparse.csr_array, n_groups: int, yt: np.ndarray, miss: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(c, groups, r) ``sum V y`` and ``sum V`` over each group's answered rows (a group: a cell,
    or a key); ``by_group`` (n, groups * r) holds row ``i``'s ``V`` in its group's columns;
    ``miss`` the (c, n) mask of unanswered values."""
    if ctx.basis is None:
        raise DesignError("calibration sums need a calibrated design")
    c, r = yt.shape[0], ctx.basis.rank
    # one sparse product for both: the answered values and the answered indicator
    both = np.empty((2 * c, yt.shape[1]))
    np.copyto(both[:c], yt)
    both[:c][miss] = 0.0
    np.logical_not(miss, out=both[c:], casting="unsafe")
    out = (both @ by_group).reshape(2, c, n_groups, r)
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------
# one block of variables: the estimates of one request


@dataclass(frozen=True, eq=False)
class _Domain:
    """Sums of a block's variables over some domains (one per column): level or rest."""

    s1: np.ndarray  # (c, K) sum w y
    wsum: np.ndarray  # (c, K) sum w
    n: np.ndarray  # (c, K) answered rows with a non-zero weight
    vy: np.ndarray | None  # (c, K, r)
    v0: np.ndarray | None
    # per PSU (small-sample corrections): (c, K, G, r) sum V y, sum V over the PSU's rows
    uvy: np.ndarray | None = None
    uv0: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.wsum != 0, self.s1 / self.wsum, np.nan)

    def estimate(self, kind: str) -> np.ndarray:
        return self.mean if kind == "mean" else np.where(self.n > 0.5, self.s1, np.nan)

    def _parts(self) -> tuple[np.ndarray | None, ...]:
        return (self.s1, self.wsum, self.n, self.vy, self.v0, self.uvy, self.uv0)

    def minus(self, other: _Domain) -> _Domain:
        """The rows of ``self`` not in ``other`` (``other`` a part of ``self``)."""
        return _Domain(
            *(
                None if a is None or o is None else a - o
                for a, o in zip(self._parts(), other._parts(), strict=True)
            )
        )

    def column(self, j: int) -> _Domain:
        pick = slice(j, j + 1)
        return _Domain(*(None if a is None else a[:, pick] for a in self._parts()))

    def total(self) -> _Domain:
        """All the columns together, as one domain."""
        return _Domain(
            *(None if a is None else a.sum(axis=1, keepdims=True) for a in self._parts())
        )

    def influence(self, kind: str, p1: np.ndarray, p0: np.ndarray) -> np.ndarray:
        """Unit totals (c, U, K) of the influence values from dense unit sums ``p1``, ``p0``."""
        mean = np.nan_to_num(self.mean)[:, None, :]
        wsafe = np.where(self.wsum != 0, self.wsum, 1.0)[:, None, :]
        return variance.influence(kind, p1, p0, mean, wsafe)

    def basis_coefficients(self, kind: str, basis: variance.CalibrationBasis) -> np.ndarray:
        """``b`` (c, K, r) of the calibration residuals of the domains' influence values."""
        if self.vy is None or self.v0 is None:
            raise DesignError("calibration sums were not formed for this design")
        mean = np.nan_to_num(self.mean)[..., None]
        wsafe = np.where(self.wsum != 0, self.wsum, 1.0)[..., None]
        return basis.coefficients(variance.influence(kind, self.vy, self.v0, mean, wsafe))

    def psu_basis(self, kind: str) -> np.ndarray:
        """(c, G, K, r) ``Q_c'u_c`` per PSU of the domains' influence values (``u = z / wq``)."""
        if self.uvy is None or self.uv0 is None:
            raise DesignError("per-PSU calibration sums were not formed for this design")
        mean = np.nan_to_num(self.mean)[..., None, None]
        wsafe = np.where(self.wsum != 0, self.wsum, 1.0)[..., None, None]
        qu = variance.influence(kind, self.uvy, self.uv0, mean, wsafe)
        return qu.transpose(0, 2, 1, 3)


def _take(gl: _GroupLayout, a: np.ndarray) -> np.ndarray:
    return a if gl.keys is None else a[:, gl.keys]


def _to_pairs(gl: _GroupLayout, stage_index: int, a: np.ndarray) -> np.ndarray:
    """(c, Kg) key totals of the grouping -> (c, P) totals of the stage's (unit, level) pairs."""
    index, pr = gl.index[stage_index], gl.pairs[stage_index]
    return a if index is None else group_sum(index, pr.size, a)


def _dense(pr: Pairs, n_units: int, a: np.ndarray) -> np.ndarray:
    """(c, P) pair totals -> (c, U, L) unit x level totals."""
    out = np.zeros((a.shape[0], n_units * pr.n_columns))
    out[:, pr.unit * pr.n_columns + pr.column] = a
    return out.reshape(a.shape[0], n_units, pr.n_columns)


def _by_psu_level(ctx: _Context, gl: _GroupLayout, a: np.ndarray | None) -> np.ndarray | None:
    """(c, K, r) key sums -> (c, L, G, r) sums per level and PSU (None stays None)."""
    if a is None:
        return None
    n_lev, n_psu = len(gl.grouping.levels), ctx.stages[0].n_units
    unit = ctx.layout.key_index[0] if gl.keys is None else ctx.layout.key_index[0][gl.keys]
    taken = a if gl.keys is None else a[:, gl.keys]
    out = group_sum(unit * n_lev + gl.key_level, n_psu * n_lev, np.moveaxis(taken, 1, -1))
    return out.reshape(a.shape[0], a.shape[2], n_psu, n_lev).transpose(0, 3, 2, 1)


def _request_block(
    ctx: _Context, gl: _GroupLayout, request: Request, sums: _Sums, yt: np.ndarray
) -> dict:
    """Estimates and variances of one block of variables ``yt`` (c, n) for one request: arrays
    (c, columns)."""
    n_lev = len(gl.grouping.levels)
    k1, k0, kn = _take(gl, sums.a1), _take(gl, sums.a0), _take(gl, sums.nz)

    def by_level(a: np.ndarray | None) -> np.ndarray | None:  # (c, C, r) cells -> (c, L, r)
        if a is None:
            return None
        has = gl.cell_level >= 0
        out = group_sum(gl.cell_level[has], n_lev, np.moveaxis(a[:, has], 1, -1))
        return np.moveaxis(out, -1, 1)

    levels = _Domain(
        s1=group_sum(gl.key_level, n_lev, k1),
        wsum=group_sum(gl.key_level, n_lev, k0),
        n=group_sum(gl.key_level, n_lev, kn),
        vy=by_level(sums.vy),
        v0=by_level(sums.v0),
        uvy=_by_psu_level(ctx, gl, sums.kvy),
        uv0=_by_psu_level(ctx, gl, sums.kv0),
    )
    if request.contrast is not None:
        return _contrast_block(ctx, gl, request, sums, levels, yt)
    kind = ctx.kind
    estimate = levels.estimate(kind)
    out = {"estimate": estimate, "weight_sum": levels.wsum, "n": levels.n}
    if sums.wyy is not None:
        has = gl.cell_level >= 0
        s2 = group_sum(gl.cell_level[has], n_lev, sums.wyy[:, has])
        out["ssw"] = np.maximum(s2 - np.nan_to_num(levels.mean) * levels.s1, 0.0)
    if ctx.replicate is not None:
        out["variance"] = _replicate_variance(ctx, gl, request, sums, yt, estimate)
    else:
        out["variance"] = _level_variance(ctx, gl, sums, levels)
    return out


def _replicate_variance(
    ctx: _Context,
    gl: _GroupLayout,
    request: Request,
    sums: _Sums,
    yt: np.ndarray,
    estimate: np.ndarray,
) -> np.ndarray:
    """(c, columns) replicate-weight variances (R's ``svrVar``) of the request's estimates.

    Each replicate's domain sums (c, L, R) come from the (PSU, level) totals and the replicate
    factors, or, for recalibrated replicates, from the rows and their replicate weights
    (:mod:`analysis.survey.replicates`); the replicate estimates of levels and contrasts follow
    from them as the full-sample estimates do."""
    rep = ctx.replicate
    if rep is None:
        raise DesignError("replicate variances need replicate weights")
    if rep.n_replicates == 0:  # a census: no variance
        return np.where(np.isfinite(estimate), 0.0, np.nan)
    if not rep.recalibrated:
        pr, stage = gl.pairs[0], ctx.stages[0]
        num = rep_mod.unit_level_totals(rep, stage, pr, _to_pairs(gl, 0, _take(gl, sums.a1)))
        den = rep_mod.unit_level_totals(rep, stage, pr, _to_pairs(gl, 0, _take(gl, sums.a0)))
    else:
        num, den = rep_mod.row_level_totals(
            rep, ctx.design, yt, gl.grouping.codes, len(gl.grouping.levels)
        )
    theta = _replicate_estimates(ctx.kind, request.contrast, num, den)
    return svr_variance(rep, theta, estimate)


def _replicate_estimates(
    kind: str, contrast: str | None, num: np.ndarray, den: np.ndarray
) -> np.ndarray:
    """(c, columns, R) replicate estimates of the levels (or contrasts) from their replicate sums
    ``num = sum W y`` and ``den = sum W`` (c, L, R). A mean with no weight left is NaN (that
    replicate drops out of its variance); a total is the sum (0 without weight, as R's)."""

    def est(nu: np.ndarray, de: np.ndarray) -> np.ndarray:
        if kind != "mean":
            return nu
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(de != 0, nu / de, np.nan)

    if contrast is None:
        return est(num, den)
    if contrast == "pair":
        return est(num[:, :1], den[:, :1]) - est(num[:, 1:2], den[:, 1:2])
    rest_num = num.sum(axis=1, keepdims=True) - num
    rest_den = den.sum(axis=1, keepdims=True) - den
    return est(num, den) - est(rest_num, rest_den)


def _level_variance(ctx: _Context, gl: _GroupLayout, sums: _Sums, levels: _Domain) -> np.ndarray:
    """(c, L) linearisation variances of the levels' estimates."""
    design, kind = ctx.design, ctx.kind
    group = ctx.layout.groups.index(gl)
    k1, k0 = _take(gl, sums.a1), _take(gl, sums.a0)
    mean0 = np.nan_to_num(levels.mean)
    wsafe = np.where(levels.wsum != 0, levels.wsum, 1.0)
    b = None if ctx.basis is None else levels.basis_coefficients(kind, ctx.basis)
    var = np.zeros_like(levels.s1)
    for s, (stage, pr) in enumerate(zip(ctx.stages, gl.pairs, strict=True)):
        p1, p0 = _to_pairs(gl, s, k1), _to_pairs(gl, s, k0)
        if ctx.absent is not None and ctx.basis is not None and b is not None:
            # every unit carries a residual: residualise at the pairs, the rest from moments
            t = variance.influence(kind, p1, p0, mean0[:, pr.column], wsafe[:, pr.column])
            var += variance.calibrated_stage_variance(
                stage, pr, t, ctx.basis.units[s], b, ctx.absent[group][s], design.lonely_psu
            )
            continue
        if ctx.basis is not None and b is not None:  # every unit carries a residual
            t = levels.influence(kind, _dense(pr, stage.n_units, p1), _dense(pr, stage.n_units, p0))
            t = ctx.basis.residual(s, t, b)
            if ctx.correction is not None:  # A_c r_c (one variance stage)
                t += ctx.correction.totals(ctx.basis.units[s], levels.psu_basis(kind), b)
            grid = variance.grid(stage, pr.n_columns)
            # R keeps every row of a calibrated design (zero weights outside a subset)
            var += variance.stage_variance(
                stage, grid, t.reshape(t.shape[0], -1), design.lonely_psu
            )
            continue
        if pr.n_columns == 1:  # broadcast instead of gathering one level
            t = variance.influence(kind, p1, p0, mean0, wsafe)
        else:
            t = variance.influence(kind, p1, p0, mean0[:, pr.column], wsafe[:, pr.column])
        present = None
        if stage.lonely.any() and design.lonely_psu in ("adjust", "average"):
            present = variance.stratum_present(stage, pr, _to_pairs(gl, s, _take(gl, sums.cnt)))
        var += variance.stage_variance(stage, pr, t, design.lonely_psu, present)
    return var


def _contrast_block(
    ctx: _Context,
    gl: _GroupLayout,
    request: Request,
    sums: _Sums,
    levels: _Domain,
    yt: np.ndarray,
) -> dict:
    """Domain A - domain B for every column: ``pair`` (level 0 - level 1) or ``rest`` (each level
    - the rows with another level). The unit totals of the contrast's influence values are the
    difference of the two domains' (R: ``svyby(covmat = TRUE)`` + ``svycontrast``); with
    replicate weights, each replicate's contrast is the difference of its two estimates."""
    kind = ctx.kind
    if request.contrast == "pair":
        dom_a, dom_b = levels.column(0), levels.column(1)
    else:
        dom_a, dom_b = levels, levels.total().minus(levels)
    if ctx.replicate is not None:
        estimate = dom_a.estimate(kind) - dom_b.estimate(kind)
        var = _replicate_variance(ctx, gl, request, sums, yt, estimate)
    else:
        var = _contrast_variance(ctx, gl, request, sums, levels, (dom_a, dom_b))
    return {
        "estimate": dom_a.estimate(kind),
        "weight_sum": dom_a.wsum,
        "n": dom_a.n,
        "variance": var,
        "estimate_b": dom_b.estimate(kind),
        "n_b": dom_b.n,
    }


def _contrast_variance(
    ctx: _Context,
    gl: _GroupLayout,
    request: Request,
    sums: _Sums,
    levels: _Domain,
    domains: tuple[_Domain, _Domain],
) -> np.ndarray:
    """(c, columns) linearisation variances of the contrasts ``domains[0] - domains[1]`` of the
    ``levels``.

    One pass for every column: the unit totals of a contrast's influence values are linear in
    the units' per-level sums ``p1 = sum w y``, ``p0 = sum w`` (and, calibrated, their ``G_u``),
    so every column's variance is a quadratic form of the same per-stratum scatter of those sums
    (:func:`analysis.survey.variance.linear_stage_variance`); no unit x column grid. Each pair's
    ``p1`` is taken about its level's mean (``p1 - m_j p0``, a level's own influence values, as
    the grid has them), so a domain's influence total is ``sum_j (p1 - m_j p0) + (m_j - m_D)
    p0`` over its levels ``j`` (divided by its weight total) and the forms do not cancel. Small-
    sample corrections (per-PSU matrices) take the grid (:func:`_contrast_variance_grid`)."""
    if ctx.correction is not None:
        return _contrast_variance_grid(ctx, gl, request, sums, domains)
    design, kind = ctx.design, ctx.kind
    dom_a, dom_b = domains
    k1, k0, kc = _take(gl, sums.a1), _take(gl, sums.a0), _take(gl, sums.cnt)
    n_lev, n_col = len(gl.grouping.levels), request.n_columns
    if request.contrast == "pair":
        in_a, in_b = np.zeros((1, n_lev)), np.zeros((1, n_lev))
        in_a[0, 0] = in_b[0, 1] = 1.0
    else:  # each level against the others
        in_a = np.eye(n_lev)
        in_b = 1.0 - in_a
    mean = np.nan_to_num(levels.mean) if kind == "mean" else np.zeros_like(levels.s1)  # (c, L)
    alpha = np.zeros((k1.shape[0], n_col, 2, n_lev))
    for dom, member, sign in ((dom_a, in_a, 1.0), (dom_b, in_b, -1.0)):
        if kind == "mean":
            scale = sign / np.where(dom.wsum != 0, dom.wsum, 1.0)
            between = mean[:, None, :] - np.nan_to_num(dom.mean)[..., None]  # (c, K, L)
            alpha[:, :, 1, :] += scale[..., None] * between * member[None]
        else:  # a total's influence values are w y (no centring, no scaling)
            scale = np.full_like(dom.wsum, sign)
        alpha[:, :, 0, :] += scale[..., None] * member[None]
    basis = ctx.basis
    b = None
    if basis is not None:
        b = dom_a.basis_coefficients(kind, basis) - dom_b.basis_coefficients(kind, basis)
    var = np.zeros((k1.shape[0], n_col))
    for s, (stage, pr) in enumerate(zip(ctx.stages, gl.pairs, strict=True)):
        p = np.empty((k1.shape[0], 2, pr.size))
        p[:, 1] = _to_pairs(gl, s, k0)
        np.subtract(_to_pairs(gl, s, k1), mean[:, pr.column] * p[:, 1], out=p[:, 0])
        present = None
        calibration = None
        if basis is not None and b is not None and ctx.scatter is not None:
            calibration = (ctx.scatter[s], b)
        elif stage.lonely.any() and design.lonely_psu in ("adjust", "average"):
            rows = variance.stratum_present(stage, pr, _to_pairs(gl, s, kc))
            both = rows[..., :2] if request.contrast == "pair" else rows
            present = both.any(axis=-1, keepdims=True)
        if ctx.pair_maps is None:
            raise DesignError("contrasts need their pairs' maps")
        maps = ctx.pair_maps[ctx.layout.groups.index(gl)][s]
        var += variance.linear_stage_variance(
            stage, pr, maps, p, alpha, design.lonely_psu, present,
            calibration,
        )  # fmt: skip
    return var


def _contrast_variance_grid(
    ctx: _Context,
    gl: _GroupLayout,
    request: Request,
    sums: _Sums,
    domains: tuple[_Domain, _Domain],
) -> np.ndarray:
    """:func:`_contrast_variance` on a unit x column grid (dense unit totals): the path of the
    small-sample corrections, whose per-PSU terms are added to the unit totals."""
    design, kind = ctx.design, ctx.kind
    dom_a, dom_b = domains
    k1, k0, kc = _take(gl, sums.a1), _take(gl, sums.a0), _take(gl, sums.cnt)
    basis = ctx.basis
    b = None
    if basis is not None:
        b = dom_a.basis_coefficients(kind, basis) - dom_b.basis_coefficients(kind, basis)
    n_col = request.n_columns
    var = np.zeros((k1.shape[0], n_col))
    for s, (stage, pr) in enumerate(zip(ctx.stages, gl.pairs, strict=True)):
        p1 = _dense(pr, stage.n_units, _to_pairs(gl, s, k1))
        p0 = _dense(pr, stage.n_units, _to_pairs(gl, s, k0))
        if request.contrast == "pair":
            t = dom_a.influence(kind, p1[..., :1], p0[..., :1])
            t -= dom_b.influence(kind, p1[..., 1:], p0[..., 1:])
        else:
            t = dom_a.influence(kind, p1, p0)
            t -= dom_b.influence(
                kind, p1.sum(-1, keepdims=True) - p1, p0.sum(-1, keepdims=True) - p0
            )
        present = None
        if basis is not None and b is not None:
            t = basis.residual(s, t, b)
            if ctx.correction is not None:  # A_c r_c of the contrast's influence values
                qu = dom_a.psu_basis(kind) - dom_b.psu_basis(kind)
                t += ctx.correction.totals(basis.units[s], qu, b)
        elif stage.lonely.any() and design.lonely_psu in ("adjust", "average"):
            rows = variance.stratum_present(stage, pr, _to_pairs(gl, s, kc))
            both = rows[..., :2] if request.contrast == "pair" else rows
            present = both.any(axis=-1, keepdims=True)
        grid = variance.grid(stage, n_col)
        var += variance.stage_variance(
            stage, grid, t.reshape(t.shape[0], -1), design.lonely_psu, present
        )
    return var


# ---------------------------------------------------------------------------------------------
# the computation


def _block_size(ctx: _Context, v: int) -> tuple[int, int]:
    """(variables per block, threads) so that a block's arrays stay within BLOCK_CELLS."""
    n, k = ctx.design.n, ctx.layout.n_keys
    per_var = 2 * n + 5 * k
    dense = ctx.basis is not None and ctx.absent is None
    for req, gl in zip(ctx.requests, ctx.layout.groups, strict=True):
        if ctx.basis is not None and ctx.absent is not None and req.contrast is None:
            per_var += (8 + ctx.basis.rank) * sum(pr.size for pr in gl.pairs)
        elif req.contrast is not None and ctx.correction is None:  # the pairs' scatter
            rank = 0 if ctx.basis is None else ctx.basis.rank
            per_var += (10 + 2 * rank) * sum(pr.size for pr in gl.pairs)
        elif dense or req.contrast is not None:
            per_var += 6 * sum(st.n_units for st in ctx.stages) * len(req.grouping.levels)
    if ctx.basis is not None:
        per_var += 3 * ctx.layout.n_cells * ctx.basis.rank
    if ctx.correction is not None and ctx.basis is not None:  # per key and per (PSU, level)
        widest = max(len(r.grouping.levels) for r in ctx.requests)
        per_var += 3 * ctx.basis.rank * (k + 4 * ctx.stages[0].n_units * widest)
    rep = ctx.replicate
    if rep is not None:
        widest = max(len(r.grouping.levels) for r in ctx.requests)
        per_var += 6 * rep.n_replicates * widest
        if rep.recalibrated:  # the sparse matrix of the rows' values
            per_var += 6 * n
        elif rep.bootstrap is None:
            per_var += 2 * ctx.stages[0].n_units * widest
        if per_var > 4 * BLOCK_CELLS:
            raise DesignError(
                f"{rep.n_replicates} {rep.type} replicates x {widest} domains x "
                f"{ctx.stages[0].n_units} PSUs is too large to estimate; use design.variance "
                "taylor, or bootstrap with fewer design.replicates"
            )
    threads = THREADS if n * v >= PARALLEL_CELLS else 1
    # one variable's arrays already fill BLOCK_CELLS (a million rows, each its own PSU): as many
    # threads as fit in it, so that the blocks running side by side stay within the budget
    threads = max(1, min(threads, BLOCK_CELLS // per_var))
    chunk = max(1, min(v, BLOCK_CELLS // (per_var * threads)))
    if threads > 1:  # at least one block of variables per thread
        chunk = max(1, min(chunk, -(-v // threads)))
    return chunk, threads


def _basis_matrices(
    design: SurveyDesign,
    layout: _Layout,
    basis: variance.CalibrationBasis | None,
    by_key: bool,
) -> tuple[sparse.csr_array | None, sparse.csr_array | None]:
    """(n, groups * r) each row's ``V`` in its group's columns: the cells' (first) or the keys'
    (second, ``by_key``: per-PSU sums for the small-sample corrections); the other None."""
    if basis is None:
        return None, None
    r = basis.rank
    if by_key:
        group = np.arange(design.n) if layout.row_key is None else layout.row_key
        n_groups = layout.n_keys
    else:
        group, n_groups = layout.row_cell, layout.n_cells
    cols = (group[:, None] * r + np.arange(r)[None, :]).ravel()
    rows = np.repeat(np.arange(design.n), r)
    matrix = sparse.csr_array((basis.rows.ravel(), (rows, cols)), shape=(design.n, n_groups * r))
    return (None, matrix) if by_key else (matrix, None)


def compute(
    design: SurveyDesign,
    frame: pd.DataFrame,
    requests: Sequence[Request],
    kind: str,
    *,
    deff: bool,
) -> list[Cells]:
    """Estimates and variances of every column of ``frame`` for every request.

    ``kind`` is ``mean`` or ``total``; ``deff``: also the sums of squares of the design effect.
    A design with replicate weights (``design.replicates``) gets replicate-weight variances
    (first stage only), any other the linearisation variance.
    """
    v = frame.shape[1]
    replicate = design.replicates
    stages = design.stages if replicate is None else design.stages[:1]
    layout = _layout(design, [r.grouping for r in requests], stages)
    basis = None if replicate is not None else variance.calibration_basis(design, stages)
    correction = small_sample.correction(design, basis)
    matrices = _basis_matrices(design, layout, basis, correction is not None)
    absent = None
    if basis is not None and correction is None:
        absent = tuple(
            tuple(
                variance.absent_units(stage, pr, g_units)
                for stage, pr, g_units in zip(stages, gl.pairs, basis.units, strict=True)
            )
            if req.contrast is None
            else ()
            for gl, req in zip(layout.groups, requests, strict=True)
        )
    scatter = None
    if basis is not None and correction is None and any(r.contrast for r in requests):
        scatter = tuple(
            variance.unit_scatter(stage, g_units)
            for stage, g_units in zip(stages, basis.units, strict=True)
        )
    pair_maps = None
    if replicate is None and correction is None:
        pair_maps = tuple(
            tuple(
                variance.pair_sums(stage, pr, None if scatter is None else scatter[s])
                for s, (stage, pr) in enumerate(zip(stages, gl.pairs, strict=True))
            )
            if req.contrast is not None
            else ()
            for gl, req in zip(layout.groups, requests, strict=True)
        )
    ctx = _Context(
        design, tuple(stages), layout, tuple(requests), kind, deff, replicate, basis, *matrices,
        correction, absent, scatter=scatter, pair_maps=pair_maps,
    )  # fmt: skip
    out = [Cells.empty(r, v) for r in requests]
    chunk, threads = _block_size(ctx, v)

    def block(start: int) -> None:
        """Variables ``start : start + chunk``: one pass over their rows, then every request."""
        stop = min(v, start + chunk)
        # (c, n) C-ordered whatever the frame's layout: the row passes write through flat views
        yt = np.ascontiguousarray(
            frame.iloc[:, start:stop].to_numpy(dtype=float, na_value=np.nan).T
        )
        sums = _block_sums(ctx, yt)
        for res, gl, req in zip(out, layout.groups, ctx.requests, strict=True):
            for name, value in _request_block(ctx, gl, req, sums, yt).items():
                target = getattr(res, name)
                target[start:stop] = np.rint(value) if target.dtype == np.int64 else value

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
