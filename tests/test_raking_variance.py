"""Raking variance as R computes it: ``calibrate(calfun = "raking")`` (greg, the default) and
``rake()`` (``weighting.variance: r-rake``), on a stratified two-stage sample with unequal base
weights and item nonresponse (tests/fixtures/r_reference/raking, made by its reference.R)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.cx.gaps import paired_means
from analysis.errors import DesignError
from analysis.survey import calibrate, estimate
from analysis.survey.design import build_design

CASE = Path(__file__).parent / "fixtures" / "r_reference" / "raking"
VARIABLES = ["g1", "e1", "p1", "y2"]
DESIGN = DesignConfig(weight="w", strata="stratum", cluster=["psu", "ssu"])


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(CASE / "sample.csv")


@pytest.fixture(scope="module")
def margins() -> pd.DataFrame:
    return pd.read_csv(CASE / "margins.csv")


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(CASE / "expected.csv")


def raked(sample: pd.DataFrame, margins: pd.DataFrame, variance: str):
    design = build_design(sample, DESIGN)
    return calibrate.calibrate(design, sample, margins, method="rake", variance=variance)


def ours(design, sample: pd.DataFrame) -> pd.DataFrame:
    groups = {"all": None, "segment": sample["segment"], "region": sample["region"]}
    out = estimate.by(design, sample[VARIABLES], groups)
    out["level"] = out["domain"].astype(str)
    out.loc[out["group"] == "all", "level"] = "all"
    return out.rename(columns={"variable": "variable"})


@pytest.mark.parametrize("variance", ["greg", "r-rake"])
def test_raking_variance_matches_r(sample, margins, expected, variance):
    got = ours(raked(sample, margins, variance), sample)
    want = expected[expected["variant"] == variance]
    merged = want.merge(got, on=["variable", "group", "level"], suffixes=("_r", ""))
    assert len(merged) == len(want) == 4 * (1 + 3 + 4)
    np.testing.assert_allclose(merged["estimate"], merged["estimate_r"], rtol=1e-6)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-6)


@pytest.mark.parametrize("variance", ["greg", "r-rake"])
def test_share_met_and_its_se_match_r(sample, margins, variance):
    """share_met = svymean(~I(p1 >= e1), des, na.rm = TRUE) and its svyby (share_met.R)."""
    want = pd.read_csv(CASE / "expected_share_met.csv")
    want = want[want["variant"] == variance]
    both = sample[["e1", "p1"]].notna().all(axis=1).to_numpy()
    e = np.where(both, sample["e1"], np.nan)[:, None]
    p = np.where(both, sample["p1"], np.nan)[:, None]
    domains = {g: sample[g].astype("category") for g in ("segment", "region")}
    got = paired_means(raked(sample, margins, variance), e, p, {"item": ["q1"]}, domains)
    merged = want.merge(got, on=["group", "level"], suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(want) == 1 + 3 + 4
    np.testing.assert_allclose(merged["share_met"], merged["share_met_r"], rtol=1e-8)
    np.testing.assert_allclose(merged["share_met_se"], merged["share_met_se_r"], rtol=1e-8)


def test_the_two_raking_variances_differ_here_and_agree_with_equal_weights(sample, margins):
    """Base weights vary within the margin cells, so rake()'s unweighted residual fit gives other
    SEs than calibrate()'s weighted one; with equal base weights the two coincide."""
    greg = ours(raked(sample, margins, "greg"), sample)
    rake = ours(raked(sample, margins, "r-rake"), sample)
    np.testing.assert_allclose(greg["estimate"], rake["estimate"], rtol=1e-12)
    assert np.max(np.abs(greg["se"] / rake["se"] - 1)) > 0.01
    equal = sample.assign(w=50.0)
    greg = ours(raked(equal, margins, "greg"), equal)
    rake = ours(raked(equal, margins, "r-rake"), equal)
    # the same projection, up to the 10 backfitting passes of R's rake()
    np.testing.assert_allclose(greg["se"], rake["se"], rtol=1e-6)


def test_r_rake_needs_plain_raking(sample, margins):
    design = build_design(sample, DESIGN)
    joint = margins[margins["variable"] == "segment"]
    with pytest.raises(DesignError, match="r-rake reproduces R's rake"):
        calibrate.calibrate(design, sample, joint, method="poststratify", variance="r-rake")
    with pytest.raises(DesignError, match="r-rake reproduces R's rake"):
        calibrate.calibrate(design, sample, margins, bounds=(0.5, 2.0), variance="r-rake")
    with pytest.raises(DesignError, match=r"weighting\.variance 'jk' is not one of greg, r-rake"):
        calibrate.calibrate(design, sample, margins, variance="jk")
