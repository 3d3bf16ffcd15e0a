"""The "Action plan" section of the client report: per owner (the department the codebook names
as able to fix an attribute), their attributes in the priority model's order, with the gap, who
is hurt most and what customers said; quick wins (Fix first or Improve, low effort) called out.

The table is the pipeline's ``action_plan.csv`` (:func:`analysis.cx.action_plan.action_plan`);
nothing is re-ranked or re-estimated here. The story part lists each owner's attributes that
fall clearly short (Fix first, Improve), compactly; the detail part (technical appendix) is the
whole plan as a table. :func:`owner_view` is the same data for one owner alone: the email each
owner receives (:mod:`analysis.ops.deliver`). Rendered from
``templates/sections/action_plan.html.j2``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import HTML

from analysis.cx import vocabulary
from analysis.cx.action_plan import SEP, owner_rows, owners_of
from analysis.report import i18n
from analysis.report.formatting import fmt_pct, is_hidden, item_label, missing, word
from analysis.report.templating import check_part, section
from analysis.report.themes import in_sentence, short_quote

#: The columns of the action plan the report reads (``action_plan.csv``).
PLAN_COLUMNS = (
    "owner", "assigned", "order", "item", "label", "dimension", "rank", "priority", "gap",
    "ci_low", "ci_high", "p_adjusted", "share_met", "effort", "quick_win", "hurt_most",
    "theme", "theme_share", "quote",
)  # fmt: skip


def _checked(plan: pd.DataFrame) -> pd.DataFrame:
    lacking = [c for c in PLAN_COLUMNS if c not in plan.columns]
    if lacking:
        raise ValueError(
            f"the action plan lacks the columns {', '.join(lacking)}: pass the result of "
            "analysis.ops.pipeline.action_plan (action_plan.csv)"
        )
    return plan


def effort_word(effort: str) -> str:
    """A codebook ``effort`` (``low``, ``medium``, ``high``) in the report's language; ``""``
    for none (the plan's CSV keeps the codebook's word)."""
    words = {
        "low": i18n.pgettext("effort", "low"),
        "medium": i18n.pgettext("effort", "medium"),
        "high": i18n.pgettext("effort", "high"),
    }
    return words.get(effort, effort)


def _class_number(priority: Any) -> int:
    classes = vocabulary.PRIORITY_CLASSES
    return classes.index(priority) + 1 if priority in classes else 0


def _text(value: Any) -> str:
    return "" if missing(value) else str(value).strip()


def plan_row(r: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """One attribute of the plan as the templates show it: ``rank, label, dimension, hidden,
    priority, class_number, action`` (Fix first or Improve), ``cell`` (for the gap cell),
    ``ci_low, ci_high, share_met, effort, quick_win, hurt`` (list of ``Segment: level``),
    ``theme`` (sentence form), ``theme_share`` (text), ``quote`` (shortened)."""
    row = dict(r)
    hurt = _text(row.get("hurt_most"))
    theme = _text(row.get("theme"))
    quote = _text(row.get("quote"))
    return {
        "rank": row["rank"],
        "label": item_label(row),
        "dimension": _text(row.get("dimension")),
        "hidden": is_hidden(row),
        "priority": word(_text(row.get("priority"))),
        "class_number": _class_number(row.get("priority")),
        "action": row.get("priority") in vocabulary.ACTION_CLASSES,
        "cell": {**row, "p_value": row["p_adjusted"]},
        "ci_low": row["ci_low"],
        "ci_high": row["ci_high"],
        "share_met": row.get("share_met"),
        "effort": effort_word(_text(row.get("effort"))),
        "quick_win": str(row.get("quick_win")).lower() == "true",
        "hurt": hurt.split(SEP) if hurt else [],
        "theme": in_sentence(theme) if theme else "",
        "theme_share": fmt_pct(row.get("theme_share")) if theme else "",
        "quote": short_quote(quote) if quote else "",
    }


def owner_view(plan: pd.DataFrame, owner: str) -> dict[str, Any]:
    """One owner's part of the plan: ``name, assigned, rows`` (:func:`plan_row`, every
    attribute of theirs in priority order), ``actions`` (the rows that fall clearly short),
    ``n_items``, ``n_other`` (the rest: monitor, maintain or hidden), ``quick_wins`` (labels)."""
    mine = owner_rows(_checked(plan), owner)
    rows = [plan_row(r) for _, r in mine.iterrows()]
    actions = [r for r in rows if r["action"] and not r["hidden"]]
    return {
        "name": word(owner) if owner == vocabulary.UNASSIGNED else owner,
        "assigned": owner != vocabulary.UNASSIGNED,
        "rows": rows,
        "actions": actions,
        "n_items": len(rows),
        "n_other": len(rows) - len(actions),
        "quick_wins": [r["label"] for r in actions if r["quick_win"]],
    }


def action_plan_view(plan: pd.DataFrame, confidence: float) -> dict[str, Any]:
    """The data of the section: ``owners`` (:func:`owner_view` of each, plan order,
    ``Unassigned`` last), ``quick_wins`` (``label, owner`` in rank order), ``unassigned``
    (how many attributes have no owner), ``unassigned_name``, ``confidence``."""
    owners = [owner_view(plan, o) for o in owners_of(_checked(plan))]
    wins = [
        {"label": r["label"], "owner": o["name"], "rank": r["rank"]}
        for o in owners
        for r in o["actions"]
        if r["quick_win"]
    ]
    wins.sort(key=lambda w: float(w["rank"]))
    unassigned = sum(o["n_items"] for o in owners if not o["assigned"])
    return {
        "owners": owners,
        "quick_wins": wins,
        "unassigned": unassigned,
        "unassigned_name": word(vocabulary.UNASSIGNED),
        "confidence": confidence,
    }


def action_plan_section(
    plan: pd.DataFrame | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    part: str = "story",
) -> HTML:
    """The "Action plan" section (``part="story"``: each owner's clear shortfalls, after the
    priorities) or its full table (``part="detail"``, the technical appendix). Empty when there
    is no plan (no item of the codebook has an owner)."""
    check_part(part)
    if plan is None or plan.empty or not plan["assigned"].astype(str).eq("True").any():
        return HTML("")
    return section(
        "action_plan.html.j2",
        part=part,
        min_cell=min_cell,
        any_hidden=any(is_hidden(r) for _, r in plan.iterrows()),
        **action_plan_view(plan, confidence),
    )
