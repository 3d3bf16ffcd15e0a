"""Sampling design, linearisation variance and calibration: hand-computed cases, error messages,
lonely-PSU policies, domains, and a simulation with a known population."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.config.params import DesignConfig
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign, build_design

REF = Path(__file__).parent / "fixtures" / "r_reference"


# ---------------------------------------------------------------------------------------------
# an independent, loop-by-loop implementation of METHODS.md (slow, obvious)


def loop_mean_variance(
    y: np.ndarray,
    w: np.ndarray,
    strata: list,
    psu: list,
    fraction: dict | None = None,
    domain: np.ndarray | None = None,
) -> tuple[float, float]:
    """Mean of y in the domain and its variance: sum_h (1-f_h) n_h/(n_h-1) sum_c (z_hc-zbar_h)^2."""
    n = len(y)
    domain = np.ones(n, dtype=bool) if domain is None else domain
    inside = [bool(domain[i]) and not np.isnan(y[i]) for i in range(n)]
    wsum = sum(w[i] for i in range(n) if inside[i])
    mean = sum(w[i] * y[i] for i in range(n) if inside[i]) / wsum
    z = [w[i] * (y[i] - mean) / wsum if inside[i] else 0.0 for i in range(n)]
    var = 0.0
    for h in dict.fromkeys(strata):
        units = list(dict.fromkeys(psu[i] for i in range(n) if strata[i] == h))
        totals = [sum(z[i] for i in range(n) if strata[i] == h and psu[i] == c) for c in units]
        n_h = len(totals)
        zbar = sum(totals) / n_h
        f = fraction[h] if fraction else 0.0
        var += (1 - f) * n_h / (n_h - 1) * sum((t - zbar) ** 2 for t in totals)
    return mean, var


SIX = pd.DataFrame(
    {
        "y": [1.0, 2, 3, 4, 5, 6],
        "w": [1.0, 2, 1, 3, 1, 2],
        "h": ["a", "a", "a", "b", "b", "b"],
        "N": [10, 10, 10, 20, 20, 20],
    }
)


def test_six_rows_two_strata_by_hand() -> None:
    d = build_design(SIX, DesignConfig(weight="w", strata="h"))
    res = estimate.means(d, SIX[["y"]]).iloc[0]
    assert res["estimate"] == pytest.approx(37 / 10)  # (1+4+3+12+5+12) / 10
    mean, var = loop_mean_variance(SIX.y.to_numpy(), SIX.w.to_numpy(), list(SIX.h), list(range(6)))
    assert res["estimate"] == pytest.approx(mean, rel=1e-12)
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-12)
    assert res["df"] == 6 - 2
    assert res["n"] == 6


def test_six_rows_with_fpc_counts_and_fractions_agree_with_hand() -> None:
    frame = SIX.assign(f=[0.3, 0.3, 0.3, 0.15, 0.15, 0.15])
    by_count = estimate.means(
        build_design(frame, DesignConfig(weight="w", strata="h", fpc="N")), frame[["y"]]
    ).iloc[0]
    by_frac = estimate.means(
        build_design(frame, DesignConfig(weight="w", strata="h", fpc="f")), frame[["y"]]
    ).iloc[0]
    _, var = loop_mean_variance(
        frame.y.to_numpy(),
        frame.w.to_numpy(),
        list(frame.h),
        list(range(6)),
        fraction={"a": 3 / 10, "b": 3 / 20},
    )
    assert by_count["se"] == pytest.approx(np.sqrt(var), rel=1e-12)
    assert by_frac["se"] == pytest.approx(np.sqrt(var), rel=1e-12)


def test_clusters_are_nested_in_strata_and_match_hand() -> None:
    # cluster labels 1 and 2 occur in both strata: four PSUs, not two (R's nest=TRUE)
    frame = pd.DataFrame(
        {
            "y": [3.0, 5, 4, 8, 1, 2, 9, 7, 6, 2],
            "w": [2.0, 2, 1, 1, 3, 3, 1, 2, 2, 1],
            "h": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
            "c": [1, 1, 2, 2, 3, 1, 1, 2, 2, 2],
        }
    )
    d = build_design(frame, DesignConfig(weight="w", strata="h", cluster="c"))
    assert (d.n, d.n_psu, d.n_strata, d.df) == (10, 5, 2, 3)
    res = estimate.means(d, frame[["y"]]).iloc[0]
    psu = [f"{h}-{c}" for h, c in zip(frame.h, frame.c, strict=True)]
    mean, var = loop_mean_variance(frame.y.to_numpy(), frame.w.to_numpy(), list(frame.h), psu)
    assert res["estimate"] == pytest.approx(mean, rel=1e-12)
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-12)


def test_domains_by_hand_and_vectorised_over_items() -> None:
    rng = np.random.default_rng(3)
    n = 40
    frame = pd.DataFrame(
        {
            "w": rng.uniform(1, 4, n),
            "h": rng.choice(["x", "y", "z"], n),
            "c": rng.integers(0, 4, n),
            "seg": rng.choice(["p", "q"], n),
            "y1": rng.normal(size=n),
            "y2": rng.integers(1, 8, n).astype(float),
        }
    )
    frame.loc[rng.random(n) < 0.2, "y2"] = np.nan
    d = build_design(frame, DesignConfig(weight="w", strata="h", cluster="c"))
    res = estimate.means(d, frame[["y1", "y2"]], frame["seg"])
    assert list(res["variable"]) == ["y1", "y1", "y2", "y2"]
    assert list(res["domain"]) == ["p", "q", "p", "q"]
    psu = [f"{h}-{c}" for h, c in zip(frame.h, frame.c, strict=True)]
    for r in res.itertuples():
        mean, var = loop_mean_variance(
            frame[r.variable].to_numpy(),
            frame.w.to_numpy(),
            list(frame.h),
            psu,
            domain=(frame.seg == r.domain).to_numpy(),
        )
        assert r.estimate == pytest.approx(mean, rel=1e-12)
        assert r.se == pytest.approx(np.sqrt(var), rel=1e-10)


def test_two_stage_design_with_fpc_at_each_stage() -> None:
    """V = V_1 + sum_PSU f_1 (1 - f_2) m/(m-1) sum_j (z_j - zbar)^2 (R's svyrecvar default)."""
    rng = np.random.default_rng(5)
    rows = []
    for h, n_psu, big_n in (("a", 3, 10), ("b", 4, 12)):
        for c in range(n_psu):
            m = int(rng.integers(2, 5))
            big_m = m + int(rng.integers(0, 6))
            for _ in range(m):
                rows.append((h, c, big_n, big_m, rng.normal(10, 3)))
    frame = pd.DataFrame(rows, columns=["h", "c", "N1", "N2", "y"])
    frame["ssu"] = np.arange(len(frame))
    frame["w"] = rng.uniform(1, 3, len(frame))
    cfg = DesignConfig(weight="w", strata="h", cluster=["c", "ssu"], fpc=["N1", "N2"])
    d = build_design(frame, cfg)
    assert len(d.stages) == 2
    res = estimate.means(d, frame[["y"]]).iloc[0]

    w, y = frame.w.to_numpy(), frame.y.to_numpy()
    mean = np.sum(w * y) / np.sum(w)
    z = w * (y - mean) / np.sum(w)
    v1 = v2 = 0.0
    for _, g in frame.assign(z=z).groupby("h"):
        totals = g.groupby("c")["z"].sum().to_numpy()
        n_h, f1 = len(totals), len(totals) / g.N1.iloc[0]
        v1 += (1 - f1) * n_h / (n_h - 1) * np.sum((totals - totals.mean()) ** 2)
        for _, unit in g.groupby("c"):
            m, f2 = len(unit), len(unit) / unit.N2.iloc[0]
            v2 += f1 * (1 - f2) * m / (m - 1) * np.sum((unit.z - unit.z.mean()) ** 2)
    assert res["se"] == pytest.approx(np.sqrt(v1 + v2), rel=1e-12)

    # fpc for the first stage only: ultimate-cluster variance (first stage alone)
    one = build_design(frame, DesignConfig(weight="w", strata="h", cluster=["c", "ssu"], fpc="N1"))
    assert len(one.stages) == 1
    assert estimate.means(one, frame[["y"]])["se"].iloc[0] == pytest.approx(np.sqrt(v1), rel=1e-12)


def test_three_stage_design_with_fpc_at_each_stage() -> None:
    """R's svyrecvar: V = V_1 + f_1 V_2 + f_1 f_2 V_3, each stage's units nested in the last."""
    rng = np.random.default_rng(8)
    rows = []
    for h, n_psu, n1 in (("a", 3, 9), ("b", 2, 5)):
        for c in range(n_psu):
            n_ssu = int(rng.integers(2, 4))
            n2 = n_ssu + int(rng.integers(0, 4))
            for s in range(n_ssu):
                m = int(rng.integers(2, 4))
                n3 = m + int(rng.integers(0, 5))
                for _ in range(m):
                    rows.append((h, c, s, n1, n2, n3, rng.normal(10, 3)))
    frame = pd.DataFrame(rows, columns=["h", "c", "s", "N1", "N2", "N3", "y"])
    frame["i"] = np.arange(len(frame))
    frame["w"] = rng.uniform(1, 3, len(frame))
    cfg = DesignConfig(weight="w", strata="h", cluster=["c", "s", "i"], fpc=["N1", "N2", "N3"])
    d = build_design(frame, cfg)
    assert len(d.stages) == 3
    res = estimate.means(d, frame[["y"]]).iloc[0]

    w, y = frame.w.to_numpy(), frame.y.to_numpy()
    z = w * (y - np.sum(w * y) / w.sum()) / w.sum()
    frame = frame.assign(z=z)

    def part(totals: np.ndarray, f: float) -> float:
        n = len(totals)
        return (1 - f) * n / (n - 1) * float(np.sum((totals - totals.mean()) ** 2))

    v = 0.0
    for _, g in frame.groupby("h"):
        psu_totals = g.groupby("c")["z"].sum().to_numpy()
        f1 = len(psu_totals) / g.N1.iloc[0]
        v += part(psu_totals, f1)
        for _, psu in g.groupby("c"):
            ssu_totals = psu.groupby("s")["z"].sum().to_numpy()
            f2 = len(ssu_totals) / psu.N2.iloc[0]
            v += f1 * part(ssu_totals, f2)
            for _, ssu in psu.groupby("s"):
                f3 = len(ssu) / ssu.N3.iloc[0]
                v += f1 * f2 * part(ssu.z.to_numpy(), f3)
    assert res["se"] == pytest.approx(np.sqrt(v), rel=1e-12)


def test_totals_by_hand() -> None:
    d = build_design(SIX, DesignConfig(weight="w", strata="h"))
    res = estimate.totals(d, SIX[["y"]]).iloc[0]
    assert res["estimate"] == pytest.approx(37.0)
    var = 0.0
    for h in "ab":
        t = (SIX.w * SIX.y)[SIX.h == h].to_numpy()
        var += 3 / 2 * np.sum((t - t.mean()) ** 2)
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# design checks


def test_no_design_columns_is_a_simple_random_sample() -> None:
    d = build_design(SIX, DesignConfig())
    assert (d.n, d.n_psu, d.n_strata, d.df) == (6, 6, 1, 5)
    assert d.kish_neff == pytest.approx(6.0)
    res = estimate.means(d, SIX[["y"]]).iloc[0]
    assert res["se"] == pytest.approx(SIX.y.std(ddof=1) / np.sqrt(6), rel=1e-12)
    # R's deff compares with sampling n of N = sum of weights = n without replacement: no variance
    assert np.isnan(res["deff"])


@pytest.mark.parametrize(
    "frame_change,config,message",
    [
        ({"w": [1.0, np.nan, 1, 1, 1, 1]}, DesignConfig(weight="w"), "'w', row 1"),
        ({"w": [1.0, -2, 1, 1, 1, 1]}, DesignConfig(weight="w"), "negative"),
        ({"w": [0.0] * 6}, DesignConfig(weight="w"), "every weight is zero"),
        ({"h": ["a", None, "a", "b", "b", "b"]}, DesignConfig(strata="h"), "missing strata"),
        ({}, DesignConfig(weight="nope"), "'nope'"),
        ({"N": [10, 10, 10, 0.5, 0.5, 0.5]}, DesignConfig(strata="h", fpc="N"), "one kind"),
        ({"N": [2, 2, 2, 20, 20, 20]}, DesignConfig(strata="h", fpc="N"), "more than 100%"),
        ({"N": [10, 11, 10, 20, 20, 20]}, DesignConfig(strata="h", fpc="N"), "varies within"),
        ({"N": [10, 0, 10, 20, 20, 20]}, DesignConfig(strata="h", fpc="N"), "not a positive"),
    ],
)
def test_design_errors_name_column_and_rule(
    frame_change: dict, config: DesignConfig, message: str
) -> None:
    frame = SIX.assign(**frame_change)
    with pytest.raises(DesignError, match=message):
        build_design(frame, config)


def test_zero_weight_rows_stay_in_the_design_and_contribute_nothing() -> None:
    frame = SIX.assign(w=[1.0, 2, 0, 3, 1, 2])
    d = build_design(frame, DesignConfig(weight="w", strata="h"))
    other = build_design(
        frame.assign(y=[1.0, 2, 99, 4, 5, 6]), DesignConfig(weight="w", strata="h")
    )
    a = estimate.means(d, frame[["y"]]).iloc[0]
    b = estimate.means(other, frame.assign(y=[1.0, 2, 99, 4, 5, 6])[["y"]]).iloc[0]
    assert a["estimate"] == pytest.approx(b["estimate"])
    assert a["se"] == pytest.approx(b["se"])
    assert a["n"] == 5
    assert d.n_psu == 6  # the PSU counts for n_h, as in R


def test_deff_without_fpc_uses_sum_of_weights_as_population() -> None:
    # R's deff: vsrs = s2 * (1 - n/N) / n with N = sum of weights
    frame = SIX.assign(w=SIX.w * 10)
    d = build_design(frame, DesignConfig(weight="w"))
    res = estimate.means(d, frame[["y"]]).iloc[0]
    w, y = frame.w.to_numpy(), frame.y.to_numpy()
    mean = np.sum(w * y) / w.sum()
    s2 = np.sum(w * (y - mean) ** 2) / w.sum() * 6 / 5
    vsrs = s2 * (1 - 6 / w.sum()) / 6
    assert res["deff"] == pytest.approx(res["se"] ** 2 / vsrs, rel=1e-12)


def test_empty_and_single_respondent_domains_are_visible() -> None:
    frame = SIX.assign(
        seg=pd.Categorical(["p", "p", "p", "p", "p", "q"], categories=["p", "q", "r"])
    )
    d = build_design(frame, DesignConfig(weight="w", strata="h"))
    res = estimate.means(d, frame[["y"]], frame["seg"]).set_index("domain")
    assert list(res.index) == ["p", "q", "r"]
    assert res.loc["r", "n"] == 0 and np.isnan(res.loc["r", "estimate"])
    assert res.loc["q", "n"] == 1 and res.loc["q", "estimate"] == 6.0
    assert np.isnan(res.loc["q", "se"]) and np.isnan(res.loc["q", "ci_low"])


def test_constant_values_have_zero_variance() -> None:
    d = build_design(SIX, DesignConfig(weight="w", strata="h"))
    res = estimate.means(d, SIX.assign(y=4.0)[["y"]]).iloc[0]
    assert res["estimate"] == 4.0 and res["se"] == 0.0
    assert res["ci_low"] == res["ci_high"] == 4.0


def test_values_must_match_the_design_rows() -> None:
    d = build_design(SIX, DesignConfig(weight="w"))
    with pytest.raises(ValueError, match="6"):
        estimate.means(d, SIX[["y"]].iloc[:4])


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 1000), st.integers(0, 2**32 - 1))
def test_means_and_ses_do_not_depend_on_the_scale_of_the_weights(scale: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"y": rng.normal(size=12), "w": rng.uniform(0.5, 2, 12), "h": np.repeat([0, 1, 2], 4)}
    )
    a = estimate.means(build_design(frame, DesignConfig(weight="w", strata="h")), frame[["y"]])
    scaled = frame.assign(w=frame.w * scale)
    b = estimate.means(build_design(scaled, DesignConfig(weight="w", strata="h")), scaled[["y"]])
    assert b["estimate"].iloc[0] == pytest.approx(a["estimate"].iloc[0], rel=1e-9)
    assert b["se"].iloc[0] == pytest.approx(a["se"].iloc[0], rel=1e-9)


# ---------------------------------------------------------------------------------------------
# lonely PSUs (R: options(survey.lonely.psu))

LONELY = pd.DataFrame(
    {
        "y": [2.0, 4, 3, 7, 5, 9],
        "w": [1.0, 2, 1, 1, 2, 3],
        "h": ["a", "a", "b", "b", "b", "c"],
    }
)


def _stratum_parts(frame: pd.DataFrame, z: np.ndarray) -> dict[str, float]:
    parts = {}
    for h in dict.fromkeys(frame.h):
        t = z[(frame.h == h).to_numpy()]
        parts[h] = len(t) / (len(t) - 1) * np.sum((t - t.mean()) ** 2) if len(t) > 1 else 0.0
    return parts


def test_lonely_psu_fails_by_default_naming_the_stratum() -> None:
    with pytest.raises(DesignError, match=r"stratum 'c' of column 'h' has only one"):
        build_design(LONELY, DesignConfig(weight="w", strata="h"))


def test_census_stratum_with_one_psu_is_not_lonely() -> None:
    frame = LONELY.assign(N=[10, 10, 10, 10, 10, 1])
    d = build_design(frame, DesignConfig(weight="w", strata="h", fpc="N"))
    assert estimate.means(d, frame[["y"]])["se"].notna().all()


@pytest.mark.parametrize("policy", ["remove", "average", "adjust"])
def test_lonely_psu_policies_for_a_mean(policy: str) -> None:
    d = build_design(LONELY, DesignConfig(weight="w", strata="h", lonely_psu=policy))
    res = estimate.means(d, LONELY[["y"]]).iloc[0]
    w, y = LONELY.w.to_numpy(), LONELY.y.to_numpy()
    mean = np.sum(w * y) / w.sum()
    z = w * (y - mean) / w.sum()
    parts = _stratum_parts(LONELY, z)
    expected = {
        "remove": parts["a"] + parts["b"],
        "average": (parts["a"] + parts["b"]) * 3 / 2,
        # centred at the grand mean of the 6 PSU totals, which is 0 for a mean
        "adjust": parts["a"] + parts["b"] + z[5] ** 2,
    }[policy]
    assert res["se"] ** 2 == pytest.approx(expected, rel=1e-12)


def test_lonely_psu_adjust_for_a_total_centres_at_the_grand_mean() -> None:
    d = build_design(LONELY, DesignConfig(weight="w", strata="h", lonely_psu="adjust"))
    res = estimate.totals(d, LONELY[["y"]]).iloc[0]
    z = (LONELY.w * LONELY.y).to_numpy()
    parts = _stratum_parts(LONELY, z)
    expected = parts["a"] + parts["b"] + (z[5] - z.sum() / 6) ** 2
    assert res["se"] ** 2 == pytest.approx(expected, rel=1e-12)


def test_lonely_second_stage_unit_names_its_psu() -> None:
    frame = pd.DataFrame(
        {
            "h": ["a"] * 5 + ["b"] * 4,
            "c": [1, 1, 2, 2, 3, 1, 1, 2, 2],
            "s": [1, 2, 1, 2, 1, 1, 2, 1, 2],
            "N1": [10] * 5 + [8] * 4,
            "N2": [5] * 9,
            "y": np.arange(9.0),
        }
    )
    cfg = {"strata": "h", "cluster": ["c", "s"], "fpc": ["N1", "N2"]}
    with pytest.raises(DesignError, match=r"'c' unit 'a/3' \(stratum/unit\) has only one stage-2"):
        build_design(frame, DesignConfig(**cfg))
    removed = build_design(frame, DesignConfig(**cfg, lonely_psu="remove"))
    assert estimate.means(removed, frame[["y"]])["se"].notna().all()
    # a PSU whose only unit is its whole population is a census at stage 2, not lonely
    census = frame.assign(N2=[5, 5, 5, 5, 1, 5, 5, 5, 5])
    assert len(build_design(census, DesignConfig(**cfg)).stages) == 2


# ---------------------------------------------------------------------------------------------
# domains are estimated inside the full design


def test_domain_inside_full_design_differs_from_subsetting_and_equals_svyby() -> None:
    """dclus1, schools of type H: only some districts have any, so a design built from the subset
    loses PSUs (and its df and SE change). R's svyby keeps all 15 PSUs."""
    cl = pd.read_csv(REF / "apiclus1.csv")
    cfg = DesignConfig(weight="pw", cluster="dnum", fpc="fpc")
    full = build_design(cl, cfg)
    dom = estimate.means(full, cl[["api00"]], cl["stype"]).set_index("domain").loc["H"]
    sub = cl[cl["stype"] == "H"]
    subset = build_design(sub, cfg)
    alone = estimate.means(subset, sub[["api00"]]).iloc[0]
    assert subset.n_psu < full.n_psu
    assert alone["estimate"] == pytest.approx(dom["estimate"], rel=1e-12)
    assert alone["se"] != pytest.approx(dom["se"], rel=0.02)  # 39.45 vs R's 38.02
    assert alone["df"] < dom["df"]
    assert dom["se"] == pytest.approx(38.0202493594, rel=1e-6)  # R svyby
    assert dom["df"] == full.df == 14


# ---------------------------------------------------------------------------------------------
# simulation: a stratified, disproportionate sample from a known population


def test_stratified_disproportionate_sample_is_unbiased_and_covers() -> None:
    rng = np.random.default_rng(20260101)
    sizes = {"big": 6000, "mid": 1500, "small": 300}
    take = {"big": 30, "mid": 25, "small": 25}  # heavy over-sampling of the small stratum
    pop = {
        h: rng.normal(loc, sd, sizes[h]).round()
        for h, loc, sd in (("big", 4.0, 1.0), ("mid", 5.5, 1.5), ("small", 2.0, 0.8))
    }
    truth = np.concatenate(list(pop.values())).mean()
    reps = 400
    strata = np.concatenate([[h] * take[h] for h in sizes])
    frame = pd.DataFrame(
        {
            "h": strata,
            "w": np.concatenate([[sizes[h] / take[h]] * take[h] for h in sizes]),
            "N": np.concatenate([[sizes[h]] * take[h] for h in sizes]),
        }
    )
    samples = np.vstack(
        [
            np.column_stack([rng.choice(pop[h], take[h], replace=False) for _ in range(reps)])
            for h in sizes
        ]
    )  # (n, reps): each column one sample; the design is the same for every sample
    d = build_design(frame, DesignConfig(weight="w", strata="h", fpc="N"))
    res = estimate.means(d, pd.DataFrame(samples))
    est = res["estimate"].to_numpy()
    mc_se = est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.mean() - truth) < 3 * mc_se
    # the SE estimates the sampling spread
    assert np.sqrt(np.mean(res["se"] ** 2)) == pytest.approx(est.std(ddof=1), rel=0.15)
    covered = ((res["ci_low"] <= truth) & (truth <= res["ci_high"])).mean()
    assert 0.92 <= covered <= 0.98
    # the unweighted mean is biased: the weights matter here
    assert abs(samples.mean(axis=0).mean() - truth) > 10 * mc_se


# ---------------------------------------------------------------------------------------------
# calibration


@pytest.fixture(scope="module")
def clus() -> tuple[pd.DataFrame, SurveyDesign]:
    cl = pd.read_csv(REF / "apiclus1.csv")
    return cl, build_design(cl, DesignConfig(weight="pw", cluster="dnum", fpc="fpc"))


STYPE = pd.DataFrame(
    {"variable": "stype", "level": ["E", "H", "M"], "count": [4421.0, 755.0, 1018.0]}
)
SCHWIDE = pd.DataFrame({"variable": "sch.wide", "level": ["No", "Yes"], "count": [1072.0, 5122.0]})


def test_raking_one_margin_is_post_stratification(clus) -> None:
    cl, d = clus
    raked = weighting.calibrate(d, cl, STYPE, method="rake")
    post = weighting.calibrate(d, cl, STYPE, method="poststratify")
    np.testing.assert_allclose(raked.weights, post.weights, rtol=1e-10)
    a = estimate.means(raked, cl[["api00"]]).iloc[0]
    assert a["estimate"] == pytest.approx(642.310788212, rel=1e-9)
    assert a["se"] == pytest.approx(23.9204864451, rel=1e-9)


def test_raking_two_margins_meets_margins_and_uses_greg_residuals(clus) -> None:
    cl, d = clus
    margins = pd.concat([STYPE, SCHWIDE])
    raked = weighting.calibrate(d, cl, margins, method="rake", source="pop.csv")
    for m in (STYPE, SCHWIDE):
        var = m["variable"].iloc[0]
        got = pd.Series(raked.weights).groupby(cl[var].to_numpy()).sum()
        np.testing.assert_allclose(got.loc[m["level"]].to_numpy(), m["count"], rtol=1e-7)
    # variance: WLS residuals (original weights) of z / w on all margin dummies, times w
    y = cl["api00"].to_numpy()
    w0, w = d.weights, raked.weights
    mean = np.sum(w * y) / w.sum()
    z = w * (y - mean) / w.sum()
    x = np.column_stack(
        [(cl.stype == lev).to_numpy() for lev in "EHM"]
        + [(cl["sch.wide"] == lev).to_numpy() for lev in ("No", "Yes")]
    )
    beta = np.linalg.lstsq(x * np.sqrt(w0)[:, None], np.sqrt(w0) * z / w, rcond=None)[0]
    resid = z - w * (x @ beta)
    psu_totals = pd.Series(resid).groupby(cl["dnum"].to_numpy()).sum().to_numpy()
    n = len(psu_totals)
    var = (1 - n / 757) * n / (n - 1) * np.sum((psu_totals - psu_totals.mean()) ** 2)
    res = estimate.means(raked, cl[["api00"]]).iloc[0]
    assert res["estimate"] == pytest.approx(mean, rel=1e-12)
    assert res["se"] == pytest.approx(np.sqrt(var), rel=1e-8)
    summary = weighting.weighting_summary(raked)
    assert set(summary) == {
        "n",
        "sum_weights",
        "kish_neff",
        "efficiency",
        "adjustment_min",
        "adjustment_max",
    }
    assert summary["sum_weights"] == pytest.approx(6194.0)
    assert summary["adjustment_min"] < 1 < summary["adjustment_max"]
    assert summary["efficiency"] == pytest.approx(summary["kish_neff"] / 183)


def test_uncalibrated_summary(clus) -> None:
    _, d = clus
    s = weighting.weighting_summary(d)
    assert s["adjustment_min"] == s["adjustment_max"] == 1.0
    assert s["n"] == 183 and s["efficiency"] == pytest.approx(1.0)  # equal weights in dclus1


def test_calibrated_domains_use_the_residuals_too(clus) -> None:
    cl, d = clus
    post = weighting.calibrate(d, cl, STYPE, method="poststratify")
    by = estimate.means(post, cl[["api00"]], cl["stype"]).set_index("domain")
    # post-stratified on stype: each stype domain's estimate equals the uncalibrated one
    plain = estimate.means(d, cl[["api00"]], cl["stype"]).set_index("domain")
    np.testing.assert_allclose(by["estimate"], plain["estimate"], rtol=1e-12)
    assert by["se"].notna().all()


@pytest.mark.parametrize(
    "margins,method,kwargs,message",
    [
        (
            pd.concat(
                [STYPE, pd.DataFrame({"variable": ["stype"], "level": ["X"], "count": [10.0]})]
            ),
            "rake",
            {},
            r"pop\.csv: variable 'stype', level 'X': no respondents",
        ),
        (STYPE.iloc[:2], "rake", {}, r"pop\.csv: variable 'stype': respondent at row .* level 'M'"),
        (
            pd.concat([STYPE, SCHWIDE.assign(count=[1072.0, 5500.0])]),
            "rake",
            {},
            r"pop\.csv: the counts of 'sch.wide' add up to",
        ),
        (pd.concat([STYPE, SCHWIDE]), "poststratify", {}, "exactly one variable"),
        (pd.concat([STYPE, SCHWIDE]), "rake", {"max_iter": 1}, "did not converge in 1"),
        (
            pd.DataFrame({"variable": ["region"], "level": ["N"], "count": [1.0]}),
            "rake",
            {},
            "'region' is not a column",
        ),
        (STYPE, "magic", {}, "not one of"),
    ],
)
def test_calibration_errors_name_file_variable_and_level(
    clus, margins: pd.DataFrame, method: str, kwargs: dict, message: str
) -> None:
    cl, d = clus
    with pytest.raises(DesignError, match=message):
        weighting.calibrate(d, cl, margins, method=method, source="pop.csv", **kwargs)


def test_small_disagreement_of_margin_totals_is_rescaled(clus) -> None:
    cl, d = clus
    margins = pd.concat([STYPE, SCHWIDE.assign(count=[1072.0, 5125.0])])  # 0.05% apart
    raked = weighting.calibrate(d, cl, margins, method="rake")
    assert raked.weights.sum() == pytest.approx(6194.0)
    assert raked.calibrations[0].margin_rescale == pytest.approx(3 / 6194)


def test_levels_compare_as_text(clus) -> None:
    cl, d = clus
    frame = cl.assign(code=cl["stype"].map({"E": 1, "H": 2, "M": 3}))
    margins = STYPE.assign(variable="code", level=["1", "2", "3"])
    post = weighting.calibrate(d, frame, margins, method="poststratify")
    ref = weighting.calibrate(d, cl, STYPE, method="poststratify")
    np.testing.assert_allclose(post.weights, ref.weights)


# ---------------------------------------------------------------------------------------------
# calibration with bounded adjustment factors (R's calibrate(..., bounds = c(lo, hi)))


@pytest.mark.parametrize("method", ["rake", "linear"])
def test_bounds_that_bind_meet_margins_within_bounds(clus, method: str) -> None:
    cl, d = clus
    margins = pd.concat([STYPE, SCHWIDE])
    free = weighting.calibrate(d, cl, margins, method=method)
    lo, hi = 0.89, 1.9
    assert free.calibrations[0].g.min() < lo or free.calibrations[0].g.max() > hi  # they bind
    bounded = weighting.calibrate(d, cl, margins, method=method, bounds=(lo, hi))
    g = bounded.calibrations[0].g
    assert bounded.calibrations[0].bounds == (lo, hi)
    assert lo - 1e-12 <= g.min() and g.max() <= hi + 1e-12
    assert np.isclose(g, lo).any() or np.isclose(g, hi).any()
    for m in (STYPE, SCHWIDE):
        var = m["variable"].iloc[0]
        got = pd.Series(bounded.weights).groupby(cl[var].to_numpy()).sum()
        np.testing.assert_allclose(got.loc[m["level"]].to_numpy(), m["count"], rtol=1e-7)
    # the solution's form: where g is inside the bounds, F^-1(g) is linear in the margin dummies
    # (raking: log g; linear: g - 1) -- exactly R's truncated calibration
    x = np.column_stack(
        [(cl.stype == lev).to_numpy() for lev in "EHM"]
        + [(cl["sch.wide"] == lev).to_numpy() for lev in ("No", "Yes")]
    ).astype(float)
    inside = (g > lo + 1e-9) & (g < hi - 1e-9)
    target = np.log(g) if method == "rake" else g - 1
    coef = np.linalg.lstsq(x[inside], target[inside], rcond=None)[0]
    np.testing.assert_allclose(x[inside] @ coef, target[inside], atol=1e-8)
    # the variance still uses the calibration residuals: an SE for the bounded design
    assert estimate.means(bounded, cl[["api00"]])["se"].notna().all()


def test_loose_bounds_give_the_unbounded_calibration(clus) -> None:
    cl, d = clus
    margins = pd.concat([STYPE, SCHWIDE])
    for method in ("rake", "linear"):
        free = weighting.calibrate(d, cl, margins, method=method)
        loose = weighting.calibrate(d, cl, margins, method=method, bounds=(0.2, 5.0))
        np.testing.assert_allclose(loose.weights, free.weights, rtol=1e-7)
        a = estimate.means(free, cl[["api00"]]).iloc[0]
        b = estimate.means(loose, cl[["api00"]]).iloc[0]
        assert b["se"] == pytest.approx(a["se"], rel=1e-6)


@pytest.mark.parametrize(
    "bounds,method,message",
    [
        ((1.2, 3.0), "rake", "0 <= lo < 1 < hi"),
        ((0.5,), "rake", "two numbers"),
        ((0.5, 2.0), "poststratify", "rake or linear"),
        ((0.95, 1.1), "rake", r"bounded to \[0.95, 1.1\] did not meet the margins"),
    ],
)
def test_bounds_errors(clus, bounds: tuple, method: str, message: str) -> None:
    cl, d = clus
    margins = pd.concat([STYPE, SCHWIDE]) if method != "poststratify" else STYPE
    with pytest.raises(DesignError, match=message):
        weighting.calibrate(d, cl, margins, method=method, bounds=bounds)


def _residual_oracle(design: SurveyDesign, z: np.ndarray) -> np.ndarray:
    """R's calibration residuals row by row, calibration after calibration (qr.resid * wq)."""
    for cal in design.calibrations:
        u = np.divide(z, cal.wq, out=np.zeros_like(z), where=cal.wq != 0)
        z = (u - cal.q @ (cal.q.T @ u)) * cal.wq
    return z


def test_sequential_calibrations_take_the_residuals_of_each_in_turn(clus) -> None:
    """Raked to stype, then linearly calibrated to the population and the api99 total: the
    variance uses the residuals of the one calibration, then of the other, as R does for a
    calibrate() of a calibrated design; the unit totals of the residuals are formed without
    per-row influence values, so check them against the per-row computation."""
    cl, d = clus
    raked = weighting.calibrate(d, cl, STYPE, method="rake")
    linear = pd.DataFrame(
        {
            "variable": [weighting.POPULATION, "api99"],
            "level": ["(all)", weighting.TOTAL],
            "count": [6194.0, 3914069.0],
        }
    )
    both = weighting.calibrate(raked, cl, linear, method="linear")
    assert len(both.calibrations) == 2
    w, y = both.weights, cl["api00"].to_numpy()
    psu = cl["dnum"].to_numpy()
    f = 15 / 757

    def oracle(z: np.ndarray) -> float:
        t = pd.Series(_residual_oracle(both, z)).groupby(psu).sum().to_numpy()
        return (1 - f) * 15 / 14 * float(np.sum((t - t.mean()) ** 2))

    by = estimate.means(both, cl[["api00"]], cl["sch.wide"]).set_index("domain")
    tot = estimate.totals(both, cl[["api00"]], cl["sch.wide"]).set_index("domain")
    for level in ("No", "Yes"):
        inside = (cl["sch.wide"] == level).to_numpy()
        mean = np.sum(w[inside] * y[inside]) / w[inside].sum()
        z = np.where(inside, w * (y - mean) / w[inside].sum(), 0.0)
        assert by.loc[level, "se"] == pytest.approx(np.sqrt(oracle(z)), rel=1e-10)
        assert tot.loc[level, "se"] == pytest.approx(np.sqrt(oracle(np.where(inside, w * y, 0))))
    diff = estimate.difference(both, cl[["api00"]], cl["sch.wide"], "Yes", "No").iloc[0]
    yes, no = (cl["sch.wide"] == "Yes").to_numpy(), (cl["sch.wide"] == "No").to_numpy()
    z = np.zeros(len(cl))
    for rows, sign in ((yes, 1.0), (no, -1.0)):
        mean = np.sum(w[rows] * y[rows]) / w[rows].sum()
        z += sign * np.where(rows, w * (y - mean) / w[rows].sum(), 0.0)
    assert diff["se"] == pytest.approx(np.sqrt(oracle(z)), rel=1e-10)
    rest = estimate.versus_rest(both, cl[["api00"]], {"sch.wide": cl["sch.wide"]})
    assert rest.set_index("level").loc["Yes", "se"] == pytest.approx(diff["se"], rel=1e-12)
