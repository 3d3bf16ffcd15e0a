"""Benchmark: ``outside-in batch`` on 20 demo-sized clients, sequential (``--jobs 1``) against
parallel (``--jobs 2``, the peer measured in the same run), and where one client's time goes.

The clients are copies of the demo client (Harbourline Telecom, 1,500 responses, 12 items, raked)
under different slugs in a temporary project root. Each mode runs the whole batch with ``force``
(no client is skipped). Per client, the wall time splits into (from each client's manifest
``steps`` and ``cells``, and the batch's own timing of the client process):

- process: what the client costs outside its run (the batch's wall time for the client minus the
  manifest's ``seconds``): in a warm worker (``analysis.ops.isolated.Worker``) handing the client
  over and the temporary folder; for a job's first client, also starting the worker and its
  imports
- check: params, codebook and kernel checks
- kernel start + papermill: the ``execute`` step minus the notebook's cells (launching the kernel,
  importing papermill/nbformat, reading and writing the notebook)
- imports cell: the notebook's first code cell (``from analysis.ops import pipeline ...``)
- analysis cells: every other cell (intake, design, estimates, figures, tables)
- convert: nbconvert to HTML; write: the atomic writes

It also times, each in fresh processes: a bare kernel start (jupyter_client, to ready), ``import
nbformat`` with and without the optional ``rfc3987_syntax`` module that jsonschema loads, and the
notebook's imports cell.

    .venv/bin/python bench/bench_batch.py [--clients 20] [--jobs 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def make_root(root: Path, clients: int) -> list[str]:
    """``clients`` copies of the demo client (slugs demo-01 ...), sharing the demo inputs."""
    # the whole demo folder: the survey, codebook, margins, staff survey and previous waves
    shutil.copytree(REPO / "data" / "raw" / "demo", root / "data" / "raw" / "demo")
    (root / "params").mkdir()
    base = yaml.safe_load((REPO / "params" / "demo.yaml").read_text())
    slugs = [f"demo-{k:02d}" for k in range(1, clients + 1)]
    for slug in slugs:
        params = dict(base, client=slug)
        (root / "params" / f"{slug}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return slugs


def run_mode(root: Path, jobs: int) -> tuple[float, list[dict[str, float]]]:
    """Run the whole batch; return its wall time and each client's breakdown."""
    from analysis.ops import batch

    t0 = time.perf_counter()
    options = batch.BatchOptions(jobs=jobs, force=True, progress=True)
    outcomes = batch.run_batch(root=root, options=options)
    wall = time.perf_counter() - t0
    bad = [o for o in outcomes if o.status != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} clients failed, e.g. {bad[0].client}: {bad[0].error}")
    parts = []
    for o in outcomes:
        m = json.loads((root / "data" / "processed" / o.client / "manifest.json").read_text())
        cells = [c for c in m["cells"] if c["seconds"] is not None]
        imports = next((c for c in cells if c["source"].startswith("from analysis")), None)
        imports_s = imports["seconds"] if imports else 0.0
        cells_s = sum(c["seconds"] for c in cells)
        steps = m["steps"]
        parts.append(
            {
                "process": o.seconds - m["seconds"],
                "check": steps["check"],
                "kernel start + papermill": steps["execute"] - cells_s,
                "imports cell": imports_s,
                "analysis cells": cells_s - imports_s,
                "convert": steps["convert"],
                "write": steps["write"],
                "total": o.seconds,
            }
        )
    return wall, parts


def timed(code: str, repeat: int = 3) -> float:
    """Median wall seconds of ``python -c code`` in fresh processes."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def kernel_start(repeat: int = 3) -> float:
    """Median seconds from launching the Outside-In kernel to its first reply."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="outside-in")
        times.append(time.perf_counter() - t0)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2, help="jobs of the parallel mode")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project root")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        root = tmp / "project"
        make_root(root, args.clients)
        results = {}
        for label, jobs in (("sequential", 1), (f"parallel ({args.jobs} jobs)", args.jobs)):
            print(f"{label}: {args.clients} clients ...", file=sys.stderr)
            results[label] = run_mode(root, jobs)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.clients} demo-sized clients (1,500 responses, 12 items, raked)\n")
    print(f"{'mode':<22}{'wall s':>9}{'clients/min':>13}{'s/client':>10}")
    walls = {}
    for label, (wall, _) in results.items():
        walls[label] = wall
        rate = args.clients / wall * 60
        print(f"{label:<22}{wall:>9.1f}{rate:>13.1f}{wall / args.clients:>10.2f}")
    seq, par = walls.values()
    print(f"\nparallel vs sequential: {seq / par:.2f}x the clients per minute")

    print("\nper-client wall time, median seconds (share of the client's total)")
    names = list(next(iter(results.values()))[1][0])
    print(f"{'part':<26}" + "".join(f"{label:>24}" for label in results))
    for name in names:
        row = f"{name:<26}"
        for _, parts in results.values():
            med = statistics.median(p[name] for p in parts)
            tot = statistics.median(p["total"] for p in parts)
            row += f"{med:>15.2f} ({med / tot:>4.0%})"
        print(row)

    print("\nin fresh processes (median of 3)")
    k = kernel_start()
    nbf = timed("import nbformat")
    nbf_fast = timed("import sys; sys.modules['rfc3987_syntax'] = None; import nbformat")
    worker = timed("import analysis.ops.isolated, papermill, nbconvert")
    worker_fast = timed(
        "import analysis.ops.process as p; p.skip_slow_optional_imports(); "
        "import analysis.ops.isolated, papermill, nbconvert"
    )
    cell = timed(
        "from analysis.ops import pipeline; from analysis.report import about, figures, gaps, "
        "key_drivers, nps, perception, plots, priorities, runner, segments, summary, trend; "
        "from analysis.survey import calibrate"
    )
    print(f"{'kernel start to ready':<52}{k:>6.2f} s")
    print(f"{'import nbformat':<52}{nbf:>6.2f} s")
    print(f"{'import nbformat, rfc3987_syntax blocked':<52}{nbf_fast:>6.2f} s")
    print(f"{'client process imports (report, papermill, nbconvert)':<52}{worker:>6.2f} s")
    print(f"{'the same, rfc3987_syntax blocked (as the batch does)':<52}{worker_fast:>6.2f} s")
    print(f"{'the notebook imports cell, in a fresh interpreter':<52}{cell:>6.2f} s")


if __name__ == "__main__":
    main()
