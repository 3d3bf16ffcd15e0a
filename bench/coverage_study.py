"""Simulation study (issue 11, item 3): coverage of 95% intervals on a clustered, raked design.

A finite population of customers in branches within areas, with known truth, and a two-stage
sample of branches and customers that leaves about 80 degrees of freedom:

- population: 200,000 customers in 2,000 branches (lognormal sizes, 5 to about 1,070 customers,
  median 72) in 5 areas (the strata); each branch lies in one of 4 regions; each customer is in
  one of 3 segments (the mix varies by branch, larger branches have more Enterprise customers);
- ratings: expectation ``e`` and performance ``p`` of 4 items on 1-7 scales (branch effects make
  the ratings cluster; performance depends on segment, region and area, so within a raking cell
  the ratings relate to the base weights, which vary by area) and a 0-10 likelihood to recommend;
- sample: 85 branches (24, 20, 17, 14, 10 by area, simple random sampling without replacement),
  then every customer of a sampled branch invited with probability 0.4 (Consumer), 0.8 (SMB) or
  1 (Enterprise) (Poisson): base weights 21.7 to 70, about 2,600 respondents, 1 to about 550 per
  branch (median about 21; the largest branch holds typically 8%, at most 20%, of a sample);
- unit nonresponse with propensity ``a(segment) * b(region)``, raking to the population's segment
  and region margins (R's ``calibrate(..., calfun = "raking")``); item nonresponse at random
  (2-8% per rating, 4% for the recommendation);
- design: ``svydesign(id = ~branch, strata = ~area, weights = ~w)`` (no fpc: 4% of the branches are
  sampled), 85 PSUs - 5 strata = 80 df (76-79 in the few samples where a small branch has no
  respondent).

Estimands (finite-population truth): the gap ``mean(p - e)`` of each item, NPS ``100 x mean(s)``
with ``s`` = +1 (9-10), 0 (7-8), -1 (0-6), and the Enterprise-vs-rest contrast of item 1's gap.

Methods compared (:data:`METHODS`), each with the t distribution on the design's df (PSUs -
strata) unless said otherwise:

- ``taylor``: the project's linearisation (``estimate.means``, ``estimate.versus_rest`` on the
  raked design: GREG residuals, R's ``calibrate()``);
- ``jkn``: JKn replicate weights with every replicate re-raked (``replicate_weights(design, "JKn",
  recalibrate=raking_recalibrator(...))``), replicate estimates from the recalibrated weights and
  the engine's ``svrVar`` (:meth:`ReplicateWeights.variance`);
- corrections of the Taylor interval (:mod:`small_sample`): ``satterthwaite`` (Taylor SE,
  Satterthwaite's df of a stratified variance), ``bm-df`` (Taylor SE, Bell & McCaffrey's df),
  ``brl`` (Bell & McCaffrey's 2002 bias-reduced linearisation, design df), ``bell-mccaffrey``
  (BRL with Bell & McCaffrey's df), ``mancl-derouen`` (Mancl & DeRouen 2001, design df).

A simple design (``--design simple``: a stratified simple random sample of 1,670 customers, no
clusters, same nonresponse, raked; about 790 respondents and 790 df) checks that the corrections
do not hurt where none is needed.

    .venv/bin/python bench/coverage_study.py [--samples 1000] [--seed 2026] [--design clustered]

Prints the table (estimand x method: coverage, its Monte Carlo error, mean SE / SD, root mean
squared SE / SD, bias, mean df, and the empirical df of the variance ``2 E(v)^2 / Var(v)``) and
the run time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import small_sample  # bench/small_sample.py: bench/ is on the path when this script runs

from analysis.config.params import DesignConfig
from analysis.survey import calibrate as weighting
from analysis.survey import estimate, inference, replicates
from analysis.survey.design import SurveyDesign, build_design, one_blas_thread

N_CUSTOMERS = 200_000
BRANCHES = (520, 460, 400, 340, 280)  # per area (stratum)
TAKE = (24, 20, 17, 14, 10)  # branches sampled per area: 85 PSUs, 80 df
SIZE_SIGMA = 0.8  # lognormal branch sizes
SEGMENTS = ("Consumer", "SMB", "Enterprise")
REGIONS = ("North", "South", "East", "West")
INVITE = (0.4, 0.8, 1.0)  # stage-2 (Poisson) invitation probability by segment
RESPONSE_SEGMENT = (0.45, 0.6, 0.8)
RESPONSE_REGION = (1.0, 0.85, 0.7, 0.9)
ITEMS = 4
RATING_MISSING = (0.02, 0.04, 0.06, 0.08)  # per item, for e and p separately
NPS_MISSING = 0.04
CONTRAST_LEVEL = "Enterprise"
#: Simple design: customers invited per area (stratified simple random sampling).
SIMPLE_INVITED = (420, 380, 330, 290, 250)
CONFIDENCE = 0.95
ESTIMANDS = (*[f"gap_{j + 1}" for j in range(ITEMS)], "nps", "gap_1 Enterprise - rest")


# ---------------------------------------------------------------------------------------------
# the population


@dataclass(frozen=True)
class Population:
    """Customers sorted by branch: per-customer codes and scores, per-branch facts, the truth."""

    area: np.ndarray  # (N,) stratum code
    branch: np.ndarray  # (N,) branch code, 0 .. B - 1 (sorted)
    region: np.ndarray  # (N,)
    segment: np.ndarray  # (N,)
    gaps: np.ndarray  # (N, ITEMS) p - e
    nps: np.ndarray  # (N,) 100 x (+1 / 0 / -1)
    branch_start: np.ndarray  # (B + 1,) first customer of each branch
    branch_area: np.ndarray  # (B,)
    truth: np.ndarray  # (len(ESTIMANDS),)
    margins: pd.DataFrame  # variable, level, count

    @property
    def size(self) -> int:
        return int(self.area.shape[0])


def _branches(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Branch sizes (lognormal, summing to N_CUSTOMERS), areas and regions."""
    area = np.repeat(np.arange(len(BRANCHES)), BRANCHES)
    raw = rng.lognormal(0.0, SIZE_SIGMA, area.size)
    size = np.maximum(5, np.round(raw / raw.sum() * N_CUSTOMERS)).astype(np.int64)
    # each area's branches lie mostly in one region
    main = area % len(REGIONS)
    probs = np.full((area.size, len(REGIONS)), 0.15)
    probs[np.arange(area.size), main] = 1.0 - 0.15 * (len(REGIONS) - 1)
    region = (rng.random(area.size)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return size, area, region


def _segments(rng: np.random.Generator, size: np.ndarray) -> np.ndarray:
    """Each customer's segment; the mix varies by branch, with more Enterprise in large ones."""
    z = (np.log(size) - np.log(size).mean()) / np.log(size).std()
    base = np.array([0.6, 0.3, 0.1])
    tilt = np.stack([np.ones_like(z), np.exp(0.15 * z), np.exp(0.4 * z)], axis=1)
    mix = rng.dirichlet(12 * base, size.size) * tilt
    mix /= mix.sum(axis=1, keepdims=True)
    branch = np.repeat(np.arange(size.size), size)
    u = rng.random(branch.size)
    return (u[:, None] > np.cumsum(mix, axis=1)[branch]).sum(axis=1)


def _ratings(
    rng: np.random.Generator, branch: np.ndarray, codes: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-customer gaps p - e of the items (1-7 scales) and NPS scores (100 x +1/0/-1)."""
    area, region, segment = codes
    n, n_branch = branch.size, int(branch.max()) + 1
    shared = rng.normal(0, 0.3, n_branch)[branch]
    p_item = np.array([0.0, 0.4, -0.3, 0.2])
    p_seg = np.array([[0.0, 0.0, 0.0, 0.0], [-0.2, -0.1, -0.3, 0.0], [-0.7, -0.4, -0.9, -0.2]])
    p_reg, p_area = np.array([0.0, -0.2, 0.15, -0.1]), np.array([0.25, 0.0, -0.2, 0.1, -0.35])
    e_seg = np.array([0.0, 0.2, 0.5])
    latent_p = (
        4.6
        + p_item[None, :]
        + p_seg[segment]
        + (p_reg[region] + p_area[area] + shared)[:, None]
        + rng.normal(0, 0.15, (n_branch, ITEMS))[branch]
        + rng.normal(0, 1.1, (n, ITEMS))
    )
    latent_e = 5.3 + e_seg[segment][:, None] + rng.normal(0, 1.0, (n, ITEMS))
    p = np.clip(np.rint(latent_p), 1, 7)
    e = np.clip(np.rint(latent_e), 1, 7)
    rec = (
        7.4
        + 0.9 * (latent_p.mean(axis=1) - 4.6)
        + np.array([0.0, -0.3, -0.8])[segment]
        + 0.8 * shared
        + rng.normal(0, 1.6, n)
    )
    rec = np.clip(np.rint(rec), 0, 10)
    nps = 100.0 * np.where(rec >= 9, 1.0, np.where(rec <= 6, -1.0, 0.0))
    return p - e, nps


def build_population(seed: int = 2026) -> Population:
    """The seeded population of customers and its truth (see the module docstring)."""
    rng = np.random.default_rng(seed)
    size, branch_area, branch_region = _branches(rng)
    branch = np.repeat(np.arange(size.size), size)
    area, region = branch_area[branch], branch_region[branch]
    segment = _segments(rng, size)
    gaps, nps = _ratings(rng, branch, (area, region, segment))
    in_level = segment == SEGMENTS.index(CONTRAST_LEVEL)
    truth = np.array(
        [
            *gaps.mean(axis=0),
            nps.mean(),
            gaps[in_level, 0].mean() - gaps[~in_level, 0].mean(),
        ]
    )
    margins = pd.DataFrame(
        {
            "variable": ["segment"] * len(SEGMENTS) + ["region"] * len(REGIONS),
            "level": [*SEGMENTS, *REGIONS],
            "count": [
                *np.bincount(segment, minlength=len(SEGMENTS)),
                *np.bincount(region, minlength=len(REGIONS)),
            ],
        }
    )
    return Population(
        area=area,
        branch=branch,
        region=region,
        segment=segment,
        gaps=gaps,
        nps=nps,
        branch_start=np.concatenate([[0], np.cumsum(size)]),
        branch_area=branch_area,
        truth=truth,
        margins=margins,
    )


# ---------------------------------------------------------------------------------------------
# samples


def _respond(
    pop: Population, rng: np.random.Generator, invited: np.ndarray, base: np.ndarray
) -> pd.DataFrame:
    """Unit and item nonresponse among the ``invited`` customers (base weights ``base``): the
    respondents' frame with design columns and the values (NaN: not answered)."""
    seg, reg = pop.segment[invited], pop.region[invited]
    propensity = np.array(RESPONSE_SEGMENT)[seg] * np.array(RESPONSE_REGION)[reg]
    keep = rng.random(invited.size) < propensity
    rows, w = invited[keep], base[keep]
    n = rows.size
    answered = np.ones((n, ITEMS), dtype=bool)
    for j, rate in enumerate(RATING_MISSING):  # e or p missing: no gap
        answered[:, j] = (rng.random(n) >= rate) & (rng.random(n) >= rate)
    gaps = np.where(answered, pop.gaps[rows], np.nan)
    nps = np.where(rng.random(n) >= NPS_MISSING, pop.nps[rows], np.nan)
    frame = pd.DataFrame(
        {
            "area": pop.area[rows],
            "branch": pop.branch[rows],
            "w": w,
            "segment": np.array(SEGMENTS, dtype=object)[pop.segment[rows]],
            "region": np.array(REGIONS, dtype=object)[pop.region[rows]],
        }
    )
    for j in range(ITEMS):
        frame[f"gap_{j + 1}"] = gaps[:, j]
    frame["nps"] = nps
    return frame


def draw_clustered(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """One two-stage sample: ``TAKE`` branches per area, then customers by segment (Poisson)."""
    chosen, weights = [], []
    for h, n_h in enumerate(TAKE):
        members = np.flatnonzero(pop.branch_area == h)
        picked = rng.choice(members, n_h, replace=False)
        chosen.append(picked)
        weights.append(np.full(n_h, members.size / n_h))
    branches, stage1 = np.concatenate(chosen), np.concatenate(weights)
    starts, stops = pop.branch_start[branches], pop.branch_start[branches + 1]
    customers = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
    w1 = np.repeat(stage1, stops - starts)
    pi2 = np.array(INVITE)[pop.segment[customers]]
    invited = rng.random(customers.size) < pi2
    return _respond(pop, rng, customers[invited], (w1 / pi2)[invited])


def draw_simple(pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """One stratified simple random sample of customers (``SIMPLE_INVITED`` per area)."""
    chosen, weights = [], []
    for h, n_h in enumerate(SIMPLE_INVITED):
        members = np.flatnonzero(pop.area == h)
        chosen.append(rng.choice(members, n_h, replace=False))
        weights.append(np.full(n_h, members.size / n_h))
    return _respond(pop, rng, np.concatenate(chosen), np.concatenate(weights))


DESIGNS: dict[str, tuple[Callable[[Population, np.random.Generator], pd.DataFrame], DesignConfig]]
DESIGNS = {
    "clustered": (draw_clustered, DesignConfig(weight="w", strata="area", cluster="branch")),
    "simple": (draw_simple, DesignConfig(weight="w", strata="area")),
}


# ---------------------------------------------------------------------------------------------
# one sample's estimates


def _values(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[f"gap_{j + 1}" for j in range(ITEMS)] + ["nps"]]


def taylor(design: SurveyDesign, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The project's estimates and Taylor SEs of the estimands (means, versus_rest)."""
    means = estimate.means(design, _values(frame), deff=False)
    rest = estimate.versus_rest(design, frame[["gap_1"]], {"segment": frame["segment"]})
    row = rest[rest["level"] == CONTRAST_LEVEL].iloc[0]
    est = np.append(means["estimate"].to_numpy(), row["estimate"])
    se = np.append(means["se"].to_numpy(), row["se"])
    return est, se


def replicate_estimates(weights: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    """(R, estimands) the estimands computed with each set of weights ``weights`` (R, n)."""
    y = _values(frame).to_numpy(dtype=float)
    answered = np.isfinite(y)
    y0 = np.where(answered, y, 0.0)
    means = (weights @ y0) / (weights @ answered)
    level = (frame["segment"] == CONTRAST_LEVEL).to_numpy()
    a = answered[:, 0]
    in_a, in_b = (a & level).astype(float), (a & ~level).astype(float)
    contrast = (weights @ (y0[:, 0] * in_a)) / (weights @ in_a)
    contrast -= (weights @ (y0[:, 0] * in_b)) / (weights @ in_b)
    return np.column_stack([means, contrast])


def jkn(design: SurveyDesign, frame: pd.DataFrame) -> np.ndarray:
    """SEs from JKn replicate weights, every replicate re-raked, and the engine's svrVar."""
    rep = replicates.replicate_weights(
        design, "JKn", recalibrate=replicates.raking_recalibrator(design, frame)
    )
    theta = replicate_estimates(rep.weights(design), frame)
    return np.sqrt(rep.variance(theta))


def influence(design: SurveyDesign, frame: pd.DataFrame) -> np.ndarray:
    """(n, estimands) linearised values ``y~`` of the estimands: the engine's influence values
    before calibration divided by the weight, ``1_d (y - mean_d) / sum_d w`` for a domain mean
    (``d``: answered), the difference of two such for the contrast."""
    w = design.weights
    y = _values(frame).to_numpy(dtype=float)
    level = (frame["segment"] == CONTRAST_LEVEL).to_numpy()

    def domain_mean(values: np.ndarray, domain: np.ndarray) -> np.ndarray:
        wd = np.where(domain, w, 0.0)
        mean = np.dot(wd, np.where(domain, values, 0.0)) / wd.sum()
        return np.where(domain, values - mean, 0.0) / wd.sum()

    cols = [domain_mean(y[:, j], np.isfinite(y[:, j])) for j in range(y.shape[1])]
    a = np.isfinite(y[:, 0])
    cols.append(domain_mean(y[:, 0], a & level) - domain_mean(y[:, 0], a & ~level))
    return np.column_stack(cols)


@dataclass(frozen=True)
class SampleResult:
    """One sample: estimates, respondents, and per method the SEs and df (arrays by estimand)."""

    estimate: np.ndarray
    n: int
    se: dict[str, np.ndarray]
    df: dict[str, np.ndarray]


#: The methods, in the order of the table: (SE from, df from).
METHODS = {
    "taylor": ("taylor", "design"),
    "jkn": ("jkn", "design"),
    "satterthwaite": ("taylor", "satterthwaite"),
    "bm-df": ("taylor", "bm"),
    "brl": ("brl", "design"),
    "bell-mccaffrey": ("brl", "bm-brl"),
    "mancl-derouen": ("mancl-derouen", "design"),
}


def analyse(design_name: str, frame: pd.DataFrame, margins: pd.DataFrame) -> SampleResult:
    """Every method's SE and df for one sample."""
    config = DESIGNS[design_name][1]
    raked = weighting.calibrate(build_design(frame, config), frame, margins, method="rake")
    est, se_taylor = taylor(raked, frame)
    with one_blas_thread():
        se_jkn = jkn(raked, frame)
        parts = small_sample.Linearisation.of(raked, influence(raked, frame))
        plain, brl = parts.corrected("none"), parts.corrected("brl")
        md = parts.corrected("mancl-derouen")
    # the harness's linearisation must be the engine's
    if not np.allclose(parts.taylor_se(), se_taylor, rtol=1e-8, atol=0.0):
        raise RuntimeError("the harness's Taylor SE differs from estimate.means / versus_rest")
    ses = {"taylor": se_taylor, "jkn": se_jkn, "brl": brl.se, "mancl-derouen": md.se}
    k = est.size
    dfs = {
        "design": np.full(k, float(raked.df)),
        "satterthwaite": parts.satterthwaite_df(),
        "bm": np.full(k, plain.bm_df),
        "bm-brl": np.full(k, brl.bm_df),
    }
    return SampleResult(
        estimate=est,
        n=len(frame),
        se={m: ses[se] for m, (se, _) in METHODS.items()},
        df={m: dfs[df] for m, (_, df) in METHODS.items()},
    )


# ---------------------------------------------------------------------------------------------
# the study


@dataclass(frozen=True)
class Study:
    """Results of ``samples`` samples: (samples, estimands) arrays per method."""

    design: str
    truth: np.ndarray
    estimate: np.ndarray
    n: np.ndarray
    se: dict[str, np.ndarray]
    df: dict[str, np.ndarray]
    seconds: float

    @property
    def samples(self) -> int:
        return int(self.estimate.shape[0])

    def covered(self, method: str) -> np.ndarray:
        """(samples, estimands) whether the method's interval covered the truth."""
        cols = inference.t_interval(self.estimate, self.se[method], self.df[method], CONFIDENCE)
        return (cols["ci_low"] <= self.truth) & (self.truth <= cols["ci_high"])


def run(samples: int, seed: int = 2026, design: str = "clustered", pop_seed: int = 2026) -> Study:
    """Draw ``samples`` samples of ``design`` from the seeded population and analyse each."""
    pop = build_population(pop_seed)
    draw = DESIGNS[design][0]
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    results = [analyse(design, draw(pop, rng), pop.margins) for _ in range(samples)]
    seconds = time.perf_counter() - start
    methods = list(results[0].se)
    return Study(
        design=design,
        truth=pop.truth,
        estimate=np.array([r.estimate for r in results]),
        n=np.array([r.n for r in results]),
        se={m: np.array([r.se[m] for r in results]) for m in methods},
        df={m: np.array([r.df[m] for r in results]) for m in methods},
        seconds=seconds,
    )


def table(study: Study) -> pd.DataFrame:
    """One row per estimand x method.

    Returns
    -------
    pandas.DataFrame
        Columns ``estimand, method, coverage`` (share of intervals covering the truth), ``mc_error``
        (its Monte Carlo SE, ``sqrt(p (1 - p) / samples)``), ``se_sd`` (root mean squared SE / the
        empirical SD of the estimates), ``mean_se_sd`` (mean SE / SD), ``bias`` (mean estimate -
        truth), ``bias_sd`` (bias / SD) and ``mean_df``.
    """
    sd = study.estimate.std(axis=0, ddof=1)
    bias = study.estimate.mean(axis=0) - study.truth
    rows = []
    for method, se in study.se.items():
        cov = study.covered(method).mean(axis=0)
        for k, name in enumerate(ESTIMANDS):
            rows.append(
                {
                    "estimand": name,
                    "method": method,
                    "coverage": cov[k],
                    "mc_error": np.sqrt(cov[k] * (1 - cov[k]) / study.samples),
                    "mean_se_sd": se[:, k].mean() / sd[k],
                    "se_sd": np.sqrt((se[:, k] ** 2).mean()) / sd[k],
                    "bias": bias[k],
                    "bias_sd": bias[k] / sd[k],
                    "mean_df": study.df[method][:, k].mean(),
                    "empirical_df": 2 * (se[:, k] ** 2).mean() ** 2 / (se[:, k] ** 2).var(ddof=1),
                }
            )
    return pd.DataFrame(rows)


def render(study: Study) -> str:
    """The table as text, with the design's facts and the run time."""
    tab = table(study)
    df = study.df["taylor"]
    lines = [
        f"design {study.design}: {study.samples} samples, {df.min():.0f}-{df.max():.0f} df, "
        f"respondents "
        f"{int(study.n.min())}-{int(study.n.max())} (mean {study.n.mean():.0f}); "
        f"{study.seconds:.0f} s ({study.seconds / study.samples:.2f} s per sample)",
        f"{'estimand':<26}{'method':<15}{'coverage':>9}{'+-mc':>6}{'SE/SD':>7}{'rmsSE/SD':>9}"
        f"{'bias':>9}{'bias/SD':>8}{'df':>6}{'emp.df':>7}",
    ]
    for _, r in tab.iterrows():
        lines.append(
            f"{r['estimand']:<26}{r['method']:<15}{100 * r['coverage']:>8.1f}%"
            f"{100 * r['mc_error']:>6.1f}{r['mean_se_sd']:>7.3f}{r['se_sd']:>9.3f}"
            f"{r['bias']:>9.3f}{r['bias_sd']:>8.3f}{r['mean_df']:>6.0f}{r['empirical_df']:>7.0f}"
        )
    summary = tab.groupby("method", sort=False)["coverage"].agg(["mean", "min", "max"])
    lines.append("coverage over the estimands, by method (mean, min, max):")
    for method, r in summary.iterrows():
        lines.append(
            f"  {method:<15}{100 * r['mean']:6.1f}%{100 * r['min']:7.1f}%{100 * r['max']:7.1f}%"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--design", choices=sorted(DESIGNS), default="clustered")
    args = parser.parse_args(argv)
    print(render(run(args.samples, args.seed, args.design)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
