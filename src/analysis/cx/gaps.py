"""The expectation-performance gap table: every item's expectation, performance and gap.

For item ``j`` the per-respondent gap is ``g_ij = performance_ij - expectation_ij``, defined where
the respondent answered both (METHODS.md). The table's expectation, performance and gap are weighted
means over the same respondents (those who answered both), so ``expectation + gap == performance``
holds exactly in every row; the standard error, interval, df and p-value are those of the gap, from
the design (:func:`analysis.survey.estimate.means_by`). ``share_met`` is the weighted share of the
same respondents whose performance rating meets or exceeds their expectation (the mean of the
indicator ``1[performance_ij >= expectation_ij]``), with its design-based SE ``share_met_se``.
All items, all segments and all their levels, and all four measures (expectation, performance,
gap, indicator), are one call of the estimator (one pass over the data); :func:`paired_means`
also serves the dimension table (:mod:`analysis.cx.dimensions`).

R: per item, ``svymean(~gap_j, design, na.rm = TRUE)`` (the overall row) and
``svyby(~gap_j, ~segment, design, svymean, na.rm = TRUE)`` (the levels), with ``gap_j``,
``expectation_j`` and ``performance_j`` set to ``NA`` unless both ratings were answered;
``confint(..., df = degf(design))`` for the interval; ``svymean(~I(performance_j >=
expectation_j), design, na.rm = TRUE)`` (and its ``svyby``) for ``share_met``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx.inputs import paired_ratings, segment_domains
from analysis.cx.vocabulary import ALL
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign

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
    "share_met",
    "share_met_se",
]
#: The gap table's identifying columns (and ``n``, ``df``): visible when a row is suppressed
#: (:mod:`analysis.cx.suppression`); every other column is blanked.
IDENTIFIERS = ("item", "label", "dimension", "group", "level", "n", "df")
#: The columns of :func:`paired_means` after the measures' own and ``group``.
_PAIRED_COLUMNS = GAP_COLUMNS[GAP_COLUMNS.index("level") :]
#: The variables of :func:`paired_means`'s one estimator call, k columns each, in this order.
_MEASURES = ("expectation", "performance", "gap", "share_met")


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
        ci_low, ci_high, df, p_value, share_met, share_met_se``. Per item (codebook order): the
        overall row (``group`` and ``level`` = ``"all"``), then for each segment in ``by`` one row
        per level in codebook order (``level`` as text), including levels without respondents
        (``n = 0``, estimates NaN).
        ``n``: respondents who answered both questions (non-zero weight); ``se``, ``ci_*``, ``df``,
        ``p_value`` (two-sided, H0: gap = 0) are design-based, for the gap; ``share_met``
        (0 to 1) is the weighted share of those respondents whose performance rating meets or
        exceeds their expectation, ``share_met_se`` its design-based standard error.

    Raises
    ------
    DesignError
        A ``by`` column is not a codebook segment or not in the data, or holds a value the codebook
        does not list.
    """
    items = codebook.items
    e, p = paired_ratings(clean, codebook)
    domains = segment_domains(clean, codebook, [g for g in by if g != ALL])
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
    (items, or dimension scores), and the share whose performance meets or exceeds the
    expectation (with its SE), overall and in each domain variable, in one pass over the data.

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
        ci_high, df, p_value, share_met, share_met_se``: per measure, the overall row then each
        group's levels in category order (levels without respondents included, ``n = 0``).
        ``se`` and the interval, df and p-value are the gap's; ``share_met_se`` the share's.
    """
    k = expectation.shape[1]
    answered = ~(np.isnan(expectation) | np.isnan(performance))
    met = np.where(~answered, np.nan, (performance >= expectation).astype(float))
    values = pd.DataFrame(np.hstack([expectation, performance, performance - expectation, met]))
    groups = {ALL: None, **domains}
    res = estimate.means_by(design, values, groups, confidence, deff=False)
    frames = []
    for g, (group, dom) in enumerate(groups.items()):
        levels = [ALL] if dom is None else [str(c) for c in dom.cat.categories]
        frame = _group_rows(res[res["group"] == group], units, levels, k)
        frames.append(frame.assign(group=group, _group=g))
    table = pd.concat(frames).sort_values(["_unit", "_group", "_level"], kind="stable")
    table = table[[*units, "group", *_PAIRED_COLUMNS]]
    return table.reset_index(drop=True)


def _group_rows(
    block: pd.DataFrame, units: Mapping[str, Sequence[Any]], levels: list[str], k: int
) -> pd.DataFrame:
    """One group's rows of :func:`paired_means` (measure-major) from its ``means_by`` block (the
    expectation, performance, gap then share-met variables, each over the levels)."""
    n_levels = len(levels)
    est = block["estimate"].to_numpy().reshape(len(_MEASURES), k, n_levels)
    se = block["se"].to_numpy().reshape(len(_MEASURES), k, n_levels)
    gap = block.iloc[2 * k * n_levels : 3 * k * n_levels]
    frame = {name: np.repeat(list(col), n_levels) for name, col in units.items()}
    frame.update(
        {
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
            "share_met": est[3].ravel(),
            "share_met_se": se[3].ravel(),
            "_unit": np.repeat(np.arange(k), n_levels),
            "_level": np.tile(np.arange(n_levels), k),
        }
    )
    return pd.DataFrame(frame)
