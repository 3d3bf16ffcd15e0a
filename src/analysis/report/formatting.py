"""Formatting shared by the report's sections, charts and email: numbers, percentages and
intervals, which rows of a result table are shown, display names, and the wording of notes. No
HTML: the templates (:mod:`analysis.report.templating`) make it and escape every value; these
functions are their filters and the view models' helpers.

One way to do each thing: a missing value shows as :data:`DASH`, a negative number with a real
minus sign (:data:`MINUS`), an interval as ``lo to hi`` (:func:`interval`); a row is hidden when
it is flagged ``suppressed`` or has no value (:func:`is_hidden`, :func:`shown_rows`); a result is
clear as :func:`analysis.cx.vocabulary.is_clear` says. Nothing here computes a statistic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.cx import vocabulary
from analysis.report import i18n

DASH = "–"  # shown for a suppressed or missing value
MINUS = "−"  # typographic minus sign for negative numbers

# ---------------------------------------------------------------------------------------------
# values


def missing(value: Any) -> bool:
    """Whether a value is missing (None, NaN, NA, NaT)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def flag(value: Any) -> bool:
    """A nullable boolean as a plain bool (missing: False)."""
    return not missing(value) and bool(value)


def as_dict(obj: Any) -> dict[str, Any]:
    """A mapping, an object with ``to_dict()`` or a plain object as a dict."""
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    return dict(vars(obj))


def fmt_num(value: Any, digits: int = 2, signed: bool = False) -> str:
    """A number with ``digits`` decimals and a real minus sign; missing values as ``–``."""
    if missing(value):
        return DASH
    x = float(value)
    if round(x, digits) == 0:
        x = 0.0  # no "−0.00"
    text = i18n.decimal(abs(x), digits)
    if x < 0:
        return MINUS + text
    return ("+" + text) if signed and x > 0 else text


def fmt_int(value: Any) -> str:
    """A whole number with thousands separators; missing values as ``–``."""
    if missing(value):
        return DASH
    return i18n.decimal(round(float(value)), 0)


def fmt_pct(value: Any, digits: int = 0) -> str:
    """A share (0-1) as a percentage."""
    if missing(value):
        return DASH
    return i18n.percent(float(value), digits)


def level_pct(confidence: float) -> str:
    """A confidence level as a percentage (``0.95`` -> ``95%``)."""
    return i18n.percent_text(f"{100 * confidence:g}")


def fmt_date(day: dt.date) -> str:
    """A day as ``1 December 2026`` (in the report's language: ``1. Dezember 2026``)."""
    return i18n.long_date(day)


def plural(n: int, message: str, **values: str) -> str:
    """``n`` (in the language's number format) and ``values`` written into the form of a
    message that ``i18n.ngettext`` chose for ``n``::

        plural(n, i18n.ngettext("%(n)s respondent", "%(n)s respondents", n))  # "1,234 respondents"
    """
    return message % {"n": fmt_int(n), **values}


def interval(lo: Any, hi: Any, digits: int = 2) -> str:
    """An interval as ``lo to hi``; ``–`` when either end is missing."""
    if missing(lo) or missing(hi):
        return DASH
    return i18n.gettext("%(low)s to %(high)s") % {
        "low": fmt_num(lo, digits),
        "high": fmt_num(hi, digits),
    }


def p_text(p: Any) -> str:
    """A p-value as ``p = 0.012`` or ``p < 0.001``; ``–`` when missing."""
    if missing(p):
        return DASH
    p = float(p)
    return f"p < {i18n.decimal(0.001, 3)}" if p < 0.001 else f"p = {i18n.decimal(p, 3)}"


def word(value: Any) -> str:
    """A word of :mod:`analysis.cx.vocabulary` (a priority class, a verdict, "All customers")
    in the report's language; the tables keep the English word. Missing or empty: ``""``."""
    if missing(value) or not str(value):
        return ""
    return i18n.gettext(str(value))


# ---------------------------------------------------------------------------------------------
# rows of result tables


def rows_of(table: pd.DataFrame, group: str, level: str) -> pd.DataFrame:
    """The rows of one ``group``/``level`` of a result table, index reset."""
    keep = (table["group"].astype(str) == group) & (table["level"].astype(str) == level)
    return table[keep].reset_index(drop=True)


def overall_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The overall rows of a result table (``group == level == 'all'``)."""
    return rows_of(table, vocabulary.ALL, vocabulary.ALL)


def segment_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a result table that belong to a segment (``group != 'all'``)."""
    return table[table["group"].astype(str) != vocabulary.ALL]


def group_name(row: Mapping[str, Any]) -> str:
    """``All customers`` for an overall row, else ``Segment: value`` in the codebook's display
    names (``group_label``, ``level_label``; the column name and value when a table has none)."""
    if str(row["group"]) == vocabulary.ALL:
        return word(vocabulary.ALL_LABEL)
    return f"{segment_name(row)}: {level_name(row)}"


def segment_name(row: Mapping[str, Any]) -> str:
    """The display name of a row's segment (``group_label``, else the column name)."""
    label = row.get("group_label")
    return str(row["group"]) if missing(label) else str(label)


def level_names(rows: pd.DataFrame) -> dict[str, str]:
    """Each level of a table's rows (as text) -> its display name (:func:`level_name`)."""
    return {str(r["level"]): level_name(r) for _, r in rows.drop_duplicates("level").iterrows()}


def level_name(row: Mapping[str, Any]) -> str:
    """The display name of a row's segment value (``level_label``, else the value)."""
    label = row.get("level_label")
    return str(row["level"]) if missing(label) else str(label)


def item_label(row: Mapping[str, Any]) -> str:
    """An item's label (its id when the table has no label)."""
    label = row.get("label")
    return str(row["item"]) if missing(label) else str(label)


def ordered_items(over: pd.DataFrame) -> pd.DataFrame:
    """Overall rows grouped by dimension (first-appearance order), largest shortfall first."""
    dims = list(dict.fromkeys(over["dimension"].astype(str)))
    key = over["dimension"].astype(str).map({d: i for i, d in enumerate(dims)})
    out = over.assign(_dim=key, _gap=over["gap"].astype(float))
    out = out.sort_values(["_dim", "_gap"], na_position="last", kind="stable")
    return out.drop(columns=["_dim", "_gap"]).reset_index(drop=True)


def is_hidden(row: Mapping[str, Any], column: str = "gap") -> bool:
    """Whether a row's estimates are not shown: flagged ``suppressed`` (small cells) or without
    a value in ``column``. :func:`shown_rows` is the same rule for a whole table."""
    return flag(row.get("suppressed", False)) or missing(row.get(column))


def shown_rows(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows :func:`is_hidden` keeps: a value in ``column`` and not flagged ``suppressed``."""
    keep = rows[column].notna()
    if "suppressed" in rows.columns:
        keep &= ~rows["suppressed"].fillna(False).astype(bool)
    return rows[keep]


def excludes_zero(lo: Any, hi: Any) -> bool:
    """Whether the interval ``lo..hi`` lies wholly above or below zero (missing: no)."""
    if missing(lo) or missing(hi):
        return False
    return float(lo) > 0 or float(hi) < 0


def is_clear(row: Mapping[str, Any], confidence: float) -> bool:
    """Whether a row's result is clear at the report's confidence level, on its ``p_value``
    (:func:`analysis.cx.vocabulary.is_clear`); when the p-value is missing, whether the
    interval ``ci_low..ci_high`` excludes zero."""
    p = row.get("p_value")
    if not missing(p):
        return vocabulary.is_clear(p, confidence)
    return excludes_zero(row.get("ci_low"), row.get("ci_high"))


def is_clear_adjusted(row: Mapping[str, Any], confidence: float) -> bool:
    """Whether a result holds after the multiple-testing adjustment (``p_adjusted``, BH)."""
    return vocabulary.is_clear(row.get("p_adjusted"), confidence)


# ---------------------------------------------------------------------------------------------
# the wording of notes


def suppression_note(min_cell: int | None) -> str:
    """What a ``–`` means: too few respondents, or hidden so no figure can be worked out."""
    if min_cell:
        text = i18n.ngettext(
            "%(dash)s not shown: the group has fewer than %(n)s respondent, or showing it would "
            "let a hidden figure be worked out from the others.",
            "%(dash)s not shown: the group has fewer than %(n)s respondents, or showing it would "
            "let a hidden figure be worked out from the others.",
            min_cell,
        )
        return plural(min_cell, text, dash=DASH)
    return i18n.gettext(
        "%(dash)s not shown: the group has too few respondents, or showing it would let a hidden "
        "figure be worked out from the others."
    ) % {"dash": DASH}
