"""The report's sections in the client's language: a German and a French render of the sections
says in that language what the templates say (no sentence of the templates left in English),
keeps the numbers in the language's formats, and still escapes every data string."""

from __future__ import annotations

import re
from html import unescape

import pytest
from test_report import HOSTILE, analysis_tables, stand_in_ranked, stand_in_table

from analysis.report import (
    about,
    gaps,
    headings,
    i18n,
    key_drivers,
    nps,
    priorities,
    segments,
    trend,
)

__all__ = ["analysis_tables"]  # the fixture, shared with test_report.py

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|<[^>]+>")


def template_phrases(language: str) -> dict[str, str]:
    """Every run of three or more words of the section templates' English messages whose
    translation into ``language`` differs -> the message it comes from."""
    out: dict[str, str] = {}
    for m in i18n.source_messages():
        if "templates/sections/" not in m.where:
            continue
        with i18n.using(language):
            if m.context is not None:
                same = i18n.pgettext(m.context, m.id) == m.id
            elif m.plural is not None:
                same = i18n.ngettext(m.id, m.plural, 2) == m.plural
            else:
                same = i18n.gettext(m.id) == m.id
        if same:
            continue
        for text in (m.id, m.plural):
            for run in PLACEHOLDER.split((text or "").replace("%%", "%")):
                run = run.strip(" .,;:()")
                if len(run.split()) >= 3:
                    out[run] = m.id
    return out


def visible_text(html: str) -> str:
    """The words a reader sees: tags dropped, entities decoded, whitespace runs as one space."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def rendered(tables: dict, language: str) -> dict[str, str]:
    t = tables
    table = stand_in_table(hostile_item="rel_2")
    with i18n.using(language):
        return {
            "gap_table": gaps.gap_table(table, 0.95, 5).data,
            "segment_tables": segments.segment_tables(table, 0.95, 5).data,
            "priorities": priorities.priorities_section(
                stand_in_ranked(table.assign(p_value=0.001))
            ).data,
            "validation": about.validation_summary(
                {
                    "source": f"/x/{HOSTILE}.csv",
                    "received": 3,
                    "accepted": 2,
                    "rejected": 1,
                    "reasons": {HOSTILE: 1},
                }
            ).data,
            "dimensions": gaps.dimension_table(t["dims"], 0.95, 5).data,
            "segments": segments.segment_comparison(t["contrasts"], t["ranked"], 0.95, 5).data,
            "drivers": key_drivers.drivers_section(t["drivers"], 0.95).data,
            "nps": nps.nps_section(t["nps"], 0.95, 5).data,
            "trend": trend.trend_section(t["trend"], 0.95, 5).data,
            "reliability": about.reliability_table(t["rel"]).data,
            "appendix": headings.heading("appendix").data,
        }


@pytest.fixture(scope="module")
def german(analysis_tables) -> dict[str, str]:
    return rendered(analysis_tables, "de")


@pytest.fixture(scope="module")
def french(analysis_tables) -> dict[str, str]:
    return rendered(analysis_tables, "fr")


def test_german_sections_are_in_german_with_german_numbers(german):
    assert '<th scope="col">Leistungsmerkmal</th>' in german["gap_table"]
    assert "95\u00a0%-Intervall" in german["gap_table"]
    assert "−1,40" in german["gap_table"] and "−1.40" not in german["gap_table"]
    assert "eine deutliche Lücke: Ihr 95\u00a0%-Konfidenzintervall" in german["gap_table"]
    assert "<h3>Lücke nach plan</h3>" in german["segment_tables"]  # the segment's name as given
    assert 'id="priorities">Prioritäten: was zuerst anzugehen ist</h2>' in german["priorities"]
    assert "enthielt <strong>3 Antworten</strong>" in german["validation"]
    assert '<h2 class="oi-appendix" id="appendix">Technischer Anhang</h2>' in german["appendix"]
    assert "Net Promoter Score" in german["nps"]  # stays as is


def test_french_sections_are_in_french(french):
    assert '<th scope="col">Attribut de service</th>' in french["gap_table"]
    assert "Intervalle à 95\u00a0%" in french["gap_table"]
    assert "un écart net\u00a0: son intervalle de confiance à 95\u00a0%" in french["gap_table"]
    assert "contenait <strong>3 réponses</strong>" in french["validation"]
    assert '<h2 class="oi-appendix" id="appendix">Annexe technique</h2>' in french["appendix"]


@pytest.mark.parametrize("language", ["de", "fr"])
def test_no_sentence_of_the_templates_is_left_in_english(language, german, french):
    phrases = template_phrases(language)
    assert len(phrases) > 100, "the phrase list is too short to tell anything"
    sections = german if language == "de" else french
    for name, html in sections.items():
        text = visible_text(html)
        left = sorted(p for p in phrases if p in text)
        assert not left, f"{language} {name}: English left: {left[:5]}"
    # the check would see English: the same sections rendered in English are full of it
    english = visible_text(gaps.gap_table(stand_in_table(), 0.95, 5).data)
    assert any(p in english for p in phrases)


def test_translated_sections_still_escape_every_data_string(german, french):
    for language, sections in (("de", german), ("fr", french)):
        for name, html in sections.items():
            assert "<img src=x" not in html, (language, name)
            assert "<b>Reliability" not in html and "<i>Plus" not in html, (language, name)
        assert "&lt;img src=x onerror=alert(1)&gt;" in sections["gap_table"]
        assert "&lt;img src=x onerror=alert(1)&gt;" in sections["validation"]
        assert "&lt;i&gt;Plus&lt;/i&gt;" in sections["nps"]
        assert "&lt;b&gt;Reliability&lt;/b&gt;" in sections["dimensions"]


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_the_report_page_says_its_language(language):
    from nbformat.v4 import new_code_cell, new_notebook

    from analysis.report import runner

    nb = new_notebook(cells=[new_code_cell("1")])
    html = runner.to_html(nb, title="T", language=language)
    assert f'<html lang="{language}">' in html
