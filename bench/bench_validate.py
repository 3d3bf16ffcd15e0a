"""Benchmark: read and validate a survey export of 100k and 1M rows with 40 rating items.

Peer: pandas.read_csv of the same file with default dtypes, no validation (the floor any reader
pays). Each measurement runs in a fresh process so that peak memory (ru_maxrss) is its own.
Prints a table and, last, the rows per second of Outside-In at the largest size.

    .venv/bin/python bench/bench_validate.py [--rows 100000 1000000]
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

ITEMS = 20  # 20 items x (expectation, performance) = 40 rating columns


def write_survey(path: Path, rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"rid": np.arange(rows).astype(str)}
    data["segment"] = rng.choice(["Consumer", "Small business", "Enterprise"], rows)
    data["stratum"] = rng.choice([f"s{k}" for k in range(10)], rows)
    data["w"] = np.round(rng.uniform(1, 50, rows), 4)
    for k in range(ITEMS):
        for kind in "ep":
            col = rng.integers(1, 8, rows).astype(float)
            col[rng.random(rows) < 0.03] = np.nan
            data[f"{kind}{k}"] = col
    data["overall"] = rng.integers(0, 11, rows)
    frame = pd.DataFrame(data)
    frame.iloc[::1000, 4] = 9  # a few invalid rows
    frame.to_csv(path, index=False, float_format="%g")


def codebook(path: Path) -> Path:
    import yaml

    cb = {
        "id": "rid",
        "scale": {"min": 1, "max": 7},
        "items": [
            {
                "id": f"i{k}",
                "label": f"Item {k}",
                "dimension": "D",
                "expectation": f"e{k}",
                "performance": f"p{k}",
            }
            for k in range(ITEMS)
        ],
        "segments": {"segment": ["Consumer", "Small business", "Enterprise"]},
        "overall": "overall",
    }
    path.write_text(yaml.safe_dump(cb))
    return path


def child(which: str, survey: str, cb: str) -> None:
    # imports are not part of the measurement
    from analysis.config.params import DesignConfig, load_codebook
    from analysis.intake import readers, schema

    t0 = time.perf_counter()
    if which == "pandas":
        n = len(pd.read_csv(survey))
    else:
        raw = readers.read_survey(Path(survey))
        v = schema.validate(
            raw, load_codebook(Path(cb)), DesignConfig(weight="w", strata="stratum")
        )
        n = v.summary.received
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": n, "seconds": seconds, "peak_mb": peak_mb}))


def measure(which: str, survey: Path, cb: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(survey), str(cb)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(f"{'rows':>10} {'tool':<12} {'seconds':>8} {'rows/s':>10} {'peak MB':>8} {'x pandas':>8}")
    last = None
    with tempfile.TemporaryDirectory() as tmp:
        cb = codebook(Path(tmp) / "codebook.yaml")
        for rows in args.rows:
            survey = Path(tmp) / f"survey_{rows}.csv"
            write_survey(survey, rows)
            peer = measure("pandas", survey, cb)
            ours = measure("outside-in", survey, cb)
            for name, m in (("pandas", peer), ("outside-in", ours)):
                ratio = m["seconds"] / peer["seconds"]
                print(
                    f"{rows:>10,} {name:<12} {m['seconds']:>8.2f} {rows / m['seconds']:>10,.0f} "
                    f"{m['peak_mb']:>8.0f} {ratio:>8.1f}"
                )
            last = (rows, ours)
    rows, ours = last
    print(f"outside-in read+validate at {rows:,} rows: {rows / ours['seconds']:,.0f} rows/s")


if __name__ == "__main__":
    main()
