"""Benchmark: ``outside-in new-client`` on a large Qualtrics export, against reading the file.

The export is written the way Qualtrics writes it (three header rows, BOM, 17 metadata columns,
4 importance/satisfaction pairs, 2 segments, two 0-10 scores and an open comment; the test
fixture of tests/export_writers.py) with ``--rows`` respondents. Measured, each in a fresh
process: ``outside-in new-client`` (imports, read, draft, write), and the peer
``analysis.intake.readers.read_survey`` of the same file (the floor the draft pays: it reads the
export once). The ratio says what the drafting itself costs over reading.

    .venv/bin/python bench/bench_draft.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READ = "import sys; from analysis.intake import readers; readers.read_survey(sys.argv[1])"


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one command in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))
    from export_writers import write_qualtrics

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export = write_qualtrics(root / "export.csv", n=args.rows).path
        size = export.stat().st_size / 1e6
        bin_dir = Path(sys.executable).parent
        draft = timed(
            [str(bin_dir / "outside-in"), "new-client", "big", "--survey", str(export),
             "--root", str(root)]
        )  # fmt: skip
        read = timed([sys.executable, "-c", READ, str(export)])
    print(f"Qualtrics export: {args.rows:,} rows, {size:.1f} MB")
    print(f"outside-in new-client: {draft[0]:.2f} s wall, {draft[1]:.2f} s cpu")
    print(f"peer read_survey:      {read[0]:.2f} s wall, {read[1]:.2f} s cpu")
    print(f"new-client / read: {draft[0] / read[0]:.2f}x wall")


if __name__ == "__main__":
    main()
