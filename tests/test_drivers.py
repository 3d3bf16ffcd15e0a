"""Derived importance: weighted correlations, Johnson's relative weights, replicate weights, tiers.

Relative weights are checked against a published worked example (the R package rwa on mtcars),
against Johnson's own construction from the data (an independent computation through the SVD of
the predictors), against the Shapley/LMG decomposition of R^2 where the two coincide (uncorrelated
predictors), and on simulated data whose true weights are known. Replicate variances are checked
against the linearisation and R-conformant JK1 estimators of :mod:`analysis.survey.estimate` (the
replicate weights are the survey engine's, :mod:`analysis.survey.replicates`), and the demo's true
drivers must come out on top.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import Codebook, DesignConfig, load_codebook
from analysis.cx import drivers
from analysis.errors import DesignError
from analysis.intake import readers, schema
from analysis.survey import calibrate as weighting
from analysis.survey import estimate
from analysis.survey import replicates as replicates_mod
from analysis.survey.design import build_design

ROOT = Path(__file__).resolve().parents[1]

# mtcars (R datasets): mpg, cyl, disp, hp, wt of the 32 cars, in R's row order.
MTCARS = np.array(
    [
        [21.0, 6, 160.0, 110, 2.620],
        [21.0, 6, 160.0, 110, 2.875],
        [22.8, 4, 108.0, 93, 2.320],
        [21.4, 6, 258.0, 110, 3.215],
        [18.7, 8, 360.0, 175, 3.440],
        [18.1, 6, 225.0, 105, 3.460],
        [14.3, 8, 360.0, 245, 3.570],
        [24.4, 4, 146.7, 62, 3.190],
        [22.8, 4, 140.8, 95, 3.150],
        [19.2, 6, 167.6, 123, 3.440],
        [17.8, 6, 167.6, 123, 3.440],
        [16.4, 8, 275.8, 180, 4.070],
        [17.3, 8, 275.8, 180, 3.730],
        [15.2, 8, 275.8, 180, 3.780],
        [10.4, 8, 472.0, 205, 5.250],
        [10.4, 8, 460.0, 215, 5.424],
        [14.7, 8, 440.0, 230, 5.345],
        [32.4, 4, 78.7, 66, 2.200],
        [30.4, 4, 75.7, 52, 1.615],
        [33.9, 4, 71.1, 65, 1.835],
        [21.5, 4, 120.1, 97, 2.465],
        [15.5, 8, 318.0, 150, 3.520],
        [15.2, 8, 304.0, 150, 3.435],
        [13.3, 8, 350.0, 245, 3.840],
        [19.2, 8, 400.0, 175, 3.845],
        [27.3, 4, 79.0, 66, 1.935],
        [26.0, 4, 120.3, 91, 2.140],
        [30.4, 4, 95.1, 113, 1.513],
        [15.8, 8, 351.0, 264, 3.170],
        [19.7, 6, 145.0, 175, 2.770],
        [15.0, 8, 301.0, 335, 3.570],
        [21.4, 4, 121.0, 109, 2.780],
    ]
)


def srs(frame: pd.DataFrame, weight: str | None = None, **kw) -> object:
    return build_design(frame, DesignConfig(weight=weight, **kw))


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the OLS regression of y on x (with intercept); 0 for no predictors."""
    if x.shape[1] == 0:
        return 0.0
    a = np.c_[np.ones(len(y)), x]
    beta = np.linalg.lstsq(a, y, rcond=None)[0]
    resid = y - a @ beta
    return float(1 - resid.var() / y.var())


def lmg(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shapley / LMG decomposition of R^2: each predictor's R^2 increment averaged over all
    orders (by subset size, as relaimpo's lmg), from explicit regressions."""
    p = x.shape[1]
    out = np.zeros(p)
    for j in range(p):
        others = [k for k in range(p) if k != j]
        for size in range(p):
            subsets = list(itertools.combinations(others, size))
            inc = [r_squared(x[:, [*s, j]], y) - r_squared(x[:, list(s)], y) for s in subsets]
            out[j] += np.mean(inc) / p
    return out


def johnson_from_data(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson (2000) as he describes it: Z = P Q' (the orthonormal matrix closest to the
    standardised predictors X = P D Q'), beta from regressing y on Z, Lambda from regressing X
    on Z, raw weight_j = sum_k Lambda_jk^2 beta_k^2."""
    xs = (x - x.mean(0)) / x.std(0)
    ys = (y - y.mean()) / y.std()
    p_, _d, qt = np.linalg.svd(xs, full_matrices=False)
    z = p_ @ qt * np.sqrt(len(y))  # standardised orthogonal counterparts
    beta = np.linalg.lstsq(z, ys, rcond=None)[0]
    lam = np.linalg.lstsq(z, xs, rcond=None)[0]  # (k, j): X_j on Z_k
    return (lam.T**2) @ (beta**2)


# ---------------------------------------------------------------------------------------------
# relative weights


def test_relative_weights_reproduce_the_published_rwa_example():
    # rwa::rwa(mtcars, "mpg", c("cyl", "disp", "hp", "wt")) (Chan, rwa package documentation):
    # Raw.RelWeight 0.2096904 0.1883043 0.1799590 0.2706812; Rescaled 24.70914 22.18908 21.20570
    # 31.89607; R^2 0.8486 (lm(mpg ~ cyl + disp + hp + wt)).
    corr = np.corrcoef(MTCARS[:, [1, 2, 3, 4, 0]].T)
    raw, r2 = drivers.relative_weights(corr)
    assert raw == pytest.approx([0.2096904, 0.1883043, 0.1799590, 0.2706812], abs=5e-8)
    assert 100 * raw / r2 == pytest.approx([24.70914, 22.18908, 21.20570, 31.89607], abs=5e-6)
    assert r2 == pytest.approx(r_squared(MTCARS[:, 1:], MTCARS[:, 0]), abs=1e-12)
    assert r2 == pytest.approx(0.8486, abs=1e-4)


def test_relative_weights_match_johnsons_construction_from_the_data():
    rng = np.random.default_rng(3)
    cov = np.array([[1, 0.6, 0.3, 0.1], [0.6, 1, 0.5, 0.2], [0.3, 0.5, 1, 0.4], [0.1, 0.2, 0.4, 1]])
    x = rng.multivariate_normal(np.zeros(4), cov, 300)
    y = x @ [0.5, 0.1, 0.3, 0.0] + rng.normal(0, 1, 300)
    raw, r2 = drivers.relative_weights(np.corrcoef(np.c_[x, y].T))
    assert raw == pytest.approx(johnson_from_data(x, y), abs=1e-10)
    assert r2 == pytest.approx(r_squared(x, y), abs=1e-12)
    # correlated predictors: close to, but not the same as, the Shapley decomposition
    shapley = lmg(x, y)
    assert shapley.sum() == pytest.approx(r2, abs=1e-12)
    assert raw == pytest.approx(shapley, abs=0.01)


def test_uncorrelated_predictors_give_squared_correlations_equal_to_lmg():
    # Exactly orthogonal predictors (Hadamard columns): relative weights = r_jy^2 = Shapley.
    h = np.array([[1]])
    for _ in range(4):
        h = np.block([[h, h], [h, -h]])
    x = h[:, 1:4].astype(float)  # 16 rows, 3 orthogonal centred columns
    y = x @ [3.0, 1.0, 0.5] + np.resize([1.0, -2.0, 0.5, 1.5, -1.0], 16)
    corr = np.corrcoef(np.c_[x, y].T)
    assert corr[:3, :3] == pytest.approx(np.eye(3), abs=1e-12)
    raw, r2 = drivers.relative_weights(corr)
    assert raw == pytest.approx(corr[:3, 3] ** 2, abs=1e-12)
    assert raw == pytest.approx(lmg(x, y), abs=1e-12)
    assert r2 == pytest.approx(r_squared(x, y), abs=1e-12)


def test_redundant_predictor_does_not_break_the_weights():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 50))
    x = np.c_[a, b, a + b]  # exactly collinear
    y = a + 0.5 * b + rng.normal(0, 0.5, 50)
    raw, r2 = drivers.relative_weights(np.corrcoef(np.c_[x, y].T))
    assert np.isfinite(raw).all() and (raw >= 0).all()
    assert r2 == pytest.approx(r_squared(x[:, :2], y), abs=1e-8)


# ---------------------------------------------------------------------------------------------
# weighted covariance and correlation


def test_weighted_correlation_equals_the_correlation_of_the_expanded_data():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(12, 3)), columns=["a", "b", "c"])
    frame["w"] = rng.integers(1, 5, 12).astype(float)
    design = srs(frame, "w")
    got = drivers.correlation_matrix(design, frame[["a", "b", "c"]])
    expanded = frame.loc[frame.index.repeat(frame["w"].astype(int)), ["a", "b", "c"]]
    assert got.to_numpy() == pytest.approx(np.corrcoef(expanded.T.to_numpy()), abs=1e-12)


def test_weighted_covariance_by_hand_and_r_scaling():
    frame = pd.DataFrame({"x": [1.0, 2.0, 4.0], "y": [2.0, 1.0, 5.0], "w": [1.0, 2.0, 1.0]})
    cov = drivers.covariance_matrix(srs(frame, "w"), frame[["x", "y"]]).to_numpy()
    # weighted means 2.25 and 2.25; sum w dx dy / sum w = (1.25*0.25 + 2*0.25*1.25 + 1.75*2.75)/4
    mx = my = 2.25
    dx, dy = np.array([1, 2, 4]) - mx, np.array([2, 1, 5]) - my
    w = np.array([1, 2, 1])
    hand = (w * dx * dy).sum() / 4 * 3 / 2  # R's svyvar: times n / (n - 1)
    assert cov[0, 1] == pytest.approx(hand, abs=1e-12)
    assert cov[0, 0] == pytest.approx((w * dx * dx).sum() / 4 * 1.5, abs=1e-12)


def test_complete_and_pairwise_missing_values():
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame.loc[[1, 5, 9], "a"] = np.nan
    frame.loc[[2, 5], "c"] = np.nan
    design = srs(frame)
    pairwise = drivers.correlation_matrix(design, frame, missing="pairwise").to_numpy()
    assert pairwise == pytest.approx(frame.corr().to_numpy(), abs=1e-12)  # pandas: pairwise
    complete = drivers.correlation_matrix(design, frame, missing="complete").to_numpy()
    assert complete == pytest.approx(frame.dropna().corr().to_numpy(), abs=1e-12)
    with pytest.raises(ValueError, match="missing must be"):
        drivers.correlation_matrix(design, frame, missing="listwise")


# ---------------------------------------------------------------------------------------------
# replicate weights


def boot(design, replicates: int = 500, seed: int = 2026) -> replicates_mod.ReplicateWeights:
    """The drivers' bootstrap: the engine's subbootstrap with the Rao-Wu-Yue fpc rescaling."""
    return replicates_mod.replicate_weights(
        design, drivers.REPLICATE_TYPES["bootstrap"], replicates, seed, rescale_fpc=True
    )


def jack(design) -> replicates_mod.ReplicateWeights:
    return replicates_mod.replicate_weights(
        design, drivers.REPLICATE_TYPES["jackknife"], rescale_fpc=True
    )


def replicate_mean_variance(reps: replicates_mod.ReplicateWeights, design, y: np.ndarray) -> float:
    w = reps.weights(design)
    theta = (w @ y) / w.sum(axis=1)
    return float(reps.variance(theta[:, None])[0])


def test_jackknife_of_a_mean_equals_linearisation_for_a_simple_random_sample():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"y": rng.normal(size=25)})
    design = srs(frame)
    reps = jack(design)
    se = estimate.means(design, frame["y"])["se"].iloc[0]
    assert reps.n_replicates == 25 and reps.family == "jackknife"
    assert np.sqrt(replicate_mean_variance(reps, design, frame["y"].to_numpy())) == pytest.approx(
        se
    )


def test_jackknife_matches_the_r_conformant_jk1_of_a_cluster_sample():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"psu": np.repeat(np.arange(8), 5), "w": rng.uniform(1, 3, 40), "y": rng.normal(size=40)}
    )
    design = build_design(frame, DesignConfig(weight="w", cluster="psu"))
    reps = jack(design)
    want = estimate.means(
        design.with_replicates(replicates_mod.replicate_weights(design, "JK1")), frame["y"]
    )["se"].iloc[0]
    assert reps.n_replicates == 8
    got = np.sqrt(replicate_mean_variance(reps, design, frame["y"].to_numpy()))
    assert got == pytest.approx(want, rel=1e-12)


def test_stratified_bootstrap_variance_is_close_to_linearisation_and_seeded():
    rng = np.random.default_rng(8)
    n = 400
    frame = pd.DataFrame(
        {
            "stratum": np.repeat(["a", "b"], n // 2),
            "w": np.repeat([2.0, 6.0], n // 2),
            "y": np.r_[rng.normal(0, 1, n // 2), rng.normal(2, 2, n // 2)],
        }
    )
    design = build_design(frame, DesignConfig(weight="w", strata="stratum"))
    reps = boot(design, replicates=400, seed=11)
    again = boot(design, replicates=400, seed=11)
    assert np.array_equal(reps.weights(design), again.weights(design))
    # each replicate keeps every stratum's weight total in expectation, and resamples within it
    assert reps.weights(design).shape == (400, n) and reps.family == "bootstrap"
    se = estimate.means(design, frame["y"])["se"].iloc[0]
    b = np.sqrt(replicate_mean_variance(reps, design, frame["y"].to_numpy()))
    assert b / se == pytest.approx(1.0, abs=0.1)


def test_census_stratum_gets_no_replicate_variation():
    frame = pd.DataFrame(
        {
            "stratum": ["a"] * 4 + ["b"] * 6,
            "fpc": [4] * 4 + [60] * 6,  # stratum a sampled completely
            "y": np.arange(10.0),
        }
    )
    design = build_design(frame, DesignConfig(strata="stratum", fpc="fpc"))
    b = boot(design, replicates=50)
    assert np.allclose(b.weights(design)[:, :4], 1.0)  # Rao-Wu-Yue: a = sqrt(1 - f) = 0
    # the jackknife is R's JKn: a census stratum has no replicates (survey.drop.replicates)
    j = jack(design)
    assert j.n_replicates == 6
    for reps in (b, j):
        theta = reps.weights(design)[:, :4] @ frame["y"].to_numpy()[:4]
        assert reps.variance(theta[:, None])[0] == pytest.approx(0.0, abs=1e-12)


def raked(seed: int = 0) -> tuple[pd.DataFrame, object, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame(
        {
            "stratum": rng.choice(["s1", "s2", "s3"], n),
            "region": rng.choice(["N", "S"], n, p=[0.7, 0.3]),
            "age": rng.choice(["young", "old"], n),
            "w": rng.uniform(5, 15, n),
        }
    )
    margins = pd.DataFrame(
        {
            "variable": ["region", "region", "age", "age"],
            "level": ["N", "S", "young", "old"],
            "count": [1500.0, 1500.0, 1000.0, 2000.0],
        }
    )
    design = build_design(frame, DesignConfig(weight="w", strata="stratum"))
    return frame, weighting.calibrate(design, frame, margins, method="rake"), margins


def test_raking_all_replicates_at_once_equals_calibrating_each():
    frame, design, margins = raked()
    fast = replicates_mod.replicate_weights(
        design,
        "subbootstrap",
        15,
        seed=3,
        rescale_fpc=True,
        recalibrate=replicates_mod.raking_recalibrator(design, frame),
    )
    slow = replicates_mod.replicate_weights(
        design,
        "subbootstrap",
        15,
        seed=3,
        rescale_fpc=True,
        recalibrate=replicates_mod.design_recalibrator(
            design, lambda d: weighting.calibrate(d, frame, margins, method="rake")
        ),
    )
    assert fast.n_replicates == slow.n_replicates == 15
    assert fast.weights(design) == pytest.approx(slow.weights(design), rel=1e-7, abs=1e-9)
    # every replicate reproduces the margins
    north = (frame["region"] == "N").to_numpy()
    assert fast.weights(design)[:, north].sum(axis=1) == pytest.approx(np.full(15, 1500.0))


def test_calibrated_design_needs_recalibrated_replicates():
    _frame, design, _m = raked()
    with pytest.raises(DesignError, match="recalibrated"):
        boot(design)
    with pytest.raises(DesignError, match="one unbounded rake or poststratify"):
        replicates_mod.raking_recalibrator(build_design(_frame, DesignConfig(weight="w")), _frame)


# ---------------------------------------------------------------------------------------------
# the key-driver table


def driver_codebook(p: int) -> Codebook:
    return Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {
                "id": f"i{j}",
                "label": f"Item {j}",
                "dimension": "D",
                "expectation": f"e{j}",
                "performance": f"p{j}",
            }
            for j in range(p)
        ],
        overall="overall",
    )


def test_key_drivers_recover_known_relative_weights_within_their_intervals():
    """Simulated population with known correlations: the true relative weights (from the
    population correlation matrix) fall within the estimates' intervals, and the ranking holds."""
    rng = np.random.default_rng(2026)
    p, n = 4, 1500
    sigma = np.array(
        [[1, 0.4, 0.3, 0.2], [0.4, 1, 0.3, 0.2], [0.3, 0.3, 1, 0.2], [0.2, 0.2, 0.2, 1.0]]
    )
    beta = np.array([0.6, 0.3, 0.1, 0.0])
    x = rng.multivariate_normal(np.zeros(p), sigma, n)
    y = x @ beta + rng.normal(0, 0.8, n)
    var_y = beta @ sigma @ beta + 0.64
    pop = np.block([[sigma, (sigma @ beta)[:, None]], [(sigma @ beta)[None, :], var_y]])
    d = np.sqrt(np.diag(pop))
    truth, truth_r2 = drivers.relative_weights(pop / np.outer(d, d))
    frame = pd.DataFrame(x, columns=[f"p{j}" for j in range(p)])
    for j in range(p):
        frame[f"e{j}"] = 5.0
    frame["overall"] = y
    frame["rid"] = np.arange(n)
    design = srs(frame)
    reps = boot(design, replicates=200, seed=1)
    table = drivers.key_drivers(design, frame, driver_codebook(p), reps)
    assert list(table.columns) == drivers.DRIVER_COLUMNS
    assert table["share"].sum() == pytest.approx(100.0)
    assert table["raw_weight"].sum() == pytest.approx(table["r_squared"].iloc[0])
    assert ((table["raw_weight_ci_low"] <= truth) & (truth <= table["raw_weight_ci_high"])).all()
    lo, hi = table["r_squared_ci_low"].iloc[0], table["r_squared_ci_high"].iloc[0]
    assert lo <= truth_r2 <= hi
    assert list(table.sort_values("rank")["item"]) == ["i0", "i1", "i2", "i3"]
    assert table.loc[0, "vs_average"] == "above" and table.loc[3, "vs_average"] == "below"
    assert (table["n"] == n).all() and (table["replicates"] == 200).all()


def test_key_drivers_take_the_designs_replicates_when_it_has_them():
    """A design with replicate weights (params design.variance) gives the drivers their
    intervals; the same replicates passed explicitly give the same table."""
    rng = np.random.default_rng(5)
    p, n = 3, 300
    x = rng.normal(size=(n, p))
    frame = pd.DataFrame(x, columns=[f"p{j}" for j in range(p)])
    for j in range(p):
        frame[f"e{j}"] = 5.0
    frame["overall"] = x @ np.array([0.5, 0.3, 0.1]) + rng.normal(0, 1, n)
    frame["rid"] = np.arange(n)
    frame["h"] = np.repeat(["a", "b", "c"], n // 3)
    design = srs(frame, strata="h")
    plain = drivers.key_drivers(design, frame, driver_codebook(p))
    assert (plain["replicates"] == 0).all() and plain["share_se"].isna().all()
    reps = replicates_mod.replicate_weights(design, "JKn")
    with_reps = drivers.key_drivers(design.with_replicates(reps), frame, driver_codebook(p))
    explicit = drivers.key_drivers(design, frame, driver_codebook(p), reps)
    pd.testing.assert_frame_equal(with_reps, explicit)
    assert (with_reps["replicates"] == n).all() and (with_reps["method"] == "jackknife").all()
    assert with_reps["share_se"].notna().all()


def test_key_drivers_use_complete_cases_as_a_domain_or_pairwise():
    rng = np.random.default_rng(6)
    n = 120
    frame = pd.DataFrame({"rid": np.arange(n)})
    for j in range(3):
        frame[f"p{j}"] = rng.integers(1, 8, n).astype(float)
        frame[f"e{j}"] = 6.0
    frame["overall"] = frame[["p0", "p1"]].sum(axis=1) + rng.normal(0, 1, n)
    frame.loc[:9, "p2"] = np.nan
    design = srs(frame)
    table = drivers.key_drivers(design, frame, driver_codebook(3))
    assert (table["n"] == n - 10).all()
    want, _ = drivers.relative_weights(
        frame.dropna()[["p0", "p1", "p2", "overall"]].corr().to_numpy()
    )
    assert table["raw_weight"].to_numpy() == pytest.approx(want)
    assert table["raw_weight_se"].isna().all() and table["vs_average"].isna().all()
    pairwise = drivers.key_drivers(design, frame, driver_codebook(3), missing="pairwise")
    assert (pairwise["n"] == n).all()
    with pytest.raises(DesignError, match="no overall"):
        drivers.key_drivers(
            design, frame, Codebook(**{**driver_codebook(3).model_dump(), "overall": None})
        )


def loyalty_frame(seed: int = 11, n: int = 400) -> tuple[pd.DataFrame, np.ndarray]:
    """Three items whose performance drives overall satisfaction (mostly p0) and likelihood to
    recommend (mostly p2) differently; recommend unanswered by 40 respondents; integer weights
    1..3 (so a weighted estimate equals the unweighted one of the frequency-expanded rows)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    frame = pd.DataFrame(x, columns=["p0", "p1", "p2"])
    for j in range(3):
        frame[f"e{j}"] = 5.0
    frame["overall"] = x @ np.array([0.7, 0.3, 0.05]) + rng.normal(0, 1, n)
    frame["loyal"] = x @ np.array([0.05, 0.3, 0.7]) + rng.normal(0, 1, n)
    frame.loc[frame.index[:40], "loyal"] = np.nan
    frame["rid"] = np.arange(n)
    frame["w"] = rng.integers(1, 4, n).astype(float)
    frame["h"] = np.repeat(["a", "b"], n // 2)
    return frame, frame["w"].to_numpy()


def loyalty_codebook(overall: str | None = "overall", recommend: str | None = "loyal") -> Codebook:
    return Codebook(
        **{**driver_codebook(3).model_dump(), "overall": overall, "recommend": recommend}
    )


def test_drivers_of_recommend_match_johnsons_construction_on_the_expanded_data():
    """The recommend model: its complete cases (the 360 who answered recommend), weighted; the
    raw weights equal Johnson's construction (SVD of the standardised predictors) on the rows
    repeated by their integer weights, and differ from the overall model's."""
    frame, w = loyalty_frame()
    design = srs(frame, weight="w")
    cb = loyalty_codebook()
    table = drivers.key_drivers(design, frame, cb, outcome="recommend")
    assert list(table.columns) == drivers.DRIVER_COLUMNS
    assert (table["outcome"] == "recommend").all() and (table["n"] == 360).all()
    answered = frame["loyal"].notna().to_numpy()
    rows = np.repeat(np.flatnonzero(answered), w[answered].astype(int))
    x = frame[["p0", "p1", "p2"]].to_numpy()[rows]
    y = frame["loyal"].to_numpy()[rows]
    assert table["raw_weight"].to_numpy() == pytest.approx(johnson_from_data(x, y), abs=1e-10)
    assert table["r_squared"].iloc[0] == pytest.approx(r_squared(x, y), abs=1e-10)
    assert table["correlation"].to_numpy() == pytest.approx(
        [np.corrcoef(x[:, j], y)[0, 1] for j in range(3)], abs=1e-12
    )
    assert list(table.sort_values("rank")["item"]) == ["i2", "i1", "i0"]
    overall = drivers.key_drivers(design, frame, cb)
    assert (overall["outcome"] == "overall").all() and (overall["n"] == 400).all()
    assert list(overall.sort_values("rank")["item"]) == ["i0", "i1", "i2"]


def test_both_outcomes_share_the_replicates_and_the_method():
    """With the same replicate weights, the recommend model is exactly the overall model of a
    codebook whose overall question is the recommend column: the same correlations, weights,
    SEs and intervals, only the ``outcome`` differs."""
    frame, _w = loyalty_frame(seed=12)
    design = srs(frame, weight="w", strata="h")
    reps = boot(design, replicates=120, seed=3)
    loyal = drivers.key_drivers(design, frame, loyalty_codebook(), reps, outcome="recommend")
    as_overall = drivers.key_drivers(
        design, frame, loyalty_codebook(overall="loyal", recommend=None), reps
    )
    assert (as_overall["outcome"] == "overall").all()
    pd.testing.assert_frame_equal(loyal.drop(columns="outcome"), as_overall.drop(columns="outcome"))
    assert loyal["share_se"].notna().all() and (loyal["replicates"] == 120).all()
    assert loyal.loc[loyal["item"] == "i2", "vs_average"].item() == "above"


def test_a_codebook_with_only_recommend_has_drivers_of_recommend_only():
    frame, _w = loyalty_frame(seed=13)
    design = srs(frame, weight="w")
    only = loyalty_codebook(overall=None)
    assert drivers.driver_outcomes(only) == ["recommend"]
    assert drivers.driver_outcomes(loyalty_codebook()) == ["overall", "recommend"]
    assert drivers.driver_outcomes(driver_codebook(3)) == ["overall"]
    table = drivers.key_drivers(design, frame, only, outcome="recommend")
    assert table["share"].sum() == pytest.approx(100.0)
    with pytest.raises(DesignError, match="no overall satisfaction question"):
        drivers.key_drivers(design, frame, only)
    with pytest.raises(DesignError, match="no likelihood to recommend question"):
        drivers.key_drivers(design, frame, driver_codebook(3), outcome="recommend")
    with pytest.raises(ValueError, match="outcome must be one of"):
        drivers.key_drivers(design, frame, only, outcome="loyalty")
    few = frame.assign(loyal=np.where(np.arange(len(frame)) < 4, frame["loyal"], np.nan))
    with pytest.raises(DesignError, match="only 0 respondents answered likelihood to recommend"):
        drivers.key_drivers(design, few, only, outcome="recommend")


def test_the_demo_true_drivers_come_out_on_top():
    """analysis.ops.demo: overall satisfaction is driven by rel_1, rel_3, res_1 (strong) and res_2
    (moderate); the raked design with recalibrated bootstrap replicates finds exactly these four
    clearly above the average share."""
    cb = load_codebook(ROOT / "data" / "raw" / "demo" / "codebook.yaml")
    config = DesignConfig(weight="base_weight", strata="stratum")
    clean = schema.validate(
        readers.read_survey(ROOT / "data/raw/demo/responses.csv"), cb, config
    ).clean
    margins = readers.read_margins(ROOT / "data" / "raw" / "demo" / "population.csv")
    design = weighting.calibrate(build_design(clean, config), clean, margins, method="rake")
    reps = replicates_mod.replicate_weights(
        design,
        "subbootstrap",
        100,
        seed=5,
        rescale_fpc=True,
        recalibrate=replicates_mod.raking_recalibrator(design, clean),
    )
    table = drivers.key_drivers(design, clean, cb, reps)
    top4 = set(table.sort_values("rank")["item"].head(4))
    assert top4 == {"rel_1", "rel_3", "res_1", "res_2"}
    assert set(table.loc[table["vs_average"] == "above", "item"]) == top4
    assert table["r_squared"].iloc[0] == pytest.approx(0.6, abs=0.08)


# ---------------------------------------------------------------------------------------------
# stated vs derived importance


def test_importance_tiers_from_the_dual_importance_grid():
    table = pd.DataFrame({"item": ["a", "b", "c", "d", "e"], "share": [40, 5, 35, 10, 10.0]})
    stated = pd.Series({"a": 6.5, "b": 6.2, "c": 4.0, "d": 4.5, "e": np.nan})
    out = drivers.importance_tiers(table, stated)
    # stated split = mean(6.5, 6.2, 4.0, 4.5) = 5.3; derived split = 100 / 5 = 20
    assert out["stated_split"].iloc[0] == pytest.approx(5.3)
    assert out["derived_split"].iloc[0] == pytest.approx(20.0)
    assert list(out["tier"][:4]) == [
        "Key driver",
        "Basic requirement",
        "Hidden driver (delighter)",
        "Secondary",
    ]
    assert pd.isna(out["tier"].iloc[4])  # no stated importance: no tier
    assert list(out["value_tier"][:3]) == ["satisfaction", "basic requirement", "delight"]
    gap_table = pd.DataFrame(
        {"item": ["a", "a"], "group": ["all", "seg"], "level": ["all", "x"], "expectation": [6, 1]}
    )
    assert drivers.stated_importance(gap_table).to_dict() == {"a": 6.0}


def test_importance_tiers_place_each_outcome_on_its_own_grid():
    """Two outcomes' blocks: the same stated importance, each its own derived split (100 / p of
    its own model) and tiers; rows keep their order."""
    over = pd.DataFrame({"outcome": "overall", "item": ["a", "b"], "share": [70.0, 30.0]})
    loyal = pd.DataFrame({"outcome": "recommend", "item": ["a", "b"], "share": [20.0, 80.0]})
    table = pd.concat([over, loyal], ignore_index=True)
    out = drivers.importance_tiers(table, pd.Series({"a": 6.0, "b": 4.0}))
    assert list(out["outcome"]) == ["overall", "overall", "recommend", "recommend"]
    assert list(out["derived_split"]) == [50.0] * 4
    assert list(out["tier"]) == [
        "Key driver",
        "Secondary",
        "Basic requirement",
        "Hidden driver (delighter)",
    ]
    assert drivers.for_outcome(out, "recommend")["share"].tolist() == [20.0, 80.0]
    assert drivers.for_outcome(out.iloc[:2], "recommend").empty


@pytest.mark.parametrize("replicated", [False, True])
def test_complete_case_moments_are_the_pairwise_moments_of_the_complete_rows(
    replicated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The complete-case moments (1 + 2p + p (p + 1) / 2 distinct products per row) equal the
    pairwise ones (4 p^2 products) of the same data with every incomplete row blanked, for one
    weight vector and for (R, n) weights, over several blocks of rows."""
    monkeypatch.setattr(drivers, "REPLICATE_BLOCK_CELLS", 1_500)  # blocks of 1,500 or 214 rows
    rng = np.random.default_rng(12)
    n, p = 5_000, 6
    x = rng.integers(1, 8, (n, p)).astype(float)
    x[rng.random((n, p)) < 0.03] = np.nan
    blanked = np.where(np.isfinite(x).all(axis=1)[:, None], x, np.nan)
    w = rng.uniform(0, 3, (7, n)) if replicated else rng.uniform(1, 3, n)
    w[..., :10] = 0.0  # zero weights count no respondent
    for got, want in zip(
        drivers._moments(x, w, False), drivers._moments(blanked, w, True), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        assert got.shape == want.shape
