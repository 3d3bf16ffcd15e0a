"""Repeated-sampling checks of the estimators against known finite-population truth.

1. The demo client's design (analysis.ops.demo): a disproportionate stratified sample of the
customer
   base by segment, unit nonresponse with propensity ``a(segment) * b(region)``, base weights raked
   to the segment and region margins. Because the propensity is multiplicative in segment and
   region, raking on those two margins is the right nonresponse model, so the raked gap estimates
   are (nearly) unbiased for the population gaps and their 95% intervals cover them about 95% of
   the time; the unweighted estimates are biased (Enterprise customers, with the largest
   shortfalls, are oversampled and respond more) and their intervals miss.
2. A two-stage cluster sample (clusters within strata, then people within clusters, without
   replacement and with an fpc at both stages): the Taylor-linearisation SEs (R's multistage
   variance) give 95% coverage of the population mean.

The default versions take a few seconds; ``pytest -m slow`` runs larger ones.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.ops import demo
from analysis.survey import calibrate as weighting
from analysis.survey import estimate
from analysis.survey.design import build_design

ITEM_IDS = [it.id for it in demo.ITEMS]


@pytest.fixture
def slow_run(request: pytest.FixtureRequest) -> None:
    """Run the larger simulations only when asked for (``pytest -m slow``)."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("larger simulation: run with pytest -m slow")


@cache
def population() -> dict[str, object]:
    """The demo customer base (seeded): per-customer gaps, segment/region codes and response
    propensity, the true gaps and the margins."""
    frame = demo.build_population()
    e = frame[[f"e_{i}" for i in ITEM_IDS]].to_numpy(dtype=float)
    p = frame[[f"p_{i}" for i in ITEM_IDS]].to_numpy(dtype=float)
    segment = pd.Categorical(frame["segment"], categories=demo.SEGMENTS).codes
    region = pd.Categorical(frame["region"], categories=demo.REGIONS).codes
    truth = demo.population_truth(frame)
    return {
        "gaps": p - e,
        "segment": segment,
        "region": region,
        # the demo's unit nonresponse: a(segment) * b(region), no interaction
        "propensity": np.array(demo.RESPONSE_SEGMENT)[segment]
        * np.array(demo.RESPONSE_REGION)[region],
        "members": [np.flatnonzero(segment == s) for s in range(len(demo.SEGMENTS))],
        "truth": truth[truth["item"].isin(ITEM_IDS)],
        "margins": demo.population_margins(frame),
    }


def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One demo sample (analysis.ops.demo's design): respondents' rows and base weights.

    Stratified by segment, ``demo.INVITED`` invitations per stratum without replacement (base
    weight N_h / n_h), then each invitee responds with the demo's propensity."""
    pop = population()
    rows, weights = [], []
    for members, n_h in zip(pop["members"], demo.INVITED, strict=True):
        chosen = rng.choice(members, n_h, replace=False)
        rows.append(chosen)
        weights.append(np.full(n_h, len(members) / n_h))
    invited, base = np.concatenate(rows), np.concatenate(weights)
    responded = rng.random(invited.size) < pop["propensity"][invited]
    return invited[responded], base[responded]


def demo_samples(n_samples: int, seed: int) -> dict[str, np.ndarray]:
    """Estimates of the 20 gaps, overall and by region, over repeated demo samples.

    Returns arrays (samples, items) for the overall gaps of the raked (``raked_*``) and unweighted
    (``srs_*``) estimators, and (samples, items, regions) for the raked region gaps.
    """
    pop = population()
    rng = np.random.default_rng(seed)
    segments = np.array(demo.SEGMENTS, dtype=object)
    regions = pd.CategoricalDtype(list(demo.REGIONS))
    out: dict[str, list[np.ndarray]] = {}
    for _ in range(n_samples):
        rows, base = draw(rng)
        data = pd.DataFrame(
            {
                "segment": segments[pop["segment"][rows]],
                "region": pd.Categorical.from_codes(pop["region"][rows], dtype=regions),
                "w": base,
            }
        )
        values = pop["gaps"][rows].copy()
        values[rng.random(values.shape) < 0.03] = np.nan  # item nonresponse, at random
        values = pd.DataFrame(values, columns=ITEM_IDS)
        design = build_design(data, DesignConfig(weight="w", strata="segment"))
        raked = weighting.calibrate(design, data, pop["margins"], method="rake")
        by = estimate.means_by(raked, values, {"all": None, "region": data["region"]}, deff=False)
        overall = by[by["group"] == "all"]
        per_region = by[by["group"] == "region"]
        srs = estimate.means(build_design(data, DesignConfig()), values, deff=False)
        for key, table in (("raked", overall), ("srs", srs), ("region", per_region)):
            for col in ("estimate", "se", "ci_low", "ci_high"):
                out.setdefault(f"{key}_{col}", []).append(table[col].to_numpy())
    result = {k: np.array(v) for k, v in out.items()}
    for col in ("estimate", "se", "ci_low", "ci_high"):
        result[f"region_{col}"] = result[f"region_{col}"].reshape(n_samples, len(ITEM_IDS), -1)
    return result


def true_gaps(group: str = "all") -> np.ndarray:
    truth = population()["truth"]
    rows = truth[truth["group"] == group]
    if group == "all":
        return rows.set_index("item").loc[ITEM_IDS, "gap"].to_numpy()
    table = rows.pivot(index="item", columns="level", values="gap")
    return table.loc[ITEM_IDS, list(demo.REGIONS)].to_numpy()


def check_demo(sim: dict[str, np.ndarray]) -> None:
    truth = true_gaps()
    est, se = sim["raked_estimate"], sim["raked_se"]
    n_samples = est.shape[0]
    mc_se = est.std(axis=0, ddof=1) / np.sqrt(n_samples)  # Monte Carlo SE of the mean estimate
    # unbiased: every item's mean error is within 4 Monte Carlo SEs, and on average over the
    # items it is a small fraction of the SE of one estimate (the Monte Carlo noise alone is
    # SE / sqrt(samples))
    bias = est.mean(axis=0) - truth
    assert np.all(np.abs(bias) < 4 * mc_se), bias / mc_se
    typical_se = se.mean(axis=0)
    assert np.mean(np.abs(bias) / typical_se) < 0.15, bias / typical_se
    assert abs(np.mean(bias / mc_se)) < 1.5  # no common direction across the items
    # the SEs estimate the spread of the estimates across samples
    ratio = np.sqrt((se**2).mean(axis=0)) / est.std(axis=0, ddof=1)
    assert np.all(np.abs(ratio - 1) < (0.25 if n_samples < 500 else 0.12)), ratio
    covered = (sim["raked_ci_low"] <= truth) & (truth <= sim["raked_ci_high"])
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()
    # unweighted: biased toward the oversampled Enterprise customers, and the intervals miss
    srs = sim["srs_estimate"]
    srs_bias = srs.mean(axis=0) - truth
    assert (np.abs(srs_bias) > sim["srs_se"].mean(axis=0)).sum() >= 10
    srs_covered = (sim["srs_ci_low"] <= truth) & (truth <= sim["srs_ci_high"])
    assert srs_covered.mean() < 0.6, srs_covered.mean()
    # region domains inside the raked design are unbiased and cover too
    region_truth = true_gaps("region")
    reg_est = sim["region_estimate"]
    reg_mc_se = reg_est.std(axis=0, ddof=1) / np.sqrt(n_samples)
    assert np.all(np.abs(reg_est.mean(axis=0) - region_truth) < 4 * reg_mc_se)
    reg_cov = (sim["region_ci_low"] <= region_truth) & (region_truth <= sim["region_ci_high"])
    assert 0.93 <= reg_cov.mean() <= 0.97, reg_cov.mean()


def test_demo_design_raked_gaps_unbiased_and_cover_unweighted_do_not() -> None:
    check_demo(demo_samples(120, seed=11))


@pytest.mark.slow
def test_demo_design_many_samples(slow_run: None) -> None:
    check_demo(demo_samples(1000, seed=12))


# ---------------------------------------------------------------------------------------------
# a two-stage cluster sample with an fpc at each stage


def cluster_population(seed: int = 5) -> pd.DataFrame:
    """Strata of clusters of people; y1..y3 with growing within-cluster correlation."""
    rng = np.random.default_rng(seed)
    parts = []
    for h, (clusters, mean) in enumerate(((60, 4.0), (90, 5.0), (40, 3.0), (120, 4.5))):
        size = rng.integers(20, 61, clusters)
        cluster = np.repeat(np.arange(clusters), size)
        n = size.sum()
        level = mean + rng.normal(0, 0.6, clusters)[cluster]
        part = pd.DataFrame({"h": h, "cluster": cluster, "M": size[cluster]})
        part["N1"] = clusters
        part["y1"] = rng.normal(mean, 1.0, n)  # no clustering
        part["y2"] = level + rng.normal(0, 1.0, n)  # moderate
        part["y3"] = (level + rng.normal(0, 0.3, n) > mean).astype(float)  # a proportion
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def two_stage_coverage(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pop = cluster_population()
    y = pop[["y1", "y2", "y3"]].to_numpy()
    truth = y.mean(axis=0)
    rng = np.random.default_rng(seed)
    take = {0: 8, 1: 10, 2: 6, 3: 12}  # clusters per stratum; then 8 people per cluster
    members = pop.groupby(["h", "cluster"]).indices
    n_clusters = pop.groupby("h")["N1"].first().to_dict()
    sizes = pop["M"].to_numpy()
    est, low, high = [], [], []
    for _ in range(n_samples):
        rows, weights, strata, clusters, n1 = [], [], [], [], []
        for h, n_h in take.items():
            for c in rng.choice(n_clusters[h], n_h, replace=False):
                people = rng.choice(members[(h, c)], 8, replace=False)
                rows.append(people)
                weights.append(np.full(8, n_clusters[h] / n_h * sizes[people[0]] / 8))
                strata.append(np.full(8, h))
                clusters.append(np.full(8, c))
                n1.append(np.full(8, n_clusters[h]))
        picked = np.concatenate(rows)
        sample = pd.DataFrame(
            {
                "h": np.concatenate(strata),
                "cluster": np.concatenate(clusters),
                "person": np.arange(picked.size),
                "N1": np.concatenate(n1),
                "M": sizes[picked],
                "w": np.concatenate(weights),
            }
        )
        design = build_design(
            sample,
            DesignConfig(weight="w", strata="h", cluster=["cluster", "person"], fpc=["N1", "M"]),
        )
        res = estimate.means(design, pd.DataFrame(y[picked]), deff=False)
        est.append(res["estimate"].to_numpy())
        low.append(res["ci_low"].to_numpy())
        high.append(res["ci_high"].to_numpy())
    est_a, low_a, high_a = np.array(est), np.array(low), np.array(high)
    return truth, est_a, (low_a <= truth) & (truth <= high_a)


def test_two_stage_cluster_sample_with_fpc_covers() -> None:
    truth, est, covered = two_stage_coverage(300, seed=21)
    assert np.all(np.abs(est.mean(axis=0) - truth) < 3 * est.std(axis=0) / np.sqrt(len(est)))
    assert 0.925 <= covered.mean() <= 0.975, covered.mean(axis=0)


@pytest.mark.slow
def test_two_stage_cluster_sample_with_fpc_covers_many(slow_run: None) -> None:
    truth, est, covered = two_stage_coverage(2000, seed=22)
    assert np.all(np.abs(est.mean(axis=0) - truth) < 3 * est.std(axis=0) / np.sqrt(len(est)))
    for j in range(3):
        assert 0.935 <= covered[:, j].mean() <= 0.965, covered.mean(axis=0)
