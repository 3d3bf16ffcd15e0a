"""The report's templates: one Jinja2 environment, autoescaping everything, for every section of
the client report, its charts and the email.

A section is one template in ``templates/sections/`` and one function that prepares its data
(a view model of plain values: strings, numbers, lists and dicts, built from result tables).
Templates format numbers with the filters below, which are :mod:`analysis.report.formatting`'s
functions, so a number looks the same everywhere; no HTML is assembled in Python strings. Text
from data, codebooks or params is escaped by autoescape; a value that is already HTML (a chart
rendered by another template) is passed as :class:`markupsafe.Markup`.

Shared pieces (tables, notes, gap cells, figures) are macros in
``templates/sections/_macros.html.j2``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from IPython.display import HTML
from markupsafe import Markup

from analysis.cx import vocabulary
from analysis.report import formatting, i18n

SECTIONS_DIR = Path(__file__).resolve().parent / "templates" / "sections"

#: Formatting functions every template has as filters: ``{{ row.gap | num(signed=True) }}``.
FILTERS = {
    "num": formatting.fmt_num,
    "int": formatting.fmt_int,
    "pct": formatting.fmt_pct,
    "level_pct": formatting.level_pct,
    "date": formatting.fmt_date,
    "p_text": formatting.p_text,
    "missing": formatting.missing,
}


def environment(language: str | None = None) -> jinja2.Environment:
    """The Jinja2 environment of ``language`` (default: the active one, :mod:`i18n`)."""
    return _environment(language or i18n.active())


@cache
def _environment(language: str) -> jinja2.Environment:
    """The one Jinja2 environment per language: templates from :data:`SECTIONS_DIR`, autoescape
    on for every template, undefined names an error (a misspelt field fails the test run, not the
    report), the language's messages for ``{{ _("...") }}`` and ``{% trans %}`` (new-style
    gettext: ``_("%(n)s customers", n=count)``; the placeholders' values are escaped)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(SECTIONS_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True  # {% trans %} blocks: whitespace runs -> one space
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(FILTERS)
    env.globals.update(
        DASH=formatting.DASH,
        MINUS=formatting.MINUS,
        interval=formatting.interval,
        is_hidden=formatting.is_hidden,
        is_clear=formatting.is_clear,
        suppression_text=formatting.suppression_note,
        CHANGE_ARROWS=vocabulary.CHANGE_ARROWS,
        LANGUAGE=language,
    )
    return env


def render(name: str, **context: Any) -> Markup:
    """Template ``name`` (in :data:`SECTIONS_DIR`) rendered with ``context``, as safe HTML."""
    return Markup(environment().get_template(name).render(**context))


#: the two parts of a section: the story (read by the client) and the detail (the appendix)
PARTS = ("story", "detail")


def check_part(part: str) -> str:
    """``part`` when it is ``story`` or ``detail`` (which part of a section to render); else a
    ValueError naming both."""
    if part not in PARTS:
        raise ValueError(f"part must be 'story' or 'detail', got {part!r}")
    return part


def section(name: str, **context: Any) -> HTML:
    """Template ``name`` rendered for a notebook cell to display (the report takes cell outputs)."""
    return HTML(str(render(name, **context)))
