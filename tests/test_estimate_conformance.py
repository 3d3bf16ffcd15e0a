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
from analysis.survey import estimate, replicates
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
    jk1 = dclus1().with_replicates(replicates.replicate_weights(dclus1(), "JK1"))
    return row(estimate.means(jk1, data("apiclus1")[[q]]))


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


# ---------------------------------------------------------------------------------------------
# the by combinator and each level against the rest (one vectorised call)


def _versus_rest_by_loop(design: SurveyDesign, values: pd.DataFrame, seg: pd.Series) -> list:
    """difference(level, rest) per level, as segment contrasts computed it one level at a time."""
    g = seg.astype("category")
    rows = []
    for level in g.cat.categories:
        inside, known = (g == level).to_numpy(), g.notna().to_numpy()
        two = pd.Series(
            pd.Categorical(
                np.where(inside, "level", np.where(known, "rest", None)),
                categories=["level", "rest"],
            )
        )
        m = estimate.means(design, values, two)["estimate"].to_numpy().reshape(-1, 2)
        d = estimate.difference(design, values, two, "level", "rest")
        rows.append((level, m, d))
    return rows


def _check_versus_rest(design: SurveyDesign, values: pd.DataFrame, seg: pd.Series) -> None:
    got = estimate.versus_rest(design, values, {"seg": seg.astype("category")})
    assert list(got.columns) == estimate.VERSUS_REST_COLUMNS
    assert len(got) == values.shape[1] * seg.astype("category").cat.categories.size
    for level, m, d in _versus_rest_by_loop(design, values, seg):
        part = got[got["level"] == level]
        assert list(part["variable"]) == list(values.columns)
        np.testing.assert_array_equal(part["n"], d["n_a"])
        np.testing.assert_array_equal(part["n_rest"], d["n_b"])
        np.testing.assert_allclose(part["mean"], m[:, 0], rtol=1e-12)
        np.testing.assert_allclose(part["mean_rest"], m[:, 1], rtol=1e-12)
        for col in ("estimate", "se", "ci_low", "ci_high", "p_value"):
            np.testing.assert_allclose(part[col], d[col], rtol=1e-12, atol=1e-13)
        assert (part["df"] == design.df).all()


def test_versus_rest_equals_difference_level_by_level_on_r_reference_designs() -> None:
    strat, clus = data("apistrat"), data("apiclus1")
    cols = ["api00", "api99", "enroll"]
    _check_versus_rest(dstrat(), strat[cols], strat["sch.wide"])
    _check_versus_rest(dstrat(), strat[cols], strat["stype"])  # each level a whole stratum
    _check_versus_rest(dclus1(), clus[cols], clus["stype"])
    post = weighting.calibrate(dclus1(), clus, STYPE_COUNTS, method="poststratify")
    _check_versus_rest(post, clus[cols], clus["sch.wide"])
    nh = data("nhanes2")
    _check_versus_rest(nhanes2(), nh[["zinc", "highbp"]], nh["race"])


def test_versus_rest_of_a_two_level_group_is_the_r_contrast() -> None:
    """sch.wide has two levels: 'Yes' against the rest is R's svyttest difference Yes - No."""
    df_ = data("apistrat")
    got = estimate.versus_rest(dstrat(), df_[["api00"]], {"sch.wide": df_["sch.wide"]})
    yes = got.set_index("level").loc["Yes"]
    ref = REFERENCE.set_index("case").loc["dstrat_ttest_schwide"]
    assert yes["estimate"] == pytest.approx(float(ref["estimate"]), rel=RTOL)
    assert yes["se"] == pytest.approx(float(ref["se"]), rel=RTOL)
    no = got.set_index("level").loc["No"]
    assert no["estimate"] == pytest.approx(-yes["estimate"], rel=1e-12)
    assert no["se"] == pytest.approx(yes["se"], rel=1e-12)


def test_by_is_one_call_of_each_estimator_per_group() -> None:
    df_ = data("apistrat")
    groups = {"all": None, "stype": df_["stype"], "sch.wide": df_["sch.wide"]}
    cols = df_[["api00", "enroll"]]
    for estimator, single in (("mean", estimate.means), ("total", estimate.totals)):
        got = estimate.by(dstrat(), cols, groups, estimator)
        assert list(got.columns) == estimate.GROUP_COLUMNS
        want = pd.concat(
            [single(dstrat(), cols, d).assign(group=g) for g, d in groups.items()],
            ignore_index=True,
        )[estimate.GROUP_COLUMNS]
        pd.testing.assert_frame_equal(got, want, rtol=1e-13)
    props = estimate.by(dstrat(), df_[["sch.wide"]], groups, "proportion")
    want = pd.concat(
        [
            estimate.proportions(dstrat(), df_[["sch.wide"]], d).assign(group=g)
            for g, d in groups.items()
        ],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(props, want[props.columns], rtol=1e-13)
    by_r = props[(props["group"] == "all") & (props["category"] == "Yes")].iloc[0]
    assert by_r["estimate"] == pytest.approx(0.827948011416, rel=RTOL)
    means_by = estimate.means_by(dstrat(), cols, groups)
    pd.testing.assert_frame_equal(means_by, estimate.by(dstrat(), cols, groups))
    with pytest.raises(ValueError, match="estimator"):
        estimate.by(dstrat(), cols, groups, "median")
