"""The customer-centred analyses built on the gap table (METHODS.md, "Customer-centred analyses").

Every function takes a design (or result tables) and returns a tidy DataFrame with fixed columns;
the design-based estimates come from :mod:`analysis.survey.estimate` (all items and levels at
once), and
the driver analysis lives in :mod:`analysis.cx.drivers`.

- Benjamini-Hochberg adjustment: :func:`analysis.survey.inference.add_p_adjusted`.
- :func:`dimension_gaps`: each dimension's gap, from every respondent's mean item gap in it.
- :func:`priorities`: items ranked by shortfall, with significance, importance-performance
  quadrant and the top priorities of each group.
- :func:`nps`: Net Promoter Score with its design-based standard error.
- :func:`reliability`: Cronbach's alpha per dimension (pingouin, and the design-based version).
- :func:`segment_contrasts`: each segment level's gaps against the rest of the customers.
- :func:`representativeness`: respondents against the customer base, before and after weighting.
- :func:`trend`: the change of each gap since the previous wave.
- :func:`perception_gap`: what staff believe customers expect, against what customers said.
- :func:`suppress`: small-cell suppression of any of these tables (blank plus a flag).

Confidentiality: :func:`suppress` applies :func:`analysis.cx.gaps.suppress_small_cells` (primary
suppression below ``min_cell``, complementary suppression within an item and segment) and blanks
every estimate column of the suppressed rows, not only the gap table's. Tables derived from a gap
table (priorities) are computed from the suppressed table, so they publish nothing it hides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.config.params import Codebook, DesignConfig
from analysis.cx import drivers, gaps, vocabulary
from analysis.errors import DesignError
from analysis.survey import estimate, inference
from analysis.survey.design import SurveyDesign, build_design, level_text
from analysis.survey.inference import add_p_adjusted

ALL = gaps.OVERALL
#: Pseudo-item of the rows about all items together (a respondent's mean gap over the items).
ALL_ITEMS = "all"
ALL_ITEMS_LABEL = "All attributes (each customer's average gap)"

#: Columns that identify a row (and ``n``, ``df``): kept visible when a row is suppressed.
IDENTIFIERS = frozenset(
    {
        "item",
        "label",
        "dimension",
        "group",
        "level",
        "n",
        "n_rest",
        "n_previous",
        "n_items",
        "n_staff",
        "n_customers",
        "df",
        "rating",
        "variable",
        "suppressed",
    }
)
CROSSHAIRS = ("mean", "midpoint")

DIMENSION_COLUMNS = [
    "dimension",
    "group",
    "level",
    "n",
    "n_items",
    "expectation",
    "performance",
    "gap",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
PRIORITY_COLUMNS = [
    *gaps.GAP_COLUMNS,
    "p_adjusted",
    "rank",
    "verdict",
    "quadrant",
    "importance_cross",
    "performance_cross",
    "top_priority",
]
NPS_COLUMNS = [
    "group",
    "level",
    "n",
    "nps",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "promoters",
    "passives",
    "detractors",
]
RELIABILITY_COLUMNS = [
    "dimension",
    "rating",
    "n_items",
    "n",
    "alpha",
    "alpha_ci_low",
    "alpha_ci_high",
    "alpha_design",
]
SEGMENT_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "n_rest",
    "gap",
    "gap_rest",
    "difference",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
    "most_underserved",
]
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
TREND_COLUMNS = [
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n_previous",
    "n",
    "gap_previous",
    "gap",
    "change",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
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


# ---------------------------------------------------------------------------------------------
# multiple testing


# ---------------------------------------------------------------------------------------------
# suppression


def suppress(table: pd.DataFrame, min_cell: int, keep: Iterable[str] = IDENTIFIERS) -> pd.DataFrame:
    """Suppress cells of fewer than ``min_cell`` respondents, with complementary suppression.

    The pattern is :func:`analysis.cx.gaps.suppress_small_cells`' (rows with ``0 < n < min_cell``;
    within one item and segment, if exactly one level is suppressed, the next smallest too; rows
    with ``n = 0`` flagged); here every column not in ``keep`` (identifiers, ``n``, ``df``) is
    blanked in the suppressed rows, so no estimate of them (p-values, ranks, quadrants, flags)
    is left. Tables without ``group``/``level`` are one overall group.

    Returns
    -------
    pandas.DataFrame
        A copy with a bool column ``suppressed``.
    """
    work = table.copy()
    for c in ("group", "level"):
        if c not in work.columns:
            work[c] = ALL
    hide = gaps.suppress_small_cells(work, min_cell)["suppressed"].to_numpy()
    return _blank(table, hide, keep)


# ---------------------------------------------------------------------------------------------
# inputs


def _scale_mean(values: np.ndarray, min_share: float) -> np.ndarray:
    """Row means over the answered columns, NaN where fewer than ``min_share`` were answered."""
    k = values.shape[1]
    need = max(1, math.ceil(min_share * k - 1e-9))
    count = np.isfinite(values).sum(axis=1)
    with np.errstate(invalid="ignore"):
        total = np.nansum(values, axis=1)
        mean = np.where(count >= need, total / np.maximum(count, 1), np.nan)
    return mean


def _groups(
    clean: pd.DataFrame, codebook: Codebook, by: Sequence[str]
) -> list[tuple[str, pd.Series | None, list[str]]]:
    out: list[tuple[str, pd.Series | None, list[str]]] = [(ALL, None, [ALL])]
    for group in by:
        seg = gaps.segment_column(clean, codebook, group)
        out.append((group, seg, [str(c) for c in seg.cat.categories]))
    return out


# ---------------------------------------------------------------------------------------------
# dimensions


def dimension_gaps(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
    min_share: float = 0.5,
) -> pd.DataFrame:
    """Expectation, performance and gap of each dimension, overall and by segment.

    Each respondent's dimension score is the mean over the dimension's items they answered (both
    expectation and performance); a respondent who answered fewer than ``min_share`` of the items
    (at least one) has no score for that dimension and is outside its domain. The dimension's gap
    is the weighted mean of those per-respondent gaps (so it is not simply the mean of the item
    gaps when respondents skip items), with its design-based standard error; expectation and
    performance are over the same respondents and items, so ``expectation + gap = performance``.

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension, group, level, n, n_items, expectation, performance, gap, se, ci_low,
        ci_high, df, p_value, p_adjusted``: per dimension (first-appearance order) the overall row
        then each ``by`` segment's levels (codebook order). ``p_adjusted``: Benjamini-Hochberg
        across the dimensions of one group level.
    """
    e, p = gaps.paired_ratings(clean, codebook)
    dims = list(dict.fromkeys(i.dimension for i in codebook.items))
    item_dims = np.array([i.dimension for i in codebook.items])
    cols_e, cols_p, sizes = [], [], []
    for d in dims:
        idx = np.flatnonzero(item_dims == d)
        ed = _scale_mean(e[:, idx], min_share)
        pd_ = _scale_mean(p[:, idx], min_share)
        cols_e.append(ed)
        cols_p.append(np.where(np.isfinite(ed), pd_, np.nan))
        sizes.append(len(idx))
    domains = {g: seg for g, seg, _ in _groups(clean, codebook, by)[1:]}
    table = gaps.paired_means(
        design,
        np.column_stack(cols_e),
        np.column_stack(cols_p),
        {"dimension": dims, "n_items": sizes},
        domains,
        confidence,
    )
    table = add_p_adjusted(table)
    return table[DIMENSION_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# priorities


def priorities(
    gap_table: pd.DataFrame,
    scale: tuple[float, float] | None = None,
    crosshairs: str = "mean",
    confidence: float = 0.95,
    top: int = 3,
) -> pd.DataFrame:
    """Items ranked by shortfall in every group level, with significance and IPA quadrant.

    Parameters
    ----------
    gap_table
        A gap table with ``p_adjusted`` (:func:`add_p_adjusted`), normally already suppressed
        (:func:`suppress`): hidden rows get no rank, quadrant or flag, and the crosshairs are the
        means of the shown items only, so nothing hidden can be worked out from them.
    scale
        ``(min, max)`` of the rating scale, for ``crosshairs="midpoint"``.
    crosshairs
        ``mean`` (default): the importance-performance crosshairs at the mean over the shown items
        of expectation and of performance in that group level (Martilla & James); ``midpoint``:
        both at the scale midpoint.
    confidence
        A shortfall is significant when ``p_adjusted < 1 - confidence``.
    top
        How many significant shortfalls per group level are flagged ``top_priority``.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, expectation, performance, gap, se,
        ci_low, ci_high, df, p_value, p_adjusted, rank, verdict, quadrant, importance_cross,
        performance_cross, top_priority`` (and ``suppressed`` if the input has it), sorted by group
        level (table order) and rank. ``rank`` 1 = the largest shortfall (most negative gap);
        ``verdict``: ``shortfall`` / ``exceeds`` (significant after the adjustment) or
        ``unclear``; ``quadrant``: ``Concentrate here`` (expectation at or above the crosshair,
        performance below), ``Keep up the good work``, ``Low priority``, ``Possible overkill``.
    """
    if crosshairs not in CROSSHAIRS:
        raise ValueError(f"crosshairs must be one of {', '.join(CROSSHAIRS)}, got {crosshairs!r}")
    if crosshairs == "midpoint" and scale is None:
        raise ValueError("crosshairs='midpoint' needs the rating scale (min, max)")
    if "p_adjusted" not in gap_table.columns:
        gap_table = add_p_adjusted(gap_table)
    t = gap_table.copy().reset_index(drop=True)
    hidden = t["gap"].isna().to_numpy().copy()
    if "suppressed" in t.columns:
        hidden |= t["suppressed"].fillna(False).astype(bool).to_numpy()
    t["_shown"] = ~hidden
    t["_order"] = np.arange(len(t))
    fam = t.groupby(["group", "level"], sort=False).ngroup()
    t["_fam"] = fam.to_numpy()
    gap = t["gap"].astype(float).where(t["_shown"])
    t["rank"] = gap.groupby(t["_fam"]).rank(method="min").astype("Int64")
    alpha = 1 - confidence
    sig = (t["p_adjusted"].astype(float) < alpha) & t["_shown"]
    direction = np.where(gap < 0, vocabulary.SHORTFALL, vocabulary.EXCEEDS)
    t["verdict"] = np.where(~t["_shown"], None, np.where(sig, direction, vocabulary.UNCLEAR))
    if crosshairs == "mean":
        shown_e = t["expectation"].astype(float).where(t["_shown"])
        shown_p = t["performance"].astype(float).where(t["_shown"])
        t["importance_cross"] = shown_e.groupby(t["_fam"]).transform("mean")
        t["performance_cross"] = shown_p.groupby(t["_fam"]).transform("mean")
    else:
        mid = (float(scale[0]) + float(scale[1])) / 2  # type: ignore[index]
        t["importance_cross"] = mid
        t["performance_cross"] = mid
    high_imp = t["expectation"].astype(float) >= t["importance_cross"]
    high_perf = t["performance"].astype(float) >= t["performance_cross"]
    t["quadrant"] = [
        vocabulary.QUADRANTS[(bool(a), bool(b))] if s else None
        for a, b, s in zip(high_imp, high_perf, t["_shown"], strict=True)
    ]
    short = t["verdict"] == vocabulary.SHORTFALL
    order = t[short].sort_values(["_fam", "gap"], kind="stable")
    first = order.groupby("_fam").head(max(int(top), 0)).index
    flag = pd.Series(False, index=t.index, dtype="boolean")
    flag[first] = True
    flag[hidden] = pd.NA
    t["top_priority"] = flag
    t = t.sort_values(["_fam", "rank", "_order"], na_position="last", kind="stable")
    cols = PRIORITY_COLUMNS + (["suppressed"] if "suppressed" in t.columns else [])
    return t[cols].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Net Promoter Score


def nps(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Net Promoter Score overall and by segment, from the 0-10 ``recommend`` question.

    ``NPS = 100 x`` the weighted mean of ``s_i`` = +1 for promoters (9-10), 0 for passives (7-8),
    -1 for detractors (0-6); its standard error is the design SE of that mean (METHODS.md).
    Respondents who did not answer are outside the domain.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, level, n, nps, se, ci_low, ci_high, df, promoters, passives, detractors``
        (NPS on -100..100; the three shares in percent, summing to 100).
    """
    if not codebook.recommend:
        raise DesignError("the codebook names no recommend question ('recommend')")
    r = gaps.ratings(clean, [codebook.recommend])[:, 0]
    known = np.isfinite(r)
    s = np.where(r >= 9, 1.0, np.where(r <= 6, -1.0, 0.0))
    values = pd.DataFrame(
        {
            "nps": np.where(known, 100 * s, np.nan),
            "promoters": np.where(known, 100.0 * (s == 1), np.nan),
            "passives": np.where(known, 100.0 * (s == 0), np.nan),
            "detractors": np.where(known, 100.0 * (s == -1), np.nan),
        }
    )
    frames = []
    for group, domains, levels in _groups(clean, codebook, by):
        res = estimate.means(design, values, domains, confidence)
        n_levels = len(levels)
        head = res.iloc[:n_levels]
        est = res["estimate"].to_numpy().reshape(4, n_levels)
        frames.append(
            pd.DataFrame(
                {
                    "group": group,
                    "level": levels,
                    "n": head["n"].to_numpy(),
                    "nps": est[0],
                    "se": head["se"].to_numpy(),
                    "ci_low": head["ci_low"].to_numpy(),
                    "ci_high": head["ci_high"].to_numpy(),
                    "df": head["df"].to_numpy(),
                    "promoters": est[1],
                    "passives": est[2],
                    "detractors": est[3],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[NPS_COLUMNS]


# ---------------------------------------------------------------------------------------------
# reliability


def cronbach_alpha_design(design: SurveyDesign, values: pd.DataFrame) -> float:
    """Cronbach's alpha from the design-weighted covariance matrix (R's ``svycralpha``).

    ``K / (K - 1) * (1 - sum of item variances / variance of the total)`` over the respondents who
    answered every item (a domain), with design-weighted variances.
    """
    cov = drivers.covariance_matrix(design, values, missing="complete").to_numpy()
    k = cov.shape[0]
    total = cov.sum()
    if k < 2 or not np.isfinite(total) or total <= 0:
        return math.nan
    return float(k / (k - 1) * (1 - np.trace(cov) / total))


def reliability(
    design: SurveyDesign, clean: pd.DataFrame, codebook: Codebook, confidence: float = 0.95
) -> pd.DataFrame:
    """Internal consistency of each dimension's expectation and performance items.

    ``alpha``: Cronbach's alpha of the respondents who answered every item of the dimension
    (listwise; unweighted, ``pingouin.cronbach_alpha``) with its confidence interval;
    ``alpha_design``: the design-based alpha of the same respondents
    (:func:`cronbach_alpha_design`, R's ``svycralpha``). Dimensions with one item have no alpha.

    Returns
    -------
    pandas.DataFrame
        Columns ``dimension, rating, n_items, n, alpha, alpha_ci_low, alpha_ci_high,
        alpha_design``; ``rating`` is ``expectation`` or ``performance``.
    """
    import pingouin

    rows = []
    dims = list(dict.fromkeys(i.dimension for i in codebook.items))
    in_design = design.weights != 0
    for dim in dims:
        items = [i for i in codebook.items if i.dimension == dim]
        for rating in ("expectation", "performance"):
            cols = [getattr(i, rating) for i in items]
            x = gaps.ratings(clean, cols)
            complete = np.isfinite(x).all(axis=1) & in_design
            row: dict[str, Any] = {
                "dimension": dim,
                "rating": rating,
                "n_items": len(cols),
                "n": int(complete.sum()),
                "alpha": math.nan,
                "alpha_ci_low": math.nan,
                "alpha_ci_high": math.nan,
                "alpha_design": math.nan,
            }
            if len(cols) >= 2 and complete.sum() >= 3:
                frame = pd.DataFrame(x[complete], columns=cols)
                a, ci = pingouin.cronbach_alpha(data=frame, nan_policy="listwise", ci=confidence)
                row.update(alpha=float(a), alpha_ci_low=float(ci[0]), alpha_ci_high=float(ci[1]))
                row["alpha_design"] = cronbach_alpha_design(design, pd.DataFrame(x, columns=cols))
            rows.append(row)
    return pd.DataFrame(rows, columns=RELIABILITY_COLUMNS)


# ---------------------------------------------------------------------------------------------
# segments against the rest


def segment_contrasts(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    by: Sequence[str],
    confidence: float = 0.95,
    min_share: float = 0.5,
) -> pd.DataFrame:
    """Each segment level's gap on every item against the rest of the customers.

    For level ``L`` of segment ``s``: ``difference = gap(L) - gap(rest)``, where "rest" is every
    respondent with another level of ``s`` (respondents without a value of ``s`` are in neither).
    Both are domain means of the full design and the standard error of their difference comes
    from their joint influence values (:func:`analysis.survey.estimate.difference`, R's
    ``svyby`` with
    ``covmat = TRUE`` + ``svycontrast``). Besides one row per item, a row with ``item = "all"``
    compares each customer's average gap over all items (answered at least ``min_share`` of
    them): its ``difference`` is how much more (negative) or less a level falls short across the
    board. ``p_adjusted`` is Benjamini-Hochberg across the items and levels of a segment (the
    ``all`` rows: across its levels). ``most_underserved`` marks, per segment, the level with the
    most negative significant (``p_adjusted < 1 - confidence``) all-items difference; no level is
    marked when none is significant.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n, n_rest, gap, gap_rest, difference, se,
        ci_low, ci_high, df, p_value, p_adjusted, most_underserved``.
    """
    e, p = gaps.paired_ratings(clean, codebook)
    g = p - e
    overall = _scale_mean(g, min_share)
    values = pd.DataFrame(np.column_stack([g, overall]))
    ids = [i.id for i in codebook.items] + [ALL_ITEMS]
    labels = [i.label for i in codebook.items] + [ALL_ITEMS_LABEL]
    dims = [i.dimension for i in codebook.items] + [ALL]
    frames = []
    for group in by:
        seg = gaps.segment_column(clean, codebook, group)
        for level in seg.cat.categories:
            inside = (seg == level).to_numpy()
            known = seg.notna().to_numpy()
            two = pd.Series(
                pd.Categorical(
                    np.where(inside, "level", np.where(known, "rest", None)),
                    categories=["level", "rest"],
                )
            )
            m = estimate.means(design, values, two, confidence)
            est = m["estimate"].to_numpy().reshape(-1, 2)
            diff = estimate.difference(design, values, two, "level", "rest", confidence)
            frames.append(
                pd.DataFrame(
                    {
                        "item": ids,
                        "label": labels,
                        "dimension": dims,
                        "group": group,
                        "level": str(level),
                        "n": diff["n_a"].to_numpy(),
                        "n_rest": diff["n_b"].to_numpy(),
                        "gap": est[:, 0],
                        "gap_rest": est[:, 1],
                        "difference": diff["estimate"].to_numpy(),
                        "se": diff["se"].to_numpy(),
                        "ci_low": diff["ci_low"].to_numpy(),
                        "ci_high": diff["ci_high"].to_numpy(),
                        "df": diff["df"].to_numpy(),
                        "p_value": diff["p_value"].to_numpy(),
                    }
                )
            )
    if not frames:
        return pd.DataFrame(columns=SEGMENT_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["_kind"] = np.where(table["item"] == ALL_ITEMS, "all", "item")
    table = add_p_adjusted(table, family=("group", "_kind"))
    alpha = 1 - confidence
    table["most_underserved"] = False
    summary = table[(table["_kind"] == "all") & (table["p_adjusted"] < alpha)]
    summary = summary[summary["difference"] < 0]
    if not summary.empty:
        worst = summary.sort_values("difference", kind="stable").groupby("group").head(1).index
        table.loc[worst, "most_underserved"] = True
    return table[SEGMENT_COLUMNS]


def suppress_contrasts(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`suppress` for :func:`segment_contrasts`: also hides a level whose rest is small.

    A level is hidden (all its estimates, ``gap_rest`` and the contrast) where the gap table would
    hide it (fewer than ``min_cell`` respondents, or complementary suppression), and where the
    rest of the customers number fewer than ``min_cell``.
    """
    marked = suppress(table, min_cell)
    rest = table["n_rest"].to_numpy(dtype=float)
    hide = marked["suppressed"].to_numpy() | ((rest > 0) & (rest < min_cell))
    return _blank(table, hide)


def most_underserved(contrasts: pd.DataFrame) -> pd.DataFrame:
    """The all-items rows of :func:`segment_contrasts`, most negative difference first."""
    rows = contrasts[contrasts["item"] == ALL_ITEMS].copy()
    return rows.sort_values(["group", "difference"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# representativeness


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
    if variables is None:
        variables = [s for s in codebook.segments if s in clean.columns]
    variables = list(variables)
    if margins is not None:
        variables += [
            v
            for v in dict.fromkeys(margins["variable"].astype(str))
            if v not in variables and v in clean.columns
        ]
    base = design.base_weights
    final = design.weights
    rows = []
    for var in variables:
        text = level_text(clean[var])
        levels = [str(v) for v in codebook.segments.get(var, [])]
        pop: dict[str, float] = {}
        if margins is not None:
            m = margins[margins["variable"].astype(str) == var]
            pop = dict(zip(m["level"].astype(str), m["count"].astype(float), strict=True))
            levels += [lv for lv in pop if lv not in levels]
        levels += [lv for lv in dict.fromkeys(text.dropna()) if lv not in levels]
        known = text.notna().to_numpy() & (base != 0)
        n_all = known.sum()
        pop_total = sum(pop.values()) if pop else math.nan
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
                    "weighted_share": _share(final, inside, known),
                }
            )
    return pd.DataFrame(rows, columns=REPRESENTATIVENESS_COLUMNS)


def _share(w: np.ndarray, inside: np.ndarray, known: np.ndarray) -> float:
    total = w[known].sum()
    return float(w[inside].sum() / total) if total else math.nan


# ---------------------------------------------------------------------------------------------
# waves


def trend(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    confidence: float = 0.95,
    min_cell: int | None = None,
) -> pd.DataFrame:
    """Change of each item's gap between two waves (independent samples), from two gap tables.

    ``change = gap(current) - gap(previous)`` with ``se = sqrt(se_current^2 + se_previous^2)``
    (the two samples are independent, so their covariance is 0), ``df`` the sum of the two
    designs' degrees of freedom (the two waves as strata of one design), t-based interval and
    two-sided p-value, Benjamini-Hochberg across the items of a group level. Rows are matched on
    ``item, group, level``; items or levels in only one wave are left out.

    Parameters
    ----------
    previous, current
        Unsuppressed gap tables of the two waves (:func:`analysis.cx.gaps.gap_table`).
    min_cell
        If given, a row is suppressed when either wave's gap table hides it (its own
        primary and complementary suppression), so that a hidden gap cannot be worked out from a
        published one and the change.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n_previous, n, gap_previous, gap, change,
        se, ci_low, ci_high, df, p_value, p_adjusted`` (plus ``suppressed`` with ``min_cell``),
        in the current table's order.
    """
    keys = ["item", "group", "level"]
    prev = previous.copy()
    cur = current.copy()
    for t in (prev, cur):
        for k in keys:
            t[k] = t[k].astype(str)
    if min_cell is not None:
        prev["_hidden"] = gaps.suppress_small_cells(prev, min_cell)["suppressed"].to_numpy()
        cur["_hidden"] = gaps.suppress_small_cells(cur, min_cell)["suppressed"].to_numpy()
    else:
        prev["_hidden"] = False
        cur["_hidden"] = False
    merged = cur.merge(
        prev[[*keys, "n", "gap", "se", "df", "_hidden"]],
        on=keys,
        how="inner",
        suffixes=("", "_previous"),
    )
    change = merged["gap"].astype(float) - merged["gap_previous"].astype(float)
    se = np.sqrt(merged["se"].astype(float) ** 2 + merged["se_previous"].astype(float) ** 2)
    df = merged["df"].astype(float) + merged["df_previous"].astype(float)
    tcols = inference.t_interval(change.to_numpy(), se.to_numpy(), df.to_numpy(), confidence)
    out = pd.DataFrame(
        {
            "item": merged["item"],
            "label": merged["label"],
            "dimension": merged["dimension"],
            "group": merged["group"],
            "level": merged["level"],
            "n_previous": merged["n_previous"].astype(int),
            "n": merged["n"].astype(int),
            "gap_previous": merged["gap_previous"].astype(float),
            "gap": merged["gap"].astype(float),
            "change": change,
            "se": se,
            "ci_low": tcols["ci_low"],
            "ci_high": tcols["ci_high"],
            "df": df.astype(int),
            "p_value": tcols["p_value"],
        }
    )
    out = add_p_adjusted(out)
    out = out[TREND_COLUMNS]
    if min_cell is not None:
        hide = (merged["_hidden"] | merged["_hidden_previous"]).to_numpy()
        out = _blank(out, hide)
    return out.reset_index(drop=True)


def _blank(
    table: pd.DataFrame, hide: np.ndarray, keep: Iterable[str] = IDENTIFIERS
) -> pd.DataFrame:
    """A copy with every column not in ``keep`` blanked in the ``hide`` rows, and ``suppressed``."""
    out = table.copy()
    hide = np.asarray(hide, dtype=bool)
    keep = set(keep)
    if hide.any():
        for col in [c for c in out.columns if c not in keep]:
            dtype = out[col].dtype
            if pd.api.types.is_bool_dtype(dtype):
                out[col] = out[col].astype("boolean")
                out.loc[hide, col] = pd.NA
            elif not pd.api.types.is_numeric_dtype(dtype):
                out[col] = out[col].astype(object)
                out.loc[hide, col] = None
            elif pd.api.types.is_integer_dtype(dtype):
                out[col] = out[col].astype("Int64")
                out.loc[hide, col] = pd.NA
            else:
                out.loc[hide, col] = np.nan
    out["suppressed"] = hide
    return out


def wave_gap_tables(
    previous: tuple[SurveyDesign, pd.DataFrame],
    current: tuple[SurveyDesign, pd.DataFrame],
    codebook: Codebook,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gap tables of two waves of the same codebook (items matched by id), for :func:`trend`."""
    return (
        gaps.gap_table(previous[0], previous[1], codebook, by=by, confidence=confidence),
        gaps.gap_table(current[0], current[1], codebook, by=by, confidence=confidence),
    )


# ---------------------------------------------------------------------------------------------
# perception gap (staff survey)


def perception_gap(
    staff: pd.DataFrame,
    staff_columns: Mapping[str, str],
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    confidence: float = 0.95,
    staff_design: SurveyDesign | None = None,
) -> pd.DataFrame:
    """What staff believe customers expect, against what customers said they expect.

    ``difference = staff_belief - customer_expectation`` per item: positive, staff think customers
    expect more than they do; negative, staff underestimate customers' expectations. The customer
    expectation is the design-based mean over all customers who answered it; the staff belief the
    mean over staff (a simple random sample, or census, of staff unless ``staff_design`` says
    otherwise). The two samples are independent: ``se = sqrt(se_staff^2 + se_customers^2)``,
    ``df`` the sum of the two designs' degrees of freedom, Benjamini-Hochberg across items.

    Parameters
    ----------
    staff
        The staff survey's validated rows.
    staff_columns
        Item id -> the staff column holding the belief about that item's customer expectation
        (on the customers' scale). Items without a staff column are left out.
    design, clean, codebook
        The customer survey.
    staff_design
        The staff survey's design; equal weights by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``item, label, dimension, group, level, n_staff, n_customers, staff_belief,
        customer_expectation, difference, se, ci_low, ci_high, df, p_value, p_adjusted``
        (``group = level = "all"``).
    """
    items = [i for i in codebook.items if i.id in staff_columns]
    if not items:
        raise DesignError("no codebook item has a staff column; nothing to compare")
    unknown = sorted(set(staff_columns) - {i.id for i in codebook.items})
    if unknown:
        raise DesignError(f"staff columns given for items not in the codebook: {unknown}")
    if staff_design is None:
        staff_design = build_design(staff.reset_index(drop=True), DesignConfig())
    s_vals = pd.DataFrame(gaps.ratings(staff, [staff_columns[i.id] for i in items]))
    c_vals = pd.DataFrame(gaps.ratings(clean, [i.expectation for i in items]))
    s = estimate.means(staff_design, s_vals, confidence=confidence)
    c = estimate.means(design, c_vals, confidence=confidence)
    diff = s["estimate"].to_numpy() - c["estimate"].to_numpy()
    se = np.sqrt(s["se"].to_numpy() ** 2 + c["se"].to_numpy() ** 2)
    df = float(staff_design.df + design.df)
    tcols = inference.t_interval(diff, se, df, confidence)
    out = pd.DataFrame(
        {
            "item": [i.id for i in items],
            "label": [i.label for i in items],
            "dimension": [i.dimension for i in items],
            "group": ALL,
            "level": ALL,
            "n_staff": s["n"].to_numpy(),
            "n_customers": c["n"].to_numpy(),
            "staff_belief": s["estimate"].to_numpy(),
            "customer_expectation": c["estimate"].to_numpy(),
            "difference": diff,
            "se": se,
            "ci_low": tcols["ci_low"],
            "ci_high": tcols["ci_high"],
            "df": int(df),
            "p_value": tcols["p_value"],
        }
    )
    return add_p_adjusted(out)[PERCEPTION_COLUMNS]


def suppress_perception(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Hide items answered by fewer than ``min_cell`` staff or customers."""
    small = (table["n_staff"] < min_cell) | (table["n_customers"] < min_cell)
    return _blank(table, small.to_numpy())
