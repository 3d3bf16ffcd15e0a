"""The "What customers said" section of the client report: the themes of the open comments by
the share of customers raising them (design-based, with intervals), the share of comments coded,
the biggest themes in plain words, a few short quotes, and per segment in the technical appendix;
plus what customers said about each top priority (:func:`said_about`, for the priorities
section and the "At a glance" page).

The tables come from the pipeline's theme step (``themes.csv``: one row per theme and domain;
``quotes.csv``: ``theme, quote``, already redacted of personal data and taken only from cells
of at least ``min_cell`` respondents). Quotes are never attributed. A level is called clearly
different from the other customers only after the Benjamini-Hochberg adjustment
(``p_adjusted``); suppressed cells show ``–``. Rendered from
``templates/sections/themes.html.j2``.
"""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd
from IPython.display import HTML
from markupsafe import Markup

from analysis.report import i18n, plots
from analysis.report.figures import section_figure
from analysis.report.formatting import (
    fmt_pct,
    is_clear_adjusted,
    is_hidden,
    level_names,
    missing,
    overall_rows,
    segment_name,
    segment_rows,
)
from analysis.report.templating import check_part, section

#: The columns of the themes table the report reads (``themes.csv``).
THEME_COLUMNS = (
    "theme", "items", "group", "level", "n", "comments", "raising", "share", "ci_low",
    "ci_high", "p_value", "p_adjusted", "share_of_comments", "coded_share", "source",
    "suppressed",
)  # fmt: skip
#: The columns of the quotes table (``quotes.csv``).
QUOTE_COLUMNS = ("theme", "quote")
#: How many themes the plain-words sentence names.
BIGGEST = 3
#: A quote longer than this (characters) is cut at a word with "…".
QUOTE_CHARS = 160
#: Quotes shown beside a top priority in the priorities section (the first page shows one).
PRIORITY_QUOTES = 2


class ThemeTables(Protocol):
    """What the pipeline's theme step returns: the themes table and the quotes table."""

    @property
    def table(self) -> pd.DataFrame: ...

    @property
    def quotes(self) -> pd.DataFrame: ...


def checked(themes: ThemeTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The themes and quotes tables, after checking they have the columns the report reads
    (a ValueError naming the missing columns otherwise)."""
    for name, frame, columns in (
        ("themes", themes.table, THEME_COLUMNS),
        ("quotes", themes.quotes, QUOTE_COLUMNS),
    ):
        lacking = [c for c in columns if c not in frame.columns]
        if lacking:
            raise ValueError(
                f"the {name} table lacks the columns {', '.join(lacking)}: pass the result of "
                "analysis.ops.pipeline.themes (themes.csv and quotes.csv)"
            )
    return themes.table, themes.quotes


def in_sentence(theme: str) -> str:
    """A theme's name inside a sentence: ``Waiting times`` -> ``waiting times``; names that
    are not plain capitalised words (``NPS``, ``5G``) as written."""
    if len(theme) > 1 and theme[0].isupper() and theme[1:2].islower():
        return theme[0].lower() + theme[1:]
    return theme


def short_quote(quote: str, limit: int = QUOTE_CHARS) -> str:
    """A quote of at most ``limit`` characters: cut at the last whole word with "…"."""
    text = " ".join(str(quote).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def quotes_of(quotes: pd.DataFrame, theme: str, k: int) -> list[str]:
    """The first ``k`` distinct quotes of a theme (shortened by :func:`short_quote`; a quote
    repeating an earlier one, ignoring case, is left out), in table order."""
    if k <= 0:
        return []
    rows = quotes[quotes["theme"].astype(str) == theme]
    texts: dict[str, str] = {}
    for q in rows["quote"]:
        if missing(q) or not str(q).strip():
            continue
        text = short_quote(q)
        texts.setdefault(text.casefold(), text)
        if len(texts) == k:
            break
    return list(texts.values())


def _shown_overall(table: pd.DataFrame) -> pd.DataFrame:
    """The overall rows with a share shown, largest share first."""
    over = overall_rows(table)
    keep = [not is_hidden(r, "share") for _, r in over.iterrows()]
    return over[keep].sort_values("share", ascending=False, kind="stable")


def _first_value(rows: pd.DataFrame, column: str) -> Any:
    """The first non-missing value of ``column`` in ``rows`` (None when there is none)."""
    values = [v for v in rows[column] if not missing(v)]
    return values[0] if values else None


def themes_view(
    themes: ThemeTables, confidence: float, min_cell: int | None, quotes_per_theme: int = 3
) -> dict[str, Any]:
    """The data of the section.

    Returns
    -------
    dict
        ``shown`` (False when no theme can be shown; then only ``any_hidden``, ``min_cell``);
        ``n`` (customers), ``comments`` (customers who commented), ``coded_share`` (share of
        the comments raising any theme, 0-1, or None); ``biggest`` (``name, share`` as text);
        ``figure`` (Markup); ``n_hidden`` (overall themes not shown); ``rows`` (each overall
        row with its ``name``, ``hidden`` and ``quotes``: short, never attributed);
        ``suggested`` (whether themes were suggested from the comments, not the codebook);
        ``groups`` (per segment variable: ``group``, ``levels`` (name, n), ``themes`` (name,
        overall row, each level's row or None)); ``any_hidden``, ``confidence``,
        ``min_cell``.
    """
    table, quotes = checked(themes)
    over = overall_rows(table)
    shown = _shown_overall(table)
    groups, seg_hidden = _segment_groups(table, over, confidence)
    any_hidden = seg_hidden or len(shown) < len(over)
    if shown.empty:
        return {"shown": False, "any_hidden": any_hidden, "min_cell": min_cell}
    order = list(shown["theme"].astype(str)) + [
        str(t) for t in over["theme"] if str(t) not in set(shown["theme"].astype(str))
    ]
    by_theme = {str(r["theme"]): r for _, r in over.iterrows()}
    rows = []
    for name in order:
        r = by_theme[name]
        hidden = is_hidden(r, "share")
        rows.append(
            {
                **r.to_dict(),
                "name": name,
                "hidden": hidden,
                "quotes": [] if hidden else quotes_of(quotes, name, quotes_per_theme),
            }
        )
    figure = section_figure(
        lambda layout: plots.theme_chart(table, confidence=confidence, layout=layout),
        i18n.gettext(
            "Chart of the share of customers raising each theme in their comments, with its "
            "interval; each share is written beside it, and the technical appendix has them "
            "in a table."
        ),
    )
    coded = _first_value(over, "coded_share")
    return {
        "shown": True,
        "n": _first_value(over, "n"),
        "comments": _first_value(over, "comments"),
        "coded_share": None if coded is None else float(coded),
        "biggest": [
            {"name": in_sentence(str(r["theme"])), "share": fmt_pct(r["share"])}
            for _, r in shown.head(BIGGEST).iterrows()
        ],
        "figure": Markup(figure),
        "rows": rows,
        "n_hidden": len(over) - len(shown),
        "suggested": bool((over["source"].astype(str) == "suggested").any()),
        "groups": groups,
        "any_hidden": any_hidden,
        "confidence": confidence,
        "min_cell": min_cell,
    }


def _segment_groups(
    table: pd.DataFrame, over: pd.DataFrame, confidence: float
) -> tuple[list[dict[str, Any]], bool]:
    """Per segment variable: its display name, levels (``name, n``) and per theme its overall
    row and its row in each level (None where there is none, with a ``marked`` flag: the level
    differs clearly from the other customers after the adjustment); whether any cell is
    hidden."""
    seg = segment_rows(table)
    groups, any_hidden = [], False
    for group in dict.fromkeys(seg["group"].astype(str)):
        g = seg[seg["group"].astype(str) == group]
        levels = list(dict.fromkeys(g["level"].astype(str)))
        cells = {(str(r["theme"]), str(r["level"])): r.to_dict() for _, r in g.iterrows()}
        rows = []
        for _, r in over.iterrows():
            by_level = []
            for lv in levels:
                c = cells.get((str(r["theme"]), lv))
                if c is None or is_hidden(c, "share"):
                    any_hidden = True
                    by_level.append(None)
                else:
                    by_level.append({**c, "marked": is_clear_adjusted(c, confidence)})
            rows.append({"name": str(r["theme"]), "row": r.to_dict(), "cells": by_level})
        names = level_names(g)
        groups.append(
            {
                "group": segment_name(g.iloc[0]),
                "levels": [
                    {"name": names[lv], "n": g.loc[g["level"].astype(str) == lv, "n"].max()}
                    for lv in levels
                ],
                "themes": rows,
            }
        )
    return groups, any_hidden


def themes_section(
    themes: ThemeTables | None,
    confidence: float = 0.95,
    min_cell: int | None = None,
    quotes_per_theme: int = 3,
    part: str = "story",
) -> HTML:
    """The "What customers said" section, rendered from ``templates/sections/themes.html.j2``:
    ``part="story"`` the share of comments coded, the biggest themes in words, the chart and
    the quotes; ``part="detail"`` (for the technical appendix) the table of every theme (share,
    interval, share of comments) and the share raising each theme in each segment. Empty when
    None (no comment columns, or no comments)."""
    check_part(part)
    if themes is None or themes.table.empty:
        return HTML("")
    view = themes_view(themes, confidence, min_cell, quotes_per_theme)
    return section("themes.html.j2", part=part, **view)


def said_about(
    themes: ThemeTables | None, item: str, k: int = PRIORITY_QUOTES
) -> dict[str, Any] | None:
    """What customers said about one attribute: of the themes whose ``items`` name it, the one
    raised by the largest share of customers (overall, shown), as ``theme`` (its sentence
    form), ``share`` (as text: ``18%``) and up to ``k`` short ``quotes``; None when no shown
    theme speaks to the item."""
    if themes is None or themes.table.empty:
        return None
    table, quotes = checked(themes)
    for _, r in _shown_overall(table).iterrows():
        items = [] if missing(r["items"]) else str(r["items"]).split(";")
        if item in (i.strip() for i in items):
            return {
                "theme": in_sentence(str(r["theme"])),
                "share": fmt_pct(r["share"]),
                "quotes": quotes_of(quotes, str(r["theme"]), k),
            }
    return None
