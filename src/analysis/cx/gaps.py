"""The expectation-performance gap table, and small-cell suppression for reporting it.

For item ``j`` the per-respondent gap is ``g_ij = performance_ij - expectation_ij``, defined where
the respondent answered both (METHODS.md). The table's expectation, performance and gap are weighted
means over the same respondents (those who answered both), so ``expectation + gap == performance``
holds exactly in every row; the standard error, interval, df and p-value are those of the gap, from
the design (:func:`analysis.survey.estimate.means_by`). All items, all segments and all their
levels are
one call of the estimator (one pass over the data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.errors import DesignError
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign, level_text

#: ``group`` and ``level`` of the rows over all respondents.
OVERALL = "all"

GAP_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "expectation",
    "performance",
    "gap",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
]
#: Columns blanked in suppressed rows (those present in the table).
SUPPRESSED_COLUMNS = [
    "expectation",
    "performance",
    "gap",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "deff",
    "p_value",
    "p_adjusted",
]


def gap_table(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Expectation, performance and gap of every item, overall and by segment.

    Parameters
    ----------
    design
        The (possibly calibrated) design of ``clean``.
    clean
        The accepted survey rows the design was built from.
    codebook
        Names the items' expectation and performance columns, and each segment's levels.
    by
        Segment columns to break the table down by (codebook segments).
    confidence
        Confidence level of the gap's interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, expectation, performance, gap, se,
        ci_low, ci_high, df, p_value``. Per item (codebook order): the overall row (``group`` and
        ``level`` = ``"all"``), then for each segment in ``by`` one row per level in codebook order
        (``level`` as text), including levels without respondents (``n = 0``, estimates NaN).
        ``n``: respondents who answered both questions (non-zero weight); ``se``, ``ci_*``, ``df``,
        ``p_value`` (two-sided, H0: gap = 0) are design-based, for the gap.

    Raises
    ------
    DesignError
        A ``by`` column is not a codebook segment or not in the data, or holds a value the codebook
        does not list.
    """
    items = codebook.items
    e, p = paired_ratings(clean, codebook)
    domains = {g: None if g == OVERALL else segment_column(clean, codebook, g) for g in by}
    units = {
        "item": [i.id for i in items],
        "label": [i.label for i in items],
        "dimension": [i.dimension for i in items],
    }
    return paired_means(design, e, p, units, domains, confidence)[GAP_COLUMNS]


def paired_means(
    design: SurveyDesign,
    expectation: np.ndarray,
    performance: np.ndarray,
    units: Mapping[str, Sequence[Any]],
    domains: Mapping[str, pd.Series],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Expectation, performance and gap (with the gap's design-based SE) of k paired measures
    (items, or dimension scores), overall and in each domain variable, in one pass over the data.

    Parameters
    ----------
    expectation, performance
        (n, k) arrays, NaN where a respondent is not in that measure's domain (both are NaN
        together: the gap's respondents are the expectation's and performance's).
    units
        Columns describing the k measures (e.g. ``item, label, dimension``), each of length k.
    domains
        Segment columns (categorical) by group name; the overall row is always included.

    Returns
    -------
    pandas.DataFrame
        The ``units`` columns then ``group, level, n, expectation, performance, gap, se, ci_low,
        ci_high, df, p_value``: per measure, the overall row then each group's levels in category
        order (levels without respondents included, ``n = 0``).
    """
    k = expectation.shape[1]
    values = pd.DataFrame(np.hstack([expectation, performance, performance - expectation]))
    groups = {OVERALL: None, **domains}
    res = estimate.means_by(design, values, groups, confidence, deff=False)
    frames = []
    for g, (group, dom) in enumerate(groups.items()):
        levels = [OVERALL] if dom is None else [str(c) for c in dom.cat.categories]
        n_levels = len(levels)
        block = res[res["group"] == group]
        est = block["estimate"].to_numpy().reshape(3, k, n_levels)
        gap = block.iloc[2 * k * n_levels :]
        frame = {name: np.repeat(list(col), n_levels) for name, col in units.items()}
        frame.update(
            {
                "group": group,
                "level": np.tile(levels, k),
                "n": gap["n"].to_numpy(),
                "expectation": est[0].ravel(),
                "performance": est[1].ravel(),
                "gap": est[2].ravel(),
                "se": gap["se"].to_numpy(),
                "ci_low": gap["ci_low"].to_numpy(),
                "ci_high": gap["ci_high"].to_numpy(),
                "df": gap["df"].to_numpy(),
                "p_value": gap["p_value"].to_numpy(),
                "_unit": np.repeat(np.arange(k), n_levels),
                "_group": g,
                "_level": np.tile(np.arange(n_levels), k),
            }
        )
        frames.append(pd.DataFrame(frame))
    table = pd.concat(frames).sort_values(["_unit", "_group", "_level"], kind="stable")
    return table.drop(columns=["_unit", "_group", "_level"]).reset_index(drop=True)


def ratings(clean: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Rating (or score) columns of the validated data as a float array (NaN: not answered)."""
    missing = [c for c in columns if c not in clean.columns]
    if missing:
        raise DesignError(f"columns not in the data: {', '.join(missing)}")
    try:
        return clean[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        bad = [c for c in columns if not pd.api.types.is_numeric_dtype(clean[c])]
        raise DesignError(
            f"columns {', '.join(map(repr, bad))} are not numbers; validate the survey against "
            "its codebook first (analysis.intake.schema)"
        ) from None


def paired_ratings(clean: pd.DataFrame, codebook: Codebook) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) expectation and performance of each item, NaN unless both were answered (the
    respondents of an item's gap; METHODS.md)."""
    e = ratings(clean, [i.expectation for i in codebook.items])
    p = ratings(clean, [i.performance for i in codebook.items])
    both = np.isfinite(e) & np.isfinite(p)
    return np.where(both, e, np.nan), np.where(both, p, np.nan)


def segment_column(clean: pd.DataFrame, codebook: Codebook, column: str) -> pd.Series:
    """The segment column as a categorical of its codebook levels (as text), in codebook order."""
    if column not in codebook.segments:
        raise DesignError(
            f"{column!r} is not a codebook segment (segments: "
            f"{', '.join(codebook.segments) or 'none'})"
        )
    if column not in clean.columns:
        raise DesignError(f"segment column {column!r} is not in the data")
    levels = [str(v) for v in codebook.segments[column]]
    text = level_text(clean[column])
    unknown = text.notna() & ~text.isin(levels)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DesignError(
            f"column {column!r}, row {clean.index[i]!r}: value {text.iloc[i]!r} is not one of the "
            f"codebook's levels ({', '.join(levels)})"
        )
    return pd.Series(pd.Categorical(text, categories=levels), name=column)


def suppress_small_cells(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Blank the estimates of cells with fewer than ``min_cell`` respondents, with complementary
    suppression.

    Primary suppression: rows with ``0 < n < min_cell``. Complementary suppression: within one item
    (or one dimension, in a table of dimensions) and one group (not the overall row), while the
    suppressed levels could be recovered from the overall estimate and the other levels (exactly
    one is suppressed, or together they have fewer than ``min_cell`` respondents, so their
    combined estimate would reveal a small cell), the unsuppressed level with the next smallest
    ``n`` (``n > 0``; the first in table order on ties) is suppressed too.

    Choices: ``n`` stays visible in every row (respondent counts are not what ``min_cell`` protects,
    and the reader sees why a cell is blank); ``df`` stays too (a property of the design). Rows with
    ``n = 0`` are flagged ``suppressed`` (they have no estimate to show) but hide nothing, so they
    do not trigger complementary suppression.

    Parameters
    ----------
    table
        A table with columns ``n``, ``group``, ``level`` and, optionally, ``item`` (e.g. the gap
        table or an :func:`analysis.survey.estimate.means` table with ``group`` added).
    min_cell
        Smallest number of respondents whose estimate may be shown.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with a bool column ``suppressed`` added and the columns
        ``expectation, performance, gap, estimate, se, ci_low, ci_high, deff, p_value, p_adjusted``
        (those present) set to NaN in suppressed rows.
    """
    if int(min_cell) != min_cell or min_cell < 1:
        raise ValueError(f"min_cell must be a whole number >= 1, got {min_cell!r}")
    for col in ("n", "group", "level"):
        if col not in table.columns:
            raise ValueError(f"the table has no {col!r} column to suppress by")
    out = table.copy()
    n = out["n"].to_numpy(dtype=float)
    primary = (n > 0) & (n < min_cell)
    keys = [c for c in ("item", "dimension", "group") if c in out.columns]
    grp = out.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    in_groups = out["group"].to_numpy() != OVERALL
    complementary = np.zeros(len(out), dtype=bool)
    for g in np.unique(grp[primary & in_groups]):  # only groups with a small cell need a look
        rows = np.flatnonzero((grp == g) & in_groups)
        hidden = primary[rows].copy()
        order = [i for i in np.argsort(n[rows], kind="stable") if not hidden[i] and n[rows][i] > 0]
        while order and (hidden.sum() == 1 or n[rows][hidden].sum() < min_cell):
            hidden[order.pop(0)] = True
        complementary[rows[hidden & ~primary[rows]]] = True
    suppressed = primary | complementary | (n == 0)
    out["suppressed"] = suppressed
    cols = [c for c in SUPPRESSED_COLUMNS if c in out.columns]
    out.loc[suppressed, cols] = np.nan
    return out
