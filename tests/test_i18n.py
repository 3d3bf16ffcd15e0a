"""The report's languages: every message in every language, numbers and dates in each language's
formats, English exactly as before, translations escaped like any other text."""

from __future__ import annotations

import datetime as dt
import importlib.util
import typing
from pathlib import Path

import pytest
from markupsafe import Markup

from analysis.config import params
from analysis.report import formatting, i18n, templating

ROOT = Path(__file__).resolve().parents[1]


def _messages_script():
    spec = importlib.util.spec_from_file_location("messages", ROOT / "scripts" / "messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_params_offer_the_languages_the_report_has():
    assert set(typing.get_args(params.Language)) == set(i18n.LOCALES)
    assert i18n.SOURCE in i18n.LOCALES


@pytest.mark.parametrize("language", [lang for lang in i18n.LOCALES if lang != i18n.SOURCE])
def test_every_message_has_every_language(language):
    """Every message the Python and the templates ask for is translated, with the same
    placeholders, and no catalog keeps messages the source no longer has."""
    assert i18n.source_messages(), "no messages found: the extraction is broken"
    problems = _messages_script().problems(language)
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} in all)"


def test_one_translation_per_message_across_a_languages_files():
    for language in i18n.LOCALES:
        if language == i18n.SOURCE:
            continue
        seen: dict[tuple[str, str | None], tuple[str, object]] = {}
        for path in i18n.catalog_files(language):
            from babel.messages.pofile import read_po

            with path.open("rb") as fh:
                for m in read_po(fh):
                    if not m.id:
                        continue
                    k = (str(m.id), m.context)
                    if k in seen:
                        assert seen[k][1] == m.string, (
                            f"{language}: {k[0]!r} is translated differently in {seen[k][0]} "
                            f"and {path.name}"
                        )
                    seen[k] = (path.name, m.string)


def test_english_formats_are_unchanged():
    with i18n.using("en"):
        assert formatting.fmt_num(-1234.567) == "−1,234.57"
        assert formatting.fmt_num(2.675) == "2.67"  # rounded as Python rounds the float
        assert formatting.fmt_num(0.004, signed=True) == "0.00"
        assert formatting.fmt_int(1234567.4) == "1,234,567"
        assert formatting.fmt_pct(0.456) == "46%"
        assert formatting.fmt_pct(0.4567, 1) == "45.7%"
        assert formatting.level_pct(0.95) == "95%"
        assert formatting.level_pct(0.995) == "99.5%"
        assert formatting.fmt_date(dt.date(2026, 12, 1)) == "1 December 2026"
        assert formatting.interval(-0.5, 1.25) == "−0.50 to 1.25"
        assert formatting.p_text(0.0004) == "p < 0.001"
        assert formatting.p_text(0.01234) == "p = 0.012"


def test_german_and_french_formats():
    with i18n.using("de"):
        assert formatting.fmt_num(-1234.567) == "−1.234,57"
        assert formatting.fmt_pct(0.4567, 1) == "45,7\u00a0%"
        assert formatting.level_pct(0.95) == "95\u00a0%"
        assert formatting.fmt_date(dt.date(2026, 12, 1)) == "1. Dezember 2026"
        assert formatting.interval(-0.5, 1.25) == "−0,50 bis 1,25"
        assert formatting.p_text(0.01234) == "p = 0,012"
    with i18n.using("fr"):
        assert formatting.fmt_num(1234.5, 1) == "1\u202f234,5"
        assert formatting.fmt_pct(0.456) == "46\u00a0%"
        assert formatting.fmt_date(dt.date(2026, 12, 1)) == "1 décembre 2026"
        assert formatting.interval(-0.5, 1.25) == "−0,50 à 1,25"
    assert i18n.active() == i18n.SOURCE  # using() restores the language it found


def test_an_unknown_language_is_refused_with_the_ones_there_are():
    with pytest.raises(ValueError, match="use one of en, de, fr"):
        i18n.use("xx")


def test_templates_translate_and_escape_placeholders():
    """New-style gettext: the translation is trusted, the values put into it are escaped."""
    src = '{{ _("%(low)s to %(high)s", low=a, high=b) }}'
    with i18n.using("de"):
        out = templating.environment().from_string(src).render(a="<1>", b=Markup("<i>2</i>"))
    assert out == "&lt;1&gt; bis <i>2</i>"
    with i18n.using("en"):
        assert templating.environment().from_string(src).render(a="1", b="2") == "1 to 2"
