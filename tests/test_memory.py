"""Memory of large clients (issue 16 item 5): the estimation engine's blocks whatever the frame's
layout, threads only while their blocks fit the budget, and freed heap handed back after intake.

On the raked two-stage fixture of tests/fixtures/r_reference/value (item nonresponse, domains)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig, load_client
from analysis.ops import pipeline, process
from analysis.survey import calibrate, domains, estimate
from analysis.survey.design import SurveyDesign, build_design

CASE = Path(__file__).parent / "fixtures" / "r_reference" / "value"
DESIGN = DesignConfig(weight="w", strata="stratum", cluster=["psu", "ssu"])


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(CASE / "sample.csv")


@pytest.fixture(scope="module")
def design(sample: pd.DataFrame) -> SurveyDesign:
    margins = pd.read_csv(CASE / "margins.csv")
    return calibrate.calibrate(build_design(sample, DESIGN), sample, margins, method="rake")


def _values(sample: pd.DataFrame) -> np.ndarray:
    """(n, 4) C-ordered ratings with the fixture's missing answers, and one more NaN pattern."""
    cols = [c for c in ("e1", "p1", "e2", "p2") if c in sample.columns]
    a = np.ascontiguousarray(sample[cols].to_numpy(dtype=float))
    a[::7, 0] = np.nan
    return a


def test_estimates_do_not_depend_on_the_frames_memory_layout(sample, design):
    # a frame sharing a C-ordered (rows x variables) array is column-strided in pandas' block
    # layout; the row passes must still see every missing value (they once summed NaN)
    a = _values(sample)
    k = a.shape[1]
    shared = pd.DataFrame(a, columns=range(k), copy=False)
    copied = pd.DataFrame(np.asfortranarray(a).copy(), columns=range(k))
    groups = {"all": None, "segment": sample["segment"]}
    got = estimate.by(design, shared, groups, "total")
    want = estimate.by(design, copied, groups, "total")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert np.isfinite(got["estimate"]).all()
    r_got = estimate.ratios_by(design, shared, shared.iloc[:, ::-1].set_axis(range(k), axis=1),
                               groups)  # fmt: skip
    r_want = estimate.ratios_by(design, copied, copied.iloc[:, ::-1].set_axis(range(k), axis=1),
                                groups)  # fmt: skip
    pd.testing.assert_frame_equal(r_got, r_want, check_exact=True)
    assert np.isfinite(r_got["estimate"]).all() and np.isfinite(r_got["se"]).all()


def test_no_threads_when_one_variables_block_fills_the_budget(sample, design, monkeypatch):
    frame = pd.DataFrame(_values(sample))
    groups = {"all": None, "region": sample["region"]}
    want = estimate.by(design, frame, groups, "mean")

    class NoPool:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("blocks run side by side beyond BLOCK_CELLS")

    monkeypatch.setattr(domains, "THREADS", 2)
    monkeypatch.setattr(domains, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(domains, "BLOCK_CELLS", 2 * len(sample))  # under one variable's arrays
    monkeypatch.setattr(domains, "ThreadPoolExecutor", NoPool)
    got = estimate.by(design, frame, groups, "mean")
    # blocks of one variable: the same sums, in another order within the variance's chunks
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)


def test_intake_hands_freed_memory_back(monkeypatch, demo_root):
    calls: list[int] = []
    monkeypatch.setattr(process, "release_freed_memory", lambda: calls.append(1) or True)
    data = pipeline.intake(load_client("params/demo.yaml", root=demo_root))
    assert calls == [1] and len(data.clean) > 0


def test_release_freed_memory_returns_heap_on_glibc():
    import sys

    blocks = [bytes(1000) for _ in range(200_000)]  # ~200 MB of small objects, then freed
    del blocks
    released = process.release_freed_memory()
    assert released is (sys.platform.startswith("linux") or released)
