"""The demo client's weighted gap estimates recover its population truth; unweighted ones miss.

The demo sample is disproportionate (Enterprise oversampled) with segment- and region-dependent
nonresponse, and Enterprise customers have larger shortfalls; so the unweighted mean gap is biased
toward them, while the design (base weights, raked to the customer base) is not. The estimates
are those of the session's demo run (conftest ``demo_run``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig, load_client
from analysis.cx import gaps
from analysis.survey.design import build_design


@pytest.fixture(scope="module")
def demo(demo_run) -> dict:
    """The session's demo run: its (raked) gap table and row counts, and the unweighted gaps of
    the rows it accepted."""
    client = load_client("params/demo.yaml", root=demo_run.root)
    clean = pd.read_parquet(demo_run.processed / "clean.parquet")
    srs = build_design(clean, DesignConfig())
    return {
        "raked": pd.read_csv(demo_run.processed / "gap_table.csv"),
        "unweighted": gaps.gap_table(srs, clean, client.codebook, by=["segment"]),
        "truth": pd.read_csv(demo_run.root / "data" / "raw" / "demo" / "truth.csv"),
        "rows": json.loads((demo_run.processed / "validation.json").read_text()),
    }


def _z(table: pd.DataFrame, truth: pd.DataFrame, group: str = "all") -> pd.Series:
    est = table[table["group"] == group].set_index(["item", "level"])
    tru = truth[truth["group"] == group].set_index(["item", "level"])["gap"]
    joined = est.join(tru.rename("truth"), how="inner")
    assert len(joined) == len(est)
    return (joined["gap"] - joined["truth"]) / joined["se"]


def test_demo_rows_are_accounted_for(demo: dict) -> None:
    s = demo["rows"]
    assert s["received"] == 1733 and s["rejected"] == 10 and s["accepted"] == 1723


def test_weighted_gaps_recover_the_truth(demo: dict) -> None:
    z = _z(demo["raked"], demo["truth"])
    assert len(z) == 20
    assert (z.abs() < 3).all(), z.sort_values()
    assert abs(z.mean()) < 1.0  # no systematic bias across items
    overall = demo["raked"][demo["raked"]["group"] == "all"].set_index("item")
    truth = demo["truth"][demo["truth"]["group"] == "all"].set_index("item")["gap"]
    truth = truth.reindex(overall.index)
    covered = (overall["ci_low"] <= truth) & (truth <= overall["ci_high"])
    assert covered.mean() >= 0.85  # 95% intervals: about 19 of 20 items


def test_unweighted_gaps_miss_the_truth(demo: dict) -> None:
    z = _z(demo["unweighted"], demo["truth"])
    assert (z < -3).sum() >= 5, z.sort_values()  # biased toward the oversampled Enterprise
    assert z.mean() < -2


def test_segment_gaps_recover_the_truth(demo: dict) -> None:
    z = _z(demo["raked"], demo["truth"], group="segment")
    assert len(z) == 60
    assert (z.abs() < 3.5).mean() == 1.0 and np.mean(np.abs(z) < 2) > 0.85
