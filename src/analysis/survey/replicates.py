"""The one replicate-weight engine: R's jackknife and bootstrap factors, optionally recalibrated.

:func:`replicate_weights` makes the replicate weights of a design as R's ``as.svrepdesign`` does
(survey 4.x conventions: JK1, JKn, ``bootstrap``, ``subbootstrap``), and as the key-driver
intervals use them (``rescale_fpc=True``: the Rao-Wu-Yue rescaling of the subbootstrap). For a
calibrated design every replicate is calibrated again as the full sample was
(``recalibrate``: :func:`raking_recalibrator` rakes all replicates at once with the one raking loop
of :func:`analysis.survey.calibrate.rake_weights`; :func:`design_recalibrator` runs any calibration
on each replicate in turn); treating calibrated weights as fixed would misstate the variance.

Types (R's ``as.svrepdesign(design, type = ...)``)
--------------------------------------------------
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
    R ignores the fpc and needs two PSUs in every stratum (``rescale_fpc`` changes both).
``auto``
    ``JK1`` for an unstratified design, ``JKn`` otherwise (R's default).

``rescale_fpc=True`` is the variant the key-driver intervals use (:mod:`analysis.cx.drivers`):
the subbootstrap with Rao, Wu & Yue's (1992) rescaling, factors ``1 - a + a * count * n_h /
(n_h - 1)`` with ``a = sqrt(1 - f_h)``, so that a stratum sampled completely varies not at all
and a large sampling fraction shrinks the variance as the fpc of the linearisation does (R's
``subbootweights`` has no fpc; R has no call that matches this variant: it is
``as.svrepdesign(type = "subbootstrap")`` with the factors rescaled by ``a``). A stratum with a
single PSU keeps factor 1 in every replicate (no variance, as ``lonely_psu: remove``) instead
of being refused, and later-stage fpcs are dropped without a warning (ultimate-cluster
variance). The drivers use it for their percentile intervals of bounded, skewed quantities
(shares of R^2, R^2 itself), with the fpc their designs may carry, which R's subbootstrap
would ignore. Their ``jackknife`` is R's JK1 / JKn (``auto``), whose ``rscales`` already
carry ``1 - f_h``; ``rescale_fpc`` does not change the jackknives, nor the Canty-Davison
bootstrap (which has its own fpc rule).

:func:`from_factors` builds bootstrap replicate weights from given factors (R's own draws) instead
of drawing them. A recalibrated design's degrees of freedom are R's: the rank of its replicate
weights minus 1 (:func:`rank_degf`).

The replicate weights (:class:`~analysis.survey.design.ReplicateWeights`) travel with the design
(:meth:`~analysis.survey.design.SurveyDesign.with_replicates`), and every estimator of
:mod:`analysis.survey.estimate` then takes its variance from them, R's ``svrVar``
(:meth:`~analysis.survey.design.ReplicateWeights.variance`). The replicate sums of all variables x
domains x replicates come from here: :func:`unit_level_totals` from the (PSU, domain) totals of
:mod:`analysis.survey.domains` (the bootstrap factors, one product per domain level, or the
jackknife's closed form); :func:`row_level_totals` from the rows and their recalibrated replicate
weights (one dense product per domain level and block of rows).

Raked and post-stratified replicates are recalibrated on their calibration-cell totals
(:class:`CellRecalibrator`: (R, cells), since raking factors depend on the cell only) and keep one
factor per replicate and cell; their weights are made for bounded blocks of rows when needed
(:meth:`~analysis.survey.design.ReplicateWeights.row_blocks`), so that no replicates x rows matrix
exists at once.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.linalg import lapack

from analysis.errors import DesignError
from analysis.survey.calibrate import Margin, rake_weights
from analysis.survey.design import (
    CENSUS_TOLERANCE,
    REPLICATE_BLOCK_CELLS,
    BootstrapFactors,
    ReplicateWeights,
    Stage,
    SurveyDesign,
    level_text,
    one_blas_thread,
)
from analysis.survey.variance import Pairs, group_sum, indicator

REPLICATE_TYPES = ("auto", "JK1", "JKn", "bootstrap", "subbootstrap")
#: The engine's type of each replicate method of the params key ``design.variance``.
VARIANCE_TYPES = {
    "jk1": "JK1",
    "jkn": "JKn",
    "bootstrap": "bootstrap",
    "subbootstrap": "subbootstrap",
}
#: Replicates that may fail recalibration before the replicate weights are refused.
MAX_FAILED_SHARE = 0.05
#: Largest replicates x PSUs of bootstrap draws made at once (8 bytes each: 8 MB).
DRAW_CHUNK_CELLS = 1 << 20
#: Largest replicates x rows of recalibrated replicate weights (8 bytes each: 1 GB).
MAX_REPLICATE_CELLS = 1 << 27
#: R's tolerance of the rank of the replicate weights (``degf``: ``qr(weights, tol = 1e-5)``).
RANK_TOLERANCE = 1e-5
#: Smallest squared residual (replicates of length 1) that the Gram matrix resolves reliably.
CLEAR_PIVOT = 1e-6

#: Calibrates replicate design weights: (R, n) uncalibrated -> (R, n) calibrated; a row of NaN
#: marks a replicate that could not be calibrated.
Recalibrator = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------
# making replicate weights


def replicate_weights(
    design: SurveyDesign,
    type: str = "auto",
    replicates: int = 50,
    seed: int | None = 0,
    mse: bool = False,
    *,
    rescale_fpc: bool = False,
    recalibrate: Recalibrator | None = None,
) -> ReplicateWeights:
    """Replicate weights of ``design`` (R's ``as.svrepdesign``; survey 4.x conventions): the
    types, and the ``rescale_fpc`` variant of the key drivers, are described in the module
    docstring.

    Only the first sampling stage is used; finite population corrections of later stages are
    dropped with a warning (as R). Replicate draws come from ``numpy.random.default_rng(seed)``
    (per stratum in stratum order, each replicate's PSUs drawn uniformly with replacement): the
    same seed gives the same replicates; they are not R's random numbers.

    Parameters
    ----------
    design
        The design; when calibrated, ``recalibrate`` must be given.
    type
        ``auto``, ``JK1``, ``JKn``, ``bootstrap`` or ``subbootstrap``.
    replicates
        Bootstrap replicates (R's default 50); ignored by the jackknives (one per PSU).
    seed
        Seed of the bootstrap draws.
    mse
        Centre the variance at the full-sample estimate instead of the replicates' mean.
    rescale_fpc
        The drivers' subbootstrap (above).
    recalibrate
        For a calibrated design: calibrates the replicates' weights (factors times the weights
        before calibration) as the run calibrated the full sample (:func:`raking_recalibrator`,
        :func:`design_recalibrator`). Replicates it cannot calibrate are dropped (at most 5%).
        The degrees of freedom of a recalibrated design are then R's: the rank of its replicate
        weights minus 1 (:func:`rank_degf`).

    Raises
    ------
    DesignError
        Unknown type; a calibrated design without ``recalibrate``, or more than 5% of its
        replicates not calibrated, or more replicates x rows than :data:`MAX_REPLICATE_CELLS`
        to recalibrate; JK1 on a stratified design; fewer than two PSUs; the (n - 1) bootstrap
        with a single-PSU stratum (unless ``rescale_fpc``); every stratum sampled completely
        (JKn).
    """
    type = _checked_type(design, type, rescale_fpc, recalibrate is not None)
    if design.n_psu < 2:
        raise DesignError(f"{type} replicate weights need at least two PSUs")
    stage = design.stages[0]
    if type in ("JK1", "JKn"):
        rep = _jackknife(design, stage, type, mse)
    else:
        rep = _bootstrap(stage, type, replicates, seed, mse, rescale_fpc)
    if design.is_calibrated and recalibrate is not None:
        rep = _recalibrated(design, rep, recalibrate)
    return rep


def from_factors(
    design: SurveyDesign,
    factors: np.ndarray,
    type: str = "bootstrap",
    mse: bool = False,
    *,
    recalibrate: Recalibrator | None = None,
) -> ReplicateWeights:
    """Bootstrap replicate weights from given replicate factors (e.g. R's random draws:
    ``weights(rep, "analysis") / weights(rep, "sampling")`` of ``as.svrepdesign``), with the
    ``scale`` R gives ``type``, recalibrated as :func:`replicate_weights` does.

    Parameters
    ----------
    design
        The design the factors were drawn for.
    factors
        (n_psu, R) factor of every PSU in every replicate, PSUs in the design's order; or
        (n, R) per row, in the design's row order (the same for every row of a PSU).
    type
        ``bootstrap`` or ``subbootstrap``: which of R's scales applies.
    mse, recalibrate
        As :func:`replicate_weights`.

    Raises
    ------
    DesignError
        Not a bootstrap type; factors of the wrong shape, negative, not finite, or differing
        within a PSU; fewer than two replicates; as :func:`replicate_weights` for recalibration.
    """
    if type not in ("bootstrap", "subbootstrap"):
        raise DesignError(
            f"given replicate factors need type bootstrap or subbootstrap, not {type!r}"
        )
    type = _checked_type(design, type, False, recalibrate is not None)
    f = _psu_factors(design, factors)
    n_rep = f.shape[1]
    if n_rep < 2:
        raise DesignError(f"the bootstrap needs at least two replicates, got {n_rep}")
    stage = design.stages[0]
    rep = ReplicateWeights(
        type=type,
        scale=_bootstrap_scale(type, stage.stratum_size, n_rep),
        rscales=np.ones(n_rep),
        psu_stratum=stage.unit_stratum,
        bootstrap=BootstrapFactors(f, np.zeros(f.shape[0]), np.ones(f.shape[0])),
        mse=mse,
    )
    if design.is_calibrated and recalibrate is not None:
        rep = _recalibrated(design, rep, recalibrate)
    return rep


def _psu_factors(design: SurveyDesign, factors: np.ndarray) -> np.ndarray:
    """Given replicate factors as (n_psu, R), checked; per-row factors reduced to their PSU's."""
    f = np.asarray(factors, dtype=float)
    if f.ndim != 2 or f.shape[0] not in (design.n_psu, design.n):
        raise DesignError(
            f"replicate factors of shape {f.shape}: need (PSUs, replicates) = ({design.n_psu}, R) "
            f"or (rows, replicates) = ({design.n}, R)"
        )
    if not np.isfinite(f).all() or (f < 0).any():
        raise DesignError("replicate factors must be finite numbers >= 0")
    if f.shape[0] == design.n_psu:
        return f
    per_psu = np.zeros((design.n_psu, f.shape[1]))
    per_psu[design.psu] = f
    if np.abs(per_psu[design.psu] - f).max(initial=0.0) > 1e-9 * max(1.0, f.max()):
        raise DesignError("replicate factors differ between rows of the same PSU")
    return per_psu


def _checked_type(design: SurveyDesign, type: str, rescale_fpc: bool, recalibrated: bool) -> str:
    """The replicate type to make (``auto`` resolved); refusals and the later-stage warning."""
    if type not in REPLICATE_TYPES:
        raise DesignError(
            f"replicate type {type!r} is not one of {', '.join(REPLICATE_TYPES)} (BRR and Fay "
            "are not implemented)"
        )
    if design.is_calibrated and not recalibrated:
        raise DesignError(
            "the design is calibrated: replicate weights must be recalibrated (pass "
            "recalibrate=...), or their variance would treat the calibrated weights as fixed"
        )
    if type == "auto":
        type = "JK1" if design.stages[0].n_strata == 1 else "JKn"
    if any(np.any(f > 0) for f in design.fpc[1:]) and not rescale_fpc:
        warnings.warn(
            "replicate weights use the first sampling stage only: the finite population "
            "corrections of later stages are dropped (as R's as.svrepdesign)",
            UserWarning,
            stacklevel=3,
        )
    return type


def _draw_counts(
    rng: np.random.Generator, m: int, draws: int, replicates: int, chunk: int | None = None
) -> Iterator[tuple[slice, np.ndarray]]:
    """How often each of ``m`` PSUs is drawn in ``draws`` draws with replacement, for chunks of
    replicates: (replicates of the chunk, (chunk, m) int64 counts), in replicate order.

    The draws are those of one ``rng.integers(0, m, size=(replicates, draws))``: the generator
    gives the same numbers in chunks of rows as at once, so every ``chunk`` (default: as many
    replicates as keep a chunk's draws within :data:`DRAW_CHUNK_CELLS`) gives the same counts."""
    step = chunk or max(1, DRAW_CHUNK_CELLS // max(draws, m, 1))
    for lo in range(0, replicates, step):
        size = min(step, replicates - lo)
        picked = rng.integers(0, m, size=(size, draws))
        picked += (np.arange(size) * m)[:, None]
        counts = np.bincount(picked.ravel(), minlength=size * m).reshape(size, m)
        yield slice(lo, lo + size), counts


def _hypergeometric_counts(
    rng: np.random.Generator, colors: np.ndarray, m: int, replicates: int, chunk: int | None
) -> Iterator[tuple[slice, np.ndarray]]:
    """As :func:`_draw_counts` for R's draws without replacement from copies of the PSUs: the
    numbers of one ``rng.multivariate_hypergeometric(colors, m, size=replicates)``, in chunks."""
    step = chunk or max(1, DRAW_CHUNK_CELLS // max(m, 1))
    for lo in range(0, replicates, step):
        size = min(step, replicates - lo)
        yield slice(lo, lo + size), rng.multivariate_hypergeometric(colors, m, size=size)


def _store_counts(
    store: np.ndarray, psus: np.ndarray, reps: slice, counts: np.ndarray
) -> np.ndarray:
    """Write (chunk, m) ``counts`` into ``store`` (n_psu, R) at ``psus`` x ``reps``; ``store``
    widened to the next unsigned integer type first when a count does not fit its type."""
    top = int(counts.max(initial=0))
    if top > np.iinfo(store.dtype).max:
        store = store.astype(np.min_scalar_type(top))
    store[psus, reps] = counts.T
    return store


def _bootstrap(
    stage: Stage,
    type: str,
    replicates: int,
    seed: int | None,
    mse: bool,
    rescale_fpc: bool,
    chunk: int | None = None,
) -> ReplicateWeights:
    """The bootstrap replicates of ``stage``: per stratum in stratum order, the counts of its
    PSUs drawn in chunks of ``chunk`` replicates (None: :data:`DRAW_CHUNK_CELLS` draws at a
    time; the draws do not depend on it), kept as :class:`BootstrapFactors` counts."""
    if replicates < 2:
        raise DesignError(f"the bootstrap needs at least two replicates, got {replicates}")
    rng = np.random.default_rng(seed)
    n_h = stage.stratum_size
    counts = np.zeros((stage.n_units, replicates), dtype=np.uint8)
    offset = np.ones(stage.n_units)  # factor 1 unless drawn
    slope = np.zeros(stage.n_units)
    for h in range(stage.n_strata):
        psus = np.flatnonzero(stage.unit_stratum == h)
        m = psus.size
        frac = float(stage.stratum_fraction[h])
        if type == "subbootstrap":
            if m < 2 and rescale_fpc:
                continue  # a single PSU: factor 1, no variance
            if m < 2:
                raise DesignError(
                    f"stratum {stage.stratum_label[h]!r} has a single PSU: the (n - 1) bootstrap "
                    "needs two or more PSUs in every stratum; use type 'bootstrap' or merge strata"
                )
            a = np.sqrt(np.clip(1.0 - frac, 0.0, 1.0)) if rescale_fpc else 1.0
            offset[psus], slope[psus] = 1.0 - a, a * m / (m - 1)
            draws = _draw_counts(rng, m, m - 1, replicates, chunk)
        elif frac > 0:  # R: n_h draws without replacement from N_h copies of the PSUs
            pop = int(np.floor(m / frac + 1e-9))
            colors = np.full(m, pop // m, dtype=np.int64)
            colors[rng.permutation(m)[: pop % m]] += 1
            offset[psus], slope[psus] = 0.0, 1.0
            draws = _hypergeometric_counts(rng, colors, m, replicates, chunk)
        else:
            offset[psus], slope[psus] = 0.0, 1.0
            draws = _draw_counts(rng, m, m, replicates, chunk)
        for reps, drawn in draws:
            counts = _store_counts(counts, psus, reps, drawn)
    return ReplicateWeights(
        type=type,
        scale=_bootstrap_scale(type, n_h, replicates),
        rscales=np.ones(replicates),
        psu_stratum=stage.unit_stratum,
        bootstrap=BootstrapFactors(counts, offset, slope),
        mse=mse,
        seed=seed,
    )


def _bootstrap_scale(type: str, n_h: np.ndarray, replicates: int) -> float:
    if type == "subbootstrap":
        return 1.0 / (replicates - 1)
    nbar = 1.0 / np.mean(1.0 / n_h)
    if nbar <= 1:
        raise DesignError("the bootstrap needs strata with more than one PSU")
    return float(nbar / ((nbar - 1) * (replicates - 1)))


def _jackknife(design: SurveyDesign, stage: Stage, type: str, mse: bool) -> ReplicateWeights:
    if type == "JK1":
        return _jk1(stage, mse)
    n_strata = stage.n_strata
    keep = 1.0 - stage.stratum_fraction
    psu_stratum = stage.unit_stratum
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


def _jk1(stage: Stage, mse: bool) -> ReplicateWeights:
    if stage.n_strata > 1:
        raise DesignError(
            "JK1 replicate weights (design.variance: jk1) need an unstratified design (R refuses "
            "it too); use JKn (jkn)"
        )
    n, keep = int(stage.stratum_size[0]), 1.0 - stage.stratum_fraction
    psu_stratum = stage.unit_stratum
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


# ---------------------------------------------------------------------------------------------
# recalibration


def _recalibrated(
    design: SurveyDesign, rep: ReplicateWeights, recalibrate: Recalibrator
) -> ReplicateWeights:
    """``rep`` with every replicate's weights calibrated, failed replicates dropped, and R's
    degrees of freedom of a calibrated replicate design (``rake``, ``postStratify`` and
    ``calibrate`` all recount them: the rank of the replicate weights - 1).

    A :class:`CellRecalibrator` rakes the replicates' (R, cells) totals and keeps their factors
    per cell (no (R, n) matrix); any other recalibrator calibrates the (R, n) replicate weights,
    at most :data:`MAX_REPLICATE_CELLS` of them. A jackknife's degrees of freedom need its (R,
    n) weights too (:func:`_blocks_rank_degf`), so one with more is refused before any work
    (with respondents as PSUs it has n replicates: n x n weights)."""
    cells = isinstance(recalibrate, CellRecalibrator)
    if rep.n_replicates * design.n > MAX_REPLICATE_CELLS and (
        not cells or rep.family == "jackknife"
    ):
        raise _too_many(design, rep)
    if isinstance(recalibrate, CellRecalibrator):
        factors = recalibrate.cell_factors(_cell_totals(design, rep, recalibrate))
        ok = np.isfinite(factors).all(axis=1)
    else:
        base = design.base_weights[None, :] * rep.factors().T[:, design.psu]
        weights = np.asarray(recalibrate(base), dtype=float)
        ok = np.isfinite(weights).all(axis=1)
    failed = int((~ok).sum())
    if failed > MAX_FAILED_SHARE * len(ok):
        raise DesignError(
            f"{failed} of {len(ok)} replicates could not be recalibrated to the margins "
            "(a margin level left without respondents, or weighting.bounds too tight for the "
            "replicate); merge small levels in the margins, or widen the bounds"
        )
    keep = np.flatnonzero(ok)

    def pick(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[..., keep]

    scale = rep.scale
    if rep.family == "bootstrap" and failed:
        scale = _bootstrap_scale(rep.type, design.stages[0].stratum_size, keep.size)
    out = dataclasses.replace(
        rep,
        scale=scale,
        rscales=rep.rscales[keep],
        stratum=pick(rep.stratum),
        deleted=pick(rep.deleted),
        inside=pick(rep.inside),
        outside=pick(rep.outside),
        bootstrap=None if rep.bootstrap is None else rep.bootstrap.select(keep),
        failed=failed,
    )
    gram = rep.family == "bootstrap"
    if isinstance(recalibrate, CellRecalibrator):
        out = dataclasses.replace(out, cell=recalibrate.cell, cell_factors=factors[keep])
        return dataclasses.replace(out, degf=_blocks_rank_degf(design, out, gram))
    out = dataclasses.replace(out, calibrated=weights[keep])
    return dataclasses.replace(out, degf=rank_degf(weights[keep], gram=gram))


def _cell_totals(
    design: SurveyDesign, rep: ReplicateWeights, recalibrate: CellRecalibrator
) -> np.ndarray:
    """(R, cells) each replicate's weights before calibration summed over each calibration
    cell, over blocks of rows (never all rows x replicates at once)."""
    n_cells = recalibrate.n_cells
    totals = np.zeros((rep.n_replicates, n_cells))
    plain = dataclasses.replace(rep, calibrated=None, cell=None, cell_factors=None)
    base = dataclasses.replace(design, weights=design.base_weights)
    for rows, w in plain.row_blocks(base):
        totals += (indicator(recalibrate.cell[rows], n_cells) @ w).T
    return totals


def _blocks_rank_degf(design: SurveyDesign, rep: ReplicateWeights, gram: bool) -> int:
    """:func:`rank_degf` of the replicate weights of ``rep``, their Gram matrix summed over
    blocks of rows; only when it does not settle the rank (nearly parallel replicates: the
    jackknives) are the (R, n) weights made, at most :data:`MAX_REPLICATE_CELLS` of them."""
    if gram:
        g = np.zeros((rep.n_replicates, rep.n_replicates))
        with one_blas_thread():
            for _rows, w in rep.row_blocks(design):
                g += w.T @ w
        rank = _gram_rank(g)
        if rank is not None:
            return rank
    if rep.n_replicates * design.n > MAX_REPLICATE_CELLS:
        raise _too_many(design, rep)
    return rank_degf(rep.weights(design), gram=False)


def _too_many(design: SurveyDesign, rep: ReplicateWeights) -> DesignError:
    """The refusal of replicates whose (R, n) weights exceed :data:`MAX_REPLICATE_CELLS`."""
    return DesignError(
        f"{rep.n_replicates} {rep.type} replicates of {design.n} respondents are too many to "
        f"recalibrate (their calibration or degrees of freedom need "
        f"{rep.n_replicates * design.n:,} replicate weights; at most {MAX_REPLICATE_CELLS:,}): "
        "a jackknife has one replicate per PSU; use design.variance bootstrap with "
        "design.replicates, or taylor (key drivers: analysis.replicate_method bootstrap)"
    )


def _gram_rank(gram: np.ndarray) -> int | None:
    """R's rank - 1 of replicate weights from their (R, R) Gram matrix when every replicate is
    clearly independent of the others (pivoted Cholesky of the Gram matrix of the replicates
    scaled to length 1); None when the Gram matrix does not settle it."""
    norms = np.sqrt(np.diag(gram))
    use = norms > 0
    if not use.any():
        return -1
    unit = gram[np.ix_(use, use)] / np.outer(norms[use], norms[use])
    chol, _piv, rank, _info = lapack.dpstrf(unit, tol=RANK_TOLERANCE**2)
    if rank == unit.shape[0] and np.min(np.diag(chol)) ** 2 > CLEAR_PIVOT:
        return int(rank) - 1
    return None


def rank_degf(weights: np.ndarray, gram: bool = True) -> int:
    """R's ``degf`` of a replicate design it recomputes: the rank of the (R, n) replicate
    weights minus 1 (``qr(weights(design, "analysis"), tol = 1e-5)$rank - 1``).

    With every replicate scaled to length 1, a replicate counts when the part of it that the
    others do not explain is at least ``RANK_TOLERANCE`` of its length, R's criterion in ``qr``.
    Replicates clearly independent of each other (the usual bootstrap) are recognised from a
    pivoted Cholesky factorisation of their Gram matrix (one matrix product); otherwise (the
    jackknives' replicates are nearly parallel, beyond the Gram matrix's accuracy) the rank is
    that of a Householder QR, column-pivoted as R's; ``gram=False`` goes to it directly.
    """
    w = np.asarray(weights, dtype=float)
    norms = np.sqrt(np.einsum("ij,ij->i", w, w))
    unit = w[norms > 0] / norms[norms > 0, None]  # (R, n)
    if unit.shape[0] == 0:
        return -1
    with one_blas_thread():
        if gram:
            rank = _gram_rank(unit @ unit.T)
            if rank is not None:
                return rank
        cols = np.asfortranarray(unit.T)  # (n, R)
        del unit
        if cols.shape[0] > 2 * cols.shape[1]:  # tall: reduce to the (R, R) triangle first
            qr, _tau, _work, _info = lapack.dgeqrf(cols, overwrite_a=True)
            cols = np.triu(qr[: cols.shape[1]])
        tri = scipy.linalg.qr(cols, mode="r", pivoting=True, overwrite_a=True)[0]
    return int((np.abs(np.diag(tri)) > RANK_TOLERANCE).sum()) - 1


@dataclasses.dataclass(frozen=True, eq=False)
class CellRecalibrator:
    """Rakes (or post-stratifies) replicates on their calibration-cell totals.

    Raking multiplies every weight of a calibration cell (a combination of the levels of the
    calibration variables) by the same factors, so a replicate's raked weights are its weights
    before calibration times a factor per cell: raking the (R, cells) cell totals with the one
    raking loop (:func:`analysis.survey.calibrate.rake_weights`) gives them, without an (R, n)
    matrix. Made by :func:`raking_recalibrator`.

    ``cell`` (n,) each row's cell; ``margins`` the margins with each cell's level (codes (cells,))
    and the design's totals as targets.
    """

    cell: np.ndarray
    margins: tuple[Margin, ...]
    max_iter: int
    tolerance: float

    @property
    def n_cells(self) -> int:
        return int(self.margins[0].codes.shape[0]) if self.margins else 0

    def cell_factors(self, totals: np.ndarray) -> np.ndarray:
        """(R, cells) raking factor of each replicate in each cell from the replicates' (R,
        cells) totals before calibration; a row of NaN marks a replicate in which a margin level
        has no weight left, or that did not converge. A cell without weight gets factor 1."""
        raked = rake_weights(totals, list(self.margins), self.max_iter, self.tolerance)
        out = np.divide(raked.weights, totals, out=np.ones_like(raked.weights), where=totals > 0)
        out[raked.failed] = np.nan
        return out

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        """(R, n) weights raked (a :data:`Recalibrator`): each times its replicate's cell factor."""
        w = np.atleast_2d(np.asarray(weights, dtype=float))
        totals = (indicator(self.cell, self.n_cells) @ w.T).T
        return w * self.cell_factors(totals)[:, self.cell]


def raking_recalibrator(
    design: SurveyDesign, frame: pd.DataFrame, max_iter: int = 100, tolerance: float = 1e-8
) -> CellRecalibrator:
    """Rake (or post-stratify) every replicate at once to the margins ``design`` was calibrated to.

    The margins are the calibrated design's own totals over the levels of its calibration
    variables (which equal the margins file's counts), so the replicates are calibrated as the
    full sample was, with the same loop (:func:`analysis.survey.calibrate.rake_weights`), run on
    the replicates' (R, cells) calibration-cell totals (:class:`CellRecalibrator`). A replicate
    in which a margin level has no weight left, or that does not converge, is marked failed
    (NaN). This is R's ``rake()`` (and ``postStratify()``) of a replicate design, e.g.
    ``rake(as.svrepdesign(des, type = "JKn"), ...)``.

    Parameters
    ----------
    design
        A design with one ``rake`` or ``poststratify`` calibration (unbounded).
    frame
        The rows the design was built from (holds the calibration variables).

    Raises
    ------
    DesignError
        The design has no such calibration (use :func:`design_recalibrator`).
    """
    cals = design.calibrations
    if len(cals) != 1 or cals[0].method not in ("rake", "poststratify") or cals[0].bounds:
        raise DesignError(
            "raking_recalibrator needs a design with one unbounded rake or poststratify "
            "calibration; use design_recalibrator for other calibrations"
        )
    codes, targets = [], []
    for var in cals[0].variables:
        text = level_text(frame[var]).astype(object)
        code, levels = pd.factorize(text, sort=True)
        if (code < 0).any():
            raise DesignError(f"calibration variable {var!r} has missing values")
        codes.append(code.astype(np.intp))
        targets.append(np.bincount(code, design.weights, minlength=len(levels)))
    joint, first, cell = np.unique(
        np.stack(codes, axis=1), axis=0, return_index=True, return_inverse=True
    )
    del joint
    margins = tuple(Margin(c[first], t) for c, t in zip(codes, targets, strict=True))
    return CellRecalibrator(cell.reshape(-1).astype(np.intp), margins, max_iter, tolerance)


def design_recalibrator(
    design: SurveyDesign, calibrate: Callable[[SurveyDesign], SurveyDesign]
) -> Recalibrator:
    """Calibrate replicates one by one with ``calibrate`` (any method; slower than raking all
    at once).

    ``calibrate`` takes an uncalibrated design (``design`` with a replicate's design weights) and
    returns it calibrated as the run calibrated ``design``, e.g.
    ``lambda d: calibrate.calibrate(d, frame, margins, method="linear")``. A replicate whose
    calibration raises :class:`~analysis.errors.DesignError` is marked failed (NaN). This is R's
    ``calibrate()`` of a replicate design.
    """

    def recalibrate(weights: np.ndarray) -> np.ndarray:
        out = np.full(np.shape(weights), np.nan)
        for r, wr in enumerate(np.asarray(weights, dtype=float)):
            uncal = dataclasses.replace(
                design, weights=wr, base_weights=wr, calibrations=(), replicates=None
            )
            try:
                out[r] = calibrate(uncal).weights
            except DesignError:
                continue
        return out

    return recalibrate


# ---------------------------------------------------------------------------------------------
# replicate variances of domain estimates (used by analysis.survey.domains)


def unit_level_totals(
    rep: ReplicateWeights, stage: Stage, pr: Pairs, totals: np.ndarray
) -> np.ndarray:
    """(c, L, R) replicate totals of domain sums from their (PSU, level) totals ``totals`` (c, P)
    at the pairs ``pr`` of the first stage: ``sum_u F[u, r] totals[u, l]``, for factor-only
    (not recalibrated) replicates. Bootstrap: per level, one product of its pairs' totals with
    their PSUs' factors, formed for blocks of pairs (at most :data:`REPLICATE_BLOCK_CELLS`
    factors at once, never pairs x replicates); jackknife: its closed form."""
    if rep.bootstrap is None:
        return _jackknife_totals(rep, stage, pr, totals)
    step = max(1, REPLICATE_BLOCK_CELLS // max(rep.n_replicates, 1))
    n_pairs = pr.unit.shape[0]
    out = np.zeros((totals.shape[0], pr.n_columns, rep.n_replicates))
    for lo in range(0, n_pairs, step):
        block = slice(lo, min(lo + step, n_pairs))
        factors = rep.bootstrap.rows(pr.unit[block])
        out += _level_products(totals[:, block], pr.column[block], pr.n_columns, factors)
    return out


def row_level_totals(
    rep: ReplicateWeights,
    design: SurveyDesign,
    yt: np.ndarray,
    codes: np.ndarray,
    n_levels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(c, L, R) replicate sums ``sum W_ri y_vi`` and ``sum W_ri`` over the rows of each level
    that answered ``v``, from recalibrated replicate weights ``W`` (every row its own weight).

    ``yt`` (c, n): the variables, NaN where not answered; ``codes`` (n,): each row's level
    (-1: none). Over blocks of rows (:meth:`~analysis.survey.design.ReplicateWeights.row_blocks`:
    never all rows x replicates at once), per level one dense product of its rows' values and
    answered-indicators (2c rows) with their replicate weights: work proportional to rows x
    variables x replicates, never rows x levels x variables x replicates."""
    if not rep.recalibrated:
        raise DesignError("row_level_totals needs recalibrated replicate weights")
    answered = np.isfinite(yt)
    stacked = np.concatenate([np.where(answered, yt, 0.0), answered.astype(float)])
    out = np.zeros((stacked.shape[0], n_levels, rep.n_replicates))
    for rows, weights in rep.row_blocks(design):
        out += _level_products(stacked[:, rows], codes[rows], n_levels, weights)
    c = yt.shape[0]
    return out[:c], out[c:]


def _level_products(
    values: np.ndarray,
    level: np.ndarray,
    n_levels: int,
    weights: np.ndarray,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """(k, L, R): for each level ``l``, ``values[:, j] @ weights[index[j]]`` summed over the
    entries ``j`` of that level (``level[j] == l``; -1: none); ``index`` None: entry ``j``'s
    weights are row ``j``. One dense matrix product per level, so that the (entries, R) weights
    are read once and never multiplied by levels."""
    k, m = values.shape
    out = np.zeros((k, n_levels, weights.shape[1]))
    order = np.argsort(level, kind="stable")
    counts = np.bincount(level[level >= 0], minlength=n_levels)
    start = int(np.count_nonzero(level < 0))  # sorted: the entries without a level come first
    for lev in np.flatnonzero(counts):
        rows = order[start : start + counts[lev]]
        start += int(counts[lev])
        if rows.size == m and index is None:  # every entry (in order): no copy of the weights
            out[:, lev] = values @ weights
            continue
        out[:, lev] = values[:, rows] @ weights[rows if index is None else index[rows]]
    return out


def _jackknife_totals(rep: ReplicateWeights, stage: Stage, pr: Pairs, p: np.ndarray) -> np.ndarray:
    """(c, L, R) replicate totals in closed form: ``outside * (total - stratum total) +
    inside * (stratum total - deleted PSU's total)``."""
    c, n_levels = p.shape[0], pr.n_columns
    n_strata, n_units = stage.n_strata, stage.n_units
    if rep.stratum is None or rep.deleted is None or rep.inside is None or rep.outside is None:
        raise DesignError("replicate weights without jackknife factors")
    total = group_sum(pr.column, n_levels, p)  # (c, L)
    by_stratum = group_sum(pr.cell, n_strata * n_levels, p).reshape(c, n_strata, n_levels)
    by_unit = np.zeros((c, n_units * n_levels))
    by_unit[:, pr.unit * n_levels + pr.column] = p
    by_unit = by_unit.reshape(c, n_units, n_levels)
    h, d = rep.stratum, rep.deleted
    deleted = by_unit[:, np.maximum(d, 0), :] * (d >= 0)[None, :, None]
    stratum_total = by_stratum[:, h, :]  # (c, R, L)
    out = rep.outside[None, :, None] * (total[:, None, :] - stratum_total)
    out += rep.inside[None, :, None] * (stratum_total - deleted)
    return out.transpose(0, 2, 1)
