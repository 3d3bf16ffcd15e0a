"""Small-sample corrections of the Taylor variance of a calibrated design.

Params ``weighting.small_sample``: ``none`` (default), ``bell-mccaffrey``, ``mancl-derouen``.

The linearisation of a calibrated estimate (R's ``calibrate()``, METHODS.md section 4) uses the
residuals ``r = u - Q Q'u`` of ``u = z / wq`` on the calibration basis ``Q`` (``z`` the influence
values, ``wq = g sqrt(w0)``). With few PSUs and unequal cluster sizes these residuals are too small
where the calibration regression has leverage, and the variance too small (METHODS.md section 9).
The corrections replace each PSU ``c``'s residuals ``r_c`` by ``A_c r_c`` (``Q_c``: the PSU's rows
of ``Q``) and keep the design's variance formula:

``bell-mccaffrey``
    Bell & McCaffrey (2002), bias-reduced linearisation (BRL, CR2): ``A_c = (I - Q_c Q_c')^{-1/2}``;
    the degrees of freedom are the Satterthwaite df of the corrected variance under the working
    model ``Var(u) = sigma^2 I``, ``tr(C Omega)^2 / tr((C Omega)^2)`` (``z = L u`` the PSU totals,
    ``Omega = L L'``, ``v = z' C z``): one df for the design, not an integer (:func:`bm_df`).
``mancl-derouen``
    Mancl & DeRouen (2001): ``A_c = (I - Q_c Q_c')^{-1}``, the residuals of the calibration
    regression fitted without the PSU (the linearised delete-one-PSU jackknife); df unchanged.

With ``M_c = Q_c'Q_c`` (r x r), ``A_c = I + Q_c f(M_c) Q_c'`` where ``f`` acts on the eigenvalues
``l`` of ``M_c`` as ``f(l) = (a(l) - 1) / l``, ``a(l) = (1 - l)^{-1/2}`` or ``(1 - l)^{-1}``. So the
corrected total of a set of rows ``u`` of PSU ``c`` is its residual total plus ``G_u' f(M_c)
(Q_c' r_c)`` (``G_u = sum_{i in u} wq_i Q_i``, :class:`~analysis.survey.variance.CalibrationBasis`):
per-PSU sums only, batched over PSUs (``numpy.linalg.eigh`` on the (G, r, r) stack).

Singular ``M_c`` (a PSU with fewer rows than calibration columns, or none in a margin cell): ``f``
is evaluated on the eigen decomposition, so it is defined for every ``M_c``. An eigenvalue ``l = 0``
(a direction the PSU has no rows in) takes the limit of ``f`` at 0 (its value there is never used:
``Q_c' r_c`` and ``G_c`` have no component in that direction). An eigenvalue ``l >= 1 - 1e-9`` (the
PSU alone determines a calibration direction, e.g. the only PSU of a margin level) takes ``f = 0``:
the residuals in that direction are exactly 0 (``Q v`` lives on the PSU's rows and ``r`` is
orthogonal to ``Q``), a pseudo-inverse rather than ``0 * infinity``.

Scope: the Taylor variance of a design with one (GREG) calibration and one variance stage (no fpc
below the first stage); strata with one PSU only under ``lonely_psu`` ``fail`` or ``remove``. Any
other design is a :class:`~analysis.errors.DesignError` naming what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import DesignError
from analysis.survey.design import Calibration, SurveyDesign
from analysis.survey.variance import CalibrationBasis, group_sum, stage_scale

#: The options of params ``weighting.small_sample``.
METHODS = ("none", "bell-mccaffrey", "mancl-derouen")
#: Eigenvalues of ``M_c`` at or above this are 1 (the PSU alone determines the direction).
MAX_LEVERAGE = 1.0 - 1e-9
#: Eigenvalues below this are 0 (f takes its limit there).
_SMALL = 1e-12


@dataclass(frozen=True, eq=False)
class Correction:
    """What the corrected variance needs, per PSU ``c`` (G PSUs, calibration rank r).

    Attributes
    ----------
    method
        ``bell-mccaffrey`` or ``mancl-derouen``.
    m
        (G, r, r) ``M_c = Q_c'Q_c``.
    f
        (G, r, r) ``f(M_c)``.
    """

    method: str
    m: np.ndarray
    f: np.ndarray

    def totals(self, g_units: np.ndarray, qu: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(c, G, K) what the correction adds to the PSU totals of the residuals.

        ``g_units`` (G, r) ``G_c``; ``qu`` (c, G, K, r) ``Q_c'u_c`` of the estimates' ``u``; ``b``
        (c, K, r) ``Q'u``: ``Q_c'r_c = Q_c'u_c - M_c b`` and the addition ``G_c' f(M_c) Q_c'r_c``.
        """
        qr = qu - np.einsum("grs,cks->cgkr", self.m, b, optimize=True)
        gf = np.einsum("gr,grs->gs", g_units, self.f, optimize=True)
        return np.einsum("gs,cgks->cgk", gf, qr, optimize=True)


def scaling(method: str, lam: np.ndarray) -> np.ndarray:
    """``a(l)``: ``A_c``'s eigenvalue where ``Q_c Q_c'`` has eigenvalue ``l`` (< 1)."""
    if method == "bell-mccaffrey":
        return (1.0 - lam) ** -0.5
    if method == "mancl-derouen":
        return 1.0 / (1.0 - lam)
    raise ValueError(f"small-sample method {method!r} is not one of {', '.join(METHODS[1:])}")


def matrix_function(m: np.ndarray, method: str) -> np.ndarray:
    """(G, r, r) ``f(M_c)`` of the symmetric (G, r, r) ``m``: ``f(l) = (a(l) - 1) / l`` on its
    eigenvalues, its limit (the slope of ``a`` at 0) at ``l = 0`` and 0 at ``l = 1``."""
    lam, vec = np.linalg.eigh(m)
    lam = np.clip(lam, 0.0, 1.0)
    small, full = lam < _SMALL, lam >= MAX_LEVERAGE
    eps = 1e-7
    slope = (scaling(method, np.full_like(lam, eps)) - 1.0) / eps
    safe = np.where(small | full, 0.5, lam)
    f = np.where(small, slope, (scaling(method, safe) - 1.0) / safe)
    f = np.where(full, 0.0, f)
    return np.einsum("gij,gj,gkj->gik", vec, f, vec)


def check(design: SurveyDesign, method: str) -> Calibration:
    """The design's one calibration, if ``method`` can correct its variance; else DesignError."""
    if method not in METHODS:
        raise DesignError(f"weighting.small_sample {method!r} is not one of {', '.join(METHODS)}")
    if design.replicates is not None:
        raise DesignError(
            f"weighting.small_sample applies to Taylor variance; design.variance is "
            f"{design.variance_method}: choose one"
        )
    if len(design.calibrations) != 1:
        raise DesignError(
            f"weighting.small_sample {method} needs a design calibrated once; this one was "
            f"calibrated {len(design.calibrations)} times: use small_sample none"
        )
    cal = design.calibrations[0]
    if cal.coefficients is not None:
        raise DesignError(
            f"weighting.small_sample {method} corrects the GREG residuals (weighting.variance "
            "greg); weighting.variance r-rake reproduces R's rake(): choose one"
        )
    if len(design.stages) != 1:
        raise DesignError(
            f"weighting.small_sample {method} needs one variance stage; this design has an fpc "
            f"at {len(design.stages)} stages: give the fpc of the first stage only, or use none"
        )
    stage = design.stages[0]
    if stage.lonely.any() and design.lonely_psu in ("adjust", "average"):
        raise DesignError(
            f"weighting.small_sample {method} needs at least two PSUs per stratum, or "
            f"design.lonely_psu remove; lonely_psu is {design.lonely_psu}"
        )
    return cal


def correction(design: SurveyDesign, basis: CalibrationBasis | None) -> Correction | None:
    """The design's :class:`Correction` (None: ``small_sample`` none, or no calibration)."""
    method = design.calibrations[-1].small_sample if design.calibrations else "none"
    if method == "none":
        return None
    cal = check(design, method)
    if basis is None:
        raise DesignError(f"weighting.small_sample {method} needs the design's calibration basis")
    m = psu_crossproducts(design, cal)
    return Correction(method=method, m=m, f=matrix_function(m, method))


def psu_crossproducts(design: SurveyDesign, cal: Calibration) -> np.ndarray:
    """(G, r, r) ``M_c = sum_{i in c} Q_i Q_i'`` per PSU of the first stage."""
    q, stage = cal.q, design.stages[0]
    n, rank = q.shape
    outer = (q[:, :, None] * q[:, None, :]).reshape(n, rank * rank)
    return group_sum(stage.unit, stage.n_units, outer.T).T.reshape(-1, rank, rank)


def bm_df(design: SurveyDesign, cal: Calibration, method: str = "bell-mccaffrey") -> float:
    """Bell & McCaffrey's df of the corrected variance ``v = z' C z`` of ``design``.

    ``z = L u`` the corrected PSU totals, ``L = B A (I - QQ')`` (``B`` sums ``wq`` over a PSU's
    rows, ``A`` the blocks ``A_c``), ``Var(u) = sigma^2 I``, ``Omega = L L' = diag(d) - b b'``
    with ``t_c = G_c``, ``d_c = ||A_c wq_c||^2 = ||wq_c||^2 + t_c'(2 f + f M f) t_c`` and
    ``b_c = (I + M_c f_c) t_c``; ``C`` the stage's centring per stratum times ``m_h (1 - f_h) n_h
    / (n_h - 1)``. ``df = tr(C Omega)^2 / tr((C Omega)^2)``, from the strata's block structure
    (no G x G matrix). Depends on the design only; NaN when the variance is 0 under the model.
    """
    stage = design.stages[0]
    m = psu_crossproducts(design, cal)
    f = matrix_function(m, method)
    h, n_h = stage.unit, stage.n_units
    t = group_sum(h, n_h, (cal.q * cal.wq[:, None]).T).T
    wq2 = group_sum(h, n_h, cal.wq * cal.wq)
    fmf = np.einsum("gij,gjk,gkl->gil", f, m, f)
    d = wq2 + np.einsum("gr,grs,gs->g", t, 2 * f + fmf, t)
    b = t + np.einsum("gr,grs,gst->gt", t, f, m)
    strat = stage.unit_stratum
    size = stage.stratum_size.astype(float)
    k_h = stage_scale(stage)

    def centred(x: np.ndarray) -> np.ndarray:  # C x for (G, p) x
        sums = np.zeros((size.size, x.shape[1]))
        np.add.at(sums, strat, x)
        return (x - (sums / size[:, None])[strat]) * k_h[strat][:, None]

    cb = centred(b)
    btcb = b.T @ cb
    trace = np.sum(k_h[strat] * (1 - 1 / size[strat]) * d) - np.trace(btcb)
    d_sum = np.bincount(strat, weights=d, minlength=size.size)
    d_sq = np.bincount(strat, weights=d * d, minlength=size.size)
    cdcd = np.sum(k_h**2 * ((1 - 2 / size) * d_sq + d_sum**2 / size**2))
    square = cdcd - 2 * np.sum(d * np.sum(cb * cb, axis=1)) + np.sum(btcb * btcb.T)
    if not square > 0:
        return float("nan")
    return float(trace**2 / square)
