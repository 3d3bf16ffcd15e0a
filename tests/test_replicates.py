"""Replicate-weight variances (R's as.svrepdesign): JK1, JKn, bootstrap and the (n - 1) bootstrap,
checked against obvious loop-by-loop implementations of R's rules (survey 4.x: jk1weights,
jknweights, bootweights, subbootweights, svrVar), against the linearisation variance where the two
agree exactly (totals), and statistically. JK1 against R itself is in test_estimate_conformance."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import estimate, replicates
from analysis.survey.design import SurveyDesign, build_design


def make_sample(seed: int = 3) -> pd.DataFrame:
    """3 strata with 2, 3 and 4 PSUs of 2-5 respondents; an fpc; two variables with gaps; a
    domain variable whose level 'r' occurs in few PSUs."""
    rng = np.random.default_rng(seed)
    rows = []
    for h, (n_psu, big_n) in enumerate(((2, 10), (3, 7), (4, 30))):
        for c in range(n_psu):
            for _ in range(int(rng.integers(2, 6))):
                rows.append((f"h{h}", c, big_n))
    frame = pd.DataFrame(rows, columns=["h", "c", "N"])
    n = len(frame)
    frame["w"] = rng.uniform(1, 4, n)
    frame["y1"] = rng.normal(5, 2, n)
    frame["y2"] = rng.integers(1, 8, n).astype(float)
    frame.loc[rng.random(n) < 0.2, "y2"] = np.nan
    frame["dom"] = np.where(rng.random(n) < 0.3, "r", "q")
    return frame


FRAME = make_sample()


def design(frame: pd.DataFrame = FRAME, **kwargs) -> SurveyDesign:
    cfg = {"weight": "w", "strata": "h", "cluster": "c", "fpc": "N", **kwargs}
    return build_design(frame, DesignConfig(**{k: v for k, v in cfg.items() if v is not None}))


def with_reps(d: SurveyDesign, type: str, **kwargs) -> SurveyDesign:
    """The design with replicate weights of ``type``: its estimators take their variance from
    them (R's as.svrepdesign)."""
    return d.with_replicates(replicates.replicate_weights(d, type, **kwargs))


# ---------------------------------------------------------------------------------------------
# R's rules, one replicate at a time


def jkn_by_loop(
    frame: pd.DataFrame, fpc: bool = True, lonely: str = "fail"
) -> tuple[list[np.ndarray], list[float], float]:
    """Replicate weights, rscales and scale as R's jknweights (compress = FALSE)."""
    w = frame["w"].to_numpy()
    strata = list(dict.fromkeys(frame["h"]))
    reps, rscales = [], []
    n_psu = frame.groupby(["h", "c"]).ngroups
    for h in strata:
        in_h = (frame["h"] == h).to_numpy()
        psus = list(dict.fromkeys(frame.loc[in_h, "c"]))
        m = len(psus)
        f = m / frame.loc[in_h, "N"].iloc[0] if fpc else 0.0
        if f >= 1:
            continue
        if m == 1:
            if lonely in ("remove", "average"):
                continue
            ratio = len(strata) / (len(strata) - 1)
            reps.append(np.where(in_h, 0.0, ratio) * w)
            rscales.append(1 / ratio)
            continue
        for c in psus:
            factor = np.where(in_h, m / (m - 1), 1.0)
            factor[in_h & (frame["c"] == c).to_numpy()] = 0.0
            reps.append(factor * w)
            rscales.append((1 - f) * (m - 1) / m)
    scale = n_psu / len(reps) if lonely == "average" and len(reps) < n_psu else 1.0
    return reps, rscales, scale


def rep_mean_by_loop(
    y: np.ndarray,
    member: np.ndarray,
    reps: list[np.ndarray],
    rscales: list[float],
    scale: float,
    full: float | None = None,
) -> float:
    """svrVar of the domain mean: replicates with no weight in the domain are dropped (na.omit)."""
    ok = member & ~np.isnan(y)
    thetas, scales = [], []
    for wr, rs in zip(reps, rscales, strict=True):
        den = wr[ok].sum()
        if den > 0:
            thetas.append(np.sum(wr[ok] * y[ok]) / den)
            scales.append(rs)
    thetas_a, scales_a = np.array(thetas), np.array(scales)
    centre = thetas_a[scales_a > 0].mean() if full is None else full
    return float(scale * np.sum(scales_a * (thetas_a - centre) ** 2))


# ---------------------------------------------------------------------------------------------
# jackknives


def test_jkn_matches_r_rules_by_loop_for_every_variable_and_domain() -> None:
    d = design()
    res = estimate.means(with_reps(d, "JKn"), FRAME[["y1", "y2"]], FRAME["dom"])
    reps, rscales, scale = jkn_by_loop(FRAME)
    assert len(reps) == 2 + 3 + 4
    for r in res.itertuples():
        y = FRAME[r.variable].to_numpy()
        member = (FRAME["dom"] == r.domain).to_numpy()
        var = rep_mean_by_loop(y, member, reps, rscales, scale)
        ok = member & ~np.isnan(y)
        w = FRAME["w"].to_numpy()
        assert r.estimate == pytest.approx(np.sum(w[ok] * y[ok]) / w[ok].sum(), rel=1e-12)
        assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)
        assert r.n == ok.sum() and r.df == d.df


def test_jkn_factors_are_r_replicate_weights() -> None:
    d = design()
    rep = replicates.replicate_weights(d, "JKn")
    reps, rscales, _ = jkn_by_loop(FRAME)
    np.testing.assert_allclose(rep.weights(d), np.vstack(reps), rtol=1e-12)
    np.testing.assert_allclose(rep.rscales, rscales, rtol=1e-12)
    assert rep.scale == 1.0 and rep.n_replicates == 9


def test_jkn_mse_centres_at_the_full_sample_estimate() -> None:
    d = design()
    res = estimate.means(with_reps(d, "JKn", mse=True), FRAME[["y1"]]).iloc[0]
    reps, rscales, scale = jkn_by_loop(FRAME)
    y, member = FRAME["y1"].to_numpy(), np.ones(len(FRAME), bool)
    var = rep_mean_by_loop(y, member, reps, rscales, scale, full=res["estimate"])
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-10)
    plain = estimate.means(with_reps(d, "JKn"), FRAME[["y1"]]).iloc[0]
    assert res["se"] >= plain["se"]


@pytest.mark.parametrize("fpc", ["N", None])
def test_jackknife_variance_of_a_total_is_the_linearisation_variance(fpc: str | None) -> None:
    """For a total, each stratum's replicates average to the full estimate, and R's JKn variance
    equals the Taylor variance exactly (with the fpc as (1 - f_h))."""
    d = design(fpc=fpc)
    jk = estimate.totals(with_reps(d, "JKn"), FRAME[["y1", "y2"]], FRAME["dom"])
    taylor = estimate.totals(d, FRAME[["y1", "y2"]], FRAME["dom"])
    np.testing.assert_allclose(jk["estimate"], taylor["estimate"], rtol=1e-12)
    np.testing.assert_allclose(jk["se"], taylor["se"], rtol=1e-10)
    one = FRAME[FRAME["h"] == "h2"]
    d1 = build_design(one, DesignConfig(weight="w", cluster="c", fpc=fpc))
    jk1 = estimate.totals(with_reps(d1, "JK1"), one[["y1"]])
    assert jk1["se"].iloc[0] == pytest.approx(estimate.totals(d1, one[["y1"]])["se"].iloc[0])


def test_jkn_of_one_stratum_is_jk1() -> None:
    one = FRAME[FRAME["h"] == "h2"]
    d1 = build_design(one, DesignConfig(weight="w", cluster="c", fpc="N"))
    a = estimate.means(with_reps(d1, "JK1"), one[["y1", "y2"]], one["dom"])
    b = estimate.means(with_reps(d1, "JKn"), one[["y1", "y2"]], one["dom"])
    np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12)
    auto = replicates.replicate_weights(d1)
    assert auto.type == "JK1" and replicates.replicate_weights(design()).type == "JKn"


def test_census_stratum_has_no_replicates() -> None:
    frame = FRAME.assign(N=np.where(FRAME["h"] == "h1", 3, FRAME["N"]))  # h1: 3 of 3 PSUs
    rep = replicates.replicate_weights(design(frame), "JKn")
    assert rep.n_replicates == 2 + 4
    reps, rscales, scale = jkn_by_loop(frame)
    res = estimate.means(design(frame).with_replicates(rep), frame[["y1"]]).iloc[0]
    y = frame["y1"].to_numpy()
    var = rep_mean_by_loop(y, np.ones(len(frame), bool), reps, rscales, scale)
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-10)


@pytest.mark.parametrize("policy", ["adjust", "average", "remove"])
def test_jkn_lonely_psu_policies_follow_r(policy: str) -> None:
    frame = FRAME[~((FRAME["h"] == "h0") & (FRAME["c"] == 1))]  # h0 keeps one PSU
    d = build_design(frame, DesignConfig(weight="w", strata="h", cluster="c", lonely_psu=policy))
    res = estimate.means(with_reps(d, "JKn"), frame[["y1", "y2"]])
    reps, rscales, scale = jkn_by_loop(frame, fpc=False, lonely=policy)
    assert replicates.replicate_weights(d, "JKn").n_replicates == len(reps)
    for r in res.itertuples():
        y = frame[r.variable].to_numpy()
        var = rep_mean_by_loop(y, np.ones(len(frame), bool), reps, rscales, scale)
        assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)


def test_domain_absent_from_a_replicate_drops_that_replicate() -> None:
    # level 'x' only in one PSU of stratum h2: deleting that PSU leaves it no weight
    frame = FRAME.assign(dom=np.where((FRAME["h"] == "h2") & (FRAME["c"] == 0), "x", "q"))
    res = estimate.means(with_reps(design(frame), "JKn"), frame[["y1"]], frame["dom"])
    row = res.set_index("domain").loc["x"]
    reps, rscales, scale = jkn_by_loop(frame)
    member = (frame["dom"] == "x").to_numpy()
    var = rep_mean_by_loop(frame["y1"].to_numpy(), member, reps, rscales, scale)
    assert np.isfinite(row["se"]) and row["se"] == pytest.approx(np.sqrt(var), rel=1e-10)
    # a total is defined in every replicate: 0 where the domain lost its weight (as R's)
    tot = estimate.totals(with_reps(design(frame), "JKn"), frame[["y1"]], frame["dom"])
    y = frame["y1"].to_numpy()
    theta = np.array([np.sum(wr[member] * y[member]) for wr in reps])
    assert (theta == 0).sum() == 1
    total_var = scale * np.sum(np.array(rscales) * (theta - theta.mean()) ** 2)
    got = tot.set_index("domain").loc["x", "se"]
    assert got == pytest.approx(np.sqrt(total_var), rel=1e-10)


# ---------------------------------------------------------------------------------------------
# bootstraps


@pytest.mark.parametrize("kind", ["bootstrap", "subbootstrap"])
def test_bootstrap_variance_from_its_replicates_by_loop(kind: str) -> None:
    d = design(fpc=None)
    rep = replicates.replicate_weights(d, kind, replicates=40, seed=7)
    res = estimate.means(d.with_replicates(rep), FRAME[["y1", "y2"]], FRAME["dom"])
    n_h = np.array([2, 3, 4])
    if kind == "bootstrap":
        nbar = 1 / np.mean(1 / n_h)
        assert rep.scale == pytest.approx(nbar / ((nbar - 1) * 39))
    else:
        assert rep.scale == pytest.approx(1 / 39)
    weights = rep.weights(d)
    reps = list(weights)
    for r in res.itertuples():
        y = FRAME[r.variable].to_numpy()
        member = (FRAME["dom"] == r.domain).to_numpy()
        var = rep_mean_by_loop(y, member, reps, [1.0] * 40, rep.scale)
        assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)


def test_bootstrap_draws_psus_within_strata() -> None:
    d = design(fpc=None)
    boot = replicates.replicate_weights(d, "bootstrap", replicates=200, seed=1).factors()
    sub = replicates.replicate_weights(d, "subbootstrap", replicates=200, seed=1).factors()
    stratum = d.stages[0].unit_stratum
    for h, m in enumerate((2, 3, 4)):
        in_h = stratum == h
        # n_h draws with replacement: counts sum to n_h; (n_h - 1) draws rescaled by n/(n-1)
        np.testing.assert_allclose(boot[in_h].sum(axis=0), m)
        np.testing.assert_allclose(sub[in_h].sum(axis=0), m)
        assert np.all(boot[in_h] == np.round(boot[in_h]))
        np.testing.assert_allclose(np.unique(sub[in_h] * (m - 1) / m) % 1, 0, atol=1e-12)
    # seeded: the same seed, the same replicates
    again = replicates.replicate_weights(d, "bootstrap", replicates=200, seed=1).factors()
    other = replicates.replicate_weights(d, "bootstrap", replicates=200, seed=2).factors()
    assert np.array_equal(boot, again) and not np.array_equal(boot, other)


def test_bootstrap_with_fpc_draws_without_replacement_from_copies() -> None:
    """R: n_h draws without replacement from rep(psus, length = N_h)."""
    frame = FRAME.assign(N=FRAME["h"].map({"h0": 3, "h1": 7, "h2": 30}))
    d = design(frame)
    factors = replicates.replicate_weights(d, "bootstrap", replicates=300, seed=5).factors()
    stratum = d.stages[0].unit_stratum
    for h, (m, big_n) in enumerate(((2, 3), (3, 7), (4, 30))):
        in_h = factors[stratum == h]
        np.testing.assert_allclose(in_h.sum(axis=0), m)
        assert in_h.max() <= -(-big_n // m)  # no PSU drawn more often than it has copies
    # h0: 2 PSUs, 3 copies: one PSU has 2 copies, the other 1; never drawn 3 times
    assert set(np.unique(factors[stratum == 0])) <= {0.0, 1.0, 2.0}


@pytest.mark.parametrize("kind", ["bootstrap", "subbootstrap"])
def test_bootstrap_variance_of_a_total_estimates_the_linearisation_variance(kind: str) -> None:
    """E[bootstrap variance of a total] is the Taylor variance (subbootstrap: exactly; R's
    bootstrap: exactly when every stratum has the same number of PSUs)."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(
        {
            "h": np.repeat([0, 1, 2, 3], 24),
            "c": np.tile(np.repeat(np.arange(6), 4), 4),
            "w": rng.uniform(1, 3, 96),
            "y": rng.normal(3, 1, 96) + np.repeat(rng.normal(0, 1, 24), 4),
        }
    )
    d = build_design(frame, DesignConfig(weight="w", strata="h", cluster="c"))
    taylor = estimate.totals(d, frame[["y"]])["se"].iloc[0]
    boot = estimate.totals(with_reps(d, kind, replicates=6000, seed=3), frame[["y"]])
    # relative sampling error of a variance from 6000 replicates ~ sqrt(2/6000) = 1.8%
    assert boot["se"].iloc[0] ** 2 == pytest.approx(taylor**2, rel=0.06)


# ---------------------------------------------------------------------------------------------
# what is refused, clearly


def test_refusals() -> None:
    d = design()
    with pytest.raises(DesignError, match=r"JK1 .*unstratified"):
        replicates.replicate_weights(d, "JK1")
    with pytest.raises(DesignError, match="not one of"):
        replicates.replicate_weights(d, "BRR")
    lonely = FRAME[~((FRAME["h"] == "h0") & (FRAME["c"] == 1))]
    dl = build_design(
        lonely, DesignConfig(weight="w", strata="h", cluster="c", lonely_psu="remove")
    )
    with pytest.raises(DesignError, match="'h0' has a single PSU"):
        replicates.replicate_weights(dl, "subbootstrap")
    margins = pd.DataFrame({"variable": "h", "level": ["h0", "h1", "h2"], "count": [9.0, 9, 40]})
    cal = weighting.calibrate(d, FRAME, margins, method="poststratify")
    with pytest.raises(DesignError, match="calibrated"):
        replicates.replicate_weights(cal, "JKn")
    with pytest.raises(DesignError, match="must be recalibrated"):
        cal.with_replicates(replicates.replicate_weights(d, "JKn"))
    other = build_design(FRAME, DesignConfig(weight="w", strata="h"))
    with pytest.raises(DesignError, match="PSUs"):
        other.with_replicates(replicates.replicate_weights(d))


def test_later_stage_fpc_is_dropped_with_a_warning() -> None:
    frame = FRAME.assign(person=np.arange(len(FRAME)), M=10)
    d = build_design(
        frame,
        DesignConfig(weight="w", strata="h", cluster=["c", "person"], fpc=["N", "M"]),
    )
    with pytest.warns(UserWarning, match="first sampling stage"):
        rep = replicates.replicate_weights(d, "JKn")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = replicates.replicate_weights(design(), "JKn")
    np.testing.assert_allclose(rep.rscales, first.rscales)


# ---------------------------------------------------------------------------------------------
# the drivers' variant (rescale_fpc) and recalibration


def drivers_bootstrap_by_loop(d: SurveyDesign, replicates_: int, seed: int) -> np.ndarray:
    """The key drivers' bootstrap as it was written before it joined the engine: (R, n_psu)
    Rao-Wu factors 1 - a + a n_h / (n_h - 1) * count, a = sqrt(1 - f_h), single-PSU strata 1."""
    stage = d.stages[0]
    rng = np.random.default_rng(seed)
    counts = np.zeros((replicates_, d.n_psu))
    for h in range(stage.n_strata):
        members = np.flatnonzero(stage.unit_stratum == h)
        if members.size < 2:
            continue
        draws = rng.integers(0, members.size, size=(replicates_, members.size - 1))
        hits = np.zeros((replicates_, members.size))
        np.add.at(hits, (np.arange(replicates_)[:, None], draws), 1.0)
        counts[:, members] = hits
    nh = stage.stratum_size[stage.unit_stratum].astype(float)
    a = np.sqrt(np.clip(1.0 - stage.stratum_fraction[stage.unit_stratum], 0.0, 1.0))
    factor = 1.0 - a + a * nh / np.maximum(nh - 1.0, 1.0) * counts
    factor[:, nh < 2] = 1.0
    return factor


def test_rescaled_subbootstrap_keeps_the_drivers_draws_and_factors() -> None:
    """Same seed, same draw order, same factors: the drivers' intervals do not move."""
    lonely = FRAME[~((FRAME["h"] == "h0") & (FRAME["c"] == 1))]  # h0 keeps one PSU
    for frame, lonely_psu in ((FRAME, "fail"), (lonely, "remove")):
        d = design(frame, lonely_psu=lonely_psu)
        rep = replicates.replicate_weights(d, "subbootstrap", 30, seed=2026, rescale_fpc=True)
        np.testing.assert_array_equal(rep.factors().T, drivers_bootstrap_by_loop(d, 30, 2026))
        assert rep.scale == pytest.approx(1 / 29) and rep.family == "bootstrap"
    # without the option: R's subbootweights (no fpc, single-PSU strata refused)
    plain = replicates.replicate_weights(design(), "subbootstrap", 30, seed=2026)
    no_fpc = replicates.replicate_weights(
        design(fpc=None), "subbootstrap", 30, seed=2026, rescale_fpc=True
    )
    np.testing.assert_array_equal(plain.factors(), no_fpc.factors())


def test_one_raking_loop_for_one_set_of_weights_and_for_replicates() -> None:
    """calibrate() rakes with rake_weights; raking many sets at once gives each set's own
    raking (up to the tolerance: sets that converge first cycle on until all have)."""
    margins = pd.DataFrame(
        {"variable": ["h"] * 3 + ["dom"] * 2, "level": ["h0", "h1", "h2", "q", "r"]}
    ).assign(count=[20.0, 30, 50, 70, 30])
    d = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c"))
    once = weighting.calibrate(d, FRAME, margins, method="rake", tolerance=1e-12)
    codes = [
        pd.Categorical(FRAME[v], categories=lv).codes.astype(np.intp)
        for v, lv in (("h", ["h0", "h1", "h2"]), ("dom", ["q", "r"]))
    ]
    ms = [
        weighting.Margin(codes[0], np.array([20.0, 30, 50])),
        weighting.Margin(codes[1], np.array([70.0, 30])),
    ]
    rng = np.random.default_rng(1)
    starts = np.vstack([d.weights, d.weights * rng.uniform(0.5, 2, d.n)])
    raked = weighting.rake_weights(starts, ms, max_iter=200, tolerance=1e-12)
    assert not raked.failed.any()
    np.testing.assert_allclose(raked.weights[0], once.weights, rtol=1e-10)
    for m in ms:
        sums = np.stack(
            [np.bincount(m.codes, row, minlength=m.targets.size) for row in raked.weights]
        )
        np.testing.assert_allclose(sums, np.broadcast_to(m.targets, sums.shape), rtol=1e-9)
    # a set that loses a margin level entirely is marked failed, not raised
    lost = starts.copy()
    lost[1, codes[1] == 1] = 0.0
    assert weighting.rake_weights(lost, ms, 50, 1e-10).failed.tolist() == [False, True]


def test_recalibrated_replicates_meet_the_margins_and_drop_failures() -> None:
    margins = pd.DataFrame({"variable": "h", "level": ["h0", "h1", "h2"], "count": [9.0, 9, 40]})
    d = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c"))
    post = weighting.calibrate(d, FRAME, margins, method="poststratify")
    with pytest.raises(DesignError, match="recalibrated"):
        replicates.replicate_weights(post, "JKn")
    rep = replicates.replicate_weights(
        post, "JKn", recalibrate=replicates.raking_recalibrator(post, FRAME)
    )
    w = rep.weights(post)
    assert w.shape == (9, len(FRAME)) and rep.failed == 0
    for level, count in zip(["h0", "h1", "h2"], [9.0, 9, 40], strict=True):
        inside = (FRAME["h"] == level).to_numpy()
        np.testing.assert_allclose(w[:, inside].sum(axis=1), count, rtol=1e-10)

    def fail_some(weights: np.ndarray) -> np.ndarray:
        out = weights.copy()
        out[0] = np.nan
        return out

    with pytest.raises(DesignError, match="1 of 9 replicates"):
        replicates.replicate_weights(post, "JKn", recalibrate=fail_some)
    boot = replicates.replicate_weights(post, "subbootstrap", 40, recalibrate=fail_some)
    assert boot.n_replicates == 39 and boot.failed == 1
    assert boot.scale == pytest.approx(1 / 38) and boot.bootstrap.shape == (d.n_psu, 39)


# ---------------------------------------------------------------------------------------------
# recalibration on calibration-cell totals, replicate weights per block of rows


RAKE_MARGINS = pd.DataFrame(
    {"variable": ["h"] * 3 + ["dom"] * 2, "level": ["h0", "h1", "h2", "q", "r"]}
).assign(count=[20.0, 30, 50, 70, 30])


def raked_design() -> SurveyDesign:
    d = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c"))
    return weighting.calibrate(d, FRAME, RAKE_MARGINS, method="rake", tolerance=1e-12)


@pytest.mark.parametrize("type", ["JKn", "subbootstrap"])
def test_replicates_raked_on_cell_totals_are_the_replicates_raked_row_by_row(type: str) -> None:
    """Raking the (R, cells) totals gives each row the weight that raking every replicate's
    rows (the (R, n) matrix, rake_weights) gives; the replicates keep (R, cells) factors only."""
    d = raked_design()
    recal = replicates.raking_recalibrator(d, FRAME, tolerance=1e-12)
    rep = replicates.replicate_weights(d, type, replicates=40, seed=1, recalibrate=recal)
    assert rep.calibrated is None and rep.cell_factors is not None
    cells = FRAME.groupby(["h", "dom"]).ngroups
    assert rep.cell_factors.shape == (rep.n_replicates, cells) and rep.cell.shape == (d.n,)
    base = d.base_weights[None, :] * rep.factors().T[:, d.psu]
    margins = [
        weighting.Margin(
            pd.Categorical(FRAME[v], categories=lv).codes.astype(np.intp),
            np.bincount(pd.Categorical(FRAME[v], categories=lv).codes, d.weights),
        )
        for v, lv in (("h", ["h0", "h1", "h2"]), ("dom", ["q", "r"]))
    ]
    by_row = weighting.rake_weights(base, margins, max_iter=100, tolerance=1e-12)
    assert not by_row.failed.any()
    np.testing.assert_allclose(rep.weights(d), by_row.weights, rtol=1e-12)
    # the recalibrator called on (R, n) weights is the same raking
    np.testing.assert_allclose(recal(base), by_row.weights, rtol=1e-12)


def test_replicate_weights_by_blocks_of_rows_are_the_whole_matrix(monkeypatch) -> None:
    """row_blocks of any size put together are weights(); jackknife factors of some PSUs are
    those rows of factors(); the drivers' replicate moments do not depend on the block size."""
    from analysis.cx import drivers

    d = raked_design()
    recal = replicates.raking_recalibrator(d, FRAME)
    for type in ("JKn", "subbootstrap"):
        rep = replicates.replicate_weights(d, type, replicates=30, seed=1, recalibrate=recal)
        whole = rep.weights(d)
        for size in (1, 7, d.n):
            blocks = [w for _rows, w in rep.row_blocks(d, rows=size)]
            assert all(len(b) <= size for b in blocks)
            np.testing.assert_array_equal(np.vstack(blocks).T, whole)
        psus = np.array([4, 0, 4, 8])
        np.testing.assert_array_equal(rep.factors(psus), rep.factors()[psus])
    x = FRAME[["y1", "y2"]].to_numpy()
    big = drivers._moments(x, (rep, d), pairwise=True)
    monkeypatch.setattr(drivers, "REPLICATE_BLOCK_CELLS", 3 * rep.n_replicates)
    small = drivers._moments(x, (rep, d), pairwise=True)
    dense = drivers._moments(x, rep.weights(d), pairwise=True)
    for a, b, c in zip(big, small, dense, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)
