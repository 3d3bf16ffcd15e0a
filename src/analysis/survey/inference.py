"""Inference from estimates and standard errors: t intervals, p-values, multiple testing.

The one place the project turns ``(estimate, se, df)`` into a confidence interval and a two-sided
p-value, and p-values into Benjamini-Hochberg adjusted ones. Every table (gaps, contrasts, NPS,
trend, perception, drivers) goes through these functions.

Degrees of freedom: not always an integer (Bell & McCaffrey's, :func:`df_column`);
``df <= 0`` (or NaN) has no t distribution, so the interval and the p-value
are NaN, as R's ``qt(0.975, df = 0)`` is NaN. A design with one PSU per stratum therefore reports
no interval rather than one from an invented df.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def t_quantile(df: float | np.ndarray, confidence: float) -> np.ndarray:
    """The two-sided ``confidence`` quantile of the t distribution (R ``qt((1 + conf) / 2, df)``).

    NaN where ``df <= 0`` or NaN.
    """
    _check_confidence(confidence)
    df_arr = np.asarray(df, dtype=float)
    ok = df_arr > 0
    with np.errstate(invalid="ignore"):
        # scipy.special: the same functions as scipy.stats.t, less overhead
        return np.where(
            ok, special.stdtrit(np.where(ok, df_arr, 1.0), (1 + confidence) / 2), np.nan
        )


def df_column(df: int | float | np.ndarray, size: int | None = None) -> np.ndarray:
    """Degrees of freedom as a table column: integers (int64) when every value is a whole number
    (the design df: PSUs - strata), floats otherwise (Bell & McCaffrey's df,
    ``weighting.small_sample: bell-mccaffrey``). ``size``: repeat one ``df`` that many times."""
    values = np.asarray(df, dtype=float)
    if size is not None:
        values = np.full(size, float(values))
    whole = np.isfinite(values) & (values == np.round(values))
    return values.astype(np.int64) if whole.all() else values


def t_interval(
    estimate: np.ndarray | float,
    se: np.ndarray | float,
    df: float | np.ndarray,
    confidence: float,
) -> dict[str, np.ndarray]:
    """Confidence interval and two-sided p-value (H0: 0) from the t distribution.

    Parameters
    ----------
    estimate, se
        Arrays of the same shape (or scalars).
    df
        Degrees of freedom, one for all or one per estimate; ``df <= 0`` gives NaN.
    confidence
        Between 0 and 1.

    Returns
    -------
    dict
        ``ci_low``, ``ci_high``, ``p_value`` arrays shaped like ``estimate``.
    """
    estimate = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    q = t_quantile(df, confidence)
    df_arr = np.broadcast_to(np.asarray(df, dtype=float), np.broadcast(estimate, se).shape)
    ok = df_arr > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = estimate / se
        p = np.where(ok, 2 * special.stdtr(np.where(ok, df_arr, 1.0), -np.abs(t)), np.nan)
    return {"ci_low": estimate - q * se, "ci_high": estimate + q * se, "p_value": p}


def bh_adjust(p_values: Iterable[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``); NaN stays NaN.

    The family is the non-missing p-values given.
    """
    p = np.asarray(list(p_values) if not isinstance(p_values, np.ndarray) else p_values, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def add_p_adjusted(
    table: pd.DataFrame,
    family: Sequence[str] = ("group", "level"),
    column: str = "p_value",
    out: str = "p_adjusted",
) -> pd.DataFrame:
    """A copy of ``table`` with Benjamini-Hochberg adjusted p-values next to ``column``.

    Each family is the rows sharing the values of ``family`` (for a gap table: the items of one
    segment level, or all items overall), so the adjustment is across items, as METHODS.md asks.
    """
    result = table.copy()
    adjusted = np.full(len(result), np.nan)
    keys = [result[c].astype(str) for c in family] if family else [pd.Series(0, result.index)]
    codes = pd.MultiIndex.from_arrays(keys).factorize()[0] if family else np.zeros(len(result))
    p = result[column].to_numpy(dtype=float)
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        adjusted[rows] = bh_adjust(p[rows])
    if out in result.columns:
        result = result.drop(columns=out)
    result.insert(result.columns.get_loc(column) + 1, out, adjusted)
    return result
