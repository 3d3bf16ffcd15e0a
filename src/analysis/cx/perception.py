"""Perception gap: what staff believe customers expect, against what customers said they expect.

``difference = staff_belief - customer_expectation`` per item: the staff mean (staff a simple
random sample, or census, of equal weight) against the customers' design-based expectation mean.
The two samples are independent: ``se = sqrt(se_staff^2 + se_customers^2)``, ``df`` the sum of
the two designs' degrees of freedom, a t interval (:func:`analysis.survey.inference.t_interval`)
and Benjamini-Hochberg across the items.

R: ``svymean(~s_j, svydesign(ids = ~1, data = staff), na.rm = TRUE)`` and
``svymean(~e_j, design, na.rm = TRUE)``, the difference's SE from the two SEs, ``2 * pt(-abs(t),
df)`` and ``p.adjust(p, "BH")``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.config.params import Codebook, DesignConfig, Item
from analysis.cx import suppression
from analysis.cx.inputs import ratings
from analysis.cx.vocabulary import ALL
from analysis.errors import DesignError
from analysis.survey import estimate, inference
from analysis.survey.design import SurveyDesign, build_design
from analysis.survey.inference import add_p_adjusted

PERCEPTION_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n_staff",
    "n_customers",
    "staff_belief",
    "customer_expectation",
    "difference",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
#: Identifying columns (and the counts, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("item", "label", "dimension", "group", "level", "n_staff", "n_customers", "df")


def perception_gap(
    staff: pd.DataFrame,
    staff_columns: Mapping[str, str],
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """What staff believe customers expect, against what customers said they expect.

    ``difference = staff_belief - customer_expectation`` per item: positive, staff think customers
    expect more than they do; negative, staff underestimate customers' expectations. The customer
    expectation is the design-based mean over all customers who answered it; the staff belief the
    mean over staff (a simple random sample, or census, of staff). The two samples are
    independent: ``se = sqrt(se_staff^2 + se_customers^2)``, ``df`` the sum of the two designs'
    degrees of freedom, Benjamini-Hochberg across items.

    Parameters
    ----------
    staff
        The staff survey's validated rows.
    staff_columns
        Item id -> the staff column holding the belief about that item's customer expectation
        (on the customers' scale). Items without a staff column are left out.
    design, clean, codebook
        The customer survey.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n_staff, n_customers, staff_belief,
        customer_expectation, difference, se, ci_low, ci_high, df, p_value, p_adjusted``
        (``group = level = "all"``).
    """
    items = _staff_items(staff_columns, codebook)
    staff_design = build_design(staff.reset_index(drop=True), DesignConfig())
    s_vals = pd.DataFrame(ratings(staff, [staff_columns[i.id] for i in items]))
    c_vals = pd.DataFrame(ratings(clean, [i.expectation for i in items]))
    s = estimate.means(staff_design, s_vals, confidence=confidence)
    c = estimate.means(design, c_vals, confidence=confidence)
    out = _differences(items, s, c, float(staff_design.df + design.df), confidence)
    return add_p_adjusted(out)[PERCEPTION_COLUMNS]


def _differences(
    items: list[Item], staff: pd.DataFrame, customers: pd.DataFrame, df: float, confidence: float
) -> pd.DataFrame:
    """Staff against customer means (:func:`analysis.survey.estimate.means` tables, one row per
    item) of two independent samples with ``df`` degrees of freedom together."""
    diff = staff["estimate"].to_numpy() - customers["estimate"].to_numpy()
    se = np.sqrt(staff["se"].to_numpy() ** 2 + customers["se"].to_numpy() ** 2)
    tcols = inference.t_interval(diff, se, df, confidence)
    return pd.DataFrame(
        {
            "item": [i.id for i in items],
            "label": [i.label for i in items],
            "dimension": [i.dimension for i in items],
            "group": ALL,
            "level": ALL,
            "n_staff": staff["n"].to_numpy(),
            "n_customers": customers["n"].to_numpy(),
            "staff_belief": staff["estimate"].to_numpy(),
            "customer_expectation": customers["estimate"].to_numpy(),
            "difference": diff,
            "se": se,
            "ci_low": tcols["ci_low"],
            "ci_high": tcols["ci_high"],
            "df": inference.df_column(df, len(items)),
            "p_value": tcols["p_value"],
        }
    )


def _staff_items(staff_columns: Mapping[str, str], codebook: Codebook) -> list[Item]:
    """The codebook items with a staff column (codebook order); an error for unknown items."""
    items = [i for i in codebook.items if i.id in staff_columns]
    if not items:
        raise DesignError("no codebook item has a staff column; nothing to compare")
    unknown = sorted(set(staff_columns) - {i.id for i in codebook.items})
    if unknown:
        raise DesignError(f"staff columns given for items not in the codebook: {unknown}")
    return items


def suppress_perception(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`analysis.cx.suppression.blank` of a :func:`perception_gap` table: items answered
    by fewer than ``min_cell`` staff or customers are hidden (no complementary suppression: the
    table has no breakdown)."""
    small = (table["n_staff"] < min_cell) | (table["n_customers"] < min_cell)
    return suppression.blank(table, small.to_numpy(), IDENTIFIERS)
