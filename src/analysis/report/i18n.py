"""The report's language: its messages in the client's language, and numbers and dates in that
language's formats.

One language is active at a time (:func:`use`, :func:`using`; ``report.language`` of the params,
set when a client is opened); every word of the report, its charts and the email goes through
:func:`gettext` / :func:`ngettext` in Python and ``{{ _("...") }}`` / ``{% trans %}`` in the
templates (Jinja2's ``i18n`` extension, new-style: placeholders are ``%(name)s`` and are escaped).
English is the source language: its messages are the message ids themselves.

Catalogs are gettext ``.po`` files, ``locale/<language>/LC_MESSAGES/*.po`` beside this module
(any number of files per language: they are merged), read with Babel when first needed; no compiled
``.mo`` files are kept. ``python scripts/messages.py check`` lists what a catalog lacks, and the
test suite checks every message has every language (tests/test_i18n.py).

Numbers and dates are formatted by Babel for the language's locale (:data:`LOCALES`): English as
``1,234.56``, ``12%`` and ``1 December 2026``; German ``1.234,56``, ``12 %``, ``1. Dezember 2026``;
French ``1 234,56``, ``12 %``, ``1 décembre 2026``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_decimal_symbol, get_group_symbol
from babel.support import NullTranslations, Translations

#: the report's languages -> the Babel locale of their number and date formats
LOCALES: dict[str, str] = {"en": "en_GB", "de": "de_DE", "fr": "fr_FR"}
#: the source language: its messages are the ids
SOURCE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_active: contextvars.ContextVar[str] = contextvars.ContextVar("report_language", default=SOURCE)


def check_language(language: str) -> str:
    """``language`` when the report has it; else a ValueError naming the languages it has."""
    if language not in LOCALES:
        raise ValueError(
            f"report.language {language!r} is not one the report is written in; "
            f"use one of {', '.join(LOCALES)}"
        )
    return language


def use(language: str) -> None:
    """Make ``language`` the active one (for the rest of this context: a kernel, a process)."""
    _active.set(check_language(language))


@contextlib.contextmanager
def using(language: str) -> Iterator[None]:
    """``language`` active inside the block, the previous one after it."""
    token = _active.set(check_language(language))
    try:
        yield
    finally:
        _active.reset(token)


def active() -> str:
    """The active language (``en`` unless :func:`use` said otherwise)."""
    return _active.get()


def locale() -> Locale:
    """The Babel locale of the active language's number and date formats."""
    return _locale(active())


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(LOCALES[language])


# ---------------------------------------------------------------------------------------------
# catalogs


def catalog_files(language: str) -> list[Path]:
    """The ``.po`` files of ``language``, in name order."""
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


@cache
def translations(language: str) -> NullTranslations:
    """The merged catalogs of ``language`` (English: none, the ids are the messages)."""
    check_language(language)
    if language == SOURCE:
        return NullTranslations()
    merged: Translations | None = None
    for path in catalog_files(language):
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=LOCALES[language])
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = Translations(buffer)
        merged = part if merged is None else merged.merge(part)
    return merged if merged is not None else NullTranslations()


def gettext(message: str) -> str:
    """``message`` in the active language (the English id when it has no translation)."""
    return translations(active()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the active language."""
    return translations(active()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the active language, told apart from the same English words elsewhere by
    ``context`` (e.g. ``pgettext("chart", "Gap")``)."""
    return translations(active()).pgettext(context, message)


_ = gettext


# ---------------------------------------------------------------------------------------------
# the source's messages (for the catalog check: tests/test_i18n.py, scripts/messages.py)

#: where messages are written: the package's Python and the report's templates
PACKAGE_DIR = Path(__file__).resolve().parents[1]
TEMPLATE_ROOT = Path(__file__).resolve().parent / "templates"
TEMPLATE_DIR = TEMPLATE_ROOT / "sections"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


@dataclass(frozen=True)
class Message:
    """One message of the source: its id (``plural`` too for ``ngettext``), its ``context``
    (``pgettext``) and where it is written (``file:line``)."""

    id: str
    plural: str | None
    context: str | None
    where: str


def source_messages() -> list[Message]:
    """Every message the report's Python, templates and word lists (``templates/**/words.yaml``:
    every string value) ask to be translated, in file order."""
    from babel.messages.extract import extract

    out: list[Message] = []
    sources = [(p, "python") for p in sorted(PACKAGE_DIR.rglob("*.py"))]
    sources += [(p, "jinja2.ext:babel_extract") for p in sorted(TEMPLATE_DIR.glob("*.j2"))]
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
    for path, method in sources:
        with path.open("rb") as fh:
            found = extract(
                method,
                fh,
                keywords=KEYWORDS,
                options=options if method != "python" else {},
                strip_comment_tags=True,
            )
            for line, message, _comments, context in found:
                ids = message if isinstance(message, tuple) else (message, None)
                where = f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"
                out.append(Message(ids[0], ids[1], context, where))
    for path in sorted(TEMPLATE_ROOT.rglob("words.yaml")):
        for line, text in _yaml_strings(path):
            out.append(Message(text, None, None, f"{path.relative_to(PACKAGE_DIR.parent)}:{line}"))
    return out


def word_list(path: Path) -> Any:
    """A YAML word list (e.g. ``templates/workbook/words.yaml``: keys are names, every string
    value is a message) with each value in the active language."""
    import yaml

    def translated(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: translated(v) for k, v in node.items()}
        if isinstance(node, list):
            return [translated(v) for v in node]
        return gettext(node) if isinstance(node, str) else node

    return translated(yaml.safe_load(path.read_text(encoding="utf-8")))


def _yaml_strings(path: Path) -> Iterator[tuple[int, str]]:
    """Every string value of a YAML word list with its line (keys are names, not messages)."""
    import yaml

    def walk(node: Any) -> Iterator[tuple[int, str]]:
        if isinstance(node, yaml.MappingNode):
            for _key, value in node.value:
                yield from walk(value)
        elif isinstance(node, yaml.SequenceNode):
            for value in node.value:
                yield from walk(value)
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            yield node.start_mark.line + 1, node.value

    yield from walk(yaml.compose(path.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------
# numbers and dates


def decimal(value: float, digits: int, grouping: bool = True) -> str:
    """A non-negative number with ``digits`` decimals in the active language's format
    (``1,234.56`` / ``1.234,56`` / ``1 234,56``). Signs are the caller's (a real minus sign).

    Rounded as Python rounds (``f"{x:.2f}"``, on the float's exact value), then written with the
    language's group and decimal symbols, so English is exactly what the f-string gives."""
    text = f"{value:,.{digits}f}" if grouping else f"{value:.{digits}f}"
    return _localised(text)


def percent(value: float, digits: int = 0) -> str:
    """A share (0-1) as a percentage in the active language's format (``12%``, ``12 %``)."""
    return percent_text(f"{100 * value:.{digits}f}")


def percent_text(number: str) -> str:
    """An English-formatted number of percent (``"95"``, ``"99.5"``) as the active language
    writes a percentage (``95%``, ``99,5 %``)."""
    prefix, suffix = _percent_affixes(active())
    return prefix + _localised(number) + suffix


def _localised(text: str) -> str:
    """An English-formatted number (``,`` groups, ``.`` decimals) in the active language's
    symbols."""
    group, point = _symbols(active())
    if (group, point) == (",", "."):
        return text
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


@cache
def _symbols(language: str) -> tuple[str, str]:
    loc = _locale(language)
    return get_group_symbol(loc), get_decimal_symbol(loc)


@cache
def _percent_affixes(language: str) -> tuple[str, str]:
    """What stands before and after the number in the language's percentages."""
    pattern = _locale(language).percent_formats[None].pattern
    number = pattern.strip("%\u00a0\u202f ")
    before, _, after = pattern.partition(number)
    return before, after


def long_date(day: dt.date) -> str:
    """A day as the active language writes it in full (``1 December 2026``)."""
    return format_date(day, format="long", locale=locale())
