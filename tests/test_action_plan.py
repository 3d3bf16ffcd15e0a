"""The action plan (analysis.cx.action_plan, pipeline.action_plan, report section): per owner
their attributes in the priority model's order, the segments hurt most, what customers said,
quick wins; and the report section, on the session's real demo run (conftest ``demo_run``)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.config.params import Codebook
from analysis.cx import vocabulary
from analysis.cx.action_plan import ACTION_PLAN_COLUMNS, action_plan
from analysis.ops import demo
from analysis.report.action_plan import action_plan_section


def _codebook(owners: dict[str, tuple[str | None, str | None]]) -> Codebook:
    items = [
        {"id": i, "label": f"Item {i}", "dimension": "D", "expectation": f"e_{i}",
         "performance": f"p_{i}", **({"owner": o} if o else {}), **({"effort": e} if e else {})}
        for i, (o, e) in owners.items()
    ]  # fmt: skip
    return Codebook.model_validate({"id": "rid", "scale": {"min": 1, "max": 7}, "items": items})


def _priorities(rows: list[tuple[str, int, str, float]]) -> pd.DataFrame:
    """Overall rows (in the given order) plus a segment row that must be ignored."""
    out = [
        {"item": i, "label": f"Item {i}", "dimension": "D", "group": "all", "level": "all",
         "rank": k, "priority": cls, "top_priority": k == 1, "gap": gap, "se": 0.1,
         "ci_low": gap - 0.2, "ci_high": gap + 0.2, "p_adjusted": 0.001, "share_met": 0.5,
         "share_met_se": 0.02, "suppressed": False}
        for i, k, cls, gap in rows
    ]  # fmt: skip
    seg = dict(out[0], group="segment", level="A", rank=9)
    return pd.DataFrame([*out, seg])


def test_order_is_the_priorities_per_owner_and_quick_wins():
    cb = _codebook({"a": ("Billing", "low"), "b": ("Network", "low"), "c": ("Billing", "high"),
                    "d": (None, "low"), "e": ("Billing", "low")})  # fmt: skip
    pri = _priorities([("c", 1, "Fix first", -1.0), ("b", 2, "Improve", -0.8),
                       ("e", 3, "Monitor", -0.1), ("a", 4, "Improve", -0.5),
                       ("d", 5, "Fix first", -0.4)])  # fmt: skip
    plan = action_plan(pri, cb)
    assert list(plan.columns) == ACTION_PLAN_COLUMNS
    # owners in codebook order, Unassigned last; within an owner the priorities' order
    assert list(zip(plan["owner"], plan["item"], strict=True)) == [
        ("Billing", "c"), ("Billing", "e"), ("Billing", "a"), ("Network", "b"),
        (vocabulary.UNASSIGNED, "d"),
    ]  # fmt: skip
    assert list(plan["order"]) == [1, 2, 3, 1, 1]
    assert list(plan["rank"]) == [1, 3, 4, 2, 5]  # carried, never re-ranked
    assert list(plan["assigned"]) == [True, True, True, True, False]
    # quick win: an action class (Fix first, Improve) and low effort
    wins = dict(zip(plan["item"], plan["quick_win"], strict=True))
    assert wins == {"c": False, "e": False, "a": True, "b": True, "d": True}


def test_hurt_most_and_what_customers_said():
    cb = _codebook({"a": ("Billing", None), "b": ("Billing", None)})
    pri = _priorities([("a", 1, "Fix first", -1.0), ("b", 2, "Monitor", -0.1)])
    seg = pd.DataFrame(
        [
            # a: three levels clearly worse, one not clear, one suppressed, one better
            ("a", "segment", "Type", "Ent", "Enterprise", -0.5, 0.001, False),
            ("a", "segment", "Type", "SB", "Small business", -0.2, 0.01, False),
            ("a", "region", "Region", "W", "West", -0.3, 0.02, False),
            ("a", "region", "Region", "E", "East", -0.9, 0.30, False),
            ("a", "region", "Region", "N", "North", None, None, True),
            ("a", "segment", "Type", "Con", "Consumer", 0.4, 0.001, False),
            ("b", "segment", "Type", "Ent", "Enterprise", -0.1, 0.5, False),
        ],
        columns=["item", "group", "group_label", "level", "level_label", "difference",
                 "p_adjusted", "suppressed"],
    )  # fmt: skip
    themes = pd.DataFrame(
        [
            ("Small", "a", "all", "all", 0.05, False),
            ("Big", "a;b", "all", "all", 0.20, False),
            ("Hidden", "b", "all", "all", None, True),
            ("Big", "a;b", "segment", "Ent", 0.9, False),
        ],
        columns=["theme", "items", "group", "level", "share", "suppressed"],
    )
    quotes = pd.DataFrame({"theme": ["Big", "Big", "Small"], "quote": ["", "Too slow.", "Meh."]})
    plan = action_plan(pri, cb, seg, themes, quotes).set_index("item")
    assert plan.loc["a", "hurt_most"] == "Type: Enterprise; Region: West"
    assert plan.loc["a", "hurt_most_difference"] == "-0.5000; -0.3000"
    assert plan.loc["b", "hurt_most"] == ""
    assert plan.loc["a", "theme"] == "Big" and plan.loc["a", "theme_share"] == 0.20
    assert plan.loc["a", "quote"] == "Too slow."
    assert plan.loc["b", "theme"] == "Big"  # the hidden theme is never used
    assert action_plan(pri, cb, seg, hurt=1).set_index("item").loc["a", "hurt_most"] == (
        "Type: Enterprise"
    )


def test_a_priority_table_that_does_not_match_the_codebook_is_refused():
    cb = _codebook({"a": ("Billing", None), "b": ("Billing", None)})
    with pytest.raises(ValueError, match="no overall row for b"):
        action_plan(_priorities([("a", 1, "Fix first", -1.0)]), cb)


def test_no_owner_means_no_section():
    cb = _codebook({"a": (None, None)})
    plan = action_plan(_priorities([("a", 1, "Fix first", -1.0)]), cb)
    assert action_plan_section(plan).data == ""
    assert action_plan_section(None).data == ""


def test_demo_plan_follows_the_priorities(demo_run):
    pri = pd.read_csv(demo_run.processed / "priorities.csv", keep_default_na=False,
                      na_values=[""])  # fmt: skip
    plan = pd.read_csv(demo_run.processed / "action_plan.csv", keep_default_na=False,
                       na_values=[""])  # fmt: skip
    over = pri[(pri["group"] == "all") & (pri["level"] == "all")]
    assert sorted(plan["item"]) == sorted(over["item"])  # every item once
    order = list(over["item"])
    for owner, rows in plan.groupby("owner", sort=False):
        assert list(rows["item"]) == [i for i in order if i in set(rows["item"])], owner
        expected = {i for i, (o, _) in demo.OWNERS.items() if o == owner}
        if owner == vocabulary.UNASSIGNED:
            expected = {it.id for it in demo.ITEMS} - set(demo.OWNERS)
        assert set(rows["item"]) == expected
    merged = plan.merge(over[["item", "rank", "priority", "gap"]], on="item", suffixes=("", "_p"))
    assert (merged["rank"] == merged["rank_p"]).all()
    assert (merged["priority"].fillna("") == merged["priority_p"].fillna("")).all()
    wins = plan[plan["quick_win"]]
    assert len(wins) >= 1
    assert wins["priority"].isin(vocabulary.ACTION_CLASSES).all()
    assert (wins["effort"] == "low").all()
    # the report: the section after the priorities, the quick wins called out, hostile label
    html = demo_run.html
    assert (
        html.index('<h2 id="priorities">')
        < html.index('id="action-plan"')
        < html.index('<h2 id="gaps">')
    )
    story = html[html.index('id="action-plan"') : html.index('<h2 id="gaps">')]
    assert "Quick wins:" in story and story.count("oi-quick-win") >= len(wins)
    assert demo_run.HOSTILE_ESCAPED in story and demo_run.HOSTILE_LABEL not in html
    for owner in demo.OWNER_EMAILS:
        assert f"<h3>{owner}</h3>" in story
    assert 'id="action-plan-detail"' in html
