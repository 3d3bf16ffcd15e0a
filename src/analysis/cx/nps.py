"""Net Promoter Score with its design-based standard error, overall and by segment.

``NPS = 100 x`` the weighted mean of ``s_i`` = +1 for promoters (9-10), 0 for passives (7-8), -1
for detractors (0-6) of the 0-10 ``recommend`` question; the shares of promoters, passives and
detractors are the weighted means of their indicators (x100). All four columns, overall and in
every segment level, are one call of the estimator (:func:`analysis.survey.estimate.means_by`).

R: ``svymean(~I(100 * s), design, na.rm = TRUE)`` and ``svyby(~I(100 * s), ~segment, design,
svymean, na.rm = TRUE)``; the shares likewise from the three indicators.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx.inputs import ratings, segment_domains
from analysis.cx.vocabulary import ALL
from analysis.errors import DesignError
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign

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
#: Identifying columns (and ``n``, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("group", "level", "n", "df")
#: The estimated columns, in the order of the estimator's variables.
_SCORES = ("nps", "promoters", "passives", "detractors")


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
        (NPS on -100..100; the three shares in percent, summing to 100): the overall row, then
        each ``by`` segment's levels in codebook order.
    """
    if not codebook.recommend:
        raise DesignError("the codebook names no recommend question ('recommend')")
    r = ratings(clean, [codebook.recommend])[:, 0]
    known = np.isfinite(r)
    s = np.where(r >= 9, 1.0, np.where(r <= 6, -1.0, 0.0))
    values = pd.DataFrame(
        {
            "nps": np.where(known, 100 * s, np.nan),
            "promoters": np.where(known, 100.0 * (s == 1), np.nan),
            "passives": np.where(known, 100.0 * (s == 0), np.nan),
            "detractors": np.where(known, 100.0 * (s == -1), np.nan),
        },
        columns=list(_SCORES),
    )
    groups = {ALL: None, **segment_domains(clean, codebook, by)}
    res = estimate.means_by(design, values, groups, confidence, deff=False)
    score = {name: res[res["variable"] == name] for name in _SCORES}
    head = score["nps"]
    return pd.DataFrame(
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
        columns=NPS_COLUMNS,
    )
