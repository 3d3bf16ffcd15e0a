"""The vocabulary of the analyses: every class name and verdict word, and what "clear" means.

One module decides the words; the analyses write them into their tables, and the report, the
charts and the email read them from here (never spell them again).

The words stay English in the tables (the CSVs); the report shows them in the client's language.
Every display word is marked with :func:`_` (a no-op here: ``cx`` knows nothing of the report), so
the report's message extractor finds it, and the report translates the value where it displays it
(:func:`analysis.report.formatting.word`).
"""

from __future__ import annotations

import math
from typing import Any


def _(message: str) -> str:
    """Mark ``message`` as a word the report translates where it displays it; returns it as it
    is (the stored value stays English)."""
    return message


#: The overall rows of every table (``group = level = "all"``).
ALL = "all"
#: What the report calls the overall rows (``group == level == "all"``): their display label.
ALL_LABEL = _("All customers")

# ---------------------------------------------------------------------------------------------
# significance


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def is_clear(p_value: Any, confidence: float) -> bool:
    """Whether a result is clearly different from zero: ``p < 1 - confidence`` (missing: no).

    The p-value given decides: an adjusted one (``p_adjusted``, Benjamini-Hochberg across the
    attributes) where several attributes are tested at once, the raw one for a single test.
    """
    return not _missing(p_value) and float(p_value) < 1 - confidence


# ---------------------------------------------------------------------------------------------
# gap verdicts (priorities ``verdict`` column) and their display words

SHORTFALL = "shortfall"
EXCEEDS = "exceeds"
UNCLEAR = "unclear"

VERDICT_TEXT = {
    SHORTFALL: _("Clear shortfall"),
    EXCEEDS: _("Clearly exceeds"),
    UNCLEAR: _("Not clear"),
}

# ---------------------------------------------------------------------------------------------
# the priority model (priorities ``priority`` column; METHODS.md, "The priority model"), in
# ranking order: every class is one unbroken run down each group level's ranking

FIX_FIRST = _("Fix first")  # a clear shortfall on an important attribute
IMPROVE = _("Improve")  # a clear shortfall, not important
MONITOR = _("Monitor")  # a shortfall that is not clear
MAINTAIN = _("Maintain")  # no shortfall (gap >= 0)

PRIORITY_CLASSES = (FIX_FIRST, IMPROVE, MONITOR, MAINTAIN)
#: The classes a ``top_priority`` can come from (the clear shortfalls).
ACTION_CLASSES = (FIX_FIRST, IMPROVE)
#: The action plan's owner of the attributes the codebook gives no ``owner``.
UNASSIGNED = _("Unassigned")
#: An attribute with an action class (Fix first, Improve) and ``effort: low``.
QUICK_WIN = _("Quick win")

# ---------------------------------------------------------------------------------------------
# importance-performance quadrants (Martilla & James), keyed by
# (importance at or above the crosshair, performance at or above the crosshair)

CONCENTRATE = _("Concentrate here")
KEEP_UP = _("Keep up the good work")
LOW_PRIORITY = _("Low priority")
OVERKILL = _("Possible overkill")

QUADRANTS = {
    (True, False): CONCENTRATE,
    (True, True): KEEP_UP,
    (False, False): LOW_PRIORITY,
    (False, True): OVERKILL,
}

# ---------------------------------------------------------------------------------------------
# derived importance: an item's share of R^2 against the average share (drivers ``vs_average``)

ABOVE = "above"
BELOW = "below"

VS_AVERAGE_TEXT = {
    ABOVE: _("Clearly above average"),
    BELOW: _("Clearly below average"),
    UNCLEAR: _("Not clearly different"),
}

# ---------------------------------------------------------------------------------------------
# the dual-importance grid, keyed by (stated importance high, derived importance high):
# (tier, perceived-value tier)

KEY_DRIVER = _("Key driver")
BASIC = _("Basic requirement")
HIDDEN_DRIVER = _("Hidden driver (delighter)")
SECONDARY = _("Secondary")

TIERS = {
    (True, True): (KEY_DRIVER, "satisfaction"),
    (True, False): (BASIC, "basic requirement"),
    (False, True): (HIDDEN_DRIVER, "delight"),
    (False, False): (SECONDARY, "secondary"),
}

#: A tier's name when it heads a group of attributes (chart quadrants).
TIER_PLURAL = {
    KEY_DRIVER: _("Key drivers"),
    BASIC: _("Basic requirements"),
    HIDDEN_DRIVER: _("Hidden drivers (delighters)"),
    SECONDARY: _("Secondary"),
}

# ---------------------------------------------------------------------------------------------
# value weighting: how an attribute's rank moves when customers are weighted by their value
# (value_gaps ``shift`` column)

#: "Several ranks": an attribute whose gap rank moves by at least this many places when weighted
#: by value is said to rise or fall in the priorities.
SEVERAL_RANKS = 3
RISES = "rises"  # more of a shortfall for the customers who bring the value
FALLS = "falls"

SHIFT_TEXT = {
    RISES: _("Rises when weighted by value"),
    FALLS: _("Falls when weighted by value"),
}


def rank_shift(change: Any) -> str:
    """``rises``/``falls`` for a rank change (unweighted rank - value-weighted rank) of at least
    :data:`SEVERAL_RANKS` places either way; ``""`` otherwise (or missing)."""
    try:
        places = float(change)
    except (TypeError, ValueError):  # pandas' NA (a suppressed row), None
        return ""
    if math.isnan(places):
        return ""
    if places >= SEVERAL_RANKS:
        return RISES
    if places <= -SEVERAL_RANKS:
        return FALLS
    return ""


# the outcomes of the key-driver models (drivers ``outcome`` column; params
# ``analysis.drivers_outcome``): the codebook's 0-10 question each one is, and its words

OVERALL = "overall"  # overall satisfaction (codebook ``overall``)
RECOMMEND = "recommend"  # likelihood to recommend, i.e. loyalty (codebook ``recommend``)

#: The outcomes, in the order the drivers table and the report give them.
DRIVER_OUTCOMES = (OVERALL, RECOMMEND)
#: What the report calls each outcome inside a sentence.
OUTCOME_TEXT = {OVERALL: _("overall satisfaction"), RECOMMEND: _("likelihood to recommend")}
#: Each outcome's short name (chart legends, table headings).
OUTCOME_LABEL = {OVERALL: _("Satisfaction"), RECOMMEND: _("Loyalty (recommend)")}


# the change of a gap since the last wave, beside each gap of the ranked list (report)

NARROWED = "narrowed"  # the gap clearly moved up: performance closer to (or past) expectation
WIDENED = "widened"
#: The arrow shown for each clear change (the words are there for screen readers and print).
CHANGE_ARROWS = {NARROWED: "\u25b2", WIDENED: "\u25bc"}
