"""Net Promoter Score with its design-based standard error, overall and by segment.

``NPS = 100 x`` the weighted mean of ``s_i`` = +1 for promoters (9-10), 0 for passives (7-8), -1
for detractors (0-6) of the 0-10 ``recommend`` question; the shares of promoters, passives and
detractors are the weighted means of their indicators (x100). All four columns, overall and in
every segment level, are one call of the estimator (:func:`analysis.survey.estimate.means_by`).
Each segment level's NPS is also compared with the rest of the customers (those with another level
of the same segment): the difference, its interval and p-value are one call of
:func:`analysis.survey.estimate.versus_rest`, and ``p_adjusted`` is Benjamini-Hochberg across the
levels of a segment, so "clearly below the rest" means what "clear" means everywhere.

R: ``svymean(~I(100 * s), design, na.rm = TRUE)`` and ``svyby(~I(100 * s), ~segment, design,
svymean, na.rm = TRUE)``; the shares likewise from the three indicators. The comparison with the
rest: ``svyby(~I(100 * s), ~I(segment == level), design, svymean, covmat = TRUE)`` and
``svycontrast`` (as for the segment gaps), then ``p.adjust(p, "BH")`` per segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import suppression
from analysis.cx.inputs import ratings, segment_domains
from analysis.cx.vocabulary import ALL
from analysis.errors import DesignError
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign
from analysis.survey.inference import add_p_adjusted

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
    "n_rest",
    "nps_rest",
    "difference",
    "difference_se",
    "difference_ci_low",
    "difference_ci_high",
    "p_value",
    "p_adjusted",
]
#: Identifying columns (and ``n``, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("group", "level", "n", "n_rest", "df")
#: The estimated columns, in the order of the estimator's variables.
_SCORES = ("nps", "promoters", "passives", "detractors")


def scores(clean: pd.DataFrame, codebook: Codebook) -> np.ndarray:
    """Each respondent's NPS score: +1 promoter (9-10), 0 passive (7-8), -1 detractor (0-6);
    NaN where the ``recommend`` question is not answered (the one definition of the NPS)."""
    if not codebook.recommend:
        raise DesignError("the codebook names no recommend question ('recommend')")
    r = ratings(clean, [codebook.recommend])[:, 0]
    return np.where(np.isfinite(r), np.where(r >= 9, 1.0, np.where(r <= 6, -1.0, 0.0)), np.nan)


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
        Columns ``group, level, n, nps, se, ci_low, ci_high, df, promoters, passives, detractors,
        n_rest, nps_rest, difference, difference_se, difference_ci_low, difference_ci_high, p_value,
        p_adjusted`` (NPS on -100..100; the three shares in percent, summing to 100): the overall
        row, then each ``by`` segment's levels in codebook order. For a segment level,
        ``n_rest`` and ``nps_rest`` are the respondents and NPS of the customers with another
        level of that segment,
        ``difference = nps - nps_rest`` with its SE, interval and two-sided p-value (H0: no
        difference), ``p_adjusted`` Benjamini-Hochberg across the segment's levels; the overall
        row has none of these.
    """
    s = scores(clean, codebook)
    known = np.isfinite(s)
    values = pd.DataFrame(
        {
            "nps": np.where(known, 100 * s, np.nan),
            "promoters": np.where(known, 100.0 * (s == 1), np.nan),
            "passives": np.where(known, 100.0 * (s == 0), np.nan),
            "detractors": np.where(known, 100.0 * (s == -1), np.nan),
        },
        columns=list(_SCORES),
    )
    segments = segment_domains(clean, codebook, by)
    groups = {ALL: None, **segments}
    res = estimate.means_by(design, values, groups, confidence, deff=False)
    score = {name: res[res["variable"] == name] for name in _SCORES}
    head = score["nps"]
    table = pd.DataFrame(
        {
            "group": head["group"].to_numpy(),
            "level": head["domain"].astype(str).to_numpy(),
            "n": head["n"].to_numpy(),
            "nps": head["estimate"].to_numpy(),
            "se": head["se"].to_numpy(),
            "ci_low": head["ci_low"].to_numpy(),
            "ci_high": head["ci_high"].to_numpy(),
            "df": head["df"].to_numpy(),
            "promoters": score["promoters"]["estimate"].to_numpy(),
            "passives": score["passives"]["estimate"].to_numpy(),
            "detractors": score["detractors"]["estimate"].to_numpy(),
        },
    )
    return _versus_rest(table, design, values[["nps"]], segments, confidence)


def _versus_rest(
    table: pd.DataFrame,
    design: SurveyDesign,
    scores: pd.DataFrame,
    segments: dict[str, pd.Series],
    confidence: float,
) -> pd.DataFrame:
    """``table`` with each segment level's NPS against the rest's (columns of :data:`NPS_COLUMNS`
    after ``detractors``; NaN in the overall row)."""
    out = table.assign(
        **{c: np.nan for c in NPS_COLUMNS[NPS_COLUMNS.index("n_rest") :] if c != "p_adjusted"}
    )
    if segments:
        rest = estimate.versus_rest(design, scores, segments, confidence)
        key = pd.MultiIndex.from_arrays([rest["group"], rest["level"].astype(str)])
        rest = rest.set_axis(key)
        at = pd.MultiIndex.from_arrays([out["group"], out["level"]])
        found = at.isin(key)
        for col, src in (
            ("n_rest", "n_rest"),
            ("nps_rest", "mean_rest"),
            ("difference", "estimate"),
            ("difference_se", "se"),
            ("difference_ci_low", "ci_low"),
            ("difference_ci_high", "ci_high"),
            ("p_value", "p_value"),
        ):
            out.loc[found, col] = rest[src].reindex(at[found]).to_numpy()
    out["n_rest"] = out["n_rest"].astype("Int64")
    out = add_p_adjusted(out, family=("group",))
    out.loc[out["group"] == ALL, "p_adjusted"] = np.nan
    return out[NPS_COLUMNS]


def suppress_scores(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`analysis.cx.suppression.suppress` of an :func:`nps` table: a level is hidden (its
    NPS, shares and comparison) where it has fewer than ``min_cell`` respondents (or by
    complementary suppression), and where the rest of the customers number fewer than
    ``min_cell`` (their NPS would show through the comparison), as for the segment gaps
    (:func:`analysis.cx.segments.suppress_contrasts`)."""
    rest_small = suppression.small(table["n_rest"].astype(float), min_cell)
    return suppression.suppress(table, min_cell, IDENTIFIERS, also=rest_small)
