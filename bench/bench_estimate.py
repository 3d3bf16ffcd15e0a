"""Benchmark: the gap-table workload, Outside-In against svy (PyPI), on the same data.

Workload (issue 4): weighted means of 30 per-respondent gaps (performance - expectation, ~3% of
each missing), overall and in each of 8 segments, with Taylor-linearisation SEs for a design with
10 strata and PSUs (~50 respondents each) nested in the strata; at 10k, 100k and 1M respondents.

Each tool runs in its own fresh process (so that its peak memory, ru_maxrss, is its own) on the same
parquet file; reading the file is not timed, building the design and estimating is. Outside-In does
the overall and segment domains in one call (``estimate.means_by``, as the gap table does); svy
needs one call per domain variable (``mean(...)`` and ``mean(..., by=...)``), both timed. Missing
values are domains in both (svy ``drop_nulls=True``: rows stay in the design). The two tools'
estimates and SEs must agree to 1e-6 relative, or the run fails. Times are the best of several
repetitions (wall clock; the CPU time is shown beside it): 5 for svy (1 at 1M, where one takes
~20 s), 20 for Outside-In, 0.1 s apart, so that its short runs are not all caught by the same burst
of other load on a shared machine.

Prints a table and ``speedup vs svy at 100k: <N>x``.

The raked workload (issue 16): the same means of gaps, overall and by segment, on a design where
each respondent is its own PSU, raked to two margins (segment, 8 levels; region, 4), the path the
report takes. Outside-In runs it three ways in one process, repetitions alternating so that other
load falls on all alike: ``plain`` (the design unraked), ``greg`` (the default variance, R
``calibrate()``'s residuals) and ``r-rake`` (R ``rake()``'s); times are medians. Peers, each
checked (estimates and SEs to 1e-6 relative) before any ratio is printed: svy's ``rake`` (its
variance is R ``rake()``'s: against ours ``r-rake``) and, when ``Rscript`` is on the PATH (with
the survey package), R ``calibrate(calfun = "raking")`` + ``svymean``/``svyby`` per item, timed
inside R with ``system.time`` (against ours ``greg``; up to ``--r-max`` respondents). Printed:
raked / plain for ours, and each peer's time over ours.

    .venv/bin/python bench/bench_estimate.py [--sizes 10000 100000 1000000] [--reps 5]
        [--ours-reps 20] [--workload clustered|raked|both] [--svy-python PY] [--r-max N]

svy is not a dependency of Outside-In: ``pip install svy`` (the ``bench`` extra), or point
``--svy-python`` at a Python that has it.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ITEMS = 30
SEGMENTS = 8
STRATA = 10
PSU_SIZE = 50
REGIONS = 4
TOLERANCE = 1e-6
PAUSE = 0.1  # seconds between Outside-In's repetitions


def write_data(path: Path, n: int, seed: int = 4) -> None:
    """A stratified cluster sample of ``n`` respondents with 30 gap columns."""
    rng = np.random.default_rng(seed)
    n_psu = max(2 * STRATA, n // PSU_SIZE)
    psu_stratum = np.arange(n_psu) % STRATA
    psu = rng.integers(0, n_psu, n)
    stratum = psu_stratum[psu]
    segment = rng.choice(SEGMENTS, n, p=np.linspace(2.0, 0.5, SEGMENTS) / 10.0)
    weight = (5.0 + 3.0 * stratum) * rng.uniform(0.5, 1.5, n)
    psu_effect = rng.normal(0.0, 0.3, n_psu)[psu]
    data: dict[str, object] = {
        "stratum": stratum.astype(np.int64),
        "psu": psu.astype(np.int64),  # numbered across the design; nested in strata
        "w": weight,
        "segment": np.array([f"seg{s}" for s in range(SEGMENTS)])[segment],
        # the raked workload's second margin (not in the clustered one)
        "region": np.array([f"reg{r}" for r in range(REGIONS)])[rng.integers(0, REGIONS, n)],
    }
    for j in range(ITEMS):
        expectation = np.clip(np.rint(rng.normal(5.8, 1.0, n)), 1, 7)
        shift = -0.5 + 0.1 * segment + psu_effect
        performance = np.clip(np.rint(expectation + shift + rng.normal(0, 1.2, n)), 1, 7)
        gap = performance - expectation
        gap[rng.random(n) < 0.03] = np.nan
        data[f"gap{j}"] = gap
    pd.DataFrame(data).to_parquet(path, index=False)


# ---------------------------------------------------------------------------------------------
# the measured processes


def run_outside_in(path: Path, reps: int) -> dict[str, object]:
    from analysis.config.params import DesignConfig
    from analysis.survey import estimate
    from analysis.survey.design import build_design

    frame = pd.read_parquet(path)
    gaps = frame[[f"gap{j}" for j in range(ITEMS)]]
    config = DesignConfig(weight="w", strata="stratum", cluster="psu")
    times, cpu = [], []
    for _ in range(reps):
        time.sleep(PAUSE)  # spread the short runs over time: a burst of other load hits fewer
        t0, c0 = time.perf_counter(), time.process_time()
        design = build_design(frame, config)
        table = estimate.means_by(
            design, gaps, {"all": None, "segment": frame["segment"]}, deff=False
        )
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    table = table.sort_values(["group", "variable", "domain"], kind="stable")
    return {
        "seconds": min(times),
        "cpu_seconds": min(cpu),
        "reps": reps,
        "estimate": table["estimate"].tolist(),
        "se": table["se"].tolist(),
    }


def raked_margins(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Population counts of the raked workload: segment and region, each level's weight total
    moved by a fixed factor (so the raking does work), both margins summing to the same total."""
    total = float(frame["w"].sum()) * 1.25
    out = {}
    for var in ("segment", "region"):
        share = frame.groupby(var)["w"].sum().sort_index()
        tilt = np.linspace(0.8, 1.2, share.size)
        share = share * tilt / float((share * tilt).sum())
        out[var] = {str(k): float(v) * total for k, v in share.items()}
    return out


#: The Outside-In variants of the raked workload, measured side by side (alternating repetitions
#: in one process, so that a burst of other load falls on all of them alike).
VARIANTS = ("plain", "greg", "r-rake")


def run_outside_in_raked(path: Path, reps: int) -> dict[str, object]:
    """The raked per-respondent-PSU workload: ``plain`` the design unraked, ``greg`` raked with
    R ``calibrate()``'s residuals (the default), ``r-rake`` with R ``rake()``'s."""
    from analysis.config.params import DesignConfig
    from analysis.survey import estimate
    from analysis.survey.calibrate import calibrate
    from analysis.survey.design import build_design

    frame = pd.read_parquet(path)
    gaps = frame[[f"gap{j}" for j in range(ITEMS)]]
    margins = pd.DataFrame(
        [
            {"variable": var, "level": level, "count": count}
            for var, levels in raked_margins(frame).items()
            for level, count in levels.items()
        ]
    )
    config = DesignConfig(weight="w")  # each respondent its own PSU
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    tables: dict[str, pd.DataFrame] = {}
    for _ in range(reps):
        for variant in VARIANTS:
            time.sleep(PAUSE)
            t0, c0 = time.perf_counter(), time.process_time()
            design = build_design(frame, config)
            if variant != "plain":
                design = calibrate(
                    design, frame, margins, "rake", tolerance=1e-10, variance=variant
                )
            tables[variant] = estimate.means_by(
                design, gaps, {"all": None, "segment": frame["segment"]}, deff=False
            )
            times[variant].append(time.perf_counter() - t0)
            cpu[variant].append(time.process_time() - c0)
    out: dict[str, object] = {}
    for variant in VARIANTS:
        table = tables[variant].sort_values(["group", "variable", "domain"], kind="stable")
        out[variant] = {
            "seconds": float(np.median(times[variant])),
            "cpu_seconds": float(np.median(cpu[variant])),
            "reps": reps,
            "estimate": table["estimate"].tolist(),
            "se": table["se"].tolist(),
        }
    return out


def run_svy_raked(path: Path, reps: int) -> dict[str, object]:
    import polars as pl
    import svy

    frame = pl.read_parquet(path)
    controls = raked_margins(frame.select("w", "segment", "region").to_pandas())
    items = [f"gap{j}" for j in range(ITEMS)]
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        sample = svy.Sample(frame, svy.Design(wgt="w"))
        sample = sample.weighting.rake(controls=controls, tol=1e-10, max_iter=1000)
        overall = sample.estimation.mean(items, drop_nulls=True).to_polars()
        by = sample.estimation.mean(items, by="segment", drop_nulls=True).to_polars()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    overall = overall.sort(["y"])
    by = by.sort(["y", "segment"])
    return {
        "seconds": float(np.median(times)),
        "cpu_seconds": float(np.median(cpu)),
        "reps": reps,
        "estimate": overall["est"].to_list() + by["est"].to_list(),
        "se": overall["se"].to_list() + by["se"].to_list(),
    }


R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); m <- read.csv(args[2]); reps <- as.integer(args[3])
d$segment <- factor(d$segment, levels = sort(unique(d$segment)))
d$region <- factor(d$region, levels = sort(unique(d$region)))
pop <- c("(Intercept)" = sum(m$count[m$variable == "segment"]),
         setNames(m$count[m$variable == "segment"][-1],
                  paste0("segment", m$level[m$variable == "segment"][-1])),
         setNames(m$count[m$variable == "region"][-1],
                  paste0("region", m$level[m$variable == "region"][-1])))
items <- grep("^gap", names(d), value = TRUE)
run <- function() {
  des <- svydesign(ids = ~1, weights = ~w, data = d)
  cal <- calibrate(des, ~segment + region, population = pop, calfun = "raking",
                   epsilon = 1e-10, maxit = 1000)
  est <- c(); se <- c(); e2 <- c(); s2 <- c()
  for (v in items) {
    f <- as.formula(paste0("~", v))
    a <- svymean(f, cal, na.rm = TRUE)
    b <- svyby(f, ~segment, cal, svymean, na.rm = TRUE)
    est <- c(est, coef(a)); se <- c(se, SE(a)); e2 <- c(e2, coef(b)); s2 <- c(s2, SE(b))
  }
  list(est = c(est, e2), se = c(se, s2))
}
times <- c(); cpu <- c()
for (i in seq_len(reps)) {
  t <- system.time(out <- run())
  times <- c(times, t[["elapsed"]]); cpu <- c(cpu, t[["user.self"]] + t[["sys.self"]])
}
cat(median(times), median(cpu), "
", file = args[4])
write.table(cbind(out$est, out$se), file = args[4], append = TRUE, row.names = FALSE,
            col.names = FALSE)
"""


def measure_r(path: Path, reps: int, tmp: Path) -> dict[str, object] | None:
    """R survey on the raked workload (``calibrate(calfun = "raking")`` + svymean/svyby per item,
    timed inside R with ``system.time``), or None without Rscript."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    frame = pd.read_parquet(path)
    csv, margins_csv, script, out = (tmp / name for name in ("r.csv", "m.csv", "b.R", "r.out"))
    frame.drop(columns=["stratum", "psu"]).to_csv(csv, index=False)
    pd.DataFrame(
        [
            {"variable": var, "level": level, "count": count}
            for var, levels in raked_margins(frame).items()
            for level, count in sorted(levels.items())
        ]
    ).to_csv(margins_csv, index=False)
    script.write_text(R_SCRIPT)
    subprocess.run(
        [rscript, str(script), str(csv), str(margins_csv), str(reps), str(out)], check=True
    )
    lines = out.read_text().split("\n")
    seconds, cpu = (float(x) for x in lines[0].split())
    values = np.loadtxt(lines[1:], ndmin=2)
    # R: per item overall, then per item the segments; sorted as Outside-In's table
    n_seg = frame["segment"].nunique()
    order = np.argsort([f"gap{j}" for j in range(ITEMS)], kind="stable")  # names, as text
    est = list(values[:ITEMS, 0][order])
    est += list(values[ITEMS:, 0].reshape(ITEMS, n_seg)[order].ravel())
    se = list(values[:ITEMS, 1][order])
    se += list(values[ITEMS:, 1].reshape(ITEMS, n_seg)[order].ravel())
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "reps": reps,
        "peak_mb": float("nan"),
        "estimate": est,
        "se": se,
    }


def run_svy(path: Path, reps: int) -> dict[str, object]:
    import polars as pl
    import svy

    frame = pl.read_parquet(path)
    items = [f"gap{j}" for j in range(ITEMS)]
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        sample = svy.Sample(frame, svy.Design(stratum="stratum", psu="psu", wgt="w"))
        overall = sample.estimation.mean(items, drop_nulls=True).to_polars()
        by = sample.estimation.mean(items, by="segment", drop_nulls=True).to_polars()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    overall = overall.with_columns(pl.lit("all").alias("segment")).sort(["y"])
    by = by.sort(["y", "segment"])
    # the same order as Outside-In's table sorted by (group, variable, domain): "all" < "segment"
    est = overall["est"].to_list() + by["est"].to_list()
    se = overall["se"].to_list() + by["se"].to_list()
    return {
        "seconds": min(times),
        "cpu_seconds": min(cpu),
        "reps": reps,
        "estimate": est,
        "se": se,
    }


def child(tool: str, path: str, reps: int, out: str) -> None:
    runs = {
        "outside-in": run_outside_in,
        "svy": run_svy,
        "ours-raked": run_outside_in_raked,
        "svy-raked": run_svy_raked,
    }
    result = runs[tool](Path(path), reps)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps(result))


def measure(
    tool: str, path: Path, reps: int, tmp: Path, python: str = sys.executable
) -> dict[str, object]:
    out = tmp / f"{tool}.json"
    subprocess.run([python, __file__, "--child", tool, str(path), str(reps), str(out)], check=True)
    return json.loads(out.read_text())


def max_rel(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise SystemExit(f"the tools returned {x.size} and {y.size} estimates")
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))


def clustered(args: argparse.Namespace, tmp: Path) -> None:
    """The clustered workload against svy (issue 4)."""
    header = (
        f"{'respondents':>11} {'tool':<11} {'seconds':>8} {'cpu s':>8} {'best of':>7} "
        f"{'peak MB':>8} {'speedup':>8} {'max rel diff est / se':>22}"
    )
    print(header)
    speedups: dict[int, float] = {}
    for n in args.sizes:
        path = tmp / f"survey_{n}.parquet"
        write_data(path, n)
        ours = measure("outside-in", path, args.ours_reps, tmp)
        svy_reps = args.reps if n < 1_000_000 else args.svy_reps_1m
        peer = measure("svy", path, svy_reps, tmp, args.svy_python)
        d_est = max_rel(ours["estimate"], peer["estimate"])
        d_se = max_rel(ours["se"], peer["se"])
        speedups[n] = peer["seconds"] / ours["seconds"]
        for name, m, speed in (("svy", peer, 1.0), ("outside-in", ours, speedups[n])):
            diff = f"{d_est:.1e} / {d_se:.1e}" if name == "outside-in" else ""
            print(
                f"{n:>11,} {name:<11} {m['seconds']:>8.3f} {m['cpu_seconds']:>8.3f} "
                f"{m['reps']:>7} {m['peak_mb']:>8.0f} {speed:>7.1f}x {diff:>22}"
            )
        if max(d_est, d_se) > TOLERANCE:
            raise SystemExit(
                f"Outside-In and svy disagree at {n:,} respondents: estimates by {d_est:.2g}, "
                f"SEs by {d_se:.2g} (relative; tolerance {TOLERANCE:g})"
            )
    print(
        f"workload: means of {ITEMS} gaps, overall and in {SEGMENTS} segments; {STRATA} strata, "
        f"PSUs of ~{PSU_SIZE} respondents nested in strata; Taylor SEs"
    )
    key = 100_000 if 100_000 in speedups else max(speedups)
    print(f"speedup vs svy at {key // 1000}k: {speedups[key]:.0f}x")


def check(n: int, peer: str, ours: dict, theirs: dict) -> str:
    """``max rel diff`` of estimates / SEs; stops the run beyond TOLERANCE."""
    d_est = max_rel(ours["estimate"], theirs["estimate"])
    d_se = max_rel(ours["se"], theirs["se"])
    if max(d_est, d_se) > TOLERANCE:
        raise SystemExit(
            f"Outside-In and {peer} disagree on the raked workload at {n:,} respondents: "
            f"estimates by {d_est:.2g}, SEs by {d_se:.2g} (relative; tolerance {TOLERANCE:g})"
        )
    return f"{d_est:.1e} / {d_se:.1e}"


def raked(args: argparse.Namespace, tmp: Path) -> None:
    """The raked per-respondent-PSU workload: Outside-In raked / plain, against svy (R
    ``rake()`` residuals: ours ``r-rake``) and R survey (``calibrate(calfun = "raking")``:
    ours ``greg``). Every peer's estimates and SEs are checked before any ratio is printed."""
    print(
        f"{'respondents':>11} {'tool':<26} {'seconds':>8} {'cpu s':>8} {'reps':>5} "
        f"{'peak MB':>8} {'ratio':>22} {'max rel diff est / se':>22}"
    )
    for n in args.sizes:
        path = tmp / f"survey_{n}.parquet"
        write_data(path, n)
        reps = args.ours_reps if n < 1_000_000 else max(1, args.ours_reps // 4)
        set_ = measure("ours-raked", path, reps, tmp)
        ours = {v: set_[v] for v in VARIANTS}
        rows = []
        plain = ours["plain"]["seconds"]
        svy_reps = args.reps if n < 1_000_000 else args.svy_reps_1m
        peer = measure("svy-raked", path, svy_reps, tmp, args.svy_python)
        peer["peak_mb"] = float(peer["peak_mb"])
        diff_svy = check(n, "svy", ours["r-rake"], peer)
        r_peer = measure_r(path, 1, tmp) if n <= args.r_max else None
        diff_r = check(n, "R survey", ours["greg"], r_peer) if r_peer is not None else ""
        for v in VARIANTS:
            m = ours[v]
            ratio = "1.00x" if v == "plain" else f"{m['seconds'] / plain:.2f}x of plain"
            rows.append((f"outside-in {v}", m, set_["peak_mb"], ratio, ""))
        svy_ratio = f"{peer['seconds'] / ours['r-rake']['seconds']:.1f}x ours r-rake"
        rows.append(("svy rake", peer, peer["peak_mb"], svy_ratio, diff_svy))
        if r_peer is not None:
            r_ratio = f"{r_peer['seconds'] / ours['greg']['seconds']:.0f}x ours greg"
            rows.append(("R calibrate(raking)", r_peer, float("nan"), r_ratio, diff_r))
        for name, m, peak, ratio, diff in rows:
            print(
                f"{n:>11,} {name:<26} {m['seconds']:>8.3f} {m['cpu_seconds']:>8.3f} "
                f"{m['reps']:>5} {peak:>8.0f} {ratio:>22} {diff:>22}"
            )
    print(
        f"workload: means of {ITEMS} gaps, overall and in {SEGMENTS} segments; each respondent "
        f"its own PSU, raked to segment ({SEGMENTS}) and region ({REGIONS}); median times"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=5, help="svy repetitions")
    parser.add_argument(
        "--ours-reps",
        type=int,
        default=20,
        help="Outside-In repetitions, 0.1 s apart (each takes well under a second)",
    )
    parser.add_argument(
        "--svy-reps-1m", type=int, default=1, help="svy repetitions at 1M and above (slow)"
    )
    parser.add_argument(
        "--workload", choices=["clustered", "raked", "both"], default="both", help="which to run"
    )
    parser.add_argument(
        "--svy-python", default=sys.executable, help="the Python that has svy installed"
    )
    parser.add_argument(
        "--r-max",
        type=int,
        default=100_000,
        help="largest size R survey runs at (raked workload; R takes minutes beyond)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, path, reps, out = args.child
        child(tool, path, int(reps), out)
        return
    with tempfile.TemporaryDirectory() as tmp_name:
        if args.workload in ("clustered", "both"):
            clustered(args, Path(tmp_name))
        if args.workload in ("raked", "both"):
            raked(args, Path(tmp_name))


if __name__ == "__main__":
    main()
