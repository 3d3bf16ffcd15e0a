"""Small-sample corrections of the Taylor variance of a calibrated design, for the coverage study.

The project's linearisation of a calibrated estimate (R's ``calibrate()``, METHODS.md section 4),
written with ``u = sqrt(w0) y~`` (``y~`` the estimate's linearised value per row, ``w0`` the base
weights), ``Q`` the orthonormal basis of ``sqrt(w0) X`` (``X`` the calibration variables) and
``wq = g sqrt(w0)``: the residuals are ``r = u - Q Q'u`` (weighted least squares of ``y~`` on
``X``, weights ``w0``), the unit totals ``z_c = sum_{i in c} wq_i r_i`` and the variance
``sum_h n_h / (n_h - 1) sum_{c in h} (z_c - zbar_h)^2`` (no fpc). :class:`Linearisation`
computes this from the rows (the study checks it equals the engine's) and two corrections that
replace each unit's residuals ``r_c`` by ``A_c r_c`` (``Q_c``: the unit's rows of ``Q``; ``Q_c
Q_c'`` its block of the hat matrix of the calibration regression):

``brl``
    Bell & McCaffrey (2002), bias-reduced linearisation (CR2): ``A_c = (I - Q_c Q_c')^{-1/2}``,
    unbiased for the variance when the working model ``Var(u) = sigma^2 I`` holds.
``mancl-derouen``
    Mancl & DeRouen (2001): ``A_c = (I - Q_c Q_c')^{-1}``. ``A_c r_c`` is then exactly the
    residual of the unit's rows from the calibration regression fitted without the unit (the
    deletion identity of least squares), so ``z_c = sum_{i in c} w_i (y~_i - x_i' B_(-c))``: the
    linearised delete-one-PSU jackknife.

With ``M_c = Q_c'Q_c``, ``A_c = I + Q_c f(M_c) Q_c'`` where ``f(l) = (a(l) - 1) / l`` and ``a(l)``
is ``A_c``'s eigenvalue where ``Q_c Q_c'`` has eigenvalue ``l`` (``(1 - l)^{-1/2}``, ``(1 -
l)^{-1}``; for Mancl-DeRouen ``f(M) = (I - M)^{-1}``), so the corrected total is
``z_c + (Q_c'wq_c)' f(M_c) (Q_c' r_c)``: per-unit sums only.

Degrees of freedom (the study's other candidates):

``satterthwaite_df``
    Satterthwaite's effective df of a stratified variance ``v = sum_h v_h``:
    ``(sum_h v_h)^2 / sum_h v_h^2 / (n_h - 1)`` (Cochran 1977, section 5.4).
``Corrected.bm_df``
    Bell & McCaffrey's (2002) Satterthwaite df of the (corrected) variance under the working
    model ``Var(u) = sigma^2 I``: with ``z = L u`` the unit totals, ``Omega = L L'`` and ``C`` the
    design's centring and scaling (``v = z' C z``), ``df = tr(C Omega)^2 / tr((C Omega)^2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from analysis.survey.design import SurveyDesign

#: ``a(l)``: A_c's eigenvalue on a direction where Q_c Q_c' has eigenvalue l.
SCALINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda lam: np.ones_like(lam),
    "brl": lambda lam: (1.0 - lam) ** -0.5,
    "mancl-derouen": lambda lam: 1.0 / (1.0 - lam),
}
#: Largest leverage used: a unit that alone determines a calibration direction has l = 1.
MAX_LEVERAGE = 1.0 - 1e-9
_SMALL = 1e-12


@dataclass(frozen=True)
class Corrected:
    """A corrected variance: ``se`` (estimands,) and its Bell-McCaffrey df (one for all)."""

    se: np.ndarray
    totals: np.ndarray  # (G, k) corrected unit totals
    bm_df: float


def matrix_function(m: np.ndarray, a: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(G, r, r) ``f(M_c)`` for symmetric (G, r, r) ``m``, ``f(l) = (a(l) - 1) / l`` (at ``l = 0``
    its limit, the slope of ``a`` at 0)."""
    lam, vec = np.linalg.eigh(m)
    lam = np.clip(lam, 0.0, MAX_LEVERAGE)
    small = lam < _SMALL
    eps = 1e-7
    slope = (a(np.full_like(lam, eps)) - 1.0) / eps
    f = np.where(small, slope, (a(lam) - 1.0) / np.where(small, 1.0, lam))
    return np.einsum("gij,gj,gkj->gik", vec, f, vec)


@dataclass(frozen=True)
class Linearisation:
    """The unit totals of a calibrated design's linearisation and what the corrections need:
    per unit ``c`` of the first stage, ``Q_c'wq_c``, ``||wq_c||^2``, ``Q_c'r_c`` and ``M_c``."""

    totals: np.ndarray  # (G, k) z_c
    unit_stratum: np.ndarray  # (G,)
    stratum_size: np.ndarray  # (H,) n_h
    qwq: np.ndarray  # (G, r)
    wq2: np.ndarray  # (G,)
    qr: np.ndarray  # (G, r, k)
    m: np.ndarray  # (G, r, r)

    @classmethod
    def of(cls, design: SurveyDesign, ytilde: np.ndarray) -> Linearisation:
        """From a design with one calibration, one variance stage and no fpc, and the
        estimands' linearised values ``ytilde`` (n, k)."""
        if len(design.calibrations) != 1 or design.fpc or len(design.stages) != 1:
            raise ValueError("a design with one calibration, one stage and no fpc only")
        cal = design.calibrations[0]
        q, wq = cal.q, cal.wq
        u = np.sqrt(design.base_weights)[:, None] * ytilde
        r = u - q @ (q.T @ u)
        stage = design.stages[0]
        n, g, rank, k = design.n, stage.n_units, q.shape[1], ytilde.shape[1]
        ind = sparse.csr_array((np.ones(n), (stage.unit, np.arange(n))), shape=(g, n))
        return cls(
            totals=ind @ (wq[:, None] * r),
            unit_stratum=stage.unit_stratum,
            stratum_size=stage.stratum_size,
            qwq=ind @ (q * wq[:, None]),
            wq2=ind @ (wq * wq),
            qr=(ind @ (q[:, :, None] * r[:, None, :]).reshape(n, rank * k)).reshape(g, rank, k),
            m=(ind @ (q[:, :, None] * q[:, None, :]).reshape(n, rank * rank)).reshape(
                g, rank, rank
            ),
        )

    @property
    def scale(self) -> np.ndarray:
        """(H,) ``n_h / (n_h - 1)``."""
        n_h = self.stratum_size.astype(float)
        return n_h / (n_h - 1)

    def centred(self, x: np.ndarray) -> np.ndarray:
        """``C x`` for (G, p) ``x``: ``n_h / (n_h - 1) (x_c - xbar_h)``, ``v = z' C z``."""
        h = self.unit_stratum
        sums = np.zeros((self.stratum_size.size, x.shape[1]))
        np.add.at(sums, h, x)
        return (x - (sums / self.stratum_size[:, None])[h]) * self.scale[h][:, None]

    def stratum_parts(self, totals: np.ndarray) -> np.ndarray:
        """(H, k) each stratum's part ``n_h / (n_h - 1) sum_c (z_c - zbar_h)^2`` of the variance."""
        parts = np.zeros((self.stratum_size.size, totals.shape[1]))
        np.add.at(parts, self.unit_stratum, totals * self.centred(totals))
        return parts

    def taylor_se(self) -> np.ndarray:
        return np.sqrt(self.stratum_parts(self.totals).sum(axis=0))

    def satterthwaite_df(self) -> np.ndarray:
        """(k,) Satterthwaite's effective df of the stratified Taylor variance."""
        parts = self.stratum_parts(self.totals)
        return parts.sum(axis=0) ** 2 / (parts**2 / (self.stratum_size[:, None] - 1)).sum(axis=0)

    def corrected(self, scaling: str) -> Corrected:
        """The variance with each unit's residuals ``A_c r_c`` (``scaling``: ``brl``,
        ``mancl-derouen``, ``none``) and its Bell-McCaffrey df."""
        f = matrix_function(self.m, SCALINGS[scaling])
        totals = self.totals + np.einsum("gr,grs,gsk->gk", self.qwq, f, self.qr)
        se = np.sqrt(self.stratum_parts(totals).sum(axis=0))
        return Corrected(se=se, totals=totals, bm_df=self.bm_df(f))

    def bm_df(self, f: np.ndarray) -> float:
        """Bell-McCaffrey df of ``v = z' C z``, ``z = B (I - QQ') u``, ``Var(u) = sigma^2 I``.

        ``Omega = diag(d) - b b'`` with ``d_c = ||A_c wq_c||^2 = ||wq_c||^2 + t_c' (2 f + f M f)
        t_c`` and ``b_c = (I + M_c f_c) t_c`` (``t_c = Q_c'wq_c``); the traces use the block
        structure of ``C`` (:meth:`dense_bm_df` is the same, spelled out)."""
        d, b = self._omega_parts(f)
        h, n_h, k_h = self.unit_stratum, self.stratum_size.astype(float), self.scale
        cb = self.centred(b)
        btcb = b.T @ cb
        trace = np.sum(k_h[h] * (1 - 1 / n_h[h]) * d) - np.trace(btcb)
        d_sum = np.bincount(h, weights=d, minlength=n_h.size)
        d_sq = np.bincount(h, weights=d * d, minlength=n_h.size)
        cdcd = np.sum(k_h**2 * ((1 - 2 / n_h) * d_sq + d_sum**2 / n_h**2))
        square = cdcd - 2 * np.sum(d * np.sum(cb * cb, axis=1)) + np.sum(btcb * btcb.T)
        return float(trace**2 / square)

    def dense_bm_df(self, f: np.ndarray) -> float:
        """:meth:`bm_df` with the (G, G) matrices built (for checking)."""
        d, b = self._omega_parts(f)
        omega = np.diag(d) - b @ b.T
        co = self.centred(omega)
        return float(np.trace(co) ** 2 / np.sum(co * co.T))

    def _omega_parts(self, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.qwq
        fmf = np.einsum("gij,gjk,gkl->gil", f, self.m, f)
        d = self.wq2 + np.einsum("gr,grs,gs->g", t, 2 * f + fmf, t)
        b = t + np.einsum("gr,grs,gst->gt", t, f, self.m)
        return d, b
