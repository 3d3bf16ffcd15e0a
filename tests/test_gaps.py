"""The gap table (expectation, performance, gap per item and segment) and small-cell suppression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import Codebook, DesignConfig
from analysis.cx import dimensions, gaps, suppression
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import estimate
from analysis.survey.design import build_design

N = 240


def make_survey(seed: int = 7) -> tuple[pd.DataFrame, Codebook]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "rid": np.arange(N),
            "segment": rng.choice(
                ["Consumer", "Small business", "Enterprise"], N, p=[0.6, 0.385, 0.015]
            ),
            "region": rng.choice([1, 2, 3], N),
            "stratum": rng.choice(["s1", "s2"], N),
            "w": rng.uniform(1, 5, N),
        }
    )
    frame["branch"] = rng.integers(0, 6, N)
    for j in range(4):
        e = rng.integers(3, 8, N).astype(float)
        p = np.clip(e - rng.integers(-1, 3, N), 1, 7).astype(float)
        e[rng.random(N) < 0.1] = np.nan
        p[rng.random(N) < 0.1] = np.nan
        frame[f"e{j}"], frame[f"p{j}"] = e, p
    codebook = Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {
                "id": f"it{j}",
                "label": f"Item {j}",
                "dimension": "Reliability" if j < 2 else "Care",
                "expectation": f"e{j}",
                "performance": f"p{j}",
            }
            for j in range(4)
        ],
        segments={
            "segment": ["Consumer", "Small business", "Enterprise", "Public sector"],
            "region": [1, 2, 3],
        },
    )
    return frame, codebook


@pytest.fixture(scope="module")
def survey():
    frame, codebook = make_survey()
    design = build_design(frame, DesignConfig(weight="w", strata="stratum", cluster="branch"))
    table = gaps.gap_table(design, frame, codebook, by=["segment", "region"])
    return frame, codebook, design, table


def test_columns_and_row_order(survey) -> None:
    _, codebook, _, table = survey
    assert list(table.columns) == [
        "item",
        "label",
        "dimension",
        "group",
        "level",
        "n",
        "expectation",
        "performance",
        "gap",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "p_value",
        "share_met",
        "share_met_se",
    ]
    per_item = ["all", "Consumer", "Small business", "Enterprise", "Public sector", "1", "2", "3"]
    assert list(table["level"]) == per_item * 4
    assert list(table["group"]) == (["all"] + ["segment"] * 4 + ["region"] * 3) * 4
    assert list(dict.fromkeys(table["item"])) == [i.id for i in codebook.items]
    assert table.loc[table["item"] == "it3", "label"].eq("Item 3").all()


def test_expectation_plus_gap_is_performance(survey) -> None:
    table = survey[3]
    ok = table["n"] > 0
    np.testing.assert_allclose(
        table.loc[ok, "expectation"] + table.loc[ok, "gap"],
        table.loc[ok, "performance"],
        rtol=0,
        atol=1e-12,
    )


def test_means_use_only_respondents_who_answered_both(survey) -> None:
    frame, _, design, table = survey
    both = frame["e0"].notna() & frame["p0"].notna()
    w = frame["w"][both]
    overall = table[(table["item"] == "it0") & (table["group"] == "all")].iloc[0]
    assert overall["n"] == both.sum()
    assert overall["expectation"] == pytest.approx(np.average(frame["e0"][both], weights=w))
    assert overall["performance"] == pytest.approx(np.average(frame["p0"][both], weights=w))
    # se, df and p are the gap's: the mean of the per-respondent gap, as a domain of the design
    direct = estimate.means(design, (frame["p0"] - frame["e0"]).rename("g")).iloc[0]
    for col in ("gap", "se", "ci_low", "ci_high", "df", "p_value"):
        assert overall[col] == pytest.approx(direct["estimate" if col == "gap" else col])


def test_share_met_is_the_weighted_share_meeting_expectation_among_both_answered(survey) -> None:
    frame, _, design, table = survey
    both = frame["e1"].notna() & frame["p1"].notna()
    met = (frame["p1"] >= frame["e1"]).astype(float).where(both).rename("met")
    for group, level, rows in [("all", "all", both), ("segment", "Consumer", None)]:
        if rows is None:
            rows = both & (frame["segment"] == level)
        row = table[(table["item"] == "it1") & (table["level"] == level)].iloc[0]
        w = frame["w"][rows]
        assert row["group"] == group
        assert row["share_met"] == pytest.approx(np.average(met[rows], weights=w), rel=1e-12)
        assert 0 < row["share_met"] < 1
    # the SE is the design-based one of the indicator's mean, in the gap's domain
    direct = estimate.means(design, met).iloc[0]
    overall = table[(table["item"] == "it1") & (table["group"] == "all")].iloc[0]
    assert overall["share_met_se"] == pytest.approx(direct["se"], rel=1e-12)
    by_seg = estimate.means_by(design, met, {"segment": frame["segment"]}, deff=False)
    seg = table[(table["item"] == "it1") & (table["group"] == "segment")]
    got = seg.set_index("level").loc[by_seg["domain"].astype(str), "share_met_se"].to_numpy()
    np.testing.assert_allclose(got, by_seg["se"].to_numpy(), rtol=1e-12)


def test_share_met_counts_equal_ratings_as_met() -> None:
    frame = pd.DataFrame(
        {"rid": range(4), "w": [1.0, 1.0, 2.0, 1.0], "e0": [5, 5, 6, np.nan], "p0": [5, 4, 7, 3]}
    )
    codebook = Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {"id": "a", "label": "A", "dimension": "D", "expectation": "e0", "performance": "p0"}
        ],
    )
    table = gaps.gap_table(build_design(frame, DesignConfig(weight="w")), frame, codebook)
    # met: 5 >= 5 (w 1), 4 < 5 (w 1), 7 >= 6 (w 2); the 4th did not answer both
    assert table["n"].iloc[0] == 3
    assert table["share_met"].iloc[0] == pytest.approx(3 / 4)


def test_levels_without_respondents_stay_visible(survey) -> None:
    table = survey[3]
    empty = table[table["level"] == "Public sector"]
    assert (empty["n"] == 0).all() and empty["gap"].isna().all()


def test_one_estimator_call_for_all_groups(survey, monkeypatch) -> None:
    frame, codebook, design, table = survey
    calls = []
    real = estimate.means_by

    def counting(*args, **kwargs):
        calls.append((args[1].shape, list(args[2])))
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate, "means_by", counting)
    again = gaps.gap_table(design, frame, codebook, by=["segment", "region"])
    # 4 items x (expectation, performance, gap, share met), all groups at once
    assert calls == [((N, 16), ["all", "segment", "region"])]
    pd.testing.assert_frame_equal(again, table)


def test_groups_at_once_equal_one_group_at_a_time(survey) -> None:
    frame, codebook, design, table = survey
    for group in ("segment", "region"):
        alone = gaps.gap_table(design, frame, codebook, by=[group])
        mine = table[table["group"].isin(["all", group])].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine, rtol=1e-12)


def test_calibrated_design(survey) -> None:
    frame, codebook, design, table = survey
    margins = pd.DataFrame(
        {"variable": "region", "level": ["1", "2", "3"], "count": [5000.0, 3000.0, 2000.0]}
    )
    cal = weighting.calibrate(design, frame, margins, method="poststratify")
    t2 = gaps.gap_table(cal, frame, codebook, by=["region"])
    ok = t2["n"] > 0
    np.testing.assert_allclose(
        t2.loc[ok, "expectation"] + t2.loc[ok, "gap"], t2.loc[ok, "performance"], atol=1e-12
    )
    # domains of the calibration variable keep their estimates; their SEs change
    a = t2[(t2["group"] == "region")].reset_index(drop=True)
    b = table[(table["group"] == "region")].reset_index(drop=True)
    np.testing.assert_allclose(a["gap"], b["gap"], rtol=1e-12)


def test_unknown_segment_value_or_column_is_an_error(survey) -> None:
    frame, codebook, design, _ = survey
    bad = frame.assign(region=frame["region"].replace({3: 4}))
    with pytest.raises(DesignError, match=r"column 'region', row .* value '4'"):
        gaps.gap_table(design, bad, codebook, by=["region"])
    with pytest.raises(DesignError, match="not a codebook segment"):
        gaps.gap_table(design, frame, codebook, by=["stratum"])


# ---------------------------------------------------------------------------------------------
# suppression


def test_primary_and_complementary_suppression(survey) -> None:
    table = survey[3]
    out = suppression.suppress(table, 10, gaps.IDENTIFIERS)
    enterprise = out[out["level"] == "Enterprise"]
    assert (table.loc[table["level"] == "Enterprise", "n"] < 10).all()
    assert enterprise["suppressed"].all() and enterprise["gap"].isna().all()
    assert enterprise["se"].isna().all() and enterprise["p_value"].isna().all()
    assert enterprise["share_met"].isna().all() and enterprise["share_met_se"].isna().all()
    # n and df stay visible
    np.testing.assert_array_equal(out["n"], table["n"])
    np.testing.assert_array_equal(out["df"], table["df"])
    # complementary: the next smallest segment level (Small business) is blanked too
    small = out[out["level"] == "Small business"]
    assert small["suppressed"].all() and small["expectation"].isna().all()
    assert not out.loc[out["level"] == "Consumer", "suppressed"].any()
    # the region breakdown has no small cells: untouched
    region = out[out["group"] == "region"]
    assert not region["suppressed"].any()
    pd.testing.assert_frame_equal(
        region.drop(columns="suppressed"), table[table["group"] == "region"]
    )


def test_empty_levels_do_not_trigger_complementary_suppression() -> None:
    table = pd.DataFrame(
        {
            "item": "a",
            "group": ["all", "g", "g", "g"],
            "level": ["all", "x", "y", "z"],
            "n": [60, 30, 30, 0],
            "gap": [0.1, 0.2, 0.0, np.nan],
        }
    )
    out = suppression.suppress(table, 5, gaps.IDENTIFIERS)
    assert list(out["suppressed"]) == [False, False, False, True]
    assert out["gap"].iloc[:3].notna().all()


def _recover(table: pd.DataFrame, weight_sums: pd.Series) -> pd.Series:
    """Attack: each item's suppressed segment level = (W * overall - sum of the others) / W_level,
    solvable only when exactly one level of the group is blank."""
    found = {}
    for item, t in table.groupby("item"):
        overall = t[t["group"] == "all"].iloc[0]
        seg = t[(t["group"] == "segment") & (t["n"] > 0)].set_index("level")
        blank = seg.index[seg["gap"].isna()]
        if len(blank) != 1:
            continue
        known = seg.drop(blank)
        ws = weight_sums.loc[item]
        total = ws.sum()
        found[item] = (
            total * overall["gap"] - (ws.loc[known.index] * known["gap"]).sum()
        ) / ws.loc[blank[0]]
    return pd.Series(found, dtype=float)


def test_a_suppressed_cell_cannot_be_recovered_from_the_overall(survey) -> None:
    frame, codebook, _, table = survey
    # every respondent has a segment, so the overall is the weighted combination of the levels
    items = codebook.items
    parts = []
    for it in items:
        both = frame[it.expectation].notna() & frame[it.performance].notna()
        sums = frame.loc[both].groupby("segment")["w"].sum()
        parts.append(
            pd.Series(sums.to_numpy(), index=pd.MultiIndex.from_product([[it.id], sums.index]))
        )
    weight_sums = pd.concat(parts)

    # primary suppression alone leaks: the attack recovers the true small-cell gap exactly
    primary_only = table.copy()
    small = (primary_only["n"] > 0) & (primary_only["n"] < 10)
    primary_only.loc[small, "gap"] = np.nan
    leaked = _recover(primary_only, weight_sums)
    truth = table[table["level"] == "Enterprise"].set_index("item")["gap"]
    assert len(leaked) == len(items)
    np.testing.assert_allclose(leaked.loc[truth.index], truth, rtol=1e-9, atol=1e-9)

    # with complementary suppression nothing can be solved for
    protected = suppression.suppress(table, 10, gaps.IDENTIFIERS)
    assert _recover(protected, weight_sums).empty


def test_min_cell_must_be_positive(survey) -> None:
    with pytest.raises(ValueError, match="min_cell"):
        suppression.suppress(survey[3], 0, gaps.IDENTIFIERS)


# ---------------------------------------------------------------------------------------------
# degenerate cells: defined results, visible in the table, never a silent NaN gap


def test_degenerate_cells_have_defined_results() -> None:
    frame, codebook = make_survey(seed=11)
    frame = frame.copy()
    frame["e3"] = np.nan  # an item nobody answered
    # one Enterprise respondent answered item 0, all other Enterprise rows have no weight
    ent = np.flatnonzero(frame["segment"] == "Enterprise")
    frame.loc[ent[1:], "w"] = 0.0
    frame.loc[ent[0], ["e0", "p0"]] = [5.0, 3.0]
    design = build_design(frame, DesignConfig(weight="w", strata="stratum", cluster="branch"))
    table = gaps.gap_table(design, frame, codebook, by=["segment"])

    nobody = table[table["item"] == "it3"]
    assert (nobody["n"] == 0).all()
    assert nobody[["expectation", "performance", "gap", "se", "p_value"]].isna().all().all()

    one = table[(table["item"] == "it0") & (table["level"] == "Enterprise")].iloc[0]
    assert one["n"] == 1 and one["gap"] == -2.0  # the estimate is defined ...
    assert np.isnan(one["se"]) and np.isnan(one["ci_low"]) and np.isnan(one["p_value"])  # ...
    # but has no SE, and a report suppresses it (one respondent is below any min_cell >= 2)
    shown = suppression.suppress(table, 2, gaps.IDENTIFIERS)
    hidden = shown[(shown["item"] == "it0") & (shown["level"] == "Enterprise")].iloc[0]
    assert hidden["suppressed"] and np.isnan(hidden["gap"])
    # every row with a gap and n >= 2 has a finite SE, CI and p-value
    has = table["n"] >= 2
    assert table.loc[has, ["gap", "se", "ci_low", "ci_high", "p_value"]].notna().all().all()
    # rows without a gap are exactly the rows without respondents
    assert (table["gap"].isna() == (table["n"] == 0)).all()

    # zero-weight rows count for nothing: the same table without them (they stay in the design
    # for its PSUs, so compare estimates and n, not SEs)
    kept = frame[frame["w"] > 0]
    d_kept = build_design(kept, DesignConfig(weight="w", strata="stratum", cluster="branch"))
    t_kept = gaps.gap_table(d_kept, kept, codebook, by=["segment"])
    np.testing.assert_array_equal(t_kept["n"], table["n"])
    np.testing.assert_allclose(t_kept["gap"], table["gap"], rtol=1e-12)


def test_complementary_suppression_when_small_cells_add_up_to_a_small_cell() -> None:
    # two small levels (2 + 1 respondents) beside larger ones: hiding just those two would let
    # their combined 3-respondent estimate be worked out from the overall row and the others
    table = pd.DataFrame(
        {
            "item": ["a"] * 5,
            "group": ["all", "seg", "seg", "seg", "seg"],
            "level": ["all", "A", "B", "C", "D"],
            "n": [803, 500, 2, 1, 300],
            "gap": [-0.5, -0.4, -2.0, 1.0, -0.6],
        }
    )
    out = suppression.suppress(table, 5, gaps.IDENTIFIERS)
    assert out["suppressed"].tolist() == [False, False, True, True, True]
    assert out["gap"].isna().tolist() == [False, False, True, True, True]
    # one small cell beside enough others: exactly one more (the next smallest) is hidden
    single = suppression.suppress(table.assign(n=[1103, 500, 2, 300, 301]), 5, gaps.IDENTIFIERS)
    assert single["suppressed"].tolist() == [False, False, True, True, False]


def test_complementary_suppression_is_per_dimension_in_a_dimension_table() -> None:
    # the same small level in two dimensions: each dimension's overall row could reveal it, so
    # each dimension needs its own complementary cell (4 + 4 >= min_cell must not count)
    table = pd.DataFrame(
        {
            "dimension": ["R"] * 4 + ["S"] * 4,
            "group": ["all", "plan", "plan", "plan"] * 2,
            "level": ["all", "Basic", "Plus", "Premium"] * 2,
            "n": [40, 21, 15, 4] * 2,
            "gap": [-1.0, -1.1, -0.9, -0.7, 0.2, 0.1, 0.3, 0.65],
        }
    )
    out = suppression.suppress(table, 5, dimensions.IDENTIFIERS)
    assert out["suppressed"].tolist() == [False, False, True, True] * 2
