"""Trend over many waves (analysis.cx.trend): the panel's change agrees with R's svycontrast on
the joined design, the independent change by hand, the multi-wave table's shape, comparability
notes, and the demo's earlier waves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.config.params import Codebook, DesignConfig, load_client
from analysis.cx import gaps
from analysis.cx import trend as trend_mod
from analysis.ops import demo, pipeline
from analysis.survey.design import build_design

ROOT = Path(__file__).resolve().parents[1]
PANEL = Path(__file__).parent / "fixtures" / "panel_trend"


def _codebook(items: list[tuple[str, str, str]], scale: tuple[int, int] = (1, 7)) -> Codebook:
    return Codebook(
        id="respondent_id",
        scale={"min": scale[0], "max": scale[1]},
        items=[
            {
                "id": i,
                "label": lab,
                "dimension": d,
                "expectation": f"e_{i}",
                "performance": f"p_{i}",
            }
            for i, lab, d in items
        ],
        segments={"seg": ["A", "B"]},
    )


BOOK = _codebook([("a", "Item a", "D"), ("b", "Item b", "D")])


def _wave(frame: pd.DataFrame, name: str, book: Codebook = BOOK) -> trend_mod.Wave:
    frame = frame.reset_index(drop=True)
    design = build_design(frame, DesignConfig(weight="w"))
    table = gaps.gap_table(design, frame, book, by=["seg"])
    return trend_mod.Wave(
        name=name, label=name, gaps=table, codebook=book, clean=frame, design=design
    )


@pytest.fixture(scope="module")
def panel() -> tuple[trend_mod.Wave, trend_mod.Wave]:
    data = pd.read_csv(PANEL / "panel.csv")
    return _wave(data[data["wave"] == "w1"], "w1"), _wave(data[data["wave"] == "w2"], "w2")


def test_panel_change_agrees_with_r_svycontrast_on_the_joined_design(panel):
    want = pd.read_csv(PANEL / "expected.csv").astype({"level": str})
    got = trend_mod.panel_changes(*panel, by=["seg"])
    merged = want.merge(got, on=["item", "group", "level"], suffixes=("_r", ""))
    assert len(merged) == len(want) == 6
    np.testing.assert_allclose(merged["change"], merged["change_r"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(merged["se"], merged["se_r"], rtol=1e-9)
    assert (merged["df"] == merged["df_r"]).all()  # 150 respondents - 1


def test_panel_trend_uses_the_covariance_and_the_independent_one_does_not(panel):
    indep = trend_mod.trend(panel, by=["seg"])
    pan = trend_mod.trend(panel, by=["seg"], kind="panel")
    last_i, last_p = trend_mod.current_rows(indep), trend_mod.current_rows(pan)
    np.testing.assert_allclose(last_p["change"], last_i["change"])  # same estimates
    # the same people rate alike in both waves: positive covariance, a smaller SE
    assert (last_p["se"] < last_i["se"]).all()
    r = pd.read_csv(PANEL / "expected.csv")
    np.testing.assert_allclose(
        last_p.set_index(["item", "level"]).loc[("a", "all"), "se"],
        r.set_index(["item", "level"]).loc[("a", "all"), "se"],
        rtol=1e-9,
    )
    first = panel[0].gaps.set_index(["item", "level"])
    prev = indep.iloc[: len(first)].set_index(["item", "level"])
    np.testing.assert_allclose(
        last_i["se"],
        np.hypot(
            last_i.set_index(["item", "level"])["gap_se"], first.loc[prev.index, "se"]
        ).to_numpy(),
    )


def test_panel_without_a_shared_respondent_is_an_error(panel):
    a, b = panel
    renamed = a.clean.assign(respondent_id="X" + a.clean["respondent_id"])
    with pytest.raises(Exception, match="no respondent id of w2 occurs in w1"):
        trend_mod.trend([_wave(renamed, "w1"), b], kind="panel")


def _gap_row(gap: float, se: float, n: int, df: int) -> pd.DataFrame:
    return pd.DataFrame(
        [["a", "A", "D", "all", "all", n, gap, se, df, 0.5, 0.02]],
        columns=[*gaps.GAP_COLUMNS[:6], "gap", "se", "df", "share_met", "share_met_se"],
    )


def test_three_independent_waves_by_hand():
    waves = [
        trend_mod.Wave(name=f"w{k}", label=f"W{k}", gaps=_gap_row(g, s, n, df))
        for k, (g, s, n, df) in enumerate(
            [(-1.0, 0.3, 100, 90), (-0.6, 0.4, 120, 110), (-0.2, 0.3, 90, 80)]
        )
    ]
    out = trend_mod.trend(waves)
    assert list(out.columns) == trend_mod.TREND_COLUMNS
    assert out["wave_order"].tolist() == [1, 2, 3] and out["wave_label"].tolist() == [
        "W0",
        "W1",
        "W2",
    ]
    assert out.loc[0, ["change", "se", "change_first"]].isna().all()
    last = out.iloc[2]
    assert last["change"] == pytest.approx(0.4) and last["se"] == pytest.approx(0.5)
    assert last["df"] == 190 and last["gap_previous"] == pytest.approx(-0.6)
    assert last["change_first"] == pytest.approx(0.8)
    assert last["se_first"] == pytest.approx(np.hypot(0.3, 0.3))
    assert last["df_first"] == 170 and last["gap_first"] == pytest.approx(-1.0)
    assert last["p_value_first"] == pytest.approx(2 * stats.t.sf(0.8 / np.hypot(0.3, 0.3), 170))
    assert last["p_value"] == pytest.approx(2 * stats.t.sf(0.8, 190))
    # the second wave's change from the first is its change from the wave before
    assert out.loc[1, "change_first"] == pytest.approx(out.loc[1, "change"])
    with pytest.raises(ValueError, match="at least two waves"):
        trend_mod.trend(waves[:1])


def test_multi_wave_table_shape_and_suppression(panel):
    a, b = panel
    small = a.clean.copy()
    small.loc[small.index[:-3], "seg"] = "A"  # three respondents in B in the first wave
    waves = [_wave(small, "w0"), a, b]
    out = trend_mod.trend(waves, by=["seg"], min_cell=5)
    assert len(out) == 3 * 2 * 3  # waves x items x (all, A, B)
    assert list(out.columns) == [*trend_mod.TREND_COLUMNS, "suppressed"]
    w0 = out[out["wave"] == "w0"]
    # B has 3 respondents in w0: hidden there, and A with it (complementary)
    assert w0.loc[w0["group"] == "seg", "gap"].isna().all()
    w2 = out[out["wave"] == "w2"].set_index(["item", "level"])
    # w2's own gaps are shown; its change from the first wave (w0) is hidden in the levels
    assert w2.loc[(slice(None), ["A", "B"]), "gap"].notna().all()
    assert w2.loc[(slice(None), ["A", "B"]), "change_first"].isna().all()
    assert w2.loc[(slice(None), ["A", "B"]), "change"].notna().all()
    assert w2.loc[(slice(None), "all"), "change_first"].notna().all()


def test_comparability_names_what_differs_and_the_trend_leaves_it_out(panel):
    a, b = panel
    reworded = _codebook([("a", "Item a", "D"), ("b", "Item b, asked another way", "D")])
    moved = _codebook([("a", "Item a", "E"), ("b", "Item b", "D")])
    fewer = _codebook([("a", "Item a", "D")])
    other_scale = _codebook([("a", "Item a", "D"), ("b", "Item b", "D")], scale=(1, 5))
    notes = trend_mod.comparability(BOOK, [("w0", reworded), ("w1", moved), ("w1b", fewer)])
    assert list(notes.columns) == trend_mod.NOTE_COLUMNS
    assert notes[["wave", "item"]].values.tolist() == [["w0", "b"], ["w1", "a"], ["w1b", "b"]]
    assert "worded differently in w0: 'Item b, asked another way'" in notes["reason"].iloc[0]
    assert notes["reason"].iloc[2] == "not asked in w1b"
    scale = trend_mod.comparability(BOOK, [("old", other_scale)])
    assert scale["item"].tolist() == ["a", "b"] and "1-5 scale in old" in scale["reason"].iloc[0]
    assert trend_mod.comparability(BOOK, [("w1", BOOK)]).empty
    assert trend_mod.trend([a, b], left_out=notes).empty  # both items differ somewhere
    out = trend_mod.trend([a, b], left_out=notes[notes["item"] == "b"])
    assert set(out["item"]) == {"a"}


def test_wave_labels():
    assert trend_mod.wave_labels(["Survey 2024", "Survey 2025 (spring)"]) == ["2024", "2025"]
    assert trend_mod.wave_labels(["Spring", "Autumn 2025"]) == ["Wave 1", "Wave 2"]
    assert trend_mod.wave_labels(["A 2025", "B 2025"]) == ["Wave 1", "Wave 2"]


# ---------------------------------------------------------------------------------------------
# the demo's earlier waves


def test_shipped_waves_equal_fresh_generation(tmp_path: Path):
    files = demo.generate_demo(
        tmp_path / "data" / "raw" / "demo", params_path=tmp_path / "params" / "demo.yaml"
    )
    assert len(files.waves) == 2 * len(demo.WAVE_YEARS)
    for path in [*files.waves, files.params]:
        rel = path.relative_to(tmp_path)
        assert (ROOT / rel).read_bytes() == path.read_bytes(), rel


def test_demo_trend_shows_the_simulated_changes():
    client = load_client("params/demo.yaml", root=ROOT)
    assert [p.name for p in client.config.previous_waves] == ["2024.yaml", "2025.yaml"]
    earlier = pipeline.previous_waves(client)
    ids = [set(c[client.codebook.id]) for _, c, _ in earlier]
    assert not ids[0] & ids[1]  # independent samples: no id recurs
    clean = pipeline.read_and_validate(client).clean
    design = pipeline.survey_design(client, clean)
    runs = [*earlier, (client, clean, design)]
    waves = [
        trend_mod.Wave(
            name=c.config.client,
            label=c.config.client,
            gaps=gaps.gap_table(s, d, c.codebook),
        )
        for c, d, s in runs
    ]
    out = trend_mod.current_rows(trend_mod.trend(waves)).set_index("item")
    clear = out["p_adjusted_first"] < 0.05
    for it in demo.ITEMS:
        shift = demo._wave_shift(it, 2024)
        if shift < 0:  # performance was lower in 2024: the gap closed since
            assert clear[it.id] and out.loc[it.id, "change_first"] > 0, it.id
        elif shift > 0:
            assert clear[it.id] and out.loc[it.id, "change_first"] < 0, it.id
        else:
            assert abs(out.loc[it.id, "change_first"]) < 0.2, it.id
