"""Who matters most: gaps and NPS weighted by each customer's value, and the key customers.

The codebook may name a value column (``value: annual_spend``: revenue, margin, contract value;
non-negative numbers). A customer's value ``v`` then weights their answers on top of the sampling
weight ``w``:

- the value-weighted gap of an item is the ratio ``sum w v g / sum w v`` over the respondents who
  answered both ratings and have a value (:func:`value_gaps`): the gap of the average unit of
  value, where the gap table's is that of the average customer;
- the value-weighted NPS is the share of value held by promoters minus that held by detractors
  (:func:`value_nps`);
- each segment level's share of the customers, share of the value, mean gap, NPS and value at
  risk, the share of all value held by the level's detractors (:func:`key_customers`).

Every one is a ratio of two weighted totals with its design-based SE (domains inside the full
design, calibration carried into the variance) from the one ratio estimator,
:func:`analysis.survey.estimate.ratios_by`. A customer without a value (a blank cell) is outside
every value-weighted domain, as a skipped question is (never imputed, never counted as 0); the
tables count them (``n_no_value``).

R (``des`` the calibrated design; ``ok`` answered both ratings and has a value; ``a``
answered the recommend question and has a value):
``svyratio(~I(ifelse(ok, v * g, 0)), ~I(ifelse(ok, v, 0)), des)`` and its ``svyby(...,
~segment, des, svyratio, denominator = ...)``; the NPS with ``100 * s`` for ``g`` and ``a`` for
``ok``; value shares ``svyratio(~I(v * (segment == L)), ~v, des)``; value at risk
``svyratio(~I(ifelse(a, v * (segment == L) * (s == -1), 0)), ~I(ifelse(a, v, 0)), des)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import nps as nps_mod
from analysis.cx import suppression
from analysis.cx.inputs import paired_ratings, ratings, scale_mean, segment_domains
from analysis.cx.vocabulary import ALL, rank_shift
from analysis.errors import DesignError
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign
from analysis.survey.domains import grouping

VALUE_GAP_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "value_gap",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "gap",
    "gap_se",
    "rank",
    "value_rank",
    "rank_change",
    "shift",
]
#: Identifying columns (and ``n``, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("item", "label", "dimension", "group", "level", "n", "n_no_value", "df")

VALUE_NPS_COLUMNS = [
    "group",
    "level",
    "n",
    "value_nps",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "nps",
    "nps_se",
]

KEY_CUSTOMER_COLUMNS = [
    "group",
    "level",
    "n",
    "n_no_value",
    "customers",
    "customers_se",
    "value_share",
    "value_share_se",
    "value_index",
    "mean_gap",
    "mean_gap_se",
    "nps",
    "value_nps",
    "value_at_risk",
    "value_at_risk_se",
    "detractor_value",
    "detractor_value_se",
    "df",
]


@dataclass(frozen=True)
class ValueResult:
    """Who matters most, as a run writes it under data/processed (suppressed, labelled): the
    value-weighted gaps (``value_gaps.csv``), the value-weighted NPS (``value_nps.csv``; None
    without a recommend question) and the key customers (``key_customers.csv``)."""

    gaps: pd.DataFrame
    nps: pd.DataFrame | None
    key_customers: pd.DataFrame


#: Share of a customer's items (both ratings) answered for their mean gap over all items (as the
#: segment contrasts' all-items row).
MIN_SHARE = 0.5


def values(clean: pd.DataFrame, codebook: Codebook) -> np.ndarray:
    """Each respondent's value (float; NaN: none recorded)."""
    if not codebook.value:
        raise DesignError("the codebook names no value column ('value: <column>')")
    v = ratings(clean, [codebook.value])[:, 0]
    bad = np.isfinite(v) & (v < 0) | np.isinf(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DesignError(
            f"column {codebook.value!r}, row {clean.index[i]!r}: value {v[i]!r} is not a "
            "non-negative number; validate the survey against its codebook first"
        )
    return v


def _groups(clean: pd.DataFrame, codebook: Codebook, by: Sequence[str]) -> dict:
    return {ALL: None, **segment_domains(clean, codebook, [g for g in by if g != ALL])}


def _level_text(table: pd.DataFrame) -> pd.Series:
    level = table["domain"].astype(str)
    return level.where(table["group"] != ALL, ALL)


def value_gaps(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every item's gap weighted by customer value, beside its gap weighted by customers alone.

    ``value_gap = sum w v g / sum w v`` over the respondents who answered both ratings and have a
    value (:func:`analysis.survey.estimate.ratios_by`); ``gap`` is the ordinary (Hajek) mean gap
    of the same respondents. Ranks are left to :func:`suppress_value_gaps`, which ranks the
    rows it shows.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, n_no_value, value_gap, se, ci_low,
        ci_high, df, p_value, gap, gap_se``: per item (codebook order) the overall row, then each
        ``by`` segment's levels (codebook order). ``n``: respondents in the value-weighted domain
        (non-zero weight); ``n_no_value``: respondents who answered both ratings but have no
        value (left out). ``se`` .. ``p_value`` are the value-weighted gap's (two-sided, H0: 0).
    """
    v = values(clean, codebook)
    e, p = paired_ratings(clean, codebook)
    g = p - e
    del e, p  # (rows x items) each: not kept while the estimates run (1M rows: 160 MB each)
    known = np.isfinite(v)[:, None]
    groups = _groups(clean, codebook, by)
    # rows with a zero weight are no respondents (as n); count the rest of the rows unweighted
    counts = _unweighted_counts(design, np.isfinite(g) & ~known, groups)
    np.copyto(g, np.nan, where=~known)  # g: the gaps of the respondents with a value
    k = len(codebook.items)
    plain = estimate.means_by(
        design, pd.DataFrame(g, columns=range(k), copy=False), groups, confidence, False
    )
    # one (rows x items) array at a time beside g (1M rows, 20 items: 160 MB each)
    num = pd.DataFrame(v[:, None] * g, columns=range(k), copy=False)
    den = np.broadcast_to(v[:, None], g.shape).copy()
    np.copyto(den, np.nan, where=~np.isfinite(g))
    del g
    ratio = estimate.ratios_by(
        design, num, pd.DataFrame(den, columns=range(k), copy=False), groups, confidence
    )
    del num, den
    items = codebook.items
    idx = ratio["variable"].to_numpy(dtype=int)
    table = pd.DataFrame(
        {
            "item": [items[i].id for i in idx],
            "label": [items[i].label for i in idx],
            "dimension": [items[i].dimension for i in idx],
            "group": ratio["group"].to_numpy(),
            "level": _level_text(ratio).to_numpy(),
            "n": ratio["n"].to_numpy(),
            "n_no_value": counts,
            "value_gap": ratio["estimate"].to_numpy(),
            "se": ratio["se"].to_numpy(),
            "ci_low": ratio["ci_low"].to_numpy(),
            "ci_high": ratio["ci_high"].to_numpy(),
            "df": ratio["df"].to_numpy(),
            "p_value": ratio["p_value"].to_numpy(),
            "gap": plain["estimate"].to_numpy(),
            "gap_se": plain["se"].to_numpy(),
            "_group": pd.factorize(ratio["group"])[0],
            "_order": np.arange(len(ratio)),
        }
    )
    table = table.sort_values(["item", "_group", "_order"], kind="stable", key=_item_order(items))
    return table.drop(columns=["_group", "_order"]).reset_index(drop=True)


def _item_order(items: Sequence) -> object:
    order = {it.id: i for i, it in enumerate(items)}

    def key(col: pd.Series) -> pd.Series:
        return col.map(order) if col.name == "item" else col

    return key


def _unweighted_counts(
    design: SurveyDesign, flags: np.ndarray, groups: dict[str, pd.Series | None]
) -> np.ndarray:
    """Respondents (non-zero weight) flagged per variable in every group's levels, in the order
    of :func:`analysis.survey.estimate.by` (group, variable, level)."""
    live = design.weights != 0
    out = []
    for dom in groups.values():
        gr = grouping(design, dom)
        n_lev = len(gr.levels)
        for j in range(flags.shape[1]):
            hit = live & (flags[:, j] > 0) & (gr.codes >= 0)
            out.append(np.bincount(gr.codes[hit], minlength=n_lev))
    return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)


def suppress_value_gaps(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`value_gaps` as the report shows it: small cells suppressed
    (:func:`analysis.cx.suppression.suppress`), then the shown rows ranked within each group
    level: ``rank`` by the gap, ``value_rank`` by the value-weighted gap (1 = the largest
    shortfall), ``rank_change = rank - value_rank`` (positive: the attribute rises in the
    priorities when customers are weighted by value) and ``shift`` (``rises``/``falls`` for a
    change of :data:`analysis.cx.vocabulary.SEVERAL_RANKS` or more, else empty).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`value_gaps` with ``rank, value_rank, rank_change, shift`` and
        ``suppressed``; ranks are nullable integers (blank in hidden rows).
    """
    out = suppression.suppress(table, min_cell, IDENTIFIERS)
    shown = ~out[suppression.FLAG].to_numpy()
    keys = [out["group"], out["level"]]
    for col, src in (("rank", "gap"), ("value_rank", "value_gap")):
        score = out[src].where(shown)
        out[col] = score.groupby(keys, sort=False).rank(method="min").astype("Int64")
    out["rank_change"] = (out["rank"] - out["value_rank"]).astype("Int64")
    out["shift"] = [rank_shift(c) for c in out["rank_change"]]
    cols = [*VALUE_GAP_COLUMNS[:6], "n_no_value", *VALUE_GAP_COLUMNS[6:], suppression.FLAG]
    return out[cols]


def value_nps(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Value-weighted NPS: the share of value held by promoters minus that held by detractors
    (x100), overall and per segment level, beside the ordinary NPS of the same respondents.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, level, n, value_nps, se, ci_low, ci_high, df, p_value, nps, nps_se``:
        ``n`` respondents who answered the recommend question and have a value; ``value_nps``
        ``100 sum w v s / sum w v`` with its design-based SE, interval and p-value (H0: 0);
        ``nps`` the NPS of the same respondents (weighted by ``w`` alone) and its SE.
    """
    v = values(clean, codebook)
    s = nps_mod.scores(clean, codebook)
    s = np.where(np.isfinite(v), s, np.nan)
    groups = _groups(clean, codebook, by)
    ratio = estimate.ratios_by(
        design,
        pd.DataFrame({"value_nps": 100 * v * s}),
        pd.DataFrame({"value_nps": np.where(np.isfinite(s), v, np.nan)}),
        groups,
        confidence,
    )
    plain = estimate.means_by(design, pd.DataFrame({"nps": 100 * s}), groups, confidence, False)
    return pd.DataFrame(
        {
            "group": ratio["group"].to_numpy(),
            "level": _level_text(ratio).to_numpy(),
            "n": ratio["n"].to_numpy(),
            "value_nps": ratio["estimate"].to_numpy(),
            "se": ratio["se"].to_numpy(),
            "ci_low": ratio["ci_low"].to_numpy(),
            "ci_high": ratio["ci_high"].to_numpy(),
            "df": ratio["df"].to_numpy(),
            "p_value": ratio["p_value"].to_numpy(),
            "nps": plain["estimate"].to_numpy(),
            "nps_se": plain["se"].to_numpy(),
        }
    )[VALUE_NPS_COLUMNS]


def key_customers(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Each segment level's share of the customers and of the value, its mean gap, NPS and the
    value at risk (held by its detractors), design-based.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, level, n, n_no_value, customers, customers_se, value_share,
        value_share_se, value_index, mean_gap, mean_gap_se, nps, value_nps, value_at_risk,
        value_at_risk_se, detractor_value, detractor_value_se, df``: the overall row
        (``group = level = all``), then each ``by`` segment's levels (codebook order).
        ``n`` respondents; ``n_no_value`` those without a value (left out of every value share);
        ``customers`` the level's share of the customers (%, the weighted share of respondents);
        ``value_share`` its share of all value (%, ``sum w v 1[level] / sum w v``);
        ``value_index = value_share / customers`` (above 1: the level brings more than its
        headcount's share of the value); ``mean_gap`` the weighted mean of each customer's mean
        gap over the items they answered (at least half), as the segment contrasts' all-items
        row; ``nps`` and ``value_nps`` (NaN without a recommend question); ``value_at_risk``
        the share of all value (of the customers who answered the recommend question) held by
        the level's detractors (%); ``detractor_value`` the share of the level's own value held
        by its detractors (%). Every ``*_se`` is design-based.
    """
    v = values(clean, codebook)
    known = np.isfinite(v)
    groups = _groups(clean, codebook, by)
    segs = {name: col for name, col in groups.items() if col is not None}
    e, p = paired_ratings(clean, codebook)
    mean_gap = scale_mean(p - e, MIN_SHARE)
    gap = estimate.means_by(design, pd.DataFrame({"gap": mean_gap}), groups, confidence, False)
    live = design.weights != 0

    rows = []
    gap_at = {(r.group, str(r.domain)): r for r in gap.itertuples()}
    has_nps = codebook.recommend is not None
    s = nps_mod.scores(clean, codebook) if has_nps else np.full(len(clean), np.nan)
    answered = np.isfinite(s) & known
    detractor = np.where(answered, (s == -1).astype(float), np.nan)
    vn = value_nps(design, clean, codebook, by, confidence) if has_nps else None

    # overall row, then each level
    levels: list[tuple[str, str, np.ndarray]] = [(ALL, ALL, np.ones(len(clean), dtype=bool))]
    for name, col in segs.items():
        for lev in col.cat.categories:
            levels.append((name, str(lev), (col == lev).to_numpy()))
    member = np.column_stack([m for *_, m in levels]).astype(float)
    n_levels = member.shape[1]
    one = {ALL: None}
    cust = estimate.means(design, pd.DataFrame(100 * member), None, confidence, False)
    share = estimate.ratios_by(
        design,
        pd.DataFrame(100 * member * np.where(known, v, np.nan)[:, None]),
        pd.DataFrame(np.repeat(np.where(known, v, np.nan)[:, None], n_levels, axis=1)),
        one,
        confidence,
    )
    risk = estimate.ratios_by(
        design,
        pd.DataFrame(100 * member * (v * detractor)[:, None]),
        pd.DataFrame(np.repeat(np.where(answered, v, np.nan)[:, None], n_levels, axis=1)),
        one,
        confidence,
    )
    within = estimate.ratios_by(
        design,
        pd.DataFrame(100 * member * (v * detractor)[:, None]),
        pd.DataFrame(member * np.where(answered, v, np.nan)[:, None]),
        one,
        confidence,
    )
    nps_at = {}
    if has_nps:
        plain = nps_mod.nps(design, clean, codebook, by=list(segs), confidence=confidence)
        nps_at = {(r.group, r.level): r.nps for r in plain.itertuples()}
    vn_at = {} if vn is None else {(r.group, r.level): r.value_nps for r in vn.itertuples()}
    for j, (name, lev, m) in enumerate(levels):
        gr = gap_at.get((name, lev))
        rows.append(
            {
                "group": name,
                "level": lev,
                "n": int((m & live).sum()),
                "n_no_value": int((m & live & ~known).sum()),
                "customers": cust["estimate"].iloc[j],
                "customers_se": cust["se"].iloc[j],
                "value_share": share["estimate"].iloc[j],
                "value_share_se": share["se"].iloc[j],
                "mean_gap": np.nan if gr is None else gr.estimate,
                "mean_gap_se": np.nan if gr is None else gr.se,
                "nps": nps_at.get((name, lev), np.nan),
                "value_nps": vn_at.get((name, lev), np.nan),
                "value_at_risk": risk["estimate"].iloc[j] if has_nps else np.nan,
                "value_at_risk_se": risk["se"].iloc[j] if has_nps else np.nan,
                "detractor_value": within["estimate"].iloc[j] if has_nps else np.nan,
                "detractor_value_se": within["se"].iloc[j] if has_nps else np.nan,
                "df": share["df"].iloc[j],
            }
        )
    table = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["value_index"] = table["value_share"] / table["customers"]
    return table[KEY_CUSTOMER_COLUMNS]


#: Identifying columns of :func:`key_customers` and :func:`value_nps` (visible when suppressed).
KEY_IDENTIFIERS = ("group", "level", "n", "n_no_value", "df")


def suppress_key_customers(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`key_customers` (or :func:`value_nps`) with small levels suppressed, complementary
    suppression within each segment (:func:`analysis.cx.suppression.suppress`)."""
    return suppression.suppress(table, min_cell, KEY_IDENTIFIERS)
