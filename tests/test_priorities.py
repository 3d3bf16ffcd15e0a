"""The priority model (cx.priorities, METHODS.md "The priority model"): one class and one rank
per item and group level, from hand-worked tables and from random ones (the runs property)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.cx import gaps, priorities, suppression, vocabulary

FIX, IMPROVE, MONITOR, MAINTAIN = vocabulary.PRIORITY_CLASSES


def table(rows: list[tuple], level: tuple[str, str] = ("all", "all")) -> pd.DataFrame:
    """A gap table of (item, expectation, gap, p_adjusted[, n]) rows in one group level."""
    out = []
    for row in rows:
        item, e, gap, padj, *n = row
        out.append(
            {
                "item": item,
                "label": item.upper(),
                "dimension": "D",
                "group": level[0],
                "level": level[1],
                "n": n[0] if n else 50,
                "expectation": e,
                "performance": e + gap,
                "gap": gap,
                "se": 0.1,
                "ci_low": gap - 0.2,
                "ci_high": gap + 0.2,
                "df": 49,
                "p_value": padj,
                "p_adjusted": padj,
                "share_met": 0.5,
                "share_met_se": 0.05,
            }
        )
    return pd.DataFrame(out)


def drivers_table(
    vs: dict[str, str | None], share: dict[str, float], outcome: str = vocabulary.OVERALL
) -> pd.DataFrame:
    """A drivers table of one outcome's model (columns ``outcome, item, share, vs_average``)."""
    return pd.DataFrame(
        {
            "outcome": outcome,
            "item": list(vs),
            "share": [share[i] for i in vs],
            "vs_average": list(vs.values()),
        }
    )


# hand-worked: mean expectation over the six items = (6.5 + 6 + 4 + 4.5 + 6.2 + 5.3) / 6 = 5.4167
ROWS = [
    ("a", 6.5, -2.0, 0.001),  # clear shortfall, stated high: Fix first
    ("b", 6.0, -0.2, 0.30),  # shortfall, not clear: Monitor
    ("c", 4.0, -1.0, 0.01),  # clear shortfall, stated low: Improve (unless derived high)
    ("d", 4.5, 1.5, 0.001),  # clearly exceeds: Maintain
    ("e", 6.2, -1.2, 0.02),  # clear shortfall, stated high: Fix first
    ("f", 5.3, 0.0, 0.90),  # no shortfall (gap 0): Maintain
]


def test_each_class_and_the_rank_order_without_drivers():
    out = priorities.priorities(table(ROWS), top=3).set_index("item")
    assert out["stated_high"].to_dict() == {
        "a": True,
        "b": True,
        "c": False,
        "d": False,
        "e": True,
        "f": False,
    }
    assert out["derived_high"].isna().all() and out["derived_importance"].isna().all()
    assert out["priority"].to_dict() == {
        "a": FIX,
        "e": FIX,
        "c": IMPROVE,
        "b": MONITOR,
        "f": MAINTAIN,
        "d": MAINTAIN,
    }
    # Fix first by gap (a -2.0, e -1.2), Improve (c), Monitor (b), Maintain smallest surplus first
    assert out["rank"].to_dict() == {"a": 1, "e": 2, "c": 3, "b": 4, "f": 5, "d": 6}
    assert out["top_priority"].to_dict() == {
        "a": True,
        "e": True,
        "c": True,
        "b": False,
        "f": False,
        "d": False,
    }
    assert list(priorities.priorities(table(ROWS))["item"]) == ["a", "e", "c", "b", "f", "d"]


def test_derived_importance_makes_an_item_important_only_when_clearly_above():
    drivers = drivers_table(
        {"a": "unclear", "b": "above", "c": "above", "d": "above", "e": "below", "f": None},
        {"a": 10.0, "b": 30.0, "c": 25.0, "d": 20.0, "e": 5.0, "f": 10.0},
    )
    out = priorities.priorities(table(ROWS), drivers).set_index("item")
    # c is clearly above the average share: important, so its clear shortfall is Fix first
    assert out.loc["c", "priority"] == FIX and out.loc["c", "derived_high"]
    # b and d: derived high changes nothing (not a clear shortfall / no shortfall)
    assert out.loc["b", "priority"] == MONITOR and out.loc["d", "priority"] == MAINTAIN
    # e: stated high is enough, derived clearly below does not undo it
    assert out.loc["e", "priority"] == FIX and not out.loc["e", "derived_high"]
    # f: no interval (vs_average missing): derived_high unknown, stated alone decides
    assert pd.isna(out.loc["f", "derived_high"]) and out.loc["f", "derived_importance"] == 10.0
    # Fix first a (-2.0), e (-1.2), c (-1.0): nothing left in Improve
    assert out["rank"].to_dict() == {"a": 1, "e": 2, "c": 3, "b": 4, "f": 5, "d": 6}
    assert out["derived_importance"].to_dict()["b"] == 30.0


def test_derived_importance_comes_from_the_outcome_asked_for():
    # c is a clear shortfall with low stated importance: Improve, unless the chosen outcome's
    # model finds it clearly above the average share (then Fix first)
    overall = drivers_table({"c": "below"}, {"c": 5.0}, vocabulary.OVERALL)
    loyalty = drivers_table({"c": "above"}, {"c": 40.0}, vocabulary.RECOMMEND)
    both = pd.concat([overall, loyalty], ignore_index=True)
    by_overall = priorities.priorities(table(ROWS), both).set_index("item")
    by_loyalty = priorities.priorities(table(ROWS), both, outcome="recommend").set_index("item")
    assert by_overall.loc["c", "priority"] == IMPROVE
    assert by_overall.loc["c", "derived_importance"] == 5.0
    assert by_loyalty.loc["c", "priority"] == FIX and by_loyalty.loc["c", "derived_high"]
    assert by_loyalty.loc["c", "derived_importance"] == 40.0
    # the outcome has no model (e.g. the codebook names no such question): stated alone
    only_overall = priorities.priorities(table(ROWS), overall, outcome="recommend")
    assert only_overall["derived_importance"].isna().all()
    assert only_overall["derived_high"].isna().all()
    with pytest.raises(ValueError, match="outcome must be one of"):
        priorities.priorities(table(ROWS), both, outcome="loyalty")


def test_ties_by_expectation_then_table_order():
    rows = [
        ("x", 5.0, -1.0, 0.001),
        ("y", 6.0, -1.0, 0.001),
        ("z", 6.0, -1.0, 0.001),
        ("w", 4.0, -1.0, 0.001),
    ]
    out = priorities.priorities(table(rows)).set_index("item")
    # mean expectation 5.25: y, z Fix first (tied: table order), x, w Improve (x: higher e)
    assert out["rank"].to_dict() == {"y": 1, "z": 2, "x": 3, "w": 4}
    assert out["priority"].to_dict() == {"y": FIX, "z": FIX, "x": IMPROVE, "w": IMPROVE}


def test_top_priorities_are_the_top_of_the_ranking_and_only_clear_shortfalls():
    out = priorities.priorities(table(ROWS), top=1).set_index("item")
    assert out["top_priority"][out["top_priority"]].index.tolist() == ["a"]
    nothing_clear = [("a", 6.0, -1.0, 0.2), ("b", 5.0, 0.5, 0.01)]
    out = priorities.priorities(table(nothing_clear), top=3)
    assert not out["top_priority"].any()
    assert out["priority"].tolist() == [MONITOR, MAINTAIN]


def test_hidden_rows_get_no_class_or_rank_and_do_not_move_the_stated_mean():
    rows = [*ROWS, ("h", 7.0, -3.0, 0.001, 3)]  # a small cell: hidden
    shown = suppression.suppress(table(rows), 5, gaps.IDENTIFIERS)
    drivers = drivers_table({"h": "above"}, {"h": 40.0})
    out = priorities.priorities(shown, drivers).set_index("item")
    hidden = out.loc["h"]
    assert hidden["suppressed"] and pd.isna(hidden["priority"]) and pd.isna(hidden["rank"])
    assert pd.isna(hidden["stated_high"]) and pd.isna(hidden["derived_high"])
    assert np.isnan(hidden["derived_importance"]) and pd.isna(hidden["top_priority"])
    # the stated-importance mean is over the six shown items only: c, d, f stay low
    assert out.loc[["c", "d", "f"], "stated_high"].eq(False).all()
    assert out["rank"].dropna().astype(int).tolist() == [1, 2, 3, 4, 5, 6]
    assert priorities.priorities(shown)["item"].iloc[-1] == "h"  # hidden rows last


def test_every_group_level_is_ranked_on_its_own_with_the_overall_drivers():
    overall = table(ROWS)
    segment = table(
        [("a", 6.0, 0.5, 0.01), ("b", 6.0, -1.5, 0.001), ("c", 3.0, -1.0, 0.001)],
        level=("segment", "Business"),
    )
    drivers = drivers_table({"c": "above"}, {"c": 25.0})
    out = priorities.priorities(pd.concat([overall, segment], ignore_index=True), drivers)
    seg = out[out["group"] == "segment"].set_index("item")
    # segment mean expectation 5.0: b stated high; c low but clearly a driver (overall model)
    assert seg["priority"].to_dict() == {"b": FIX, "c": FIX, "a": MAINTAIN}
    assert seg["rank"].to_dict() == {"b": 1, "c": 2, "a": 3}
    assert seg.loc["c", "derived_importance"] == 25.0
    assert out[out["group"] == "all"]["rank"].tolist() == [1, 2, 3, 4, 5, 6]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 7),  # expectation
            st.integers(-4, 4),  # gap (whole points: ties happen)
            st.sampled_from([0.001, 0.04, 0.2, 0.9]),  # p_adjusted
            st.sampled_from([2, 50, 50, 50]),  # n: some hidden
            st.sampled_from([None, "above", "below", "unclear"]),  # drivers vs_average
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 4),
)
def test_each_class_is_an_unbroken_run_down_the_ranking(rows, top):
    items = [f"i{j}" for j in range(len(rows))]
    gap_rows = [
        (i, float(e), float(g), p, n) for i, (e, g, p, n, _) in zip(items, rows, strict=True)
    ]
    shown = suppression.suppress(table(gap_rows), 5, gaps.IDENTIFIERS)
    drivers = drivers_table(
        {i: r[4] for i, r in zip(items, rows, strict=True)}, dict.fromkeys(items, 10.0)
    )
    out = priorities.priorities(shown, drivers, top=top)
    ranked = out[out["rank"].notna()]
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))
    order = [vocabulary.PRIORITY_CLASSES.index(c) for c in ranked["priority"]]
    assert order == sorted(order)  # classes in vocabulary order: each one unbroken run
    for cls in vocabulary.PRIORITY_CLASSES:
        run = ranked[ranked["priority"] == cls]["gap"].tolist()
        assert run == sorted(run)
    clear = ranked["verdict"] == vocabulary.SHORTFALL
    assert (ranked["priority"].isin([FIX, IMPROVE]) == clear).all()
    assert (
        ranked.loc[~clear, "priority"] == np.where(ranked.loc[~clear, "gap"] < 0, MONITOR, MAINTAIN)
    ).all()
    flagged = ranked[ranked["top_priority"].astype(bool)]
    n_action = int(clear.sum())
    assert flagged["rank"].tolist() == list(range(1, min(top, n_action) + 1))
    assert out.loc[out["rank"].isna(), "priority"].isna().all()
    assert len(ranked) == int((~out["suppressed"]).sum())


def test_crosshairs_do_not_change_the_classes():
    mean = priorities.priorities(table(ROWS))
    mid = priorities.priorities(table(ROWS), scale=(1, 7), crosshairs="midpoint")
    pd.testing.assert_series_equal(mean["priority"], mid["priority"])
    assert set(mean.columns) == set(priorities.PRIORITY_COLUMNS)
    with pytest.raises(ValueError, match="crosshairs"):
        priorities.priorities(table(ROWS), crosshairs="median")
