"""End to end: the demo client resampled to N respondents, run with ``outside-in run --no-pdf``.

For each size (default 100,000 and 1,000,000) the demo's responses are resampled with
replacement (seeded; :func:`resample_demo`, fresh respondent ids), written into a temporary
project with the demo's codebook, margins, staff survey and earlier waves, and run end to end
in a subprocess. Printed per size: wall time, peak resident memory of the largest process (the
CLI or the notebook kernel, sampled with psutil every 0.1 s) and of the whole process tree, and
the time of each phase seen from outside (until the notebook kernel starts: intake, design,
replicates and the analyses; the kernel's life: the report notebook; after it: the HTML).
Then the ratio of the largest size's time to the smallest's (issue 16: at most 12x for
1M / 100k, peak at most 4 GB).

Usage::

    python bench/bench_e2e.py [--sizes 100000 1000000] [--seed 16] [--keep DIR]

The machine is shared: run one size at a time if others are benchmarking, and compare the
ratios of one run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "params" / "demo.yaml"
RAW = ROOT / "data" / "raw" / "demo"


def resample_demo(n: int, seed: int) -> pd.DataFrame:
    """The demo's responses resampled with replacement to ``n`` rows (seeded), each row given
    a fresh respondent id (``R-0000001``, ...); the columns are the demo's."""
    demo = pd.read_csv(RAW / "responses.csv", dtype=str, keep_default_na=False)
    out = demo.sample(n=n, replace=True, random_state=seed).reset_index(drop=True)
    out["respondent_id"] = [f"R-{i:07d}" for i in range(1, n + 1)]
    return out


def make_project(root: Path, n: int, seed: int) -> Path:
    """A project under ``root`` whose params name the resampled survey; returns the params file."""
    raw = root / "data" / "raw" / "demo"
    shutil.copytree(RAW, raw)
    resample_demo(n, seed).to_csv(raw / "responses.csv", index=False)
    params = root / "params" / "demo.yaml"
    params.parent.mkdir(parents=True)
    shutil.copy(DEMO, params)
    return params


@dataclass
class Run:
    seconds: float
    peak_process: int  # bytes: the largest process
    peak_tree: int  # bytes: all processes together
    kernel_start: float | None  # seconds from the start
    kernel_end: float | None
    returncode: int


def _is_kernel(proc: psutil.Process) -> bool:
    try:
        return "ipykernel" in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def run_project(params: Path, log: Path) -> Run:
    """Run ``outside-in run params --no-pdf`` in the project of ``params``, sampling memory."""
    cli = Path(sys.executable).with_name("outside-in")
    cmd = [str(cli), "run", str(params.relative_to(params.parents[1])), "--no-pdf"]
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=params.parents[1], stdout=out, stderr=subprocess.STDOUT)
        top = psutil.Process(proc.pid)
        peak_process = peak_tree = 0
        kernel_start = kernel_end = None
        while proc.poll() is None:
            try:
                procs = [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            rss = []
            kernel = False
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                kernel = kernel or _is_kernel(p)
            now = time.perf_counter() - start
            if kernel and kernel_start is None:
                kernel_start = now
            if kernel:
                kernel_end = now
            if rss:
                peak_process = max(peak_process, max(rss))
                peak_tree = max(peak_tree, sum(rss))
            time.sleep(0.1)
    seconds = time.perf_counter() - start
    return Run(seconds, peak_process, peak_tree, kernel_start, kernel_end, proc.returncode)


def _gb(b: int) -> str:
    return f"{b / 2**30:.2f} GB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--keep", type=Path, default=None, help="keep the projects under this dir")
    args = ap.parse_args(argv)
    runs: dict[int, Run] = {}
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench_e2e_"))
    try:
        for n in args.sizes:
            root = base / f"n{n}"
            t0 = time.perf_counter()
            params = make_project(root, n, args.seed)
            prep = time.perf_counter() - t0
            run = run_project(params, root / "run.log")
            runs[n] = run
            ks, ke = run.kernel_start, run.kernel_end
            phases = (
                f"before kernel {ks:.1f} s, kernel {ke - ks:.1f} s, after {run.seconds - ke:.1f} s"
                if ks is not None and ke is not None
                else "no kernel seen"
            )
            status = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode})"
            print(
                f"n={n:>9,}: {status}; {run.seconds:.1f} s ({phases}); peak largest process "
                f"{_gb(run.peak_process)}, whole tree {_gb(run.peak_tree)} "
                f"[resampling {prep:.1f} s, not counted]",
                flush=True,
            )
            if run.returncode != 0:
                tail = (root / "run.log").read_text().splitlines()[-5:]
                print("  " + "\n  ".join(tail), flush=True)
        ok = {n: r for n, r in runs.items() if r.returncode == 0}
        if len(ok) >= 2:
            small, large = min(ok), max(ok)
            ratio = ok[large].seconds / ok[small].seconds
            print(f"time ratio n={large:,} / n={small:,}: {ratio:.2f}x (rows {large / small:.0f}x)")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0 if all(r.returncode == 0 for r in runs.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
