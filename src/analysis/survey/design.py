"""The sampling design of the accepted rows: weights, strata, clusters and finite population
corrections.

:func:`build_design` turns the typed survey frame and the ``design`` block of the params file into a
:class:`SurveyDesign`: plain numpy arrays, one entry per row, in the row order of the frame. It
follows R's ``svydesign(..., nest = TRUE)`` (survey 4.1):

- no weight column: every weight is 1 (a simple random sample);
- no strata: one stratum; no clusters: every row is its own primary sampling unit (PSU);
- clusters are nested in strata (and stage-2 units in their PSU), so the same cluster label in two
  strata is two different PSUs;
- ``fpc`` holds, per stage, either population counts (all values >= 1, some > 1: ``N_h``, turned
  into the sampling fraction ``n_h / N_h``) or sampling fractions (all values in (0, 1]);
- a stratum with a single PSU is an error by default (``lonely_psu: fail``), or is handled as R's
  ``options(survey.lonely.psu = "adjust" | "average" | "remove")``. With later-stage fpcs, a PSU
  with a single sampled stage-2 unit (and fewer than all of them) is a lonely unit at stage 2 in the
  same way; R's ``average`` then has no other stratum to average over and gives a NaN variance, and
  so does this module. A stratum sampled completely (``f_h = 1``) is never lonely.

A design may carry replicate weights (:class:`ReplicateWeights`, made by
:mod:`analysis.survey.replicates`; :meth:`SurveyDesign.with_replicates`): its estimators then take
their variance from them (R's ``svrepdesign``), and its degrees of freedom are R's ``degf`` of the
replicate design.

The variance layout (which units are summed and centred at which stage, see METHODS.md) is computed
once here and stored as :class:`Stage` records, so that the variance kernel
(:mod:`analysis.survey.variance`) only sums and centres unit totals. With an ``fpc`` for every
sampling stage of a multistage design, the later stages add their variance like R's default
``svyrecvar``; otherwise only the first stage counts (ultimate clusters).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from analysis.config.params import DesignConfig
from analysis.errors import DesignError

try:  # installed with scikit-learn (pingouin); optional
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover
    ThreadpoolController = None

LonelyPsu = Literal["fail", "adjust", "average", "remove"]
LONELY_PSU_POLICIES: tuple[str, ...] = ("fail", "adjust", "average", "remove")

#: R's threshold below which ``1 - f`` counts as a census stratum (no variance contribution).
CENSUS_TOLERANCE = 1e-7
#: Largest rows x replicates of replicate weights made at once (8 bytes each: 32 MB).
REPLICATE_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True, eq=False)
class Stage:
    """One sampling stage of the variance computation.

    At stage 1 the "strata" are the design strata and the units are the PSUs; at stage ``k > 1``
    every stage ``k - 1`` unit is a stratum of its own (R's "substrata nested in clusters") and its
    units are the stage-``k`` clusters. All codes are dense integers ``0 .. count - 1``.

    Attributes
    ----------
    unit
        (n,) code of the sampling unit of each row.
    unit_stratum
        (U,) stratum code of each unit.
    stratum_size
        (S,) number of sampled units ``n_h`` in each stratum.
    stratum_fraction
        (S,) sampling fraction ``f_h = n_h / N_h`` (0 without fpc).
    stratum_multiplier
        (S,) product of the earlier stages' sampling fractions (1 at stage 1).
    stratum_scope
        (S,) the earlier-stage unit the stratum belongs to (all 0 at stage 1): R computes the
        ``average`` and ``adjust`` lonely-PSU rules within this scope.
    stratum_label
        (S,) a readable name of each stratum, for messages.
    number
        The stage number, 1 for PSUs.
    """

    unit: np.ndarray
    unit_stratum: np.ndarray
    stratum_size: np.ndarray
    stratum_fraction: np.ndarray
    stratum_multiplier: np.ndarray
    stratum_scope: np.ndarray
    stratum_label: tuple[str, ...]
    number: int = 1

    @property
    def n_units(self) -> int:
        return int(self.unit_stratum.shape[0])

    @property
    def n_strata(self) -> int:
        return int(self.stratum_size.shape[0])

    @property
    def n_scopes(self) -> int:
        return int(self.stratum_scope.max()) + 1 if self.n_strata else 0

    @property
    def lonely(self) -> np.ndarray:
        """(S,) strata with a single sampled unit that are not a census (``1 - f_h >= 1e-7``)."""
        return (self.stratum_size == 1) & (1.0 - self.stratum_fraction >= CENSUS_TOLERANCE)


@dataclass(frozen=True, eq=False)
class Calibration:
    """What a calibration leaves for the variance (R: ``calibrate()``'s ``greg_calibration``).

    The variance of a calibrated estimator uses the residuals of the influence values ``z`` on the
    calibration variables: with ``u = z / wq``, ``z <- (u - Q Q'u) * wq``, where ``Q`` is an
    orthonormal basis of the columns of ``sqrt(w0) * X`` (R: ``qr(mm * sqrt(w0))``) and
    ``wq = g * sqrt(w0)``: weighted least squares with the weights before calibration, scaled by the
    calibrated weight.

    Attributes
    ----------
    method
        ``rake``, ``poststratify`` or ``linear``.
    variables
        The margin variables calibrated to.
    q
        (n, r) orthonormal basis of ``sqrt(w0) * X``, ``r`` = rank of ``X``.
    wq
        (n,) ``g * sqrt(w0)``.
    g
        (n,) adjustment factors: calibrated weight / weight before calibration (1 where it was 0).
    iterations
        Raking cycles used (1 for the closed-form methods).
    margin_rescale
        Largest relative change made to a variable's margin counts to make all margin totals agree
        (0 when they agreed exactly; totals further apart than 0.1% are an error).
    bounds
        ``(lo, hi)`` bounds of the adjustment factors ``g`` (None: unbounded).
    variance
        ``greg`` (the residuals above: R's ``calibrate()``, ``postStratify()``) or ``r-rake``
        (R's ``rake()``: ``q`` holds the margins' level indicators, ``wq`` the calibrated weights
        and ``coefficients`` the fit of its residuals, see
        :func:`analysis.survey.calibrate.rake_residual_fit`).
    coefficients
        (r, r) map from ``Q' (z / wq)`` to the coefficients of the fitted part, ``b = L Q'(z /
        wq)``; None: the identity (an orthonormal ``Q``, least squares).
    small_sample
        The small-sample correction of the Taylor variance (params ``weighting.small_sample``):
        ``none``, ``bell-mccaffrey`` or ``mancl-derouen`` (:mod:`analysis.survey.small_sample`).
    small_sample_df
        With ``bell-mccaffrey``: its degrees of freedom (Bell & McCaffrey's Satterthwaite df,
        not an integer), the design's ``df``; None otherwise.
    """

    method: str
    variables: tuple[str, ...]
    q: np.ndarray
    wq: np.ndarray
    g: np.ndarray
    iterations: int = 1
    margin_rescale: float = 0.0
    bounds: tuple[float, float] | None = None
    variance: str = "greg"
    coefficients: np.ndarray | None = None
    small_sample: str = "none"
    small_sample_df: float | None = None


@dataclass(frozen=True, eq=False)
class SurveyDesign:
    """A sampling design: per-row arrays in the row order of the frame it was built from.

    Attributes
    ----------
    weights
        (n,) sampling weights (after calibration, if any). Zero-weight rows stay in the design and
        contribute nothing (R's convention for subsets).
    strata
        (n,) stratum code of each row (0 .. n_strata - 1).
    clusters
        Per sampling stage, (n,) unit codes, unique across the design (nested in strata and in the
        earlier stages' units).
    fpc
        Per stage with a finite population correction, (n,) sampling fraction ``n_h / N_h`` of the
        row's stratum at that stage. Empty: sampling with replacement (no fpc).
    lonely_psu
        Policy for strata with a single PSU: ``fail``, ``adjust``, ``average`` or ``remove``.
    stages
        The variance stages (:class:`Stage`); one unless a multistage design has an fpc per stage.
    base_weights
        (n,) the weights before any calibration.
    calibrations
        Calibrations applied, in order (empty: not calibrated).
    strata_labels
        The stratum labels, by code.
    index
        The row labels of the frame the design was built from.
    replicates
        Replicate weights (:class:`ReplicateWeights`): when present, every estimator takes its
        variance from them instead of Taylor linearisation (R's ``svrepdesign``; params
        ``design.variance``). None: Taylor linearisation.
    """

    weights: np.ndarray
    strata: np.ndarray
    clusters: tuple[np.ndarray, ...]
    fpc: tuple[np.ndarray, ...]
    lonely_psu: LonelyPsu
    stages: tuple[Stage, ...]
    base_weights: np.ndarray
    calibrations: tuple[Calibration, ...] = ()
    strata_labels: tuple[str, ...] = ()
    index: pd.Index = field(default_factory=lambda: pd.RangeIndex(0))
    replicates: ReplicateWeights | None = None

    @property
    def n(self) -> int:
        """Number of rows (respondents) in the design."""
        return int(self.weights.shape[0])

    @property
    def psu(self) -> np.ndarray:
        """(n,) PSU code of each row."""
        return self.clusters[0]

    @property
    def n_psu(self) -> int:
        """Number of primary sampling units."""
        return int(self.psu.max()) + 1 if self.n else 0

    @property
    def n_strata(self) -> int:
        """Number of strata."""
        return int(self.strata.max()) + 1 if self.n else 0

    @functools.cached_property
    def df(self) -> int | float:
        """Design degrees of freedom: PSUs - strata, among rows with non-zero weight (R's degf);
        with replicate weights, R's ``degf`` of the replicate design (:class:`ReplicateWeights`);
        with the ``bell-mccaffrey`` small-sample correction its df (a float, not an integer)."""
        if self.replicates is not None and self.replicates.degf is not None:
            return self.replicates.degf
        if self.calibrations and self.calibrations[-1].small_sample_df is not None:
            return self.calibrations[-1].small_sample_df
        return degrees_of_freedom(self, self.weights != 0)

    @property
    def small_sample(self) -> str:
        """The small-sample correction of the Taylor variance (``none`` without calibration)."""
        return self.calibrations[-1].small_sample if self.calibrations else "none"

    @property
    def variance_method(self) -> str:
        """``taylor``, or the replicate type (``JK1``, ``JKn``, ``bootstrap``, ``subbootstrap``)."""
        return "taylor" if self.replicates is None else self.replicates.type

    @property
    def kish_neff(self) -> float:
        """Kish effective sample size ``(sum w)^2 / sum w^2``."""
        w = self.weights
        return float(w.sum() ** 2 / np.dot(w, w))

    @property
    def is_calibrated(self) -> bool:
        return bool(self.calibrations)

    @property
    def adjustment(self) -> np.ndarray:
        """(n,) weight / weight before calibration (1 where the base weight is 0)."""
        base = self.base_weights
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(base != 0, self.weights / np.where(base != 0, base, 1.0), 1.0)

    def with_calibration(self, weights: np.ndarray, calibration: Calibration) -> SurveyDesign:
        """A copy with calibrated ``weights`` and ``calibration`` appended to the record (and no
        replicate weights: they must be made, and recalibrated, for the calibrated design)."""
        return dataclasses.replace(
            self,
            weights=np.asarray(weights, dtype=float),
            calibrations=(*self.calibrations, calibration),
            replicates=None,
        )

    def with_replicates(self, replicates: ReplicateWeights | None) -> SurveyDesign:
        """A copy whose estimators take their variance from ``replicates`` (None: Taylor).

        Raises
        ------
        DesignError
            The replicates were made for another design (a different number of PSUs or rows),
            or the design is calibrated and the replicates were not recalibrated (their variance
            would treat the calibrated weights as fixed), or the design's Taylor variance has a
            small-sample correction (``weighting.small_sample``: Taylor only).
        """
        if replicates is not None:
            if self.small_sample != "none":
                raise DesignError(
                    f"weighting.small_sample applies to Taylor variance; design.variance is "
                    f"{replicates.type}: choose one"
                )
            if replicates.n_psu != self.n_psu:
                raise DesignError(
                    f"the replicate weights are for {replicates.n_psu} PSUs but the design has "
                    f"{self.n_psu}; make them with replicate_weights(design)"
                )
            rows = replicates.n_rows
            if rows is not None and rows != self.n:
                raise DesignError(
                    f"the replicate weights are for {rows} rows but the design has {self.n}"
                )
            if self.is_calibrated and not replicates.recalibrated:
                raise DesignError(
                    "the design is calibrated: its replicate weights must be recalibrated "
                    "(replicate_weights(..., recalibrate=...)), or their variance would treat "
                    "the calibrated weights as fixed"
                )
        return dataclasses.replace(self, replicates=replicates)


@dataclass(frozen=True, eq=False)
class BootstrapFactors:
    """Bootstrap replicate factors kept compact: ``F[u, r] = offset[u] + slope[u] * counts[u, r]``.

    ``counts`` (n_psu, R) is how often PSU ``u`` was drawn in replicate ``r``, in the smallest
    unsigned integer type that holds the largest count (one byte per PSU and replicate instead
    of eight: 0.5 GB, not 4 GB, for a million respondent PSUs and 500 replicates), or, for
    factors given as numbers (:func:`~analysis.survey.replicates.from_factors`), the factors
    themselves (float, ``offset`` 0, ``slope`` 1). ``offset`` and ``slope`` (n_psu,) are those of
    the PSU's stratum (the subbootstrap's ``1 - a`` and ``a n_h / (n_h - 1)``). Dense float
    factors are formed for the PSUs asked for only (:meth:`rows`), e.g. per block of rows.
    """

    counts: np.ndarray
    offset: np.ndarray
    slope: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(n_psu, R)."""
        return (int(self.counts.shape[0]), int(self.counts.shape[1]))

    def rows(self, psus: np.ndarray | None = None) -> np.ndarray:
        """(n_psu, R) float factors of every PSU, or (len(psus), R) of the PSUs ``psus``."""
        every = slice(None) if psus is None else psus
        out = self.counts[every].astype(float)  # one float array, formed in place
        out *= self.slope[every, None]
        out += self.offset[every, None]
        return out

    def select(self, keep: np.ndarray) -> BootstrapFactors:
        """The factors of the replicates ``keep`` (indices) only (itself when they are all)."""
        if np.array_equal(keep, np.arange(self.shape[1])):
            return self
        return dataclasses.replace(self, counts=np.ascontiguousarray(self.counts[:, keep]))


@dataclass(frozen=True, eq=False)
class ReplicateWeights:
    """Replicate weights of a design, as R's ``as.svrepdesign(design, type = ...)`` makes them
    (made by :func:`analysis.survey.replicates.replicate_weights`).

    Replicate ``r`` multiplies the weight of every row of PSU ``u`` by a factor ``F[u, r]``
    (:meth:`factors`). Jackknife factors are kept by their structure: replicate ``r`` deletes PSU
    ``deleted[r]`` (``-1``: its whole stratum, R's lonely-PSU ``adjust`` replicate), multiplies the
    other PSUs of stratum ``stratum[r]`` by ``inside[r]`` and the PSUs of every other stratum by
    ``outside[r]``. Bootstrap factors are ``bootstrap`` (:class:`BootstrapFactors`: the
    (n_psu x R) draw counts in a small integer type, each PSU's offset and slope). A recalibrated
    design's replicate weights are the factors times the weights before calibration, calibrated
    again: raked or post-stratified ones as ``cell_factors`` (R x cells), the raking factor of each
    replicate in each calibration cell (``cell``, (n,): each row's cell; raking factors depend
    on the cell only), so that a row's replicate weight is ``base weight * F[psu, r] *
    cell_factors[r, cell]`` and no (R x n) matrix is ever needed; other calibrations as
    ``calibrated`` (R x n). Replicates that could not be calibrated are dropped (``failed`` of
    them). :meth:`row_blocks` gives the replicate weights of bounded blocks of rows.

    The variance of an estimate is R's ``svrVar``:
    ``scale * sum_r rscales[r] * (theta_r - centre)^2``, ``centre`` the mean of the replicate
    estimates with ``rscales > 0`` (``mse = False``, R's default) or the full-sample estimate
    (``mse = True``). Replicates whose estimate is undefined (a domain with no weight left in it)
    are left out of that estimate's variance, as R's ``na.action`` does.

    ``degf`` is the degrees of freedom R gives a recalibrated replicate design (``rake()``,
    ``postStratify()`` and ``calibrate()`` of a replicate design recount them: the rank of the
    replicate weights minus 1); ``None``: the design's own, PSUs - strata (what
    ``as.svrepdesign`` keeps).
    """

    type: str
    scale: float
    rscales: np.ndarray
    psu_stratum: np.ndarray
    stratum: np.ndarray | None = None
    deleted: np.ndarray | None = None
    inside: np.ndarray | None = None
    outside: np.ndarray | None = None
    bootstrap: BootstrapFactors | None = None
    mse: bool = False
    seed: int | None = None
    calibrated: np.ndarray | None = None
    failed: int = 0
    degf: int | None = None
    cell: np.ndarray | None = None
    cell_factors: np.ndarray | None = None

    @property
    def n_replicates(self) -> int:
        return int(self.rscales.shape[0])

    @property
    def n_psu(self) -> int:
        return int(self.psu_stratum.shape[0])

    @property
    def family(self) -> str:
        """``bootstrap`` or ``jackknife``."""
        return "bootstrap" if self.type in ("bootstrap", "subbootstrap") else "jackknife"

    @property
    def recalibrated(self) -> bool:
        """Whether every replicate was calibrated again (``cell_factors`` or ``calibrated``)."""
        return self.cell_factors is not None or self.calibrated is not None

    @property
    def n_rows(self) -> int | None:
        """The rows the recalibrated replicate weights are for (None: factors only)."""
        if self.cell is not None:
            return int(self.cell.shape[0])
        return None if self.calibrated is None else int(self.calibrated.shape[1])

    def factors(self, psus: np.ndarray | None = None) -> np.ndarray:
        """(n_psu, R) replicate factor of every PSU, or (len(psus), R) of the PSUs ``psus``
        (one row per entry; dense: for blocks of rows, inspection and small designs)."""
        if self.bootstrap is not None:
            return self.bootstrap.rows(psus)
        if self.stratum is None or self.deleted is None or self.inside is None:
            raise DesignError("replicate weights without factors")
        units = np.arange(self.n_psu) if psus is None else np.asarray(psus)
        same = self.psu_stratum[units][:, None] == self.stratum[None, :]
        f = np.where(same, self.inside[None, :], self.outside[None, :])
        has = np.flatnonzero(self.deleted >= 0)
        deleting = np.full(self.n_psu, -1)  # the replicate that deletes each PSU (one at most)
        deleting[self.deleted[has]] = has
        r = deleting[units]
        f[np.flatnonzero(r >= 0), r[r >= 0]] = 0.0
        return f

    def row_weights(self, design: SurveyDesign, rows: slice) -> np.ndarray:
        """(rows, R) replicate weights of the rows ``rows`` of the design (recalibrated ones
        when recalibrated), row-major by respondent."""
        psu = design.psu[rows]
        if self.calibrated is not None:
            return np.ascontiguousarray(self.calibrated[:, rows].T)
        out = self.factors(psu)  # a new array: scaled in place (a product of two commutes)
        if self.cell_factors is not None and self.cell is not None:
            out *= design.base_weights[rows, None]
            out *= self.cell_factors.T[self.cell[rows]]
            return out
        out *= design.weights[rows, None]
        return out

    def row_blocks(
        self, design: SurveyDesign, rows: int | None = None
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """Consecutive blocks of rows and their (rows, R) replicate weights (:meth:`row_weights`),
        each block at most :data:`REPLICATE_BLOCK_CELLS` weights (or ``rows`` rows)."""
        step = rows or max(1, REPLICATE_BLOCK_CELLS // max(self.n_replicates, 1))
        for lo in range(0, design.n, step):
            block = slice(lo, min(lo + step, design.n))
            yield block, self.row_weights(design, block)

    def weights(self, design: SurveyDesign) -> np.ndarray:
        """(R, n) replicate weights of the design's rows (recalibrated ones when recalibrated):
        the whole matrix, for inspection and small designs; estimators use :meth:`row_blocks`."""
        if self.calibrated is not None:
            return self.calibrated
        return self.row_weights(design, slice(0, design.n)).T

    def variance(self, theta: np.ndarray, estimate: np.ndarray | None = None) -> np.ndarray:
        """R's ``svrVar`` of each estimate from its replicate estimates ``theta`` (R, ...);
        ``estimate`` (...) is the centre when ``mse``."""
        theta = np.moveaxis(np.asarray(theta, dtype=float), 0, -1)
        if estimate is None:
            estimate = np.full(theta.shape[:-1], np.nan)
        return svr_variance(self, theta, np.asarray(estimate, dtype=float))


def svr_variance(rep: ReplicateWeights, theta: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """R's ``svrVar`` with the replicates last: ``theta`` (..., R), ``estimate`` (...)."""
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


def degrees_of_freedom(design: SurveyDesign, rows: np.ndarray) -> int:
    """PSUs minus strata among ``rows`` (a boolean mask), as R's ``degf`` on a subset."""
    rows = np.asarray(rows, dtype=bool)
    if not rows.any():
        return 0
    psus = np.bincount(design.psu[rows], minlength=design.n_psu)
    strata = np.bincount(design.strata[rows], minlength=design.n_strata)
    return int(np.count_nonzero(psus) - np.count_nonzero(strata))


@functools.cache
def _blas_controller() -> object | None:
    return ThreadpoolController() if ThreadpoolController is not None else None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the enclosed dense linear algebra on a single BLAS thread.

    The matrices of calibration and variance estimation are thin (respondents x a few columns);
    multi-threaded BLAS only adds synchronisation to them, which on a busy two-core machine made
    a small QR decomposition 30-100 times slower. Without threadpoolctl this does nothing.
    """
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------------------------
# building


def build_design(frame: pd.DataFrame, config: DesignConfig) -> SurveyDesign:
    """Build the sampling design of ``frame`` from the params file's ``design`` block.

    Parameters
    ----------
    frame
        The accepted survey rows (typed: weights numeric; strata and clusters of any type).
    config
        Which columns hold the weight, strata, clusters (one per stage), fpc (one per stage), and
        the lonely-PSU policy.

    Returns
    -------
    SurveyDesign

    Raises
    ------
    DesignError
        A named column is missing; weights are missing, not finite, negative or all zero; strata or
        clusters have missing values; an fpc is not positive, mixes counts and fractions, varies
        within a stratum or implies more than 100% sampling; a stratum has a single PSU under
        ``lonely_psu: fail``.
    """
    n = len(frame)
    if n == 0:
        raise DesignError("the survey has no accepted rows: a design needs at least one respondent")
    missing = [c for c in config.columns() if c not in frame.columns]
    if missing:
        raise DesignError(
            f"design columns not in the survey: {', '.join(map(repr, missing))}; check the params "
            "file's design block against the survey's column names"
        )
    if config.lonely_psu not in LONELY_PSU_POLICIES:
        raise DesignError(
            f"design.lonely_psu {config.lonely_psu!r} is not one of "
            f"{', '.join(LONELY_PSU_POLICIES)}"
        )

    weights = _weights(frame, config.weight)
    strata_codes, strata_labels = _codes(frame, config.strata, "strata")
    if config.strata is None:
        strata_labels = ("(all)",)

    # Units of each stage, nested: stage-1 PSUs within strata, stage-k units within stage k-1 units.
    cluster_cols = config.clusters
    units: list[np.ndarray] = []
    unit_labels: list[tuple[str, ...]] = []
    parent = strata_codes
    parent_labels: tuple[str, ...] | None = strata_labels if config.strata else None
    stage_cols = cluster_cols or [None]
    for k, col in enumerate(stage_cols):
        if col is None:  # every row its own PSU
            codes = _nest(parent, np.arange(n))[0]
            units.append(codes)
            break
        codes, first = _nest(parent, _codes(frame, col, "cluster")[0])
        units.append(codes)
        if k == len(stage_cols) - 1:
            break  # the last stage's units are nobody's strata: no names needed
        own = frame[col].to_numpy()[first]
        # readable unit names, with the stratum / parent unit: "North/branch 7" -> "North/7"
        labels = tuple(
            str(x) if parent_labels is None else f"{parent_labels[p]}/{x}"
            for p, x in zip(parent[first], own, strict=True)
        )
        unit_labels.append(labels)
        parent, parent_labels = codes, labels

    fractions = tuple(
        _fraction(
            frame,
            col,
            stage + 1,
            units[stage],
            strata_codes if stage == 0 else units[stage - 1],
            _stratum_names(strata_labels, unit_labels, stage),
        )
        for stage, col in enumerate(config.fpcs)
    )

    multistage = len(units) > 1 and len(fractions) == len(units)
    n_var_stages = len(units) if multistage else 1
    stages: list[Stage] = []
    multiplier_rows = np.ones(n)
    for k in range(n_var_stages):
        stratum_rows = strata_codes if k == 0 else units[k - 1]
        frac_rows = fractions[k] if k < len(fractions) else np.zeros(n)
        stage = _stage(
            number=k + 1,
            unit=units[k],
            stratum=stratum_rows,
            fraction=frac_rows,
            multiplier=multiplier_rows,
            # R calls onestage once per earlier-stage unit, and that unit is the only stratum in it.
            scope=np.zeros(n, dtype=np.intp) if k == 0 else stratum_rows,
            labels=_stratum_names(strata_labels, unit_labels, k),
        )
        stages.append(stage)
        multiplier_rows = multiplier_rows * frac_rows

    design = SurveyDesign(
        weights=weights,
        strata=strata_codes,
        clusters=tuple(units),
        fpc=fractions,
        lonely_psu=config.lonely_psu,
        stages=tuple(stages),
        base_weights=weights.copy(),
        strata_labels=tuple(strata_labels),
        index=frame.index,
    )
    _check_lonely(design, config)
    return design


def _stratum_names(
    strata_labels: Sequence[str], unit_labels: Sequence[tuple[str, ...]], stage: int
) -> tuple[str, ...]:
    """Readable names of the strata at ``stage`` (0-based): design strata, then the parent units."""
    return tuple(strata_labels) if stage == 0 else unit_labels[stage - 1]


def _weights(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.ones(len(frame))
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"column {column!r}, row {frame.index[i]!r}: weight {raw.iloc[i]!r} is not a finite "
            f"number ({int(bad.sum())} such rows); sampling weights must be numbers >= 0"
        )
    neg = values < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise DesignError(
            f"column {column!r}, row {frame.index[i]!r}: weight {values[i]!r} is negative "
            f"({int(neg.sum())} such rows); sampling weights must be >= 0"
        )
    if not (values > 0).any():
        raise DesignError(f"column {column!r}: every weight is zero; sampling weights must be > 0")
    return values


def _codes(
    frame: pd.DataFrame, column: str | None, role: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Dense codes (sorted by label) of a strata or cluster column; missing values are errors."""
    if column is None:
        return np.zeros(len(frame), dtype=np.intp), ("(all)",)
    raw = frame[column]
    na = raw.isna().to_numpy()
    if na.any():
        i = int(np.flatnonzero(na)[0])
        raise DesignError(
            f"column {column!r}, row {frame.index[i]!r}: missing {role} value ({int(na.sum())} "
            f"such rows); every respondent needs a {role} value for the design"
        )
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.cat.remove_unused_categories()
        codes = raw.cat.codes.to_numpy().astype(np.intp)
        labels = tuple(str(c) for c in raw.cat.categories)
        return codes, labels
    try:
        codes, uniques = pd.factorize(raw, sort=True)
    except TypeError:  # mixed types that do not sort: compare as text
        codes, uniques = pd.factorize(raw.astype(str), sort=True)
    return codes.astype(np.intp), tuple(str(u) for u in uniques)


def _nest(parent: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``(parent, value)`` pairs, ordered by parent then value; and a row of each."""
    parent = np.asarray(parent, dtype=np.int64)
    values = np.asarray(values, dtype=np.int64)
    n = parent.shape[0]
    span = int(values.max()) + 1
    size = (int(parent.max()) + 1) * span
    key = parent * span + values
    if size <= 4 * n + (1 << 20):  # counting, without a sort
        seen = np.zeros(size, dtype=bool)
        seen[key] = True
        uniq = np.flatnonzero(seen)
        code = np.zeros(size, dtype=np.intp)
        code[uniq] = np.arange(uniq.size)
        codes = code[key]
    else:
        uniq, codes = np.unique(key, return_inverse=True)
        codes = codes.astype(np.intp).reshape(-1)
    some_row = np.empty(uniq.size, dtype=np.intp)
    some_row[codes] = np.arange(n)  # any row of the unit: all share its labels
    return codes, some_row


def _fraction(
    frame: pd.DataFrame,
    column: str,
    stage: int,
    unit: np.ndarray,
    stratum: np.ndarray,
    stratum_names: tuple[str, ...],
) -> np.ndarray:
    """Per-row sampling fraction ``n_h / N_h`` at ``stage`` from an fpc column (R's ``as.fpc``)."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"column {column!r}, row {frame.index[i]!r}: fpc {raw.iloc[i]!r} is not a positive "
            "number; give population counts (>= 1) or sampling fractions in (0, 1]"
        )
    is_count = bool((values > 1).any())
    if is_count and (values < 1).any():
        i = int(np.flatnonzero(values < 1)[0])
        raise DesignError(
            f"column {column!r}, row {frame.index[i]!r}: fpc {values[i]!r} is a fraction but other "
            "rows hold population counts (> 1); use one kind for the whole column"
        )
    n_strata = int(stratum.max()) + 1
    # n_h: distinct units per stratum.
    unit_stratum = np.zeros(int(unit.max()) + 1, dtype=np.intp)
    unit_stratum[unit] = stratum
    n_h = np.bincount(unit_stratum, minlength=n_strata).astype(float)
    lo = np.full(n_strata, np.inf)
    hi = np.full(n_strata, -np.inf)
    np.minimum.at(lo, stratum, values)
    np.maximum.at(hi, stratum, values)
    varies = hi - lo > 1e-9 * np.maximum(1.0, np.abs(hi))
    if varies.any():
        h = int(np.flatnonzero(varies)[0])
        raise DesignError(
            f"column {column!r}: fpc varies within stratum {stratum_names[h]!r} at stage {stage} "
            f"(from {lo[h]:g} to {hi[h]:g}); the fpc must be the same for every row of a stratum"
        )
    if is_count:
        frac_h = n_h / hi
        if (frac_h > 1 + 1e-12).any():
            h = int(np.flatnonzero(frac_h > 1 + 1e-12)[0])
            raise DesignError(
                f"column {column!r}: population count {hi[h]:g} of stratum {stratum_names[h]!r} at "
                f"stage {stage} is below the {int(n_h[h])} units sampled in it (more than 100% "
                "sampling); check the fpc column"
            )
    else:
        frac_h = hi
    return np.minimum(frac_h, 1.0)[stratum]


def _stage(
    *,
    number: int,
    unit: np.ndarray,
    stratum: np.ndarray,
    fraction: np.ndarray,
    multiplier: np.ndarray,
    scope: np.ndarray,
    labels: tuple[str, ...],
) -> Stage:
    n_units = int(unit.max()) + 1
    n_strata = int(stratum.max()) + 1
    unit_stratum = np.zeros(n_units, dtype=np.intp)
    unit_stratum[unit] = stratum
    size = np.bincount(unit_stratum, minlength=n_strata)
    per_stratum = np.zeros(n_strata)
    per_stratum[stratum] = fraction
    mult = np.ones(n_strata)
    mult[stratum] = multiplier
    scope_h = np.zeros(n_strata, dtype=np.intp)
    scope_h[stratum] = scope
    return Stage(
        unit=unit,
        unit_stratum=unit_stratum,
        stratum_size=size,
        stratum_fraction=per_stratum,
        stratum_multiplier=mult,
        stratum_scope=scope_h,
        stratum_label=labels,
        number=number,
    )


def _check_lonely(design: SurveyDesign, config: DesignConfig) -> None:
    if design.lonely_psu != "fail":
        return
    for stage in design.stages:
        lonely = np.flatnonzero(stage.lonely)
        if lonely.size == 0:
            continue
        names = [stage.stratum_label[h] for h in lonely[:5]]
        more = f" and {lonely.size - 5} more" if lonely.size > 5 else ""
        if stage.number == 1:
            where = f"stratum {', '.join(map(repr, names))}{more}"
            if config.strata:
                where += f" of column {config.strata!r}"
            what = "PSU" if config.clusters else "respondent"
        else:
            col = config.clusters[stage.number - 2]
            where = f"{col!r} unit {', '.join(map(repr, names))}{more}"
            if config.strata:
                where += " (stratum/unit)"
            what = f"stage-{stage.number} unit ({config.clusters[stage.number - 1]!r})"
        raise DesignError(
            f"{where} has only one {what} at stage {stage.number}, so its variance cannot be "
            "estimated (lonely PSU); merge it with a similar stratum, or set design.lonely_psu "
            "to adjust, average or remove"
        )


def level_text(values: pd.Series) -> pd.Series:
    """Values as the text a margins file uses: integer-valued numbers without ``.0``; NaN kept."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        finite = num.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(dtype=float), 1) == 0):
            return num.astype("Int64").astype("string").astype(object).where(num.notna())
    return values.astype("string").astype(object).where(values.notna())
