"""Redact personal data from open comments before anything is stored or shown.

Email addresses, URLs, phone numbers, long digit runs (account and card numbers) and the names
of this export's respondents (from its personal name columns) are replaced by placeholders:
``[email]``, ``[url]``, ``[phone]``, ``[number]``, ``[name]``. Every pattern runs over the whole
column at once (pyarrow's RE2 regular expressions), never as a Python loop per comment.

Redaction errs on the side of removing: a date written ``2026-12-01`` or an order number is a
``[number]`` too, and a respondent called Bill makes every "bill" a ``[name]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.intake.readers import TEXT

#: (pattern, placeholder) in the order applied: emails and URLs before the digit rules (they
#: may hold digits), phone numbers before the digit runs they would otherwise be.
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", "[email]"),
    (r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"']+", "[url]"),
    # international (+44 20 7946 0958), area code in brackets ((020) 7946 0958, (555) 123-4567)
    (r"\+\d(?:[\s.\-()]*\d){6,14}", "[phone]"),
    (r"\(\d{2,5}\)[\s.\-]?\d(?:[\s.\-]?\d){4,10}", "[phone]"),
    # national with a trunk 0 (020 7946 0958, 07700-900123) and North American (555-123-4567)
    (r"\b0\d{2,4}[\s.\-]?\d{3,4}[\s.\-]?\d{3,4}\b", "[phone]"),
    (r"\b\d{3}[.\-\s]\d{3}[.\-\s]\d{4}\b", "[phone]"),
    # six or more digits, single spaces or dashes inside allowed (card and account numbers)
    (r"\d(?:[ \-]?\d){5,}", "[number]"),
)
NAME = "[name]"
#: any placeholder left by :func:`redact` (theme suggestions and quotes leave them out)
PLACEHOLDER = r"\[(?:email|url|phone|number|name)\]"
#: personal columns whose names say they hold the respondents' names (redacted from comments)
NAME_COLUMN = re.compile(r"name", re.IGNORECASE)
#: a word of a name: letters, with apostrophes or hyphens inside (O'Brien, Anne-Marie)
NAME_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
MIN_NAME_LETTERS = 2  # a one-letter initial is not redacted (it would hit "a" and "I")
NAMES_PER_PATTERN = 500  # names per alternation (RE2 programs have a size limit)
#: not a letter or digit: what must stand on either side of a redacted name
EDGE = r"[^\pL\pN_]"


def name_words(values: Iterable[object]) -> list[str]:
    """The distinct words of the names in ``values`` (cells of name columns), lower case,
    longest first; words under ``MIN_NAME_LETTERS`` letters are left out."""
    words: set[str] = set()
    for value in pd.unique(pd.Series(list(values), dtype=TEXT).dropna()):
        words.update(w.casefold() for w in NAME_WORD.findall(str(value)))
    return sorted((w for w in words if len(w) >= MIN_NAME_LETTERS), key=lambda w: (-len(w), w))


def personal_names(frame: pd.DataFrame, personal: Iterable[str]) -> list[str]:
    """The name words (:func:`name_words`) of the ``personal`` columns of ``frame`` whose
    column names say ``name`` (``RecipientFirstName``, ``Last Name``, ``name``)."""
    cols = [c for c in personal if c in frame and NAME_COLUMN.search(str(c))]
    return name_words(frame[cols].to_numpy().ravel()) if cols else []


def redact(texts: pd.Series, names: Iterable[str] = ()) -> pd.Series:
    """Replace personal data in free text by placeholders.

    Parameters
    ----------
    texts
        The comments (any dtype; missing cells stay missing).
    names
        Words of respondents' names (:func:`name_words` of the export's name columns): each is
        redacted as a whole word, in any case, wherever it appears.

    Returns
    -------
    pandas.Series
        The comments with ``[email]``, ``[url]``, ``[phone]``, ``[number]`` and ``[name]`` in
        place of what they replace, pandas' string dtype, same index and name.
    """
    values = pa.array(texts.astype(TEXT), type=pa.large_string(), from_pandas=True)
    for pattern, placeholder in PATTERNS:
        values = pc.replace_substring_regex(values, pattern, placeholder)
    words = [w for w in dict.fromkeys(str(n).casefold() for n in names) if w]
    for start in range(0, len(words), NAMES_PER_PATTERN):
        chunk = "|".join(_re2_literal(w) for w in words[start : start + NAMES_PER_PATTERN])
        pattern = f"(?i)(^|{EDGE})(?:{chunk})({EDGE}|$)"
        # twice: a name right after another shares the edge the first match consumed
        for _ in range(2):
            values = pc.replace_substring_regex(values, pattern, rf"\1{NAME}\2")
    return pd.Series(values, index=texts.index, name=texts.name, dtype=TEXT)


def _re2_literal(word: str) -> str:
    """``word`` as an RE2 pattern matching it literally."""
    return "".join(c if c.isalnum() else "\\" + c for c in word)
