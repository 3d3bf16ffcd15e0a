"""The raked per-level variance without a unit x level grid (variance.calibrated_stage_variance)
gives the numbers of the grid path it replaces: the residual of every unit formed and summed. The
contrasts from one pass (variance.linear_stage_variance: every level against the rest, and level
against level, from the pairs' scatter) give the numbers of the per-contrast grid
(domains._contrast_variance_grid: each contrast's unit totals formed, residualised and summed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.survey import domains, estimate
from analysis.survey.calibrate import calibrate
from analysis.survey.design import build_design


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    frame = pd.DataFrame(
        {
            "stratum": stratum,
            "psu": [f"{s}{k}" for s, k in zip(stratum, rng.integers(0, 6, n), strict=True)],
            "w": rng.uniform(0.5, 3.0, n),
            "segment": rng.choice(["x", "y", "z"], n),
            "region": rng.choice(["n", "s"], n),
        }
    )
    for j in range(4):
        y = rng.normal(4.0 + j, 1.0, n)
        y[rng.random(n) < 0.1] = np.nan
        frame[f"y{j}"] = y
    frame["is_x"] = (frame["segment"] == "x").astype(float)  # a calibration variable itself
    return frame


def _margins(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for var in ("segment", "region"):
        counts = frame.groupby(var)["w"].sum() * 1.1
        rows += [{"variable": var, "level": lev, "count": c} for lev, c in counts.items()]
    return pd.DataFrame(rows)


def _grid_path(monkeypatch: pytest.MonkeyPatch) -> None:
    original = domains._Context

    def without_absent(*args: object, **kwargs: object) -> domains._Context:
        return original(*args[:-1], None, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(domains, "_Context", without_absent)


@pytest.mark.parametrize(
    ("cluster", "extra_stratum"),
    [(None, False), ("psu", False), (None, True)],
    ids=["own-psu", "clustered", "lonely-stratum"],
)
@pytest.mark.parametrize("lonely", ["adjust", "average", "remove"])
def test_raked_levels_match_the_grid(
    monkeypatch: pytest.MonkeyPatch, cluster: str | None, extra_stratum: bool, lonely: str
) -> None:
    frame = _frame(7, 600)
    if extra_stratum:  # one respondent alone in its stratum: a lonely PSU
        frame.loc[0, "stratum"] = "lonely"
    design = build_design(
        frame, DesignConfig(weight="w", strata="stratum", cluster=cluster, lonely_psu=lonely)
    )
    design = calibrate(design, frame, _margins(frame), "rake")
    values = frame[["y0", "y1", "y2", "y3", "is_x"]]
    groups = {"all": None, "segment": frame["segment"], "region": frame["region"]}
    fast = estimate.means_by(design, values, groups)
    totals_fast = estimate.by(design, values, groups, "total")
    _grid_path(monkeypatch)
    grid = estimate.means_by(design, values, groups)
    totals_grid = estimate.by(design, values, groups, "total")
    for a, b in ((fast, grid), (totals_fast, totals_grid)):
        assert np.isfinite(a["se"]).sum() > 20
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12, atol=1e-12)
        # deff of a variable constant in its domain is rounding noise / 0 (+-inf) in both paths
        finite = np.isfinite(b["deff"].to_numpy())
        np.testing.assert_array_equal(np.isfinite(a["deff"].to_numpy()), finite)
        np.testing.assert_allclose(a["deff"][finite], b["deff"][finite], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(a["estimate"], b["estimate"])


def _grid_contrasts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Contrast variances from the unit x column grid (the reference)."""

    def grid(
        ctx: domains._Context,
        gl: domains._GroupLayout,
        request: domains.Request,
        sums: domains._Sums,
        levels: domains._Domain,
        pair: tuple[domains._Domain, domains._Domain],
    ) -> np.ndarray:
        return domains._contrast_variance_grid(ctx, gl, request, sums, pair)

    monkeypatch.setattr(domains, "_contrast_variance", grid)


@pytest.mark.parametrize("raked", [True, False], ids=["raked", "uncalibrated"])
@pytest.mark.parametrize(
    ("cluster", "extra_stratum"),
    [(None, False), ("psu", False), (None, True)],
    ids=["own-psu", "clustered", "lonely-stratum"],
)
@pytest.mark.parametrize("lonely", ["adjust", "average", "remove"])
def test_one_pass_contrasts_match_the_grid(
    monkeypatch: pytest.MonkeyPatch, cluster: str | None, extra_stratum: bool, lonely: str,
    raked: bool,
) -> None:  # fmt: skip
    frame = _frame(11, 500)
    if extra_stratum:
        frame.loc[0, "stratum"] = "lonely"
    frame["domain"] = frame["segment"].where(frame.index != 3)  # row 3: in neither
    design = build_design(
        frame, DesignConfig(weight="w", strata="stratum", cluster=cluster, lonely_psu=lonely)
    )
    if raked:
        design = calibrate(design, frame, _margins(frame), "rake")
    values = frame[["y0", "y1", "y2", "y3", "is_x"]]
    groups = {"segment": frame["segment"], "domain": frame["domain"], "region": frame["region"]}
    fast = estimate.versus_rest(design, values, groups)
    pair = estimate.difference(design, values, frame["segment"], "x", "z")
    test = estimate.ttest(design, frame["y1"], frame["region"])
    _grid_contrasts(monkeypatch)
    grid = estimate.versus_rest(design, values, groups)
    pair_grid = estimate.difference(design, values, frame["segment"], "x", "z")
    test_grid = estimate.ttest(design, frame["y1"], frame["region"])
    assert np.isfinite(fast["se"]).sum() == len(fast) and (fast["se"] > 0.01).sum() > 20
    for a, b in ((fast, grid), (pair, pair_grid)):
        np.testing.assert_allclose(a["se"], b["se"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a["p_value"], b["p_value"], rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(a["estimate"], b["estimate"])
    assert test.se == pytest.approx(test_grid.se, rel=1e-12)
    # is_x against the rest of the segment levels: explained by the raking, SE 0 (to rounding)
    x_rows = fast[(fast["variable"] == "is_x") & (fast["group"] == "segment")]
    if raked:
        assert (x_rows["se"] < 1e-12).all()
