"""Benchmark: the fixed cost of one ``outside-in run`` against its peer, a bare papermill +
nbconvert run of a trivial notebook, measured alternately in the same run (fresh processes).

- ours: ``outside-in run params/demo.yaml --no-pdf`` on a copy of the demo project; its fixed
  cost is the command's wall time less the seconds of the notebook's analysis cells (every code
  cell but the parameters and the imports cell, from the run's manifest): process start,
  params/kernel checks, kernel start, papermill, the imports cell, nbconvert, the writes.
- peer: a fresh Python that imports papermill and nbconvert, executes a one-cell notebook
  (``x = 1``) on the same kernel and converts it to HTML with nbconvert's default exporter; as
  installed (jsonschema loads the optional ``rfc3987_syntax`` grammar) and, the stricter peer,
  with that module blocked as Outside-In's own processes do
  (:func:`analysis.ops.process.skip_slow_optional_imports`).

    .venv/bin/python bench/bench_run.py [--repeat 3]
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

REPO = Path(__file__).resolve().parents[1]

PEER = """
import sys
if sys.argv[4] == "blocked":
    sys.modules["rfc3987_syntax"] = None
import papermill as pm, nbformat
from nbconvert import HTMLExporter
nb = pm.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="outside-in", progress_bar=False)
html, _ = HTMLExporter().from_notebook_node(nb)
open(sys.argv[3], "w").write(html)
"""


def make_project(root: Path) -> None:
    """The demo client (params, every input, the project's notebook) under ``root``."""
    shutil.copytree(REPO / "data" / "raw" / "demo", root / "data" / "raw" / "demo")
    (root / "params").mkdir(parents=True)
    shutil.copy(REPO / "params" / "demo.yaml", root / "params" / "demo.yaml")
    (root / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "gap_report.ipynb", root / "notebooks" / "gap_report.ipynb")


def ours(root: Path) -> dict[str, float]:
    """One demo run: wall seconds, analysis cells, fixed cost and its parts."""
    cli = Path(sys.executable).with_name("outside-in")
    t0 = time.perf_counter()
    subprocess.run(
        [str(cli), "run", "params/demo.yaml", "--no-pdf"], cwd=root, check=True, capture_output=True
    )
    wall = time.perf_counter() - t0
    m = json.loads((root / "data" / "processed" / "demo" / "manifest.json").read_text())
    cells = [c for c in m["cells"] if c["seconds"] is not None]
    imports = next(c for c in cells if c["source"].startswith("from analysis"))
    cells_s = sum(c["seconds"] for c in cells)
    analysis = cells_s - imports["seconds"]
    return {
        "wall": wall,
        "analysis cells": analysis,
        "fixed": wall - analysis,
        "process + checks": wall - m["seconds"] + m["steps"]["check"],
        "kernel start + papermill": m["steps"]["execute"] - cells_s,
        "imports cell": imports["seconds"],
        "convert + write": m["steps"]["convert"] + m["steps"]["write"],
    }


def peer(tmp: Path, blocked: bool) -> float:
    """One bare papermill + nbconvert run of a trivial notebook: wall seconds."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    src = tmp / "trivial.ipynb"
    if not src.exists():
        meta = {"kernelspec": {"name": "outside-in", "display_name": "Outside-In"}}
        nbformat.write(new_notebook(cells=[new_code_cell("x = 1")], metadata=meta), src)
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            PEER,
            str(src),
            str(tmp / "out.ipynb"),
            str(tmp / "out.html"),
            "blocked" if blocked else "as installed",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        make_project(tmp / "project")
        runs, peers, strict = [], [], []
        for k in range(args.repeat):  # alternately, so that all see the same load
            print(f"round {k + 1} of {args.repeat} ...", file=sys.stderr)
            peers.append(peer(tmp, blocked=False))
            strict.append(peer(tmp, blocked=True))
            runs.append(ours(tmp / "project"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(r[name] for r in runs) for name in runs[0]}
    print(f"\nmedians of {args.repeat} rounds, seconds")
    bare = statistics.median(peers)
    print(f"{'peer: bare papermill + nbconvert, trivial notebook':<60}{bare:>7.2f}")
    print(f"{'peer, rfc3987_syntax blocked':<60}{statistics.median(strict):>7.2f}")
    for name, value in med.items():
        print(f"{'demo run: ' + name:<60}{value:>7.2f}")
    for label, base in (("peer", peers), ("peer with rfc3987_syntax blocked", strict)):
        ratios = [r["fixed"] / q for r, q in zip(runs, base, strict=True)]
        print(
            f"demo run's fixed cost / {label}: {statistics.median(ratios):.2f}x (median of rounds)"
        )


if __name__ == "__main__":
    main()
