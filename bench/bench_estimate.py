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

Prints a table and, last, ``speedup vs svy at 100k: <N>x``.

    .venv/bin/python bench/bench_estimate.py [--sizes 10000 100000 1000000] [--reps 5]
        [--ours-reps 20]

svy is not a dependency of Outside-In: ``pip install svy`` (the ``bench`` extra) to run this.
"""

from __future__ import annotations

import argparse
import json
import resource
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
    result = (run_outside_in if tool == "outside-in" else run_svy)(Path(path), reps)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps(result))


def measure(tool: str, path: Path, reps: int, tmp: Path) -> dict[str, object]:
    out = tmp / f"{tool}.json"
    subprocess.run(
        [sys.executable, __file__, "--child", tool, str(path), str(reps), str(out)], check=True
    )
    return json.loads(out.read_text())


def max_rel(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise SystemExit(f"the tools returned {x.size} and {y.size} estimates")
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=5, help="svy repetitions (best is kept)")
    parser.add_argument(
        "--ours-reps",
        type=int,
        default=20,
        help="Outside-In repetitions, 0.1 s apart (best is kept; each takes well under a second)",
    )
    parser.add_argument(
        "--svy-reps-1m", type=int, default=1, help="svy repetitions at 1M and above (slow)"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, path, reps, out = args.child
        child(tool, path, int(reps), out)
        return

    header = (
        f"{'respondents':>11} {'tool':<11} {'seconds':>8} {'cpu s':>8} {'best of':>7} "
        f"{'peak MB':>8} {'speedup':>8} {'max rel diff est / se':>22}"
    )
    print(header)
    speedups: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for n in args.sizes:
            path = tmp / f"survey_{n}.parquet"
            write_data(path, n)
            ours = measure("outside-in", path, args.ours_reps, tmp)
            svy_reps = args.reps if n < 1_000_000 else args.svy_reps_1m
            peer = measure("svy", path, svy_reps, tmp)
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


if __name__ == "__main__":
    main()
