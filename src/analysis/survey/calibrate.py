"""Calibrate the design weights to known customer-base counts (raking, post-stratification, GREG).

The margins file (DESIGN.md) lists population counts: columns ``variable, level, count``. Each
``variable`` is a segment column of the survey; its levels are compared with the column's values as
text (an integer-valued number column matches ``"1"``, ``"2"``, ...). For ``method: linear`` two
reserved spellings add non-categorical constraints:

- ``variable = "(population)"`` (any level): the population size, i.e. an intercept;
- ``level = "(total)"``: the population total of a numeric column ``variable`` (e.g. last year's
  spend).

Calibrated weights ``w = g * w0`` reproduce the margins. The returned design records the calibration
(:class:`~analysis.survey.design.Calibration`) so that the variance kernel
(:mod:`analysis.survey.variance`) takes variances from the residuals of the influence values on
the calibration variables, exactly as R's ``calibrate()``,
``postStratify()`` (and ``calibrate(calfun = "raking")`` for raking) do; treating calibrated weights
as fixed would overstate the standard errors of anything the margins explain.

Weight trimming is done the way R's ``calibrate(..., bounds = c(lo, hi))`` does it, inside the
calibration: ``calibrate(..., bounds=(lo, hi))`` keeps every adjustment factor ``g`` within the
bounds while still meeting the margins (truncated raking or truncated linear calibration), rather
than trimming weights afterwards and losing the margins. The variance then uses the same residuals
(R's ``greg_calibration``).

Raking is one loop, :func:`rake_weights`, vectorised over sets of weights: :func:`calibrate` rakes
its one set with it, and :mod:`analysis.survey.replicates` every replicate of a design at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

from analysis.errors import DesignError
from analysis.survey import small_sample as small_sample_mod
from analysis.survey.design import Calibration, SurveyDesign, level_text, one_blas_thread
from analysis.survey.variance import indicator

METHODS = ("rake", "poststratify", "linear")
#: How a calibration enters the variance: R's calibrate() (GREG residuals) or R's rake().
VARIANCES = ("greg", "r-rake")
#: Passes of R's rake() residual fit (survey:::svyrecvar: ``for (iterations in 1:10)``).
R_RAKE_PASSES = 10
POPULATION = "(population)"
TOTAL = "(total)"
#: Margin totals of different variables may disagree by this much (rounding in published counts);
#: within it, every variable's counts are rescaled to the first variable's total.
TOTALS_TOLERANCE = 1e-3


@dataclass(frozen=True)
class _Categorical:
    variable: str
    levels: tuple[str, ...]
    counts: np.ndarray  # (L,) population counts, rescaled to the common total
    codes: np.ndarray  # (n,) level code of each row


@dataclass(frozen=True)
class _Numeric:
    variable: str
    values: np.ndarray  # (n,)
    total: float


def calibrate(
    design: SurveyDesign,
    frame: pd.DataFrame,
    margins: pd.DataFrame,
    method: str = "rake",
    max_iter: int = 100,
    tolerance: float = 1e-8,
    source: str | Path | None = None,
    bounds: tuple[float, float] | None = None,
    *,
    variance: str = "greg",
    small_sample: str = "none",
) -> SurveyDesign:
    """Calibrate ``design``'s weights to population ``margins``.

    Parameters
    ----------
    design
        The design built from ``frame``.
    frame
        The survey rows the design was built from (same rows, same order); holds the margin
        variables.
    margins
        Columns ``variable, level, count``: population counts per level of each variable.
    method
        ``rake``: iterative proportional fitting to every variable's margin (R's
        ``calibrate(calfun = "raking")``); ``poststratify``: one variable whose levels are the joint
        cells (R's ``postStratify``); ``linear``: GREG / linear calibration (R's ``calibrate``),
        which also takes ``(population)`` and ``(total)`` rows.
    max_iter
        Raking: largest number of full cycles over the margins.
    tolerance
        Raking: stop when no weight changed by more than this (relative) in a full cycle.
    source
        The margins file, named in error messages.
    bounds
        ``(lo, hi)`` with ``0 <= lo < 1 < hi``: keep every adjustment factor ``g`` (calibrated
        weight / weight before calibration) within these bounds, as R's ``calibrate(...,
        bounds = c(lo, hi))`` for ``calfun = "raking"`` (``rake``) or ``"linear"`` (``linear``):
        Newton iterations on ``g = clip(F(x' eta), lo, hi)`` (truncated raking / truncated GREG)
        until the margins are met to ``tolerance`` relative. This limits extreme weights
        while still meeting the margins exactly; when the bounds do not bind the result is the
        unbounded calibration. Not available for ``poststratify`` (its factors are fixed by the
        cells). ``None``: no bounds.
    variance
        How the calibration enters the variance (the estimates are the same): ``greg`` (default)
        the GREG residuals of R's ``calibrate()`` and ``postStratify()``, a least-squares fit
        weighted by the weights before calibration; ``r-rake`` (``method="rake"`` without bounds
        only) the residuals of R's ``rake()``, which fits them by unweighted cell means of the
        margins (:func:`rake_residual_fit`). The two agree when the base weights are equal
        within the margin cells.
    small_sample
        The small-sample correction of the Taylor variance (:mod:`analysis.survey.small_sample`):
        ``none`` (default), ``bell-mccaffrey`` (bias-reduced linearisation, Bell & McCaffrey's
        df, which becomes the design's ``df``) or ``mancl-derouen``; with ``variance="greg"``
        only.

    Returns
    -------
    SurveyDesign
        The design with calibrated weights and the calibration recorded for variance estimation.

    Raises
    ------
    DesignError
        Unknown method or variable; a respondent's level is missing from the margins; a margin level
        has no respondents; totals of different variables disagree by more than 0.1%; post-
        stratification with other than one variable; raking did not converge within ``max_iter``;
        linear calibration cannot meet the margins; bounds that are malformed, given for
        post-stratification, or too tight to meet the margins.
    """
    if variance not in VARIANCES:
        raise DesignError(f"weighting.variance {variance!r} is not one of {', '.join(VARIANCES)}")
    if variance == "r-rake" and (method != "rake" or bounds is not None):
        raise DesignError(
            "weighting.variance r-rake reproduces R's rake(), which rakes without bounds: use it "
            "with method rake and no bounds (greg works with every method and with bounds)"
        )
    if small_sample not in small_sample_mod.METHODS:
        raise DesignError(
            f"weighting.small_sample {small_sample!r} is not one of "
            f"{', '.join(small_sample_mod.METHODS)}"
        )
    with one_blas_thread():
        out = _calibrate(
            design, frame, margins, method, (max_iter, tolerance), source, bounds, variance
        )
        return _with_small_sample(out, small_sample)


def _with_small_sample(design: SurveyDesign, method: str) -> SurveyDesign:
    """``design`` (just calibrated) with its calibration's small-sample correction recorded, and
    for ``bell-mccaffrey`` its df (:func:`analysis.survey.small_sample.bm_df`)."""
    if method == "none":
        return design
    cal = small_sample_mod.check(design, method)
    df = small_sample_mod.bm_df(design, cal) if method == "bell-mccaffrey" else None
    record = dataclasses.replace(cal, small_sample=method, small_sample_df=df)
    return dataclasses.replace(design, calibrations=(record,))


def _calibrate(
    design: SurveyDesign,
    frame: pd.DataFrame,
    margins: pd.DataFrame,
    method: str,
    control: tuple[int, float],
    source: str | Path | None,
    bounds: tuple[float, float] | None,
    variance: str,
) -> SurveyDesign:
    where = f"{source}: " if source is not None else "margins: "
    if method not in METHODS:
        raise DesignError(f"weighting.method {method!r} is not one of {', '.join(METHODS)}")
    if len(frame) != design.n:
        raise DesignError(
            f"the frame has {len(frame)} rows but the design {design.n}; calibrate with the frame "
            "the design was built from"
        )
    missing = [c for c in ("variable", "level", "count") if c not in margins.columns]
    if missing:
        raise DesignError(
            f"{where}margins need columns variable, level, count; missing {', '.join(missing)}"
        )
    if margins.empty:
        raise DesignError(f"{where}the margins file lists no population counts")

    if bounds is not None:
        bounds = _check_bounds(bounds, method)
    w0 = design.weights
    categorical, numeric, population = _parse(design, frame, margins, method, where)
    rescale = _agree_totals(categorical, population, where)

    g, iterations = _factors(
        design.weights,
        _Margins(categorical, numeric, population),
        method,
        bounds,
        where,
        control,
    )
    if variance == "r-rake":
        q, fit = rake_residual_fit([(c.codes, len(c.levels)) for c in categorical], w0 * g)
        wq = w0 * g
    else:
        x = _model_matrix(design.n, categorical, numeric, population)
        q, fit = _basis(x * np.sqrt(w0)[:, None]), None
        wq = g * np.sqrt(w0)
    record = Calibration(
        method=method,
        variables=tuple(c.variable for c in categorical) + tuple(v.variable for v in numeric),
        q=q,
        wq=wq,
        g=np.where(w0 != 0, g, 1.0),
        iterations=iterations,
        margin_rescale=rescale,
        bounds=bounds,
        variance=variance,
        coefficients=fit,
    )
    return design.with_calibration(w0 * g, record)


def rake_residual_fit(
    margins: list[tuple[np.ndarray, int]], weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The residual fit of R's ``rake()`` variance as a linear map (``weighting.variance: r-rake``).

    R (``survey:::svyrecvar`` for a ``raking`` design) replaces the influence values ``x`` by 10
    passes, margin after margin, of ``x <- x - psw * ave(x / psw, margin)``, ``psw`` being the
    weights after that margin's last post-stratification (at convergence, the calibrated
    weights ``w``): each pass subtracts ``w`` times the unweighted mean of ``x / w`` in the row's
    level of the margin. With ``A`` the level indicators of all margins side by side, the result
    is ``x - w * (A b)`` where ``b = L A'(x / w)``, ``L`` being the same 10 passes run on the
    level totals: a pass over margin ``m`` takes ``c = s_m / n_m`` (``n_m`` the rows with a
    non-zero weight in each level), adds ``c`` to ``b_m`` and subtracts ``(A'A)[:, m] c`` from
    every total ``s``. Rows with weight 0 have ``x = 0`` and are left out of the means (R would
    divide 0 by 0 there).

    Parameters
    ----------
    margins
        Per margin, in the order they are raked: each row's level code and the number of levels.
    weights
        (n,) the calibrated weights.

    Returns
    -------
    tuple
        ``A`` (n, r) the level indicators, and ``L`` (r, r).
    """
    used = np.asarray(weights) != 0
    codes = [c for c, _ in margins]
    sizes = [size for _, size in margins]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    r, n = int(starts[-1]), len(weights)
    a = np.zeros((n, r))
    for m, c in enumerate(codes):
        a[np.arange(n), starts[m] + c] = 1.0
    a_used = a * used[:, None]
    cross = a_used.T @ a  # (A'A) over the rows with a weight
    counts = np.diag(cross).copy()
    s = np.eye(r)  # level totals of x / w, as a linear map of their starting values
    fit = np.zeros((r, r))
    for _ in range(R_RAKE_PASSES):
        for m in range(len(codes)):
            block = slice(starts[m], starts[m + 1])
            c = np.divide(
                s[block],
                counts[block, None],
                out=np.zeros_like(s[block]),
                where=counts[block, None] > 0,
            )
            fit[block] += c
            s -= cross[:, block] @ c
    return a, fit


@dataclass(frozen=True)
class _Margins:
    """The parsed margins: categorical variables, numeric totals, the population size."""

    categorical: list[_Categorical]
    numeric: list[_Numeric]
    population: float | None


def _factors(
    w0: np.ndarray,
    margins: _Margins,
    method: str,
    bounds: tuple[float, float] | None,
    where: str,
    control: tuple[int, float],
) -> tuple[np.ndarray, int]:
    """The adjustment factors ``g`` of ``method`` and the iterations used; ``control`` is
    ``(max_iter, tolerance)``."""
    iterations = 1
    categorical, numeric, population = margins.categorical, margins.numeric, margins.population
    max_iter, tolerance = control
    design_n = w0.shape[0]
    if method == "poststratify":
        if len(categorical) != 1 or numeric or population is not None:
            names = [c.variable for c in categorical] + [x.variable for x in numeric]
            raise DesignError(
                f"{where}post-stratification needs exactly one variable (the joint cells, e.g. a "
                f"column combining segment and region); the margins list {len(names)}: "
                f"{', '.join(names)}; use method rake for several margins"
            )
        cat = categorical[0]
        sums = np.bincount(cat.codes, weights=w0, minlength=len(cat.levels))
        g = (cat.counts / sums)[cat.codes]
    elif method == "rake":
        if numeric or population is not None:
            raise DesignError(
                f"{where}raking takes categorical margins only; '{POPULATION}' and '{TOTAL}' rows "
                "need method linear"
            )
        if bounds is None:
            g, iterations = _rake(w0, categorical, max_iter, tolerance, where)
        else:
            x = _model_matrix(design_n, categorical, [], None)
            target = _targets(categorical, [], None)
            g, iterations = _bounded(w0, x, target, "raking", bounds, max_iter, tolerance, where)
    elif bounds is None:
        g = _linear(w0, categorical, numeric, population, where)
    else:
        x = _model_matrix(design_n, categorical, numeric, population)
        target = _targets(categorical, numeric, population)
        g, iterations = _bounded(w0, x, target, "linear", bounds, max_iter, tolerance, where)

    return g, iterations


def weighting_summary(design: SurveyDesign) -> dict[str, Any]:
    """How much the weights cost in precision, and how far calibration moved them.

    Returns
    -------
    dict
        ``n`` (respondents), ``sum_weights``, ``kish_neff`` ((sum w)^2 / sum w^2), ``efficiency``
        (kish_neff / n), ``adjustment_min`` and ``adjustment_max`` (range of calibrated weight /
        design weight over respondents with a non-zero design weight; 1 and 1 when uncalibrated).
    """
    adj = design.adjustment[design.base_weights != 0]
    neff = design.kish_neff
    return {
        "n": design.n,
        "sum_weights": float(design.weights.sum()),
        "kish_neff": neff,
        "efficiency": neff / design.n,
        "adjustment_min": float(adj.min()) if adj.size else 1.0,
        "adjustment_max": float(adj.max()) if adj.size else 1.0,
    }


# ---------------------------------------------------------------------------------------------
# margins


def _parse(
    design: SurveyDesign, frame: pd.DataFrame, margins: pd.DataFrame, method: str, where: str
) -> tuple[list[_Categorical], list[_Numeric], float | None]:
    m = pd.DataFrame(
        {
            "variable": margins["variable"].astype(str).str.strip(),
            "level": margins["level"].astype(str).str.strip(),
            "count": pd.to_numeric(margins["count"], errors="coerce"),
        }
    )
    bad = m.index[
        ~np.isfinite(m["count"].to_numpy(dtype=float, na_value=np.nan)) | (m["count"] < 0)
    ]
    if len(bad):
        r = margins.loc[bad[0]]
        raise DesignError(
            f"{where}variable {r['variable']!r}, level {r['level']!r}: count {r['count']!r} is not "
            "a number >= 0"
        )
    positive = design.weights > 0
    categorical: list[_Categorical] = []
    numeric: list[_Numeric] = []
    population: float | None = None
    for variable, rows in m.groupby("variable", sort=False):
        variable = str(variable)
        if variable == POPULATION:
            if method != "linear":
                raise DesignError(f"{where}'{POPULATION}' rows need method linear")
            population = float(rows["count"].iloc[0])
            continue
        if variable not in frame.columns:
            raise DesignError(
                f"{where}margin variable {variable!r} is not a column of the survey (columns: "
                f"{', '.join(map(str, frame.columns[:20]))}{' ...' if frame.shape[1] > 20 else ''})"
            )
        if (rows["level"] == TOTAL).any():
            numeric.append(_numeric(frame, variable, rows, method, where))
            continue
        categorical.append(_categorical(frame, variable, rows, positive, where))
    return categorical, numeric, population


def _categorical(
    frame: pd.DataFrame, variable: str, rows: pd.DataFrame, positive: np.ndarray, where: str
) -> _Categorical:
    """A categorical margin: its levels and counts, and each respondent's level (checked)."""
    dup = rows["level"].duplicated()
    if dup.any():
        raise DesignError(
            f"{where}variable {variable!r}: level {rows['level'][dup].iloc[0]!r} is listed twice"
        )
    levels = tuple(rows["level"])
    counts = rows["count"].to_numpy(dtype=float)
    # each distinct value's text once (level_text of the values that occur, in the column's
    # dtype), then every row's level by its value's code
    raw = frame[variable]
    value_code, _ = pd.factorize(raw, use_na_sentinel=True)
    n_values = int(value_code.max(initial=-1)) + 1
    first = np.zeros(n_values, dtype=np.intp)
    first[value_code[::-1][value_code[::-1] >= 0]] = np.flatnonzero(value_code[::-1] >= 0)
    first = len(raw) - 1 - first if n_values else first
    value_text = level_text(raw.iloc[first]).to_numpy(dtype=object)
    lookup = {lev: i for i, lev in enumerate(levels)}
    value_level = np.array([lookup.get(t, -1) for t in value_text], dtype=np.intp)
    codes_arr = np.where(value_code >= 0, value_level[np.maximum(value_code, 0)], -1)
    unknown = codes_arr < 0
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        shown = None if value_code[i] < 0 else value_text[value_code[i]]
        what = "no value" if shown is None or pd.isna(shown) else f"level {shown!r}"
        n_bad = int(unknown.sum())
        raise DesignError(
            f"{where}variable {variable!r}: respondent at row {frame.index[i]!r} has {what}, "
            f"which the margins do not list ({n_bad} respondent{'s' * (n_bad != 1)} in all); "
            f"add its population count to the margins file (levels listed: "
            f"{', '.join(levels)})"
        )
    have = np.bincount(codes_arr[positive], minlength=len(levels))
    empty = np.flatnonzero((have == 0) & (counts > 0))
    if empty.size:
        lev = levels[empty[0]]
        raise DesignError(
            f"{where}variable {variable!r}, level {lev!r}: no respondents have this level, so "
            f"no weights can be raised to its population count {counts[empty[0]]:g}; merge "
            "it with a similar level in the margins file (and the survey), or remove it"
        )
    return _Categorical(variable, levels, counts, codes_arr)


def _numeric(
    frame: pd.DataFrame, variable: str, rows: pd.DataFrame, method: str, where: str
) -> _Numeric:
    if method != "linear":
        raise DesignError(
            f"{where}variable {variable!r}: a '{TOTAL}' row (a numeric total) needs method linear"
        )
    if len(rows) != 1:
        raise DesignError(
            f"{where}variable {variable!r}: a '{TOTAL}' row must be the variable's only row"
        )
    values = pd.to_numeric(frame[variable], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"{where}variable {variable!r}: row {frame.index[i]!r} has no number "
            f"({frame[variable].iloc[i]!r}); calibrating to its total needs a value for everyone"
        )
    return _Numeric(variable, values, float(rows["count"].iloc[0]))


def _agree_totals(categorical: list[_Categorical], population: float | None, where: str) -> float:
    """Check that every variable's counts add up to the same total; rescale them to the first."""
    totals = [(POPULATION, population)] if population is not None else []
    totals += [(c.variable, float(c.counts.sum())) for c in categorical]
    if not totals:
        return 0.0
    ref_name, ref = totals[0]
    worst = 0.0
    for name, total in totals[1:]:
        rel = abs(total - ref) / ref if ref > 0 else np.inf
        if rel > TOTALS_TOLERANCE:
            raise DesignError(
                f"{where}the counts of {name!r} add up to {total:,.6g} but those of {ref_name!r} "
                f"to {ref:,.6g} ({rel:.2%} apart; at most {TOTALS_TOLERANCE:.1%} allowed); every "
                "variable's counts must describe the same population"
            )
        worst = max(worst, rel)
    for i, c in enumerate(categorical):
        total = c.counts.sum()
        if total != ref:
            categorical[i] = _Categorical(c.variable, c.levels, c.counts * (ref / total), c.codes)
    return worst


# ---------------------------------------------------------------------------------------------
# the calibration methods


@dataclass(frozen=True)
class Margin:
    """One categorical margin of raking: each row's level code and the levels' target totals."""

    codes: np.ndarray  # (n,)
    targets: np.ndarray  # (L,)


@dataclass(frozen=True)
class Raked:
    """The result of :func:`rake_weights` for ``R`` sets of weights (R = 1 for one set).

    ``weights`` (R, n) raked weights; ``failed`` (R,) sets that lost every weight of a margin
    level with a positive target, or did not converge; ``change`` (R,) the largest relative change
    of a weight in the last cycle; ``iterations`` the cycles run.
    """

    weights: np.ndarray
    failed: np.ndarray
    change: np.ndarray
    iterations: int


def rake_weights(
    weights: np.ndarray, margins: list[Margin], max_iter: int, tolerance: float
) -> Raked:
    """Iterative proportional fitting of ``R`` sets of weights at once (the one raking loop).

    Each cycle multiplies, margin after margin, every weight by ``target / current total`` of its
    level (0 where the current total is 0), one sparse product per margin for all sets; it stops
    when, in every set, no weight with a positive starting value changed by ``tolerance`` or more
    (relative) in a cycle. :func:`calibrate` rakes its one set of weights with it (``R = 1``), and
    :mod:`analysis.survey.replicates` every replicate together (the sets that converge first go on
    cycling until all have, which moves them by less than ``tolerance``).

    Parameters
    ----------
    weights
        (R, n) starting weights (or (n,): one set).
    margins
        The margins, in the order they are applied in each cycle.
    """
    w0 = np.atleast_2d(np.asarray(weights, dtype=float))
    w = w0.copy()
    positive = w0 > 0
    failed = np.zeros(w.shape[0], dtype=bool)
    change = np.full(w.shape[0], np.inf)
    indicators = [indicator(m.codes, len(m.targets)) for m in margins]
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        prev = w.copy()
        for margin, ind in zip(margins, indicators, strict=True):
            sums = (ind @ w.T).T  # (R, L)
            failed |= ((sums <= 0) & (margin.targets > 0)).any(axis=1)
            factor = np.divide(margin.targets, sums, out=np.zeros_like(sums), where=sums > 0)
            w = w * factor[:, margin.codes]
        moved = positive & (prev > 0)
        rel = np.abs(w - prev) / np.where(moved, prev, 1.0)
        change = np.where(moved & ~failed[:, None], rel, 0.0).max(axis=1, initial=0.0)
        if (change < tolerance).all():
            break
    failed |= change >= tolerance
    return Raked(weights=w, failed=failed, change=change, iterations=iterations)


def _rake(
    w0: np.ndarray, categorical: list[_Categorical], max_iter: int, tolerance: float, where: str
) -> tuple[np.ndarray, int]:
    if not categorical:
        raise DesignError(f"{where}raking needs at least one margin variable")
    margins = [Margin(c.codes, c.counts) for c in categorical]
    raked = rake_weights(w0, margins, max_iter, tolerance)
    if not raked.failed[0]:
        w = raked.weights[0]
        return np.divide(w, w0, out=np.ones_like(w), where=w0 > 0), raked.iterations
    names = ", ".join(c.variable for c in categorical)
    raise DesignError(
        f"{where}raking to {names} did not converge in {max_iter} iterations (weights still "
        f"changed by {raked.change[0]:.2g}, tolerance {tolerance:g}); the margins may be "
        "impossible to meet together with these respondents (sparse cells): merge small levels, "
        "or raise weighting.max_iter"
    )


def _model_matrix(
    n: int, categorical: list[_Categorical], numeric: list[_Numeric], population: float | None
) -> np.ndarray:
    cols: list[np.ndarray] = []
    if population is not None:
        cols.append(np.ones((n, 1)))
    for c in categorical:
        dummies = np.zeros((n, len(c.levels)))
        dummies[np.arange(n), c.codes] = 1.0
        cols.append(dummies)
    for v in numeric:
        cols.append(v.values[:, None])
    return np.hstack(cols)


def _targets(
    categorical: list[_Categorical], numeric: list[_Numeric], population: float | None
) -> np.ndarray:
    parts: list[np.ndarray] = []
    if population is not None:
        parts.append(np.array([population]))
    parts += [c.counts for c in categorical]
    parts += [np.array([v.total]) for v in numeric]
    return np.concatenate(parts)


def _linear(
    w0: np.ndarray,
    categorical: list[_Categorical],
    numeric: list[_Numeric],
    population: float | None,
    where: str,
) -> np.ndarray:
    """Linear (GREG) calibration: ``g = 1 + x' lambda`` meeting the totals exactly."""
    x = _model_matrix(w0.shape[0], categorical, numeric, population)
    target = _targets(categorical, numeric, population)
    estimate = x.T @ w0
    info = x.T @ (w0[:, None] * x)
    lam = np.linalg.lstsq(info, target - estimate, rcond=None)[0]
    g = 1.0 + x @ lam
    achieved = x.T @ (w0 * g)
    scale = np.maximum(np.abs(target), 1.0)
    if np.max(np.abs(achieved - target) / scale) > 1e-6:
        raise DesignError(
            f"{where}linear calibration cannot meet these margins together (they contradict each "
            "other or the respondents cannot represent them); check the counts"
        )
    return g


def _check_bounds(bounds: Any, method: str) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise DesignError(
            f"weighting.bounds {bounds!r} must be two numbers [lo, hi], e.g. [0.3, 3.0]"
        ) from None
    if not (0 <= lo < 1 < hi) or not np.isfinite(hi):
        raise DesignError(
            f"weighting.bounds [{lo:g}, {hi:g}] must satisfy 0 <= lo < 1 < hi (bounds on the "
            "factor by which calibration may change a weight), e.g. [0.3, 3.0]"
        )
    if method == "poststratify":
        raise DesignError(
            "weighting.bounds work with method rake or linear; post-stratification factors are "
            "fixed by the cells (use method rake on the cell variable to bound them)"
        )
    return lo, hi


def _bounded(
    w0: np.ndarray,
    x: np.ndarray,
    target: np.ndarray,
    calfun: str,
    bounds: tuple[float, float],
    max_iter: int,
    tolerance: float,
    where: str,
) -> tuple[np.ndarray, int]:
    """Calibration with bounded factors: R's ``grake`` (Newton steps with a generalised inverse).

    ``g = 1 + F(x' eta)`` with ``F(u) = clip(1 + u, lo, hi) - 1`` (linear) or
    ``clip(exp(u), lo, hi) - 1`` (raking); ``eta`` solves ``sum w0 g x = target``. Converged
    when every margin is met to ``tolerance`` relative to ``1 + |target|`` (R's ``epsilon``).
    """
    lo, hi = bounds

    def f_minus_1(u: np.ndarray) -> np.ndarray:
        base = 1.0 + u if calfun == "linear" else np.exp(np.minimum(u, 700.0))
        return np.clip(base, lo, hi) - 1.0

    def slope(u: np.ndarray) -> np.ndarray:  # dF/du, 0 where g sits on a bound
        if calfun == "linear":
            return ((u < hi - 1) & (u > lo - 1)).astype(float)
        e = np.exp(np.minimum(u, 700.0))
        return np.where((e < hi) & (e > lo), e, 0.0)

    sample_total = x.T @ w0
    eta = np.zeros(x.shape[1])
    xeta = x @ eta
    scale = 1.0 + np.abs(target)
    misfit = target - sample_total - x.T @ (w0 * f_minus_1(xeta))
    for iteration in range(1, max_iter + 1):
        info = (x * (w0 * slope(xeta))[:, None]).T @ x
        eta = eta + np.linalg.pinv(info) @ misfit
        xeta = x @ eta
        misfit = target - sample_total - x.T @ (w0 * f_minus_1(xeta))
        if np.all(np.abs(misfit) / scale < tolerance):
            return 1.0 + f_minus_1(xeta), iteration
    worst = float(np.max(np.abs(misfit) / scale))
    raise DesignError(
        f"{where}calibration with the adjustment factors bounded to [{lo:g}, {hi:g}] did not "
        f"meet the margins in {max_iter} iterations (still {worst:.2g} off, relative); the "
        "bounds are too tight for these respondents: widen weighting.bounds, merge sparse "
        "margin levels, or raise weighting.max_iter"
    )


def _basis(a: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the column space of ``a`` (rank-revealing QR, as R's ``qr``)."""
    q, r, _ = scipy.linalg.qr(a, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > 1e-7 * diag[0])) if diag.size and diag[0] > 0 else 0
    return np.ascontiguousarray(q[:, :rank])
