"""Representativeness: respondents against the customer base, before and after weighting.

Per segment variable and level: the population count and share (the weighting margins file),
the respondents and their unweighted share, and the weighted shares with the design weights
(before calibration) and with the final (calibrated) weights.

R: ``prop.table(svytable(~segment, design))`` on the design before and after
``calibrate``/``rake``; ``prop.table(table(segment))`` for the sample shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import suppression
from analysis.survey.design import SurveyDesign, level_text

REPRESENTATIVENESS_COLUMNS = [
    "variable",
    "level",
    "population",
    "population_share",
    "n",
    "sample_share",
    "design_weighted_share",
    "weighted_share",
]
#: shown in suppressed rows: the customer base (not survey data) and the respondent counts, with
#: their unweighted share (a function of the counts, which every table shows)
IDENTIFIERS = ("variable", "level", "population", "population_share", "n", "sample_share")


def representativeness(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    margins: pd.DataFrame | None = None,
    variables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Respondents against the customer base: counts and shares per level, before and after
    weighting.

    Parameters
    ----------
    design
        The design (its ``base_weights`` are the weights before calibration, its ``weights``
        after).
    clean
        The rows of the design.
    codebook
        Segment levels (codebook order) of the variables.
    margins
        The customer base: columns ``variable, level, count`` (the weighting margins file); its
        variables are added to ``variables``. ``None``: no population columns.
    variables
        Segment columns to describe; default every codebook segment in the data.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, level, population, population_share, n, sample_share,
        design_weighted_share, weighted_share``: the population count and share (NaN without
        margins), respondents and their unweighted share, the share with the design weights
        (before calibration) and with the final (calibrated) weights. Shares are fractions of the
        respondents with a known value of the variable and sum to 1 per variable.
    """
    rows: list[dict[str, Any]] = []
    for var in _variables(clean, codebook, margins, variables):
        rows += _variable_rows(design, clean[var], var, codebook, margins)
    return pd.DataFrame(rows, columns=REPRESENTATIVENESS_COLUMNS)


def _variables(
    clean: pd.DataFrame,
    codebook: Codebook,
    margins: pd.DataFrame | None,
    variables: Sequence[str] | None,
) -> list[str]:
    """The variables to describe: those given (default: the codebook segments in the data), then
    the margins file's other variables in the data."""
    if variables is None:
        variables = [s for s in codebook.segments if s in clean.columns]
    out = list(variables)
    if margins is not None:
        out += [
            v
            for v in dict.fromkeys(margins["variable"].astype(str))
            if v not in out and v in clean.columns
        ]
    return out


def _variable_rows(
    design: SurveyDesign,
    column: pd.Series,
    var: str,
    codebook: Codebook,
    margins: pd.DataFrame | None,
) -> list[dict[str, Any]]:
    """The rows of one variable: its codebook levels, then the margins' and the data's others."""
    text = level_text(column)
    levels = [str(v) for v in codebook.segments.get(var, [])]
    pop: dict[str, float] = {}
    if margins is not None:
        m = margins[margins["variable"].astype(str) == var]
        pop = dict(zip(m["level"].astype(str), m["count"].astype(float), strict=True))
        levels += [lv for lv in pop if lv not in levels]
    levels += [lv for lv in dict.fromkeys(text.dropna()) if lv not in levels]
    base = design.base_weights
    known = text.notna().to_numpy() & (base != 0)
    n_all = known.sum()
    pop_total = sum(pop.values()) if pop else math.nan
    rows = []
    for lv in levels:
        inside = (text == lv).to_numpy() & known
        rows.append(
            {
                "variable": var,
                "level": lv,
                "population": pop.get(lv, math.nan) if pop else math.nan,
                "population_share": pop[lv] / pop_total if lv in pop else math.nan,
                "n": int(inside.sum()),
                "sample_share": inside.sum() / n_all if n_all else math.nan,
                "design_weighted_share": _share(base, inside, known),
                "weighted_share": _share(design.weights, inside, known),
            }
        )
    return rows


def _share(w: np.ndarray, inside: np.ndarray, known: np.ndarray) -> float:
    total = w[known].sum()
    return float(w[inside].sum() / total) if total else math.nan


def suppress_representativeness(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`analysis.cx.suppression.suppress` of a :func:`representativeness` table: the
    weighted shares of a level of fewer than ``min_cell`` respondents are hidden, with
    complementary suppression within each variable (its shares sum to 1, so one hidden level
    could be recovered from the others), as in every other table.

    Returns the table with the bool column ``suppressed``; ``IDENTIFIERS`` stay visible.
    """
    as_groups = table.assign(group=table["variable"])  # each variable one group of levels
    hide = suppression.cells(as_groups, min_cell)
    return suppression.blank(table, hide, IDENTIFIERS)
