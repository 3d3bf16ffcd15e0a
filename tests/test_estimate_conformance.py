"""Conformance with R's survey package (4.1-1): every row of the shared reference results.

The designs are those named in tests/fixtures/r_reference/SOURCE.md; each reference row is matched
to the call of ours that R's call corresponds to, and must agree to 1e-6 relative.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.survey import calibrate as weighting
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign, build_design

REF = Path(__file__).parent / "fixtures" / "r_reference"
RTOL = 1e-6
STYPE_COUNTS = pd.DataFrame(
    {"variable": "stype", "level": ["E", "H", "M"], "count": [4421.0, 755.0, 1018.0]}
)


@cache
def data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


@cache
def dstrat() -> SurveyDesign:
    return build_design(data("apistrat"), DesignConfig(weight="pw", strata="stype", fpc="fpc"))


@cache
def dclus1() -> SurveyDesign:
    return build_design(data("apiclus1"), DesignConfig(weight="pw", cluster="dnum", fpc="fpc"))


@cache
def nhanes2() -> SurveyDesign:
    return build_design(
        data("nhanes2"), DesignConfig(weight="finalwgt", strata="stratid", cluster="psuid")
    )


def row(table: pd.DataFrame, domain: str = "all") -> tuple[float, float]:
    r = table.loc[table["domain"] == domain].iloc[0]
    return float(r["estimate"]), float(r["se"])


def _dstrat(q: str) -> tuple[float, float]:
    return (
        row(estimate.totals(dstrat(), data("apistrat")[[q]]))
        if q == "enroll"
        else row(estimate.means(dstrat(), data("apistrat")[[q]]))
    )


def _by_stype(design: Callable[[], SurveyDesign], frame: str) -> Callable[[str], tuple]:
    def run(q: str) -> tuple[float, float]:
        level = q.split("stype=")[1]
        df = data(frame)
        return row(estimate.means(design(), df[["api00"]], df["stype"]), level)

    return run


def _paired_gap(q: str) -> tuple[float, float]:
    df = data("apistrat")
    return row(estimate.means(dstrat(), (df["api00"] - df["api99"]).rename("gap")))


def _ttest(q: str) -> tuple[float, float]:
    df = data("apistrat")
    res = estimate.ttest(dstrat(), df["api00"], df["sch.wide"])
    return res.difference, res.se


def _prop_schwide(q: str) -> tuple[float, float]:
    df = data("apistrat")
    out = estimate.proportions(dstrat(), df[["sch.wide"]])
    hit = out[out["category"] == q.removeprefix("sch.wide")]
    return float(hit["estimate"].iloc[0]), float(hit["se"].iloc[0])


def _deff(design: Callable[[], SurveyDesign], frame: str, var: str) -> Callable[[str], tuple]:
    def run(q: str) -> tuple[float, float]:
        r = estimate.means(design(), data(frame)[[var]]).iloc[0]
        return float(r["deff"]), np.nan

    return run


def _weights_only(q: str) -> tuple[float, float]:
    d = build_design(data("apistrat"), DesignConfig(weight="pw"))
    return row(estimate.means(d, data("apistrat")[[q]]))


def _poststratify(q: str) -> tuple[float, float]:
    d = weighting.calibrate(dclus1(), data("apiclus1"), STYPE_COUNTS, method="poststratify")
    return row(estimate.means(d, data("apiclus1")[[q]]))


def _linear(q: str) -> tuple[float, float]:
    margins = pd.DataFrame(
        {
            "variable": [weighting.POPULATION, "api99"],
            "level": ["(all)", weighting.TOTAL],
            "count": [6194.0, 3914069.0],
        }
    )
    d = weighting.calibrate(dclus1(), data("apiclus1"), margins, method="linear")
    return row(estimate.means(d, data("apiclus1")[[q]]))


def _jk1(q: str) -> tuple[float, float]:
    return row(estimate.replicate_means(dclus1(), data("apiclus1")[[q]], type="JK1"))


def _nhanes(q: str) -> tuple[float, float]:
    return row(estimate.means(nhanes2(), data("nhanes2")[[q]]))


def _nhanes_total(q: str) -> tuple[float, float]:
    return row(estimate.totals(nhanes2(), data("nhanes2")[[q]]))


CASES: dict[str, Callable[[str], tuple[float, float]]] = {
    "dstrat": _dstrat,
    "dstrat_weights_only": _weights_only,
    "dstrat_paired_gap": _paired_gap,
    "dstrat_by_stype": _by_stype(dstrat, "apistrat"),
    "dstrat_ttest_schwide": _ttest,
    "dstrat_prop_schwide": _prop_schwide,
    "dstrat_deff": _deff(dstrat, "apistrat", "api00"),
    "dstrat_kish_neff": lambda q: (dstrat().kish_neff, np.nan),
    "dclus1": lambda q: row(estimate.means(dclus1(), data("apiclus1")[[q]])),
    "dclus1_by_stype": _by_stype(dclus1, "apiclus1"),
    "dclus1_poststratify_stype": _poststratify,
    "dclus1_calibrate_linear_api99": _linear,
    "dclus1_jk1": _jk1,
    "nhanes2": _nhanes,
    "nhanes2_deff": _deff(nhanes2, "nhanes2", "zinc"),
    "nhanes2_total": _nhanes_total,
}

REFERENCE = pd.read_csv(REF / "r_survey_reference_shared.csv", keep_default_na=False)


def test_every_reference_row_has_a_case() -> None:
    assert set(REFERENCE["case"]) <= set(CASES), set(REFERENCE["case"]) - set(CASES)
    assert len(REFERENCE) == 24


@pytest.mark.parametrize(
    "case,quantity,expected,expected_se",
    [(r.case, r.quantity, float(r.estimate), r.se) for r in REFERENCE.itertuples()],
    ids=[f"{r.case}:{r.quantity}" for r in REFERENCE.itertuples()],
)
def test_matches_r(case: str, quantity: str, expected: float, expected_se: str) -> None:
    est, se = CASES[case](quantity)
    assert est == pytest.approx(expected, rel=RTOL)
    if expected_se != "NA":
        assert se == pytest.approx(float(expected_se), rel=RTOL)


def test_ttest_statistic_df_and_p_match_r() -> None:
    note = REFERENCE.loc[REFERENCE["case"] == "dstrat_ttest_schwide", "note"].iloc[0]
    t, df, p = (float(x) for x in re.findall(r"=([0-9.eE+-]+)", note))
    df_ = data("apistrat")
    res = estimate.ttest(dstrat(), df_["api00"], df_["sch.wide"])
    assert (res.level_a, res.level_b) == ("No", "Yes")
    assert res.t == pytest.approx(t, rel=RTOL)
    assert res.df == df == dstrat().df - 1
    assert res.p_value == pytest.approx(p, rel=RTOL)
    assert res.mean_b - res.mean_a == pytest.approx(res.difference)


def test_difference_uses_joint_influence_values() -> None:
    df_ = data("apistrat")
    diff = estimate.difference(dstrat(), df_[["api00"]], df_["sch.wide"], "Yes", "No").iloc[0]
    res = estimate.ttest(dstrat(), df_["api00"], df_["sch.wide"])
    assert diff["estimate"] == pytest.approx(res.difference, rel=1e-12)
    assert diff["se"] == pytest.approx(res.se, rel=1e-12)
    assert diff["df"] == dstrat().df  # contrasts use the design df (svycontrast)
    assert diff["n_a"] + diff["n_b"] == 200


def test_domains_with_stype_strata_are_the_strata() -> None:
    """dstrat by stype: each domain is a whole stratum, so its SE is that stratum's alone."""
    df_ = data("apistrat")
    by = estimate.means(dstrat(), df_[["api00"]], df_["stype"])
    e = df_[df_["stype"] == "E"]
    d_e = build_design(e, DesignConfig(weight="pw", strata="stype", fpc="fpc"))
    alone = estimate.means(d_e, e[["api00"]]).iloc[0]
    assert by.loc[by["domain"] == "E", "se"].iloc[0] == pytest.approx(alone["se"], rel=1e-12)


def test_missing_values_are_a_domain_not_dropped_rows() -> None:
    """nhanes2 zinc: na.rm=TRUE keeps every PSU in the design (R: n_h from the full design)."""
    df_ = data("nhanes2")
    res = estimate.means(nhanes2(), df_[["zinc"]]).iloc[0]
    assert res["n"] == df_["zinc"].notna().sum()
    assert res["df"] == 31  # 62 PSUs - 31 strata, of the whole design


def test_proportions_sum_to_one_in_every_domain_and_missing_is_a_domain() -> None:
    df = data("apistrat").copy()
    stype = df["stype"].astype("category")
    stype[::7] = np.nan  # item nonresponse: those rows leave the variable's domain, not the design
    out = estimate.proportions(dstrat(), stype.to_frame("stype"), domains=df["sch.wide"])
    sums = out.groupby("domain")["estimate"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-12)
    assert list(out["category"].unique()) == ["E", "H", "M"]
    answered = stype.notna().groupby(df["sch.wide"]).sum()
    n = out.groupby("domain")["n"].first()
    assert (n.reindex(answered.index) == answered).all()
