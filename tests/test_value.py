"""Customer value (cx/value.py, estimate.ratios_by): value-weighted gaps and NPS, key customers.

Conformance with R's ``svyratio`` on a raked two-stage design with item nonresponse
(tests/fixtures/r_reference/value, made by its value.R), domains included; a hand-worked case;
the value column's validation and the demo's value column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import Codebook, DesignConfig
from analysis.cx import value
from analysis.cx.vocabulary import FALLS, RISES, rank_shift
from analysis.survey import calibrate, estimate
from analysis.survey.design import build_design

CASE = Path(__file__).parent / "fixtures" / "r_reference" / "value"
DESIGN = DesignConfig(weight="w", strata="stratum", cluster=["psu", "ssu"])
BY = ["segment", "region"]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(CASE / "sample.csv")


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(CASE / "expected.csv")


@pytest.fixture(scope="module")
def codebook() -> Codebook:
    return Codebook.model_validate(
        {
            "id": "rid",
            "scale": {"min": 1, "max": 7},
            "items": [
                {"id": "q1", "label": "One", "dimension": "D", "expectation": "e1",
                 "performance": "p1"},
                {"id": "q2", "label": "Two", "dimension": "D", "expectation": "e2",
                 "performance": "p2"},
            ],
            "segments": {
                "segment": ["Business", "Consumer", "Enterprise"],
                "region": ["East", "North", "South", "West"],
            },
            "recommend": "rec",
            "value": "v",
        }
    )  # fmt: skip


def raked(sample: pd.DataFrame, variance: str):
    design = build_design(sample, DESIGN)
    margins = pd.read_csv(CASE / "margins.csv")
    return calibrate.calibrate(design, sample, margins, method="rake", variance=variance)


def _check(got: pd.DataFrame, want: pd.DataFrame, est: str, se: str) -> None:
    merged = want.merge(got, on=["group", "level"], validate="1:1")
    assert len(merged) == len(want) > 0
    np.testing.assert_allclose(merged[est], merged["estimate"], rtol=1e-6)
    np.testing.assert_allclose(merged[se], merged["se_r"], rtol=1e-6)


@pytest.mark.parametrize("variance", ["greg", "r-rake"])
def test_value_gaps_and_nps_match_r_svyratio(sample, expected, codebook, variance):
    design = raked(sample, variance)
    want = expected[expected["variant"] == variance].rename(columns={"se": "se_r"})
    gaps = value.value_gaps(design, sample, codebook, by=BY)
    assert len(gaps) == 2 * (1 + 3 + 4)
    for item in ("q1", "q2"):
        rows = want[want["quantity"] == f"value_gap_{item}"]
        assert len(rows) == 8
        _check(gaps[gaps["item"] == item], rows, "value_gap", "se")
    nps = value.value_nps(design, sample, codebook, by=BY)
    _check(nps, want[want["quantity"] == "value_nps"], "value_nps", "se")


@pytest.mark.parametrize("variance", ["greg", "r-rake"])
def test_key_customer_shares_match_r_svyratio(sample, expected, codebook, variance):
    design = raked(sample, variance)
    want = expected[expected["variant"] == variance].rename(columns={"se": "se_r"})
    table = value.key_customers(design, sample, codebook, by=BY)
    assert list(table.columns) == value.KEY_CUSTOMER_COLUMNS
    levels = table[table["group"] != "all"]
    _check(levels, want[want["quantity"] == "value_share"], "value_share", "value_share_se")
    _check(levels, want[want["quantity"] == "value_at_risk"], "value_at_risk", "value_at_risk_se")
    _check(table, want[want["quantity"] == "detractor_value"], "detractor_value",
           "detractor_value_se")  # fmt: skip
    for group in BY:  # shares of a segment's levels add up to all of it
        sub = levels[levels["group"] == group]
        assert sub["value_share"].sum() == pytest.approx(100.0)
        assert sub["customers"].sum() == pytest.approx(100.0)
        overall_risk = table.loc[table["group"] == "all", "value_at_risk"].iloc[0]
        assert sub["value_at_risk"].sum() == pytest.approx(overall_risk)


def test_a_hand_worked_ratio():
    """Four customers, equal weights (SRS with replacement, n = 4): values 1, 1, 2, 4 and gaps
    -2, 0, -1, 1. R = sum v g / sum v = (-2 + 0 - 2 + 4) / 8 = 0; z_i = v_i (g_i - R) / sum v
    = (-2, 0, -2, 4) / 8 and var = n / (n - 1) sum (z - mean z)^2 = 4/3 x (4 + 0 + 4 + 16)/64
    = 0.5; the unweighted mean gap is -0.5."""
    frame = pd.DataFrame({"v": [1.0, 1.0, 2.0, 4.0], "g": [-2.0, 0.0, -1.0, 1.0]})
    design = build_design(frame, DesignConfig())
    got = estimate.ratios(design, frame[["g"]].mul(frame["v"], axis=0), frame[["v"]])
    assert got["estimate"].iloc[0] == pytest.approx(0.0, abs=1e-15)
    assert got["se"].iloc[0] == pytest.approx(np.sqrt(0.5))
    assert got["n"].iloc[0] == 4 and got["df"].iloc[0] == 3
    assert got["numerator"].iloc[0] == pytest.approx(0.0) and got["denominator"].iloc[0] == 8


def test_ratios_with_an_answered_denominator_are_means(sample):
    """sum w y 1[answered] / sum w 1[answered] is the Hajek mean: same estimate and SE."""
    design = raked(sample, "greg")
    y = sample[["g1", "p2"]]
    groups = {"all": None, "segment": sample["segment"]}
    ratio = estimate.ratios_by(design, y, y.notna().astype(float).where(y.notna()), groups)
    mean = estimate.means_by(design, y, groups, deff=False)
    np.testing.assert_allclose(ratio["estimate"], mean["estimate"], rtol=1e-12)
    np.testing.assert_allclose(ratio["se"], mean["se"], rtol=1e-10)
    assert (ratio["n"].to_numpy() == mean["n"].to_numpy()).all()


def test_customers_without_a_value_are_left_out_and_counted(sample, codebook):
    design = raked(sample, "greg")
    gaps = value.value_gaps(design, sample, codebook, by=BY)
    row = gaps[(gaps["item"] == "q1") & (gaps["group"] == "all")].iloc[0]
    answered = sample[["e1", "p1"]].notna().all(axis=1)
    assert row["n"] == int((answered & sample["v"].notna()).sum())
    assert row["n_no_value"] == int((answered & sample["v"].isna()).sum()) > 0
    # giving the unvalued customers a value changes the estimate; a value of 0 does not
    zero = sample.assign(v=sample["v"].fillna(0.0))
    with_zero = value.value_gaps(raked(zero, "greg"), zero, codebook)
    assert with_zero["value_gap"].iloc[0] == pytest.approx(row["value_gap"], rel=1e-12)
    assert with_zero["n"].iloc[0] > row["n"]


def test_ranks_and_shifts_when_weighted_by_value():
    table = pd.DataFrame(
        {
            "item": list("abcd"),
            "label": list("ABCD"),
            "dimension": "D",
            "group": "all",
            "level": "all",
            "n": 50,
            "n_no_value": 0,
            "value_gap": [-0.1, -0.2, -0.3, -0.9],
            "se": 0.1,
            "ci_low": 0.0,
            "ci_high": 0.0,
            "df": 10,
            "p_value": 0.5,
            "gap": [-0.9, -0.8, -0.7, -0.1],
            "gap_se": 0.1,
        }
    )
    out = value.suppress_value_gaps(table, min_cell=5)
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["value_rank"].tolist() == [4, 3, 2, 1]
    assert out["rank_change"].tolist() == [-3, -1, 1, 3]
    assert out["shift"].tolist() == [FALLS, "", "", RISES]
    assert rank_shift(2) == "" and rank_shift(float("nan")) == ""
    small = value.suppress_value_gaps(table.assign(n=[50, 50, 50, 3]), min_cell=5)
    assert small["rank"].isna().tolist() == [False, False, False, True]
    assert small["value_rank"].tolist()[:3] == [3, 2, 1]
    assert small["value_gap"].isna().iloc[3] and small["suppressed"].iloc[3]


def test_the_value_column_is_validated(tmp_path):
    """Numbers >= 0 (blank: no value, accepted); text, negatives and infinities are rejected with
    the row, column and rule; a missing-answer code that cannot be a value (-99) is a blank."""
    from analysis.intake import readers, schema

    cb = Codebook.model_validate(
        {
            "id": "rid",
            "scale": {"min": 1, "max": 7},
            "items": [{"id": "a", "label": "A", "dimension": "D", "expectation": "e_a",
                       "performance": "p_a"}],
            "value": "spend",
            "missing": [-99],
        }
    )  # fmt: skip
    rows = ["1,5,4,120.5", "2,5,4,", "3,5,4,0", "4,5,4,-3", "5,5,4,lots", "6,5,4,inf", "7,5,4,-99"]
    path = tmp_path / "responses.csv"
    path.write_text("\n".join(["rid,e_a,p_a,spend", *rows]) + "\n", encoding="utf-8")
    got = schema.validate(readers.read_survey(path), cb, DesignConfig())
    assert got.clean["rid"].tolist() == ["1", "2", "3", "7"]
    assert got.clean["spend"].dtype == np.float64
    assert got.clean["spend"].tolist()[::2] == [120.5, 0.0]
    assert got.clean["spend"].isna().tolist() == [False, True, False, True]
    reasons = dict(zip(got.rejected["rid"], got.rejected["reasons"], strict=True))
    assert set(reasons) == {"4", "5", "6"}
    assert "spend = '-3'" in reasons["4"] and ">= 0" in reasons["4"]
    assert "spend = 'lots': not a number" in reasons["5"]
    assert "spend = 'inf'" in reasons["6"]
    assert got.summary.accepted + got.summary.rejected == got.summary.received == 7


def test_the_demo_ships_a_value_column():
    """annual_spend: named by the codebook, a few blanks, far higher for businesses."""
    from analysis.config.params import load_codebook

    root = Path(__file__).resolve().parents[1] / "data" / "raw" / "demo"
    assert load_codebook(root / "codebook.yaml").value == "annual_spend"
    rows = pd.read_csv(root / "responses.csv", dtype=str, keep_default_na=False)
    spend = pd.to_numeric(rows["annual_spend"].replace("", np.nan))
    assert 0 < spend.isna().mean() < 0.05 and (spend.dropna() > 0).all()
    median = spend.groupby(rows["segment"]).median()
    assert median["Enterprise"] > 5 * median["Small business"] > 25 * median["Consumer"]


def test_the_section_says_what_rises_and_falls(sample, codebook):
    from analysis.report.value import value_section

    design = raked(sample, "greg")
    gaps = value.suppress_value_gaps(value.value_gaps(design, sample, codebook, by=BY), 5)
    key = value.suppress_key_customers(value.key_customers(design, sample, codebook, by=BY), 5)
    vn = value.suppress_key_customers(value.value_nps(design, sample, codebook, by=BY), 5)
    result = value.ValueResult(gaps=gaps, nps=vn, key_customers=key)
    story = value_section(result, 0.95, 5).data
    assert '<h2 id="value">Who matters most</h2>' in story
    assert "no attribute moves 3 or more places" in story  # two items cannot move 3 places
    assert story.count("<tr>") == 1 + 3 + 4  # the head and every segment level
    detail = value_section(result, 0.95, 5, part="detail").data
    assert 'id="value-detail"' in detail and detail.count("<tr>") == 1 + 2
    assert value_section(None).data == ""
