"""The action plan: each owner's attributes in priority order, with who is hurt most and what
customers said, quick wins called out.

The codebook may give each item an ``owner`` (the department that can fix it) and an ``effort``
(``low``, ``medium``, ``high``). The plan takes everything from tables already computed, and
computes no estimate of its own:

- the order, ``rank`` and ``priority`` class are the priority model's (:mod:`analysis.cx.
  priorities`, its overall rows in their order); nothing is re-ranked;
- the gap, its interval and the share of customers whose expectations are met are the same rows';
- the segments hurt most are the segment contrasts' (:mod:`analysis.cx.segments`): the levels
  whose gap on this attribute is clearly (``p_adjusted < 1 - confidence``) below the rest of the
  customers', the furthest below first, at most ``hurt`` of them;
- what customers said is the theme step's (:mod:`analysis.cx.themes`): of the shown overall
  themes that name the item, the one raised by the largest share of customers, and its first
  quote (quotes are already redacted and taken only from cells of ``min_cell`` respondents).

Every table it reads is already suppressed, so the plan shows nothing a suppressed cell hides.
Items without an owner are listed under :data:`~analysis.cx.vocabulary.UNASSIGNED`
(``assigned`` false), so every item of the ranking is in the plan once.

A quick win is an attribute of an action class (Fix first or Improve) whose effort is ``low``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import vocabulary
from analysis.cx.suppression import FLAG

ACTION_PLAN_COLUMNS = [
    "owner",
    "assigned",
    "order",
    "item",
    "label",
    "dimension",
    "rank",
    "priority",
    "top_priority",
    "gap",
    "se",
    "ci_low",
    "ci_high",
    "p_adjusted",
    "share_met",
    "share_met_se",
    "effort",
    "quick_win",
    "hurt_most",
    "hurt_most_difference",
    "theme",
    "theme_share",
    "quote",
    FLAG,
]
#: How many segment levels ``hurt_most`` names at most.
HURT = 2
#: Separator of the several levels in ``hurt_most`` and ``hurt_most_difference``.
SEP = "; "


def action_plan(
    priorities: pd.DataFrame,
    codebook: Codebook,
    segments: pd.DataFrame | None = None,
    themes: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    confidence: float = 0.95,
    hurt: int = HURT,
) -> pd.DataFrame:
    """Each owner's attributes in priority order (see the module docstring).

    Parameters
    ----------
    priorities
        :func:`analysis.cx.priorities.priorities` output (as written to ``priorities.csv``):
        its overall rows (``group == level == "all"``) give the order, class, gap and share met.
    codebook
        The items' ``owner`` and ``effort``.
    segments
        :func:`analysis.cx.segments.segment_contrasts`, suppressed (``segments.csv``; with
        ``group_label``/``level_label`` when labelled); None without segments.
    themes, quotes
        The theme step's tables (``themes.csv``: ``theme, items, group, level, share``, and
        ``suppressed``; ``quotes.csv``: ``theme, quote``); None without comments.
    confidence
        A level is hurt clearly when its contrast's ``p_adjusted < 1 - confidence``.
    hurt
        At most this many levels in ``hurt_most``.

    Returns
    -------
    pandas.DataFrame
        One row per item, columns ``owner, assigned, order, item, label, dimension, rank,
        priority, top_priority, gap, se, ci_low, ci_high, p_adjusted, share_met, share_met_se,
        effort, quick_win, hurt_most, hurt_most_difference, theme, theme_share, quote,
        suppressed``. Owners in codebook order (:meth:`Codebook.owners`), then ``Unassigned``;
        within an owner, the priority table's order (``order`` 1..k). ``assigned``: the item
        has an owner. ``effort``: the codebook's (empty when not given). ``quick_win``: priority
        Fix first or Improve and effort low. ``hurt_most``: up to ``hurt`` segment levels as
        ``Segment: level``, joined by ``"; "``; ``hurt_most_difference``: their differences from
        the rest (gap of the level minus gap of the others, 4 decimals), in the same order.
        ``theme``, ``theme_share`` (0-1), ``quote``: what customers said (empty without).

    Raises
    ------
    ValueError
        The priority table lacks overall rows for items of the codebook, or names items the
        codebook does not have.
    """
    over = _overall(priorities, codebook)
    by_id = {i.id: i for i in codebook.items}
    owner = [by_id[i].owner or vocabulary.UNASSIGNED for i in over["item"]]
    effort = [by_id[i].effort or "" for i in over["item"]]
    plan = over.assign(
        owner=owner,
        assigned=[by_id[i].owner is not None for i in over["item"]],
        effort=effort,
    )
    plan["quick_win"] = (
        plan["priority"].isin(vocabulary.ACTION_CLASSES).to_numpy()
        & (plan["effort"] == "low").to_numpy()
    )
    hurt_levels = _hurt_most(segments, confidence, hurt)
    plan["hurt_most"] = [hurt_levels.get(i, ("", ""))[0] for i in plan["item"]]
    plan["hurt_most_difference"] = [hurt_levels.get(i, ("", ""))[1] for i in plan["item"]]
    said = _said(themes, quotes)
    plan["theme"] = [said.get(i, ("", np.nan, ""))[0] for i in plan["item"]]
    plan["theme_share"] = [said.get(i, ("", np.nan, ""))[1] for i in plan["item"]]
    plan["quote"] = [said.get(i, ("", np.nan, ""))[2] for i in plan["item"]]
    owners = [*codebook.owners(), vocabulary.UNASSIGNED]
    plan["_owner"] = plan["owner"].map({o: k for k, o in enumerate(owners)})
    plan = plan.sort_values(["_owner", "_pos"], kind="stable").reset_index(drop=True)
    plan["order"] = plan.groupby("_owner").cumcount() + 1
    if FLAG not in plan.columns:
        plan[FLAG] = False
    return plan[ACTION_PLAN_COLUMNS]


def _overall(priorities: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The overall rows of the priority table in its order (``_pos``), checked against the
    codebook's items."""
    rows = priorities[
        (priorities["group"] == vocabulary.ALL) & (priorities["level"] == vocabulary.ALL)
    ]
    rows = rows.reset_index(drop=True).assign(_pos=lambda t: np.arange(len(t)))
    ids = [i.id for i in codebook.items]
    lacking = [i for i in ids if i not in set(rows["item"])]
    unknown = sorted(set(rows["item"]) - set(ids))
    if lacking or unknown or rows["item"].duplicated().any():
        raise ValueError(
            "the priority table does not match the codebook: "
            + "; ".join(
                part
                for part in (
                    f"no overall row for {', '.join(lacking)}" if lacking else "",
                    f"items not in the codebook: {', '.join(unknown)}" if unknown else "",
                    "an item has several overall rows" if rows["item"].duplicated().any() else "",
                )
                if part
            )
            + "; pass the priorities of this run (pipeline.priorities, priorities.csv)"
        )
    return rows


def _shown(table: pd.DataFrame, column: str) -> pd.Series:
    """Rows of ``table`` not suppressed and with a value in ``column``."""
    keep = table[column].notna()
    if FLAG in table.columns:
        keep &= ~table[FLAG].fillna(False).astype(bool)
    return keep


def _label(row: pd.Series, column: str) -> str:
    """A segment's or level's display name (``<column>_label`` when the table has it)."""
    name = row.get(f"{column}_label")
    return str(row[column]) if name is None or pd.isna(name) else str(name)


def _hurt_most(
    segments: pd.DataFrame | None, confidence: float, hurt: int
) -> dict[str, tuple[str, str]]:
    """Item -> (its hurt levels as ``Segment: level`` joined, their differences joined): the
    levels clearly below the rest, furthest below first, at most ``hurt``."""
    if segments is None or segments.empty or hurt <= 0:
        return {}
    t = segments[_shown(segments, "difference")]
    t = t[(t["difference"].astype(float) < 0) & (t["p_adjusted"].astype(float) < 1 - confidence)]
    t = t.sort_values("difference", kind="stable")
    out: dict[str, tuple[str, str]] = {}
    for item, rows in t.groupby("item", sort=False):
        top = rows.head(hurt)
        names = [f"{_label(r, 'group')}: {_label(r, 'level')}" for _, r in top.iterrows()]
        diffs = [f"{float(d):.4f}" for d in top["difference"]]
        out[str(item)] = (SEP.join(names), SEP.join(diffs))
    return out


def _said(
    themes: pd.DataFrame | None, quotes: pd.DataFrame | None
) -> dict[str, tuple[str, float, str]]:
    """Item -> (theme, share, first quote) of the shown overall theme naming the item that the
    largest share of customers raise."""
    if themes is None or themes.empty:
        return {}
    over = themes[(themes["group"] == vocabulary.ALL) & _shown(themes, "share")]
    over = over.sort_values("share", ascending=False, kind="stable")
    out: dict[str, tuple[str, float, str]] = {}
    for _, r in over.iterrows():
        items = [] if pd.isna(r["items"]) else [i.strip() for i in str(r["items"]).split(";")]
        quote = _first_quote(quotes, str(r["theme"]))
        for item in items:
            out.setdefault(item, (str(r["theme"]), float(r["share"]), quote))
    return out


def _first_quote(quotes: pd.DataFrame | None, theme: str) -> str:
    """The theme's first non-empty quote (``""`` when none)."""
    if quotes is None or quotes.empty:
        return ""
    said = [
        str(q).strip()
        for q in quotes.loc[quotes["theme"].astype(str) == theme, "quote"]
        if not pd.isna(q) and str(q).strip()
    ]
    return said[0] if said else ""


def owner_rows(plan: pd.DataFrame, owner: str) -> pd.DataFrame:
    """The rows of one owner (an owner the plan does not name: no rows), in plan order."""
    return plan[plan["owner"] == owner].reset_index(drop=True)


def owners_of(plan: pd.DataFrame) -> Sequence[str]:
    """The owners of a plan in plan order (``Unassigned`` last, if any)."""
    return list(dict.fromkeys(plan["owner"].astype(str)))
