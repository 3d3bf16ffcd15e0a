"""Replicate-weight variance of calibrated designs against R (issue 11): R's recalibrated
replicate designs, e.g. ``rake(as.svrepdesign(des, type = "JKn"), ...)``, reproduced to 1e-6
relative (estimates, SEs, degrees of freedom, t tests and contrasts), on a stratified two-stage
sample with unequal weights and item nonresponse (tests/fixtures/r_reference/raking, README.md
there). The bootstraps use R's own random draws (repfactors_*.csv), fed to the engine as given
factors. Then the design deciding the variance: every estimator of a design with replicates, and
the pipeline's ``design.variance``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.cx.gaps import paired_means
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import estimate, replicates
from analysis.survey.design import SurveyDesign, build_design

FIXTURES = Path(__file__).parent / "fixtures" / "r_reference" / "raking"
SAMPLE = pd.read_csv(FIXTURES / "sample.csv")
MARGINS = pd.read_csv(FIXTURES / "margins.csv")
EXPECTED = pd.read_csv(FIXTURES / "expected.csv")
TESTS = pd.read_csv(FIXTURES / "expected_tests.csv").set_index("variant")
VARIABLES = ["g1", "e1", "p1", "y2"]
GROUPS = {"all": None, "segment": SAMPLE["segment"], "region": SAMPLE["region"]}
TIGHT = {"max_iter": 500, "tolerance": 1e-13}  # R's reference raked to convergence
RTOL = 1e-6


def base_design(stratified: bool = True) -> SurveyDesign:
    """R: svydesign(id = ~psu + ssu, strata = ~stratum, weights = ~w, nest = TRUE); JK1 is made
    from the same sample without its strata."""
    config = DesignConfig(
        weight="w", strata="stratum" if stratified else None, cluster=["psu", "ssu"]
    )
    return build_design(SAMPLE, config)


def calibrated(design: SurveyDesign, method: str) -> tuple[SurveyDesign, replicates.Recalibrator]:
    """The design calibrated as R's reference, and the recalibrator of its replicates."""
    if method == "rake":
        cal = weighting.calibrate(design, SAMPLE, MARGINS, method="rake", **TIGHT)
        return cal, replicates.raking_recalibrator(cal, SAMPLE, **TIGHT)
    if method == "poststratify":  # post-stratified on segment alone
        margins = MARGINS[MARGINS["variable"] == "segment"]
        cal = weighting.calibrate(design, SAMPLE, margins, method="poststratify")
        return cal, replicates.raking_recalibrator(cal, SAMPLE, **TIGHT)

    def linear(d: SurveyDesign) -> SurveyDesign:
        return weighting.calibrate(d, SAMPLE, MARGINS, method="linear")

    cal = linear(design)
    return cal, replicates.design_recalibrator(cal, linear)


def r_factors(type: str) -> np.ndarray:
    """R's bootstrap draws: replicate weight / sampling weight per row (rows of sample.csv)."""
    return pd.read_csv(FIXTURES / f"repfactors_{type}.csv").to_numpy(dtype=float)


def replicate_design(variant: str) -> SurveyDesign:
    """The design of an ``expected.csv`` variant, with its replicate weights."""
    type, _, method = variant.partition("-")
    method = method or "rake"
    design = base_design(stratified=type != "JK1")
    recalibrate = None
    if method != "uncalibrated":
        design, recalibrate = calibrated(design, method)
    if type in ("bootstrap", "subbootstrap"):
        rep = replicates.from_factors(design, r_factors(type), type, recalibrate=recalibrate)
    else:
        rep = replicates.replicate_weights(design, type, recalibrate=recalibrate)
    return design.with_replicates(rep)


REPLICATE_VARIANTS = [
    "JK1",
    "JKn",
    "bootstrap",
    "subbootstrap",
    "JKn-poststratify",
    "JKn-linear",
    "JKn-uncalibrated",
    "bootstrap-uncalibrated",
]


@pytest.fixture(scope="module", params=REPLICATE_VARIANTS)
def variant(request: pytest.FixtureRequest) -> tuple[str, SurveyDesign]:
    return request.param, replicate_design(request.param)


# ---------------------------------------------------------------------------------------------
# R's recalibrated replicate designs


def test_means_overall_and_by_segment_and_region_match_r(variant) -> None:
    name, design = variant
    want = EXPECTED[EXPECTED["variant"] == name]
    assert len(want) == 4 * (1 + 3 + 4)
    got = estimate.means_by(design, SAMPLE[VARIABLES], GROUPS)
    both = want.merge(
        got,
        left_on=["variable", "group", "level"],
        right_on=["variable", "group", "domain"],
        suffixes=("_r", ""),
        validate="one_to_one",
    )
    assert len(both) == len(want)
    np.testing.assert_allclose(both["estimate"], both["estimate_r"], rtol=RTOL)
    np.testing.assert_allclose(both["se"], both["se_r"], rtol=RTOL)
    assert (both["df"] == TESTS.loc[name, "degf"]).all()


def test_share_met_and_its_se_match_r_on_the_re_raked_jackknife() -> None:
    """share_met = svymean(~I(p1 >= e1), des, na.rm = TRUE) and its svyby (share_met.R)."""
    want = pd.read_csv(FIXTURES / "expected_share_met.csv")
    want = want[want["variant"] == "JKn"]
    got = _share_met(replicate_design("JKn"))
    merged = want.merge(got, on=["group", "level"], suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(want) == 1 + 3 + 4
    np.testing.assert_allclose(merged["share_met"], merged["share_met_r"], rtol=1e-8)
    np.testing.assert_allclose(merged["share_met_se"], merged["share_met_se_r"], rtol=1e-8)


def _share_met(design: SurveyDesign) -> pd.DataFrame:
    """The gap table's estimator (cx.gaps.paired_means) on e1, p1 of the raking sample."""
    both = SAMPLE[["e1", "p1"]].notna().all(axis=1).to_numpy()
    e = np.where(both, SAMPLE["e1"], np.nan)[:, None]
    p = np.where(both, SAMPLE["p1"], np.nan)[:, None]
    domains = {g: SAMPLE[g].astype("category") for g in ("segment", "region")}
    return paired_means(design, e, p, {"item": ["q1"]}, domains)


def test_degrees_of_freedom_are_r_degf(variant) -> None:
    """R's degf: PSUs - strata for as.svrepdesign; rank of the replicate weights - 1 once they are
    recalibrated (rake, postStratify, calibrate)."""
    name, design = variant
    assert design.df == TESTS.loc[name, "degf"]
    if name.endswith("uncalibrated"):
        assert design.df == base_design().df


def test_ttest_and_segment_contrasts_match_r(variant) -> None:
    """svyttest(g1 ~ I(segment == "Consumer")) is each level's contrast with the rest (versus_rest)
    and a two-level t test; svycontrast of svyby(covmat = TRUE) is difference()."""
    name, design = variant
    want = TESTS.loc[name]
    consumer = SAMPLE["segment"].where(SAMPLE["segment"] == "Consumer", "other")
    t = estimate.ttest(design, SAMPLE["g1"], consumer, levels=("other", "Consumer"))
    assert t.difference == pytest.approx(want["ttest_estimate"], rel=RTOL)
    assert t.se == pytest.approx(want["ttest_se"], rel=RTOL)
    assert t.df == want["ttest_df"]
    assert t.p_value == pytest.approx(want["ttest_p"], rel=RTOL)
    rest = estimate.versus_rest(design, SAMPLE[["g1"]], {"segment": SAMPLE["segment"]})
    row = rest.set_index("level").loc["Consumer"]
    assert row["estimate"] == pytest.approx(want["ttest_estimate"], rel=RTOL)
    assert row["se"] == pytest.approx(want["ttest_se"], rel=RTOL)
    diff = estimate.difference(design, SAMPLE["g1"], SAMPLE["segment"], "Business", "Enterprise")
    assert diff["estimate"].iloc[0] == pytest.approx(want["contrast_estimate"], rel=RTOL)
    assert diff["se"].iloc[0] == pytest.approx(want["contrast_se"], rel=RTOL)
    assert (rest["df"] == design.df).all() and (diff["df"] == design.df).all()


def test_every_estimator_takes_the_designs_replicates() -> None:
    """Totals and proportions of a design with replicates: R's svrVar of their replicate
    estimates, from the replicate weights by an obvious loop."""
    design = replicate_design("JKn")
    rep = design.replicates
    w = rep.weights(design)  # (R, n) recalibrated
    y = SAMPLE["y2"].to_numpy()
    ok = np.isfinite(y)
    tot = estimate.totals(design, SAMPLE["y2"], SAMPLE["region"])
    for r in tot.itertuples():
        inside = ok & (SAMPLE["region"] == r.domain).to_numpy()
        theta = w[:, inside] @ y[inside]
        assert r.estimate == pytest.approx(design.weights[inside] @ y[inside], rel=1e-12)
        assert r.se == pytest.approx(np.sqrt(rep.variance(theta)), rel=1e-9)
    prop = estimate.proportions(design, SAMPLE["segment"])
    for r in prop.itertuples():
        inside = (SAMPLE["segment"] == r.category).to_numpy()
        theta = w[:, inside].sum(axis=1) / w.sum(axis=1)
        assert r.se == pytest.approx(np.sqrt(rep.variance(theta)), rel=1e-9)
    # the same design without replicates: Taylor (GREG residuals), other numbers
    taylor = estimate.totals(design.with_replicates(None), SAMPLE["y2"], SAMPLE["region"])
    assert not np.allclose(taylor["se"], tot["se"], rtol=1e-3)
    assert taylor["df"].iloc[0] == base_design().df != design.df


# ---------------------------------------------------------------------------------------------
# what is refused


def test_replicates_must_fit_and_be_recalibrated_for_a_calibrated_design() -> None:
    design = base_design()
    cal, recalibrate = calibrated(design, "rake")
    plain = replicates.replicate_weights(design, "JKn")
    with pytest.raises(DesignError, match="must be recalibrated"):
        cal.with_replicates(plain)
    other = build_design(SAMPLE, DesignConfig(weight="w", strata="stratum"))
    with pytest.raises(DesignError, match="PSUs"):
        other.with_replicates(plain)
    # calibrating a design drops its replicates: they must be made for the calibrated design
    again = weighting.calibrate(design.with_replicates(plain), SAMPLE, MARGINS, method="rake")
    assert again.replicates is None
    with pytest.raises(DesignError, match="bootstrap or subbootstrap"):
        replicates.from_factors(cal, r_factors("bootstrap"), "JKn", recalibrate=recalibrate)
    with pytest.raises(DesignError, match="shape"):
        replicates.from_factors(design, r_factors("bootstrap")[:10])
    uneven = r_factors("bootstrap").copy()
    uneven[0, 0] += 1.0  # the first row's PSU has other rows
    with pytest.raises(DesignError, match="same PSU"):
        replicates.from_factors(design, uneven)


def test_too_many_replicates_to_recalibrate_are_refused(monkeypatch) -> None:
    cal, recalibrate = calibrated(base_design(), "rake")
    monkeypatch.setattr(replicates, "MAX_REPLICATE_CELLS", 29 * len(SAMPLE))
    with pytest.raises(DesignError, match=r"too many to recalibrate.*design\.variance"):
        replicates.replicate_weights(cal, "JKn", recalibrate=recalibrate)


def test_rank_degf_is_rs_rank_of_the_replicate_weights() -> None:
    rng = np.random.default_rng(1)
    w = rng.uniform(1, 2, (6, 50))
    assert replicates.rank_degf(w) == 5
    w[5] = 2 * w[1] - w[0]  # a combination of others (R's qr drops it)
    w[4] = w[3] * (1 + 1e-7)  # within R's tolerance 1e-5 of another
    assert replicates.rank_degf(w) == 3


# ---------------------------------------------------------------------------------------------
# the pipeline: design.variance


REPO = Path(__file__).resolve().parents[1]
DEMO_JKN = Path(__file__).parent / "fixtures" / "r_reference" / "demo_jkn"


def test_demo_with_design_variance_jkn_is_rs_re_raked_jackknife(tmp_path: Path) -> None:
    """params/demo.yaml with design.variance: jkn: one replicate per respondent, each raked to
    the margins; the gap of item tan_1 and R's degf (a pivoted QR: the demo's replicates are
    nearly parallel) as R computes them (tests/fixtures/r_reference/demo_jkn/reference.R)."""
    from analysis.config.params import load_client
    from analysis.cx import gaps
    from analysis.ops import pipeline

    text = (REPO / "params" / "demo.yaml").read_text(encoding="utf-8")
    params = tmp_path / "demo-jkn.yaml"
    params.write_text(text.replace("  strata: stratum\n", "  strata: stratum\n  variance: jkn\n"))
    client = load_client(params, root=REPO)
    clean = pipeline.read_and_validate(client).clean
    accepted = pd.read_csv(DEMO_JKN / "accepted.csv")
    assert clean["respondent_id"].tolist() == accepted["respondent_id"].tolist()
    design = pipeline.survey_design(client, clean)
    want = pd.read_csv(DEMO_JKN / "expected.csv")
    assert design.variance_method == "JKn" and design.replicates.n_replicates == len(clean)
    assert design.df == want["degf"].iloc[0] == 1717
    table = gaps.gap_table(design, clean, client.codebook, by=["segment", "region"])
    got = table[table["item"] == "tan_1"].merge(want, on=["group", "level"], validate="1:1")
    assert len(got) == len(want)
    np.testing.assert_allclose(got["gap"], got["estimate"], rtol=RTOL)
    np.testing.assert_allclose(got["se_x"], got["se_y"], rtol=RTOL)
    assert (got["df"] == 1717).all()
