"""Small-sample corrections of the Taylor variance (``weighting.small_sample``, issue 11).

The engine (:mod:`analysis.survey.small_sample` inside :mod:`analysis.survey.domains`) must equal
the coverage study's reference (``bench/small_sample.py``: the rows' linearised values, their
residuals on the calibration basis, ``A_c r_c`` per PSU) to 1e-10 in SE and df, on the study's
design and on domains (segments, regions, contrasts, item nonresponse); and a tiny design is
checked against the dense matrix formula written out here (``n x n`` hat matrix, ``A_c`` from
the PSU's ``n_c x n_c`` block).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import coverage_study as study  # bench/ is not a package
import small_sample as reference

from analysis.config.params import DesignConfig
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import estimate, replicates
from analysis.survey import small_sample as engine
from analysis.survey.design import SurveyDesign, build_design

#: The engine's option -> the reference's scaling.
SCALING = {"bell-mccaffrey": "brl", "mancl-derouen": "mancl-derouen"}
TOL = 1e-10


@cache
def sample() -> tuple[pd.DataFrame, pd.DataFrame, SurveyDesign]:
    """A clustered sample of the coverage study, its margins and its (unraked) design."""
    pop = study.build_population()
    frame = study.draw_clustered(pop, np.random.default_rng(5))
    return frame, pop.margins, build_design(frame, study.DESIGNS["clustered"][1])


@cache
def raked(method: str) -> SurveyDesign:
    frame, margins, design = sample()
    return weighting.calibrate(design, frame, margins, method="rake", small_sample=method)


def ytilde_mean(design: SurveyDesign, y: np.ndarray, domain: np.ndarray) -> np.ndarray:
    """A domain mean's linearised values ``1_d (y - mean_d) / sum_d w`` (``d`` answered too)."""
    d = domain & np.isfinite(y)
    wd = np.where(d, design.weights, 0.0)
    mean = np.dot(wd, np.where(d, y, 0.0)) / wd.sum()
    return np.where(d, y - mean, 0.0) / wd.sum()


def reference_se(design: SurveyDesign, method: str, ytilde: np.ndarray) -> tuple[np.ndarray, float]:
    lin = reference.Linearisation.of(design, ytilde)
    out = lin.corrected(SCALING[method])
    return out.se, out.bm_df


def close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=TOL, atol=0.0)


# ---------------------------------------------------------------------------------------------
# the engine equals the reference


@pytest.mark.parametrize("method", list(SCALING))
def test_coverage_study_estimands_equal_the_reference(method: str) -> None:
    frame, _, _ = sample()
    design = raked(method)
    est, se = study.taylor(design, frame)  # means of the gaps and NPS, Enterprise - rest
    want, bm_df = reference_se(design, method, study.influence(design, frame))
    close(se, want)
    if method == "bell-mccaffrey":
        assert design.df == pytest.approx(bm_df, rel=TOL)
        assert design.df != round(design.df)  # not an integer
    else:
        assert design.df == 80  # df unchanged
    # the correction enlarges the SEs here
    plain = study.taylor(raked("none"), frame)[1]
    assert (se > plain).all()
    np.testing.assert_allclose(est, study.taylor(raked("none"), frame)[0], rtol=1e-13)


@pytest.mark.parametrize("method", list(SCALING))
def test_domains_and_contrasts_equal_the_reference(method: str) -> None:
    frame, _, _ = sample()
    design = raked(method)
    items = [f"gap_{j + 1}" for j in range(study.ITEMS)]
    y = frame[items].to_numpy(dtype=float)
    groups = {"segment": frame["segment"], "region": frame["region"]}
    table = estimate.by(design, frame[items], {"all": None, **groups}, deff=False)
    columns, expected_rows = [], []
    everyone = np.ones(len(frame), dtype=bool)
    for j in range(len(items)):
        columns.append(ytilde_mean(design, y[:, j], everyone))
        expected_rows.append(("all", items[j], "all"))
    for name, labels in groups.items():
        for j in range(len(items)):
            for level in sorted(labels.unique()):
                columns.append(ytilde_mean(design, y[:, j], (labels == level).to_numpy()))
                expected_rows.append((name, items[j], level))
    want, bm_df = reference_se(design, method, np.column_stack(columns))
    got = table.set_index(["group", "variable", "domain"]).loc[expected_rows]
    close(got["se"].to_numpy(), want)
    df = got["df"].to_numpy()
    assert np.all(df == design.df)
    if method == "bell-mccaffrey":
        assert df.dtype == float and df[0] == pytest.approx(bm_df, rel=TOL)

    # contrasts: a pair of regions, each region against the rest, a t-test
    region = frame["region"].to_numpy()
    pair = estimate.difference(design, frame[items], frame["region"], "North", "East")
    rest = estimate.versus_rest(design, frame[items], {"region": frame["region"]})
    test = estimate.ttest(design, frame["gap_2"], frame["region"], levels=("North", "East"))
    cols = [
        ytilde_mean(design, y[:, j], region == "North")
        - ytilde_mean(design, y[:, j], region == "East")
        for j in range(len(items))
    ]
    rest_levels = sorted(set(region))
    for level in rest_levels:
        cols += [
            ytilde_mean(design, y[:, j], region == level)
            - ytilde_mean(design, y[:, j], region != level)
            for j in range(len(items))
        ]
    want, _ = reference_se(design, method, np.column_stack(cols))
    close(pair["se"].to_numpy(), want[: len(items)])
    close(rest["se"].to_numpy(), want[len(items) :])
    assert test.se == pytest.approx(want[1], rel=TOL)
    if method == "bell-mccaffrey":  # its df is the design's, whatever the rows
        assert test.df == design.df
    else:  # df unchanged: R's svyglm residual df of the rows used
        plain = estimate.ttest(raked("none"), frame["gap_2"], frame["region"], ("North", "East"))
        assert test.df == plain.df
    assert np.all(pair["df"].to_numpy() == design.df)
    assert np.all(rest["df"].to_numpy() == design.df)


def test_totals_and_proportions_equal_the_reference() -> None:
    frame, _, _ = sample()
    design = raked("bell-mccaffrey")
    y = frame["gap_1"].to_numpy(dtype=float)
    tot = estimate.totals(design, frame["gap_1"], deff=False)
    want, _ = reference_se(design, "bell-mccaffrey", np.where(np.isfinite(y), y, 0.0)[:, None])
    close(tot["se"].to_numpy(), want)
    props = estimate.proportions(design, frame["segment"], deff=False)
    seg = frame["segment"].to_numpy()
    everyone = np.ones(len(frame), dtype=bool)
    cols = [ytilde_mean(design, (seg == c).astype(float), everyone) for c in props["category"]]
    want, _ = reference_se(design, "bell-mccaffrey", np.column_stack(cols))
    # a raking margin: its proportions are fixed by the calibration (SE ~ 0 either way)
    np.testing.assert_allclose(props["se"].to_numpy(), want, rtol=0, atol=1e-12)


def test_none_is_todays_variance_with_integer_df() -> None:
    frame, margins, design = sample()
    plain = weighting.calibrate(design, frame, margins, method="rake")
    a = estimate.means(plain, frame[["gap_1", "nps"]])
    b = estimate.means(raked("none"), frame[["gap_1", "nps"]])
    pd.testing.assert_frame_equal(a, b)
    assert a["df"].dtype == np.int64 and plain.df == 80 and plain.small_sample == "none"


# ---------------------------------------------------------------------------------------------
# the dense formula, by hand


def tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 strata x (2, 3, 2) PSUs of 1-5 respondents, unequal base weights, raked on one margin."""
    rng = np.random.default_rng(11)
    sizes = [[3, 2], [4, 1, 3], [5, 2]]
    rows = []
    psu = 0
    for h, psus in enumerate(sizes):
        for size in psus:
            for _ in range(size):
                rows.append(
                    {
                        "stratum": f"s{h}",
                        "psu": psu,
                        "w": float(rng.uniform(5, 40)),
                        "segment": str(rng.choice(["a", "b"])),
                        "y": float(rng.integers(1, 8)),
                    }
                )
            psu += 1
    frame = pd.DataFrame(rows)
    frame.loc[3, "y"] = np.nan  # item nonresponse
    margins = pd.DataFrame(
        {"variable": ["segment", "segment"], "level": ["a", "b"], "count": [300.0, 500.0]}
    )
    return frame, margins


def dense_variance(
    frame: pd.DataFrame, design: SurveyDesign, method: str, ytilde: np.ndarray
) -> tuple[float, float]:
    """SE and Bell-McCaffrey df from the n x n matrices: H = Q Q', A_c from H's PSU blocks."""
    w0, w = design.base_weights, design.weights
    x = (frame["segment"].to_numpy()[:, None] == np.array(["a", "b"])).astype(float)
    q = linalg.orth(np.sqrt(w0)[:, None] * x)
    wq = w / w0 * np.sqrt(w0)
    n = len(frame)
    resid = np.eye(n) - q @ q.T
    psu = frame["psu"].to_numpy()
    units = np.unique(psu)
    a = np.zeros((n, n))
    power = -0.5 if method == "bell-mccaffrey" else -1.0
    for c in units:
        rows = np.flatnonzero(psu == c)
        lam, vec = np.linalg.eigh(np.eye(rows.size) - q[rows] @ q[rows].T)
        a[np.ix_(rows, rows)] = (vec * lam**power) @ vec.T
    b = (psu[None, :] == units[:, None]) * wq[None, :]  # (G, n): sum of wq over a PSU's rows
    lmat = b @ a @ resid  # z = L u
    strat = frame.groupby("psu")["stratum"].first().loc[units].to_numpy()
    cmat = np.zeros((units.size, units.size))
    for h in np.unique(strat):
        idx = np.flatnonzero(strat == h)
        n_h = idx.size
        cmat[np.ix_(idx, idx)] = n_h / (n_h - 1) * (np.eye(n_h) - 1.0 / n_h)
    z = lmat @ (np.sqrt(w0) * ytilde)
    omega = lmat @ lmat.T
    co = cmat @ omega
    return float(np.sqrt(z @ cmat @ z)), float(np.trace(co) ** 2 / np.trace(co @ co))


@pytest.mark.parametrize("method", list(SCALING))
def test_tiny_design_equals_the_dense_formula(method: str) -> None:
    frame, margins = tiny()
    design = build_design(frame, DesignConfig(weight="w", strata="stratum", cluster="psu"))
    design = weighting.calibrate(design, frame, margins, method="rake", small_sample=method)
    got = estimate.means(design, frame["y"], deff=False)
    y = frame["y"].to_numpy()
    se, df = dense_variance(frame, design, method, ytilde_mean(design, y, np.ones(len(y), bool)))
    assert got["se"].iloc[0] == pytest.approx(se, rel=TOL)
    if method == "bell-mccaffrey":
        assert got["df"].iloc[0] == pytest.approx(df, rel=TOL)
    else:
        assert got["df"].iloc[0] == 7 - 3
    seg = frame["segment"].to_numpy()
    by_seg = estimate.means(design, frame["y"], frame["segment"], deff=False)
    want = [
        dense_variance(frame, design, method, ytilde_mean(design, y, seg == s))[0]
        for s in ("a", "b")
    ]
    np.testing.assert_allclose(by_seg["se"].to_numpy(), want, rtol=TOL)


# ---------------------------------------------------------------------------------------------
# singular blocks and what the option refuses


def test_singular_psu_blocks_give_finite_standard_errors() -> None:
    """A PSU of one row (M_c of rank 1 < r) and a PSU that alone holds a margin level (an
    eigenvalue 1 of M_c: its leverage in that direction is 1)."""
    frame, margins = tiny()
    frame = frame.copy()
    lone = frame.index[frame["psu"] == 3]  # the one-row PSU
    frame["region"] = "r1"
    frame.loc[lone, "region"] = "r2"
    margins = pd.concat(
        [
            margins,
            pd.DataFrame(
                {"variable": ["region", "region"], "level": ["r1", "r2"], "count": [700.0, 100.0]}
            ),
        ],
        ignore_index=True,
    )
    design = build_design(frame, DesignConfig(weight="w", strata="stratum", cluster="psu"))
    for method in SCALING:
        cal = weighting.calibrate(design, frame, margins, method="rake", small_sample=method)
        out = estimate.means(cal, frame["y"], frame["segment"], deff=False)
        assert np.isfinite(out["se"]).all() and (out["se"] > 0).all()
        if method == "bell-mccaffrey":
            assert np.isfinite(cal.df) and cal.df > 0
    m = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.3, 0.1], [0.1, 0.2]]])
    f = engine.matrix_function(m, "mancl-derouen")
    assert np.isfinite(f).all() and f[0, 0, 0] == 0.0  # leverage 1: no correction
    np.testing.assert_allclose(f[1] @ m[1], np.linalg.inv(np.eye(2) - m[1]) @ m[1], rtol=1e-12)


def test_the_option_refuses_designs_it_does_not_cover() -> None:
    frame, margins, design = sample()
    with pytest.raises(DesignError, match="is not one of none, bell-mccaffrey, mancl-derouen"):
        weighting.calibrate(design, frame, margins, small_sample="cr2")
    with pytest.raises(DesignError, match="r-rake reproduces R's rake"):
        weighting.calibrate(design, frame, margins, variance="r-rake", small_sample="mancl-derouen")
    once = weighting.calibrate(design, frame, margins)
    with pytest.raises(DesignError, match="calibrated once"):
        weighting.calibrate(once, frame, margins, small_sample="bell-mccaffrey")
    corrected = raked("bell-mccaffrey")
    reps = replicates.replicate_weights(
        corrected, "JKn", recalibrate=replicates.raking_recalibrator(corrected, frame)
    )
    with pytest.raises(DesignError, match=r"applies to Taylor variance; design\.variance is JKn"):
        corrected.with_replicates(reps)
