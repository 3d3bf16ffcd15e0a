"""The customer-centred analyses (analysis.cx: dimensions, priorities, NPS, reliability, segments,
representativeness, trend, perception, suppression) and their pipeline steps.

Hand-computed small cases for each analysis; suppression tests that try to recover a hidden cell
from the published tables (and show that they could without complementary suppression); the demo
population, whose truly most underserved segment is Enterprise; and two simulated waves with a
known change.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin
import pytest

from analysis.config.params import Codebook, DesignConfig, load_client, load_codebook
from analysis.cx import (
    dimensions,
    gaps,
    nps,
    perception,
    priorities,
    reliability,
    representativeness,
    segments,
    suppression,
    trend,
)
from analysis.errors import DesignError
from analysis.intake import readers, schema
from analysis.ops import pipeline
from analysis.survey import calibrate as weighting
from analysis.survey import estimate, inference, replicates
from analysis.survey.design import build_design

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).parent / "fixtures" / "clients" / "tiny"


def codebook(items: list[tuple[str, str]], segments: dict | None = None, **kw) -> Codebook:
    return Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {
                "id": i,
                "label": f"Label {i}",
                "dimension": d,
                "expectation": f"e_{i}",
                "performance": f"p_{i}",
            }
            for i, d in items
        ],
        segments=segments or {},
        **kw,
    )


def srs(frame: pd.DataFrame, weight: str | None = None):
    return build_design(frame, DesignConfig(weight=weight))


# ---------------------------------------------------------------------------------------------
# multiple testing


def test_benjamini_hochberg_by_hand():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205]
    # adj_(i) = min over j >= i of p_(j) * m / j, m = 8
    want = [0.008, 0.032, 0.0672, 0.0672, 0.0672, 0.08, 0.074 * 8 / 7, 0.205]
    assert inference.bh_adjust(p) == pytest.approx(want)
    assert inference.bh_adjust([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05] * 5)
    got = inference.bh_adjust(np.array([0.04, np.nan, 0.01]))
    assert got[0] == pytest.approx(0.04) and np.isnan(got[1]) and got[2] == pytest.approx(0.02)


def test_p_adjusted_sits_beside_p_value_per_group_level():
    table = pd.DataFrame(
        {
            "item": ["a", "b", "a", "b"],
            "group": ["all", "all", "seg", "seg"],
            "level": ["all", "all", "x", "x"],
            "p_value": [0.01, 0.04, 0.03, 0.5],
            "df": 10,
        }
    )
    out = inference.add_p_adjusted(table)
    assert list(out.columns) == ["item", "group", "level", "p_value", "p_adjusted", "df"]
    assert out["p_adjusted"].tolist() == pytest.approx([0.02, 0.04, 0.06, 0.5])


# ---------------------------------------------------------------------------------------------
# dimensions


def test_dimension_gap_is_the_mean_of_each_respondents_item_gaps():
    frame = pd.DataFrame(
        {
            "rid": range(6),
            "e_a": [6, 5, 7, 6, 5, np.nan],
            "p_a": [5, 5, 4, 6, 3, 4],
            "e_b": [6, np.nan, 6, 5, 4, 5],
            "p_b": [4, 6, 6, 4, 5, 5],
            "e_c": [5, 5, 5, 5, 5, 5],
            "p_c": [5, 4, 3, 6, 5, 4],
        }
    )
    cb = codebook([("a", "D1"), ("b", "D1"), ("c", "D2")])
    design = srs(frame)
    table = dimensions.dimension_gaps(design, frame, cb, min_share=0.5)
    d1 = table[table["dimension"] == "D1"].iloc[0]
    # respondent gaps over the answered pairs of D1 (half rule: 1 of 2 is enough)
    per = np.array([(-1 - 2) / 2, 0, (-3 + 0) / 2, (0 - 1) / 2, (-2 + 1) / 2, 0.0])
    assert d1["n"] == 6 and d1["n_items"] == 2
    assert d1["gap"] == pytest.approx(per.mean())
    assert d1["se"] == pytest.approx(per.std(ddof=1) / np.sqrt(6))
    e_per = np.array([6, 5, 6.5, 5.5, 4.5, 5])
    assert d1["expectation"] == pytest.approx(e_per.mean())
    assert d1["expectation"] + d1["gap"] == pytest.approx(d1["performance"])
    strict = dimensions.dimension_gaps(design, frame, cb, min_share=1.0)
    assert strict.loc[strict["dimension"] == "D1", "n"].iloc[0] == 4
    assert list(table.columns) == dimensions.DIMENSION_COLUMNS


# ---------------------------------------------------------------------------------------------
# priorities


def priority_input() -> pd.DataFrame:
    rows = [
        # item, expectation, performance, p_adjusted
        ("a", 6.5, 4.5, 0.001),  # important, poor: concentrate here, top shortfall
        ("b", 6.0, 5.8, 0.30),  # small unclear gap
        ("c", 4.0, 3.0, 0.01),  # unimportant, poor: low priority
        ("d", 4.5, 6.0, 0.001),  # exceeds: possible overkill
        ("e", 6.2, 5.0, 0.02),  # suppressed in the segment below
    ]
    table = []
    for group, level in [("all", "all"), ("seg", "x")]:
        for item, e, p, padj in rows:
            table.append(
                {
                    "item": item,
                    "label": item.upper(),
                    "dimension": "D",
                    "group": group,
                    "level": level,
                    "n": 3 if (group == "seg" and item == "e") else 50,
                    "expectation": e,
                    "performance": p,
                    "gap": p - e,
                    "se": 0.1,
                    "ci_low": p - e - 0.2,
                    "ci_high": p - e + 0.2,
                    "df": 49,
                    "p_value": padj / 2,
                    "p_adjusted": padj,
                    "share_met": 0.5,
                    "share_met_se": 0.05,
                }
            )
    return suppression.suppress(pd.DataFrame(table), 5, gaps.IDENTIFIERS)


def test_priorities_rank_verdict_quadrant_and_top():
    out = priorities.priorities(priority_input(), top=2)
    over = out[out["group"] == "all"].set_index("item")
    # gaps: a -2.0, e -1.2, c -1.0, b -0.2, d +1.5
    assert list(out[out["group"] == "all"]["item"]) == ["a", "e", "c", "b", "d"]
    assert over["rank"].to_dict() == {"a": 1, "e": 2, "c": 3, "b": 4, "d": 5}
    assert over["verdict"].to_dict() == {
        "a": "shortfall",
        "c": "shortfall",
        "e": "shortfall",
        "b": "unclear",
        "d": "exceeds",
    }
    # crosshairs at the means of the items: expectation 5.44, performance 4.86
    assert over["importance_cross"].iloc[0] == pytest.approx(np.mean([6.5, 6, 4, 4.5, 6.2]))
    assert over["performance_cross"].iloc[0] == pytest.approx(np.mean([4.5, 5.8, 3, 6, 5]))
    assert over["quadrant"].to_dict() == {
        "a": "Concentrate here",
        "c": "Low priority",
        "e": "Keep up the good work",
        "b": "Keep up the good work",
        "d": "Possible overkill",
    }
    assert over["top_priority"].to_dict() == {
        "a": True,
        "e": True,
        "c": False,
        "b": False,
        "d": False,
    }
    seg = out[out["group"] == "seg"].set_index("item")
    # e is hidden there: no rank, verdict, quadrant or flag, and not in the crosshairs
    assert pd.isna(seg.loc["e", "rank"]) and pd.isna(seg.loc["e", "quadrant"])
    assert pd.isna(seg.loc["e", "top_priority"]) and seg.loc["e", "suppressed"]
    assert seg["importance_cross"].iloc[0] == pytest.approx(np.mean([6.5, 6, 4, 4.5]))
    mid = priorities.priorities(priority_input(), scale=(1, 7), crosshairs="midpoint")
    assert (mid["importance_cross"] == 4.0).all()
    quadrant = mid.set_index(["group", "item"])["quadrant"]
    assert quadrant[("all", "d")] == "Keep up the good work"  # 4.5 is above the midpoint 4
    assert quadrant[("all", "c")] == "Concentrate here"  # at the midpoint counts as high
    with pytest.raises(ValueError, match="scale"):
        priorities.priorities(priority_input(), crosshairs="midpoint")


# ---------------------------------------------------------------------------------------------
# NPS


def test_nps_by_hand():
    frame = pd.DataFrame(
        {
            "rid": range(8),
            "rec": [10, 9, 8, 7, 6, 0, np.nan, 9],
            "seg": ["a", "a", "a", "a", "b", "b", "b", "b"],
        }
    )
    cb = codebook([("x", "D")], segments={"seg": ["a", "b"]}, recommend="rec")
    frame["e_x"] = frame["p_x"] = 5
    out = nps.nps(srs(frame), frame, cb, by=["seg"])
    assert list(out.columns) == nps.NPS_COLUMNS
    s = np.array([1, 1, 0, 0, -1, -1, 1.0])
    overall = out.iloc[0]
    assert overall["n"] == 7
    assert overall["nps"] == pytest.approx(100 * s.mean())
    # a domain of the full design (R's svymean(na.rm = TRUE)): 8 PSUs, z = 0 for the row
    # without an answer, variance 8/7 sum z^2 with z_i = (s_i - mean) / 7
    z = (s - s.mean()) / 7
    assert overall["se"] == pytest.approx(100 * np.sqrt(8 / 7 * (z**2).sum()))
    assert overall["promoters"] == pytest.approx(300 / 7)
    assert overall["promoters"] - overall["detractors"] == pytest.approx(overall["nps"])
    a, b = out.iloc[1], out.iloc[2]
    assert (a["n"], a["nps"]) == (4, 50.0)
    assert (b["n"], b["nps"]) == (3, pytest.approx(-100 / 3))
    # each level against the rest: a's rest is b and vice versa; two levels, one BH family
    assert a["nps_rest"] == pytest.approx(b["nps"]) and b["nps_rest"] == pytest.approx(a["nps"])
    assert a["difference"] == pytest.approx(50 + 100 / 3)
    assert b["difference"] == pytest.approx(-a["difference"])
    assert a["p_adjusted"] == pytest.approx(a["p_value"])  # BH of two equal p-values
    assert overall[["nps_rest", "difference", "p_value", "p_adjusted"]].isna().all()


def test_nps_versus_rest_is_the_design_contrast():
    """Each level's difference from the rest equals estimate.difference on the two groups
    (itself conformant with R's svyby(covmat = TRUE) + svycontrast)."""
    rng = np.random.default_rng(3)
    n = 90
    frame = pd.DataFrame(
        {
            "rid": range(n),
            "rec": rng.integers(0, 11, n).astype(float),
            "w": rng.uniform(1, 4, n),
            "seg": rng.choice(["a", "b", "c"], n),
        }
    )
    frame.loc[[3, 17], "rec"] = np.nan
    frame["e_x"] = frame["p_x"] = 5
    cb = codebook([("x", "D")], segments={"seg": ["a", "b", "c"]}, recommend="rec")
    design = srs(frame, "w")
    out = nps.nps(design, frame, cb, by=["seg"]).set_index("level")
    s = np.where(frame["rec"] >= 9, 100.0, np.where(frame["rec"] <= 6, -100.0, 0.0))
    s = pd.Series(np.where(frame["rec"].isna(), np.nan, s), name="s")
    for lv in ("a", "b", "c"):
        two = pd.Series(np.where(frame["seg"] == lv, "level", "rest"))
        want = estimate.difference(design, s, two, "level", "rest").iloc[0]
        got = out.loc[lv]
        assert got["difference"] == pytest.approx(want["estimate"], rel=1e-12)
        assert got["difference_se"] == pytest.approx(want["se"], rel=1e-12)
        assert got["p_value"] == pytest.approx(want["p_value"], rel=1e-10)
    p = out["p_value"].drop("all").to_numpy()
    assert out["p_adjusted"].drop("all").to_numpy() == pytest.approx(
        inference.bh_adjust(p), rel=1e-12
    )


def test_nps_is_design_based():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"rid": range(60), "rec": rng.integers(0, 11, 60), "w": rng.uniform(1, 4, 60)}
    )
    frame["e_x"] = frame["p_x"] = 5
    cb = codebook([("x", "D")], recommend="rec")
    design = srs(frame, "w")
    s = np.where(frame["rec"] >= 9, 100.0, np.where(frame["rec"] <= 6, -100.0, 0.0))
    want = estimate.means(design, pd.Series(s, name="s"))
    got = nps.nps(design, frame, cb)
    assert got["nps"].iloc[0] == pytest.approx(want["estimate"].iloc[0])
    assert got["se"].iloc[0] == pytest.approx(want["se"].iloc[0])


# ---------------------------------------------------------------------------------------------
# reliability


@pytest.mark.parametrize(
    ("alpha", "n", "k", "confidence", "want"),
    [
        # R: 1 - (1 - a) * qf(c(1 - p/2, p/2), n - 1, (n - 1) * (k - 1)), printed to 15 decimals
        (0.8, 50, 4, 0.95, (0.691129899474263, 0.877264938583385)),
        (0.6234, 17, 3, 0.90, (0.257464344793406, 0.827501894365122)),
    ],
)
def test_feldt_interval_is_unrounded_and_matches_r(alpha, n, k, confidence, want):
    got = reliability.feldt_interval(alpha, n, k, confidence)
    assert got == pytest.approx(want, rel=1e-12)
    assert reliability.feldt_interval(alpha, 1, k, confidence) == pytest.approx(
        (np.nan, np.nan), nan_ok=True
    )


def test_reliability_intervals_are_the_unrounded_feldt_interval():
    rng = np.random.default_rng(11)
    n = 40
    base = rng.normal(0, 1, n)
    frame = pd.DataFrame({"rid": range(n)})
    for i in range(3):
        frame[f"e{i}"] = np.clip(np.round(4 + base + rng.normal(0, 0.8, n)), 1, 7)
        frame[f"p{i}"] = np.clip(np.round(4 + base + rng.normal(0, 0.8, n)), 1, 7)
    cb = Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {
                "id": f"q{i}",
                "label": f"Q{i}",
                "dimension": "D",
                "expectation": f"e{i}",
                "performance": f"p{i}",
            }
            for i in range(3)
        ],
    )
    out = reliability.reliability(srs(frame), frame, cb, confidence=0.9)
    for _, row in out.iterrows():
        low, high = reliability.feldt_interval(row["alpha"], row["n"], 3, 0.9)
        assert (row["alpha_ci_low"], row["alpha_ci_high"]) == (low, high)
        # pingouin's interval is the same one rounded to three decimals
        cols = [f"{'e' if row['rating'] == 'expectation' else 'p'}{i}" for i in range(3)]
        rounded = pingouin.cronbach_alpha(frame[cols], ci=0.9)[1]
        assert np.abs(np.array([low, high]) - rounded).max() <= 5e-4 + 1e-12


def test_design_alpha_equals_pingouin_on_frequency_expanded_data():
    rng = np.random.default_rng(4)
    n = 30
    base = rng.integers(2, 7, n)
    frame = pd.DataFrame({"rid": range(n), "w": rng.integers(1, 4, n).astype(float)})
    for i in "abc":
        frame[f"e_{i}"] = np.clip(base + rng.integers(-1, 2, n), 1, 7).astype(float)
        frame[f"p_{i}"] = np.clip(base + rng.integers(-2, 2, n), 1, 7).astype(float)
    frame.loc[3, "e_b"] = np.nan
    cb = codebook([("a", "D"), ("b", "D"), ("c", "D")])
    out = reliability.reliability(srs(frame, "w"), frame, cb)
    assert list(out.columns) == reliability.RELIABILITY_COLUMNS
    exp = out[out["rating"] == "expectation"].iloc[0]
    cols = ["e_a", "e_b", "e_c"]
    unweighted = pingouin.cronbach_alpha(frame[cols], nan_policy="listwise")[0]
    assert exp["n"] == n - 1 and exp["alpha"] == pytest.approx(unweighted)
    expanded = frame.loc[frame.index.repeat(frame["w"].astype(int)), cols].dropna()
    # svycralpha: the weights act like frequencies (alpha is scale-free, so n/(n-1) cancels)
    assert exp["alpha_design"] == pytest.approx(pingouin.cronbach_alpha(expanded)[0])
    # equal weights: the design-based alpha is the textbook one
    same = reliability.reliability(srs(frame), frame, cb)
    assert same["alpha_design"].to_numpy() == pytest.approx(same["alpha"].to_numpy())
    # by hand: k/(k-1) (1 - sum of item variances / variance of the total)
    x = frame[cols].dropna().to_numpy()
    hand = 1.5 * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert same["alpha"].iloc[0] == pytest.approx(hand)


def test_design_alpha_interval_from_the_designs_replicates_by_loop():
    """With replicate weights: the alpha of every replicate (a design with its weights), R's
    svrVar of them, and alpha +- t_df se; NaN columns without replicates."""
    rng = np.random.default_rng(6)
    n = 120
    base = rng.integers(2, 7, n)
    frame = pd.DataFrame(
        {"rid": range(n), "w": rng.uniform(1, 3, n), "h": np.repeat(["a", "b", "c"], n // 3)}
    )
    for i in "abc":
        frame[f"e_{i}"] = np.clip(base + rng.integers(-1, 2, n), 1, 7).astype(float)
        frame[f"p_{i}"] = np.clip(base + rng.integers(-2, 2, n), 1, 7).astype(float)
    frame.loc[[3, 50], "e_b"] = np.nan
    cb = codebook([("a", "D"), ("b", "D"), ("c", "D")])
    design = build_design(frame, DesignConfig(weight="w", strata="h"))
    taylor = reliability.reliability(design, frame, cb)
    assert (
        taylor[["alpha_design_se", "alpha_design_ci_low", "alpha_design_ci_high"]]
        .isna()
        .all()
        .all()
    )
    reps = replicates.replicate_weights(design, "JKn")
    with_reps = design.with_replicates(reps)
    out = reliability.reliability(with_reps, frame, cb, confidence=0.9)
    pd.testing.assert_series_equal(out["alpha_design"], taylor["alpha_design"])
    for row in out.itertuples():
        cols = [f"{row.rating[0]}_{i}" for i in "abc"]
        theta = [
            reliability.cronbach_alpha_design(dataclasses.replace(design, weights=w), frame[cols])
            for w in reps.weights(design)
        ]
        se = np.sqrt(reps.variance(np.array(theta)))
        assert row.alpha_design_se == pytest.approx(se, rel=1e-10)
        q = inference.t_quantile(with_reps.df, 0.9)
        assert row.alpha_design_ci_low == pytest.approx(row.alpha_design - q * se, rel=1e-10)
        assert row.alpha_design_ci_high == pytest.approx(row.alpha_design + q * se, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# segments against the rest


def segment_frame(seed: int = 2, n: int = 90) -> tuple[pd.DataFrame, Codebook]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"rid": range(n), "seg": rng.choice(["A", "B", "C"], n), "w": rng.uniform(1, 3, n)}
    )
    for i in ("x", "y"):
        frame[f"e_{i}"] = rng.integers(4, 8, n).astype(float)
        shift = np.where(frame["seg"] == "A", -1.5, 0.0)
        frame[f"p_{i}"] = np.clip(frame[f"e_{i}"] + shift + rng.integers(-1, 2, n), 1, 7)
    return frame, codebook([("x", "D"), ("y", "D")], segments={"seg": ["A", "B", "C"]})


def test_segment_against_the_rest_is_a_design_based_contrast():
    frame, cb = segment_frame()
    design = srs(frame, "w")
    out = segments.segment_contrasts(design, frame, cb, by=["seg"])
    assert list(out.columns) == segments.SEGMENT_COLUMNS
    row = out[(out["item"] == "x") & (out["level"] == "A")].iloc[0]
    g = frame["p_x"] - frame["e_x"]
    is_a = frame["seg"] == "A"
    w = frame["w"]
    assert row["gap"] == pytest.approx((w * g)[is_a].sum() / w[is_a].sum())
    assert row["gap_rest"] == pytest.approx((w * g)[~is_a].sum() / w[~is_a].sum())
    assert row["difference"] == pytest.approx(row["gap"] - row["gap_rest"])
    assert (row["n"], row["n_rest"]) == (is_a.sum(), (~is_a).sum())
    # the same contrast from estimate.difference with "A" against "not A"
    two = pd.Series(np.where(is_a, "A", "rest"))
    ref = estimate.difference(design, g.rename("g"), two, "A", "rest").iloc[0]
    assert row["se"] == pytest.approx(ref["se"]) and row["p_value"] == pytest.approx(ref["p_value"])
    # by hand for SRS-with-weights linearisation: z_i = w_i (g_i - mean_d) / W_d in each domain
    z = np.where(
        is_a, w * (g - row["gap"]) / w[is_a].sum(), -w * (g - row["gap_rest"]) / w[~is_a].sum()
    )
    assert row["se"] == pytest.approx(np.sqrt(len(g) / (len(g) - 1) * ((z - z.mean()) ** 2).sum()))
    # BH over items x levels of the segment; the "all" rows form their own family
    items = out[out["item"] != "all"]
    assert items["p_adjusted"].to_numpy() == pytest.approx(
        inference.bh_adjust(items["p_value"].to_numpy())
    )
    summary = out[out["item"] == "all"]
    assert summary["most_underserved"].tolist() == [True, False, False]


def test_the_demo_finds_enterprise_most_underserved():
    cb = load_codebook(ROOT / "data" / "raw" / "demo" / "codebook.yaml")
    config = DesignConfig(weight="base_weight", strata="stratum")
    clean = schema.validate(
        readers.read_survey(ROOT / "data/raw/demo/responses.csv"), cb, config
    ).clean
    margins = readers.read_margins(ROOT / "data" / "raw" / "demo" / "population.csv")
    design = weighting.calibrate(build_design(clean, config), clean, margins, method="rake")
    out = segments.segment_contrasts(design, clean, cb, by=["segment", "region"])
    worst = out[out["most_underserved"].astype(bool)]
    assert worst[["group", "level"]].values.tolist() == [["segment", "Enterprise"]]
    # the truth: Enterprise's mean gap over the items is the most negative of the segments
    truth = pd.read_csv(ROOT / "data" / "raw" / "demo" / "truth.csv")
    seg = truth[(truth["group"] == "segment") & truth["gap"].notna()]
    assert seg.groupby("level")["gap"].mean().idxmin() == "Enterprise"
    ent = out[(out["item"] == "all") & (out["level"] == "Enterprise")].iloc[0]
    assert ent["difference"] < 0 and ent["p_adjusted"] < 0.001
    # representativeness: raw shares far off the customer base, weighted ones on it
    rep = representativeness.representativeness(design, clean, cb, margins)
    ent = rep[rep["level"] == "Enterprise"].iloc[0]
    assert ent["sample_share"] > 5 * ent["population_share"]
    assert rep["weighted_share"].to_numpy() == pytest.approx(rep["population_share"].to_numpy())


# ---------------------------------------------------------------------------------------------
# representativeness


def test_representativeness_by_hand():
    frame = pd.DataFrame(
        {"rid": range(5), "seg": ["a", "a", "b", "b", "b"], "w": [1.0, 3.0, 1.0, 1.0, 2.0]}
    )
    frame["e_x"] = frame["p_x"] = 5
    cb = codebook([("x", "D")], segments={"seg": ["a", "b", "c"]})
    margins = pd.DataFrame(
        {"variable": ["seg"] * 3, "level": ["a", "b", "c"], "count": [50.0, 30, 20]}
    )
    out = representativeness.representativeness(srs(frame, "w"), frame, cb, margins)
    assert list(out.columns) == representativeness.REPRESENTATIVENESS_COLUMNS
    assert out["level"].tolist() == ["a", "b", "c"]
    assert out["n"].tolist() == [2, 3, 0]
    assert out["population_share"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert out["sample_share"].tolist() == pytest.approx([0.4, 0.6, 0.0])
    assert out["weighted_share"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    no_margins = representativeness.representativeness(srs(frame, "w"), frame, cb)
    assert no_margins["population"].isna().all()


# ---------------------------------------------------------------------------------------------
# waves


def test_trend_by_hand():
    cols = ["item", "label", "dimension", "group", "level", "n", "gap", "se", "df", "share_met"]
    cols += ["share_met_se"]
    prev = pd.DataFrame([["a", "A", "D", "all", "all", 100, -1.0, 0.3, 90, 0.4, 0.1]], columns=cols)
    cur = pd.DataFrame([["a", "A", "D", "all", "all", 120, -0.2, 0.4, 110, 0.5, 0.1]], columns=cols)
    waves = [trend.Wave(name="p", label="p", gaps=prev), trend.Wave(name="c", label="c", gaps=cur)]
    out = trend.current_rows(trend.trend(waves)).iloc[0]
    assert out["change"] == pytest.approx(0.8)
    assert out["se"] == pytest.approx(0.5)
    assert out["df"] == 200
    from scipy import stats

    assert out["p_value"] == pytest.approx(2 * stats.t.sf(1.6, 200))
    assert out["ci_low"] == pytest.approx(0.8 - stats.t.ppf(0.975, 200) * 0.5)


def simulate_wave(seed: int, shift: float, n: int = 900) -> pd.DataFrame:
    """One wave: item a's performance is 0.5 lower than expectation plus ``shift``; b unchanged;
    a segment with a level of 3 respondents."""
    rng = np.random.default_rng(seed)
    seg = np.array(["big"] * (n - 3) + ["tiny"] * 3)
    frame = pd.DataFrame({"rid": range(n), "seg": seg, "w": rng.uniform(1, 2, n)})
    for item, delta in (("a", -0.5 + shift), ("b", -0.3)):
        e = rng.normal(5.5, 1.0, n)
        frame[f"e_{item}"] = e
        frame[f"p_{item}"] = e + delta + rng.normal(0, 1.0, n)
    return frame


def test_two_simulated_waves_with_known_change():
    cb = codebook([("a", "D"), ("b", "D")], segments={"seg": ["big", "tiny"]})
    before, after = simulate_wave(1, 0.0), simulate_wave(2, 0.5)
    t_before = gaps.gap_table(srs(before, "w"), before, cb, by=["seg"])
    t_after = gaps.gap_table(srs(after, "w"), after, cb, by=["seg"])
    waves = [trend.Wave(name=k, label=k, gaps=t) for k, t in (("b", t_before), ("a", t_after))]
    out = trend.trend(waves, min_cell=5)
    assert list(out.columns) == [*trend.TREND_COLUMNS, "suppressed"]
    out = trend.current_rows(out)
    over = out[out["group"] == "all"].set_index("item")
    assert over.loc["a", "ci_low"] < 0.5 < over.loc["a", "ci_high"]
    assert over.loc["a", "p_adjusted"] < 0.001
    assert over.loc["b", "ci_low"] < 0 < over.loc["b", "ci_high"]
    assert over.loc["b", "p_adjusted"] > 0.05
    # the tiny level (3 respondents) and, complementary, the big one are hidden
    seg = out[out["group"] == "seg"]
    assert seg["suppressed"].all() and seg["change"].isna().all()
    assert seg["n"].tolist() == [897, 3, 897, 3]


# ---------------------------------------------------------------------------------------------
# perception gap


def test_perception_gap_by_hand():
    staff = pd.DataFrame({"s_a": [7, 6, 7, 7.0], "s_b": [3, 4, 5, 4.0]})
    frame = pd.DataFrame({"rid": range(5), "e_a": [6, 5, 6, 5, 6.0], "e_b": [6, 6, 7, 5, 6.0]})
    frame["p_a"] = frame["p_b"] = 5
    cb = codebook([("a", "D"), ("b", "D")])
    out = perception.perception_gap(staff, {"a": "s_a", "b": "s_b"}, srs(frame), frame, cb)
    assert list(out.columns) == perception.PERCEPTION_COLUMNS
    a = out.iloc[0]
    assert a["staff_belief"] == pytest.approx(6.75) and a["customer_expectation"] == 5.6
    assert a["difference"] == pytest.approx(1.15)
    se = np.sqrt(np.var([7, 6, 7, 7], ddof=1) / 4 + np.var([6, 5, 6, 5, 6], ddof=1) / 5)
    assert a["se"] == pytest.approx(se) and a["df"] == 3 + 4
    b = out.iloc[1]
    assert b["difference"] == pytest.approx(4 - 6) and b["p_value"] < 0.05
    hidden = perception.suppress_perception(out, min_cell=5)
    assert hidden["suppressed"].all() and hidden["difference"].isna().all()


# ---------------------------------------------------------------------------------------------
# confidentiality: try to recover hidden cells from the published tables


def small_level_survey() -> tuple[pd.DataFrame, Codebook]:
    """Equal weights, everyone answers: a level's weight share is its count share, so the
    overall gap is exactly sum_L share_L * gap_L (the relation an attacker would use)."""
    rng = np.random.default_rng(12)
    levels = ["big", "mid", "tiny"]
    seg = np.repeat(levels, [40, 25, 3])
    n = len(seg)
    frame = pd.DataFrame({"rid": range(n), "seg": seg})
    frame["e_x"] = rng.integers(4, 8, n).astype(float)
    frame["p_x"] = np.clip(frame["e_x"] - rng.integers(-1, 3, n), 1, 7)
    frame.loc[frame["seg"] == "tiny", "p_x"] = 1.0  # the tiny group's secret: a large shortfall
    frame["rec"] = rng.integers(0, 11, n)
    cb = codebook([("x", "D")], segments={"seg": levels}, recommend="rec")
    return frame, cb


def published_relations(
    shares: dict[str, float], overall: float, shown: dict[str, float], rests: dict[str, float]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Linear equations in the hidden levels' values from what is published: the overall
    value (sum of share * value) and each published "rest of the customers" value."""
    hidden = [lv for lv in shares if lv not in shown]
    rows, rhs = [], []
    known = sum(shares[lv] * v for lv, v in shown.items())
    rows.append([shares[lv] for lv in hidden])
    rhs.append(overall - known)
    for lv, rest in rests.items():
        others = [k for k in shares if k != lv]
        total = sum(shares[k] for k in others)
        rows.append([shares[h] / total if h in others else 0.0 for h in hidden])
        rhs.append(rest - sum(shares[k] * shown[k] for k in others if k in shown) / total)
    return np.array(rows), np.array(rhs), hidden


def test_a_suppressed_gap_cannot_be_recovered_from_the_published_tables():
    frame, cb = small_level_survey()
    design = srs(frame)
    table = gaps.gap_table(design, frame, cb, by=["seg"])
    shown = suppression.suppress(inference.add_p_adjusted(table), 5, gaps.IDENTIFIERS)
    contrasts = segments.suppress_contrasts(
        segments.segment_contrasts(design, frame, cb, by=["seg"]), 5
    )
    rep = representativeness.representativeness(design, frame, cb)
    shares = dict(zip(rep["level"], rep["weighted_share"], strict=True))
    seg = shown[shown["group"] == "seg"].set_index("level")
    assert seg["suppressed"].tolist() == [False, True, True]  # tiny, and mid to protect it
    assert seg.loc["tiny", "p_adjusted"] != seg.loc["tiny", "p_adjusted"]  # NaN: blanked too
    visible = {lv: seg.loc[lv, "gap"] for lv in seg.index if not seg.loc[lv, "suppressed"]}
    rows = contrasts[(contrasts["item"] == "x") & ~contrasts["suppressed"].astype(bool)]
    rests = dict(zip(rows["level"], rows["gap_rest"], strict=True))
    assert set(rests) == {"big"}  # the hidden levels' contrasts are blank as well
    hidden_rows = contrasts[contrasts["suppressed"].astype(bool)]
    assert hidden_rows[["gap", "gap_rest", "difference", "p_value"]].isna().all().all()
    overall = shown[shown["group"] == "all"]["gap"].iloc[0]
    a, b, hidden = published_relations(shares, overall, visible, rests)
    assert hidden == ["mid", "tiny"]
    assert np.linalg.matrix_rank(a) < len(hidden)  # under-determined: tiny cannot be solved
    # every value of tiny's gap fits what is published (moving mid to compensate)
    x0 = np.linalg.lstsq(a, b, rcond=None)[0]
    null = np.linalg.svd(a)[2][-1]
    assert a @ x0 == pytest.approx(b) and a @ (x0 + 3 * null) == pytest.approx(b)
    assert abs(null[1]) > 0.1

    # Negative control: without complementary suppression (only tiny hidden), the same
    # relations give tiny's gap exactly, so the test above has teeth.
    naive = {
        lv: table[(table["group"] == "seg") & (table["level"] == lv)]["gap"].iloc[0]
        for lv in ("big", "mid")
    }
    a2, b2, hidden2 = published_relations(shares, overall, naive, {})
    assert hidden2 == ["tiny"] and np.linalg.matrix_rank(a2) == 1
    recovered = np.linalg.lstsq(a2, b2, rcond=None)[0][0]
    true_tiny = table[(table["group"] == "seg") & (table["level"] == "tiny")]["gap"].iloc[0]
    assert recovered == pytest.approx(true_tiny)


def test_a_suppressed_nps_cannot_be_recovered():
    frame, cb = small_level_survey()
    design = srs(frame)
    out = nps.suppress_scores(nps.nps(design, frame, cb, by=["seg"]), 5)
    seg = out[out["group"] == "seg"].set_index("level")
    assert seg["suppressed"].tolist() == [False, True, True]
    assert seg.loc[["mid", "tiny"], ["nps", "se", "promoters", "detractors"]].isna().all().all()
    assert seg["n"].tolist() == [40, 25, 3]  # counts stay visible
    rep = representativeness.representativeness(design, frame, cb)
    shares = dict(zip(rep["level"], rep["weighted_share"], strict=True))
    a, _b, hidden = published_relations(
        shares, out["nps"].iloc[0], {"big": seg.loc["big", "nps"]}, {}
    )
    assert np.linalg.matrix_rank(a) < len(hidden)


def test_segment_contrast_hides_a_level_whose_rest_is_small():
    frame = pd.DataFrame({"rid": range(23), "seg": ["a"] * 20 + ["b"] * 3})
    frame["e_x"] = 6.0
    frame["p_x"] = np.r_[np.full(20, 5.0), [2.0, 3.0, 4.0]]
    cb = codebook([("x", "D")], segments={"seg": ["a", "b"]})
    out = segments.suppress_contrasts(segments.segment_contrasts(srs(frame), frame, cb, ["seg"]), 5)
    assert out["suppressed"].all()  # b: 3 respondents; a: its rest is those 3
    assert out[["gap", "gap_rest", "difference"]].isna().all().all()
    assert out["n_rest"].tolist() == [3, 3, 20, 20]  # level a (item x, all items), then b


def test_suppress_blanks_every_estimate_but_keeps_identifiers():
    frame, cb = small_level_survey()
    design = srs(frame)
    dims = suppression.suppress(
        dimensions.dimension_gaps(design, frame, cb, by=["seg"]), 5, dimensions.IDENTIFIERS
    )
    hidden = dims[dims["suppressed"]]
    assert len(hidden) == 2
    est = [c for c in dims.columns if c not in {*dimensions.IDENTIFIERS, "suppressed"}]
    assert hidden[est].isna().all().all()
    assert hidden[["dimension", "group", "level", "n", "df"]].notna().all().all()


# ---------------------------------------------------------------------------------------------
# pipeline steps


@pytest.fixture
def tiny_client(tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(TINY, root)
    survey = root / "data" / "raw" / "tiny" / "responses.csv"
    lines = survey.read_text().splitlines()
    extra = [",overall_sat,recommend"] + [
        f",{i % 11},{(3 * i) % 11}" for i in range(len(lines) - 1)
    ]
    survey.write_text("\n".join(a + b for a, b in zip(lines, extra, strict=True)) + "\n")
    cb_path = root / "data" / "raw" / "tiny" / "codebook.yaml"
    cb_path.write_text(cb_path.read_text() + "overall: overall_sat\nrecommend: recommend\n")
    return load_client("params/tiny.yaml", root=root)


def test_pipeline_steps_write_their_tables(tiny_client):
    client = tiny_client
    data = pipeline.intake(client)
    design = pipeline.survey_design(client, data.clean)
    table = pipeline.gap_table(client, data.clean, design)
    assert "p_adjusted" in table.columns
    shown = pipeline.shown_gaps(client, table)
    drivers = pipeline.key_drivers(client, data.clean, design, table)
    outputs = {
        "dimension_gaps.csv": pipeline.dimension_gaps(client, data.clean, design),
        "priorities.csv": pipeline.priorities(client, shown, drivers),
        "drivers.csv": drivers,
        "nps.csv": pipeline.nps(client, data.clean, design),
        "reliability.csv": pipeline.reliability(client, data.clean, design),
        "segments.csv": pipeline.segments(client, data.clean, design),
        "representativeness.csv": pipeline.representativeness(client, data.clean, design),
    }
    for name, frame in outputs.items():
        written = pd.read_csv(client.processed_dir / name)
        assert list(written.columns) == list(frame.columns), name
        assert len(written) == len(frame), name
    assert pipeline.trend(client, data.clean, design) is None  # no previous wave named
    drivers = outputs["drivers.csv"]
    assert {"tier", "stated", "share_ci_low"} <= set(drivers.columns)
    assert drivers["replicates"].iloc[0] == 500
    # one block per outcome the codebook names, each a whole model (shares add up to 100)
    assert list(dict.fromkeys(drivers["outcome"])) == ["overall", "recommend"]
    assert drivers.groupby("outcome")["share"].sum().to_numpy() == pytest.approx([100.0, 100.0])
    assert (
        drivers.groupby("outcome")["item"].apply(list)
        == [[i.id for i in client.codebook.items]] * 2
    ).all()
    # the priorities carry the overall drivers model's shares in every group level
    ranked = outputs["priorities.csv"]
    share = drivers[drivers["outcome"] == "overall"].set_index("item")["share"]
    shown = ranked[~ranked["suppressed"].astype(bool)]
    np.testing.assert_allclose(shown["derived_importance"], shown["item"].map(share))
    # Premium (4 respondents) is hidden in every per-level table
    for name in ("dimension_gaps.csv", "priorities.csv", "nps.csv", "segments.csv"):
        frame = outputs[name]
        premium = frame[frame["level"] == "Premium"]
        assert premium["suppressed"].astype(bool).all(), name


def test_pipeline_trend_from_a_previous_params_file(tiny_client):
    client = tiny_client
    prev_params = client.root / "params" / "tiny-previous.yaml"
    shutil.copy(client.params_file, prev_params)
    text = prev_params.read_text().replace("client: tiny", "client: tiny-previous")
    prev_params.write_text(text)
    config = client.config.model_copy(update={"previous": Path("params/tiny-previous.yaml")})
    client = type(client)(
        config=config, codebook=client.codebook, params_file=client.params_file, root=client.root
    )
    data = pipeline.intake(client)
    design = pipeline.survey_design(client, data.clean)
    out = pipeline.trend(client, data.clean, design)
    assert out is not None and (client.processed_dir / "trend.csv").is_file()
    assert out.notes.empty and out.waves["wave"].tolist() == ["tiny-previous", "tiny"]
    over = trend.current_rows(out.table)
    over = over[over["group"] == "all"]
    assert over["change"].to_numpy() == pytest.approx(0.0)  # the same survey twice
    assert not (client.root / "data" / "processed" / "tiny-previous").exists()


def test_pipeline_drivers_degrade_instead_of_failing(tiny_client, monkeypatch):
    client = tiny_client
    data = pipeline.intake(client)
    design = pipeline.survey_design(client, data.clean)
    table = pipeline.gap_table(client, data.clean, design)
    # too few complete answers for a model of 4 items: that outcome has no rows; neither
    # outcome: an empty table, no file
    few = data.clean.copy()
    few.loc[few.index[4:], "overall_sat"] = np.nan
    out = pipeline.key_drivers(client, few, design, table)
    assert set(out["outcome"]) == {"recommend"} and out["share"].sum() == pytest.approx(100.0)
    (client.processed_dir / "drivers.csv").unlink()
    few.loc[few.index[4:], "recommend"] = np.nan
    out = pipeline.key_drivers(client, few, design, table)
    assert out is not None and out.empty
    assert not (client.processed_dir / "drivers.csv").exists()

    # replicates that cannot be made: the shares without intervals
    def fail(*_a, **_k):
        raise DesignError("cannot recalibrate")

    monkeypatch.setattr(pipeline.replicates, "replicate_weights", fail)
    out = pipeline.key_drivers(client, data.clean, design, table)
    assert (out["replicates"] == 0).all() and out["share_ci_low"].isna().all()
    assert out.groupby("outcome")["share"].sum().to_numpy() == pytest.approx([100.0, 100.0])


def test_pipeline_drivers_of_recommend_only_and_priorities_from_recommend(tiny_client):
    """A codebook naming only recommend gets drivers (of recommend); the priority model takes
    its derived importance from the outcome analysis.drivers_outcome names."""
    client = tiny_client
    data = pipeline.intake(client)
    design = pipeline.survey_design(client, data.clean)
    table = pipeline.gap_table(client, data.clean, design)
    shown = pipeline.shown_gaps(client, table)
    both = pipeline.key_drivers(client, data.clean, design, table)
    only = type(client)(
        config=client.config,
        codebook=client.codebook.model_copy(update={"overall": None}),
        params_file=client.params_file,
        root=client.root,
    )
    drivers = pipeline.key_drivers(only, data.clean, design, table)
    assert set(drivers["outcome"]) == {"recommend"}
    written = pd.read_csv(client.processed_dir / "drivers.csv")
    assert set(written["outcome"]) == {"recommend"} and len(written) == len(client.codebook.items)
    recommend = both[both["outcome"] == "recommend"].reset_index(drop=True)
    np.testing.assert_allclose(drivers["share"], recommend["share"])
    # the default (overall) with no overall model: stated importance alone
    ranked = pipeline.priorities(only, shown, drivers)
    assert ranked["derived_importance"].isna().all()
    analysis = client.config.analysis.model_copy(update={"drivers_outcome": "recommend"})
    by_loyalty = type(client)(
        config=client.config.model_copy(update={"analysis": analysis}),
        codebook=client.codebook,
        params_file=client.params_file,
        root=client.root,
    )
    ranked = pipeline.priorities(by_loyalty, shown, both)
    hidden = ranked["suppressed"].astype(bool)
    share = recommend.set_index("item")["share"]
    np.testing.assert_allclose(
        ranked.loc[~hidden, "derived_importance"], ranked.loc[~hidden, "item"].map(share)
    )
