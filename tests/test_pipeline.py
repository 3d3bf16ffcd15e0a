"""Pipeline wiring: params sections reach the modules that act on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.config.params import load_client
from analysis.intake import readers
from analysis.ops import pipeline
from analysis.survey.calibrate import weighting_summary


def _with_weighting(root: Path, **weighting: object) -> None:
    path = root / "params" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["weighting"].update(weighting)
    path.write_text(yaml.safe_dump(data))


def _nonresponse_adjusted(root: Path) -> None:
    """Base weights that already stand for the customer base per stratum (as a nonresponse-
    adjusted weight would), so calibration factors sit around 1."""
    path = root / "data" / "raw" / "demo" / "responses.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    w = pd.to_numeric(frame["base_weight"], errors="coerce")
    ok = w > 0
    counts = {"CON": 50996, "SMB": 7145, "ENT": 1859}  # the demo's segment counts
    factor = frame["stratum"].map(counts) / w.where(ok).groupby(frame["stratum"]).transform("sum")
    frame.loc[ok, "base_weight"] = (w * factor)[ok].map(lambda v: f"{v:.6f}")
    frame.to_csv(path, index=False)


def test_weighting_bounds_reach_the_calibration(demo_root: Path) -> None:
    _nonresponse_adjusted(demo_root)
    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    free = weighting_summary(pipeline.survey_design(client, clean))
    assert free["adjustment_max"] > 1.52  # so the upper bound below binds

    _with_weighting(demo_root, method="linear", bounds=[0.5, 1.5])
    client = load_client("params/demo.yaml", root=demo_root)
    design = pipeline.survey_design(client, clean)
    g = design.adjustment
    assert g.min() >= 0.5 - 1e-9 and g.max() <= 1.5 + 1e-9
    margins = readers.read_margins(client.margins_path)
    for variable in ("segment", "region"):  # the margins are still met exactly
        want = margins[margins["variable"] == variable].set_index("level")["count"]
        got = clean.assign(w=design.weights).groupby(variable, observed=True)["w"].sum()
        np.testing.assert_allclose(got.reindex(want.index).to_numpy(), want.to_numpy(), rtol=1e-6)


def test_r_rake_variance_reaches_the_gap_table(demo_root: Path) -> None:
    """``weighting.variance: r-rake`` changes the standard errors (R's rake() residuals; the demo's
    base weights vary within the margin cells) and nothing else."""
    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    greg = pipeline.gap_table(client, clean, pipeline.survey_design(client, clean))
    _with_weighting(demo_root, variance="r-rake")
    client = load_client("params/demo.yaml", root=demo_root)
    rake = pipeline.gap_table(client, clean, pipeline.survey_design(client, clean))
    np.testing.assert_allclose(rake["gap"], greg["gap"], rtol=1e-12)
    ratio = (rake["se"] / greg["se"]).to_numpy()
    assert np.all(np.isfinite(ratio)) and np.max(np.abs(ratio - 1)) > 1e-3


def test_previous_wave_is_read_without_writing(demo_root: Path) -> None:
    shutil.copy(demo_root / "params" / "demo.yaml", demo_root / "params" / "demo-2025.yaml")
    path = demo_root / "params" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["previous"] = "params/demo-2025.yaml"
    path.write_text(yaml.safe_dump(data))
    client = load_client("params/demo.yaml", root=demo_root)
    [(prev, clean, _)] = pipeline.previous_waves(client)
    assert prev.params_file.name == "demo-2025.yaml" and len(clean) == 1723
    assert not (demo_root / "data" / "processed").exists()


def test_perception_gap_of_the_demo_staff_survey(demo_root: Path) -> None:
    from analysis.ops.demo import STAFF_BIAS

    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    table = pipeline.perception_gap(client, clean, pipeline.survey_design(client, clean))
    staff = readers.read_survey(client.staff_path).frame
    rejected = pd.read_csv(demo_root / "data/processed/demo/staff_rejected.csv")
    assert len(rejected) == 3  # the off-scale rating and both copies of the duplicated id
    assert table["n_staff"].between(len(staff) - 3 - 10, len(staff) - 3).all()  # a few blanks
    by_dim = table.groupby("dimension")
    clear = table["p_adjusted"] < 0.05
    # staff underestimate Responsiveness and overrate Tangibles, as simulated
    assert STAFF_BIAS["Responsiveness"] < 0 and STAFF_BIAS["Tangibles"] > 0
    assert (by_dim["difference"].mean()["Responsiveness"]) < -0.4
    assert (by_dim["difference"].mean()["Tangibles"]) > 0.1
    assert clear[table["dimension"] == "Responsiveness"].all()
    written = pd.read_csv(demo_root / "data/processed/demo/perception_gap.csv")
    assert len(written) == 20 and "difference" in written


def test_staff_survey_needs_a_staff_section(demo_root: Path) -> None:
    from analysis.errors import ParamsError

    cb = demo_root / "data/raw/demo/codebook.yaml"
    data = yaml.safe_load(cb.read_text())
    del data["staff"]
    cb.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match="has no 'staff' section"):
        load_client("params/demo.yaml", root=demo_root)


def test_perception_gap_section(demo_root: Path) -> None:
    import re

    from analysis.report import perception

    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    table = pipeline.perception_gap(client, clean, pipeline.survey_design(client, clean))
    story = perception.perception_section(table, 0.95, 5).data
    html = perception.perception_section(table, 0.95, 5, part="detail").data
    under = table[(table["p_adjusted"] < 0.05) & (table["difference"] < 0)]
    assert f"<strong>{len(under)}</strong> attributes" in story
    assert html.count("Staff underestimate") == len(under)
    worst = table.loc[table["difference"].idxmin()]
    assert f"{worst['difference']:.2f}".replace("-", "−") in html
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>', html)
    assert len(rows) == 20 and rows[0] == worst["label"]  # most underestimated first


def _with_design(root: Path, **design: object) -> None:
    path = root / "params" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["design"].update(design)
    path.write_text(yaml.safe_dump(data))


def test_design_variance_gives_the_design_recalibrated_replicates(demo_root: Path) -> None:
    """design.variance: bootstrap with a bounded linear calibration: every replicate calibrated
    one by one as the full sample (margins met, factors within the bounds), seeded by
    analysis.seed; every estimate then takes its variance from them, with R's degf."""
    _nonresponse_adjusted(demo_root)
    _with_weighting(demo_root, method="linear", bounds=[0.5, 2.0])
    _with_design(demo_root, variance="bootstrap", replicates=20)
    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    design = pipeline.survey_design(client, clean)
    rep = design.replicates
    assert design.variance_method == "bootstrap" and rep.n_replicates == 20
    assert design.df == 19  # R: rank of the recalibrated replicate weights - 1
    w = rep.weights(design)
    base = design.base_weights[None, :] * rep.factors().T[:, design.psu]
    drawn = base > 0
    g = w[drawn] / base[drawn]
    assert g.min() >= 0.5 - 1e-9 and g.max() <= 2.0 + 1e-9
    margins = readers.read_margins(client.margins_path)
    for variable in ("segment", "region"):
        want = margins[margins["variable"] == variable].set_index("level")["count"]
        for level, count in want.items():
            inside = (clean[variable].astype(str) == level).to_numpy()
            np.testing.assert_allclose(w[:, inside].sum(axis=1), count, rtol=1e-6)
    again = pipeline.survey_design(client, clean).replicates
    np.testing.assert_array_equal(again.factors(), rep.factors())
    table = pipeline.gap_table(client, clean, design)
    assert (table["df"] == 19).all()
    taylor = pipeline.gap_table(client, clean, design.with_replicates(None))
    assert not np.allclose(table["se"], taylor["se"], rtol=1e-3, equal_nan=True)
    np.testing.assert_allclose(table["gap"], taylor["gap"], rtol=1e-12)


def test_design_variance_jk1_of_a_stratified_design_is_refused_by_name(demo_root: Path) -> None:
    from analysis.errors import DesignError

    _with_design(demo_root, variance="jk1")
    client = load_client("params/demo.yaml", root=demo_root)
    clean = pipeline.read_and_validate(client).clean
    with pytest.raises(DesignError, match=r"design\.variance: jk1.*unstratified.*jkn"):
        pipeline.survey_design(client, clean)
