"""The client's language end to end (issue 17, "Done when"): the demo run once in German and once
in French; each report says its language (``<html lang>``) and its story (everything before the
technical appendix) has no English word left.

The English words are those of the source messages (:func:`analysis.report.i18n.source_messages`,
words of four letters or more), less the words that are also in the language's translations
(cognates: "Segment", "Region", "Score") and the words of the client's own data, which is never
translated (the codebook's labels, dimensions, owners, segment values and themes, the params'
title). Quotes of customers' comments (``<q>``, ``<blockquote>``) are the client's data too. The
visible text is checked: tags stripped, alt texts and titles of images and charts kept.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import copy_demo

from analysis.cx import vocabulary
from analysis.report import formatting, i18n

WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ]{4,}")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
LANGUAGES = ("de", "fr")


def words(text: str) -> set[str]:
    """The words of four letters or more in ``text``, lower case (placeholders left out)."""
    return {w.lower() for w in WORD.findall(PLACEHOLDER.sub(" ", text))}


def english_words() -> set[str]:
    """Every word of the report's English messages."""
    out: set[str] = set()
    for m in i18n.source_messages():
        out |= words(m.id) | words(m.plural or "")
    return out


def translated_words(language: str) -> set[str]:
    """Every word of ``language``'s translations (its catalogs)."""
    from babel.messages.pofile import read_po

    out: set[str] = set()
    for path in i18n.catalog_files(language):
        with path.open("rb") as fh:
            for m in read_po(fh, locale=i18n.LOCALES[language]):
                forms = m.string if isinstance(m.string, tuple | list) else [m.string]
                for form in forms:
                    out |= words(form or "")
    return out


def _strings(value: Any) -> list[str]:
    """Every string in a YAML document (keys and values)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def client_words(root: Path, params_file: str) -> set[str]:
    """The words of the client's data: its codebook and its params (title, brand, owners)."""
    params = yaml.safe_load((root / params_file).read_text(encoding="utf-8"))
    codebook = yaml.safe_load((root / params["codebook"]).read_text(encoding="utf-8"))
    return {w for s in _strings(codebook) + _strings(params) for w in words(s)}


def story_text(report: str) -> str:
    """The visible text of a report's story: what stands before the technical appendix's
    heading (``id="appendix"``), without scripts, styles and quotes, with the alt texts and
    titles of its images."""
    body = report[report.index("<body") :]
    cut = body.find('id="appendix"')
    assert cut > 0, "the report has no technical appendix heading (id=appendix)"
    story = body[: body.rfind("<", 0, cut)]
    story = re.sub(r"(?is)<(script|style|q|blockquote)\b.*?</\1>", " ", story)
    story = re.sub(r'(?is)\s(?:alt|title|aria-label)="([^"]*)"', r"> \1 <", story)
    story = re.sub(r"(?s)<[^>]*>", " ", story)
    return html.unescape(story)


def english_left(report: str, language: str, root: Path, params_file: str) -> list[str]:
    """The English words in ``report``'s story that are neither cognates of ``language`` nor
    the client's data, sorted."""
    allowed = translated_words(language) | client_words(root, params_file)
    found = words(story_text(report))
    return sorted((found & english_words()) - allowed)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The demo run in each of :data:`LANGUAGES` (in one project copy): language -> (project
    root, report HTML)."""
    from analysis.report import runner

    root = copy_demo(tmp_path_factory.mktemp("i18n-run") / "project")
    demo = yaml.safe_load((root / "params" / "demo.yaml").read_text(encoding="utf-8"))
    out = {}
    for language in LANGUAGES:
        params = {**demo, "client": f"demo-{language}"}
        params["report"] = {**demo.get("report", {}), "language": language}
        params_file = f"params/demo-{language}.yaml"
        (root / params_file).write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
        result = runner.run_client(params_file, root=root)
        out[language] = (root, result.report_html.read_text(encoding="utf-8"))
    return out


def test_vocabulary_words_are_translated_where_shown_and_stay_english_in_the_tables():
    with i18n.using("de"):
        assert formatting.word(vocabulary.FIX_FIRST) == "Zuerst angehen"
        assert formatting.group_name({"group": "all", "level": "all"}) == "Alle Kunden"
        assert formatting.word("") == "" and formatting.word(None) == ""
    with i18n.using("fr"):
        assert formatting.word(vocabulary.MONITOR) == "À surveiller"
    assert vocabulary.FIX_FIRST == "Fix first"  # the value the CSVs store
    with i18n.using("en"):
        assert formatting.word(vocabulary.FIX_FIRST) == "Fix first"


def test_plurals_and_the_suppression_note_follow_the_language():
    """ngettext picks the form (French: 0 and 1 singular), plural() writes the number in the
    language's format; English is as before."""
    with i18n.using("en"):
        assert formatting.suppression_note(5).startswith(
            "– not shown: the group has fewer than 5 respondents,"
        )
        assert formatting.suppression_note(1).startswith(
            "– not shown: the group has fewer than 1 respondent,"
        )
    with i18n.using("de"):  # the number in the language's format, other values as given
        assert formatting.plural(1234, "%(n)s of %(what)s", what="x") == "1.234 of x"
    with i18n.using("de"):
        assert "weniger als 1.200 Befragte," in formatting.suppression_note(1200)
        assert "weniger als 1 Befragten," in formatting.suppression_note(1)
    with i18n.using("fr"):
        assert "moins de 1\u202f200 répondants," in formatting.suppression_note(1200)
        assert "moins de 1 répondant," in formatting.suppression_note(1)
        n = 0
        message = i18n.ngettext(
            "average over %(n)s attribute, from %(low)s to %(high)s",
            "average over %(n)s attributes, from %(low)s to %(high)s",
            n,
        )
        assert message.startswith("moyenne sur %(n)s attribut,")


def test_the_story_finder_sees_english_words():
    """The check can fail: an English sentence of the report's is found in a German story, a
    cognate and the client's words are not."""
    page = (
        '<html lang="de"><body><p>Die Kunden: Customers who answered</p>'
        '<img alt="Chart of each group"><q>quoted customers answered</q>'
        '<h2 id="appendix">Technical appendix</h2><p>Weighting</p></body></html>'
    )
    story = story_text(page)
    assert "Chart of each group" in story and "quoted" not in story
    assert "Technical" not in story and "Weighting" not in story
    assert words("Customers who answered") <= english_words()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_report_says_its_language(reports, language):
    _, report = reports[language]
    assert f'<html lang="{language}">' in report


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_story_has_no_english_word_left(reports, language):
    root, report = reports[language]
    left = english_left(report, language, root, f"params/demo-{language}.yaml")
    assert not left, f"{language}: English words in the story: {', '.join(left)}"


@pytest.mark.parametrize(
    ("language", "subject", "words"),
    [
        ("de", "Ihr Bericht: ", "Ihr Bericht zu den Kundenerwartungen ist beigefügt."),
        ("fr", "Votre rapport : ", "Votre rapport sur les attentes des clients est joint."),
    ],
)
def test_the_email_is_in_the_clients_language(reports, language, subject, words):
    """A dry run of ``send``: the client's message and an owner's, in the client's language."""
    from analysis.ops import deliver

    root, _ = reports[language]
    params_file = f"params/demo-{language}.yaml"
    options = deliver.SendOptions(pdf=False, dry_run=True, resend=True)
    result = deliver.send_client(params_file, root, options)
    msg = email.message_from_bytes(result.path.read_bytes(), policy=email.policy.default)
    assert msg["Subject"].startswith(subject)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    body = msg.get_body(preferencelist=("html",)).get_content()
    assert words in text and words in body
    assert f'<html lang="{language}">' in body
    [owner, *_] = deliver.send_owners(params_file, root, options)
    owner_msg = email.message_from_bytes(owner.path.read_bytes(), policy=email.policy.default)
    owner_text = owner_msg.get_body(preferencelist=("plain",)).get_content()
    assert ("Maßnahmenplan" if language == "de" else "plan d'action") in owner_msg["Subject"]
    assert ("Kundenbefragung" if language == "de" else "L'enquête auprès des clients") in owner_text
    assert i18n.active() == i18n.SOURCE  # the language was the send's only


def test_chart_ticks_are_written_in_the_language_and_keep_their_place():
    import matplotlib.pyplot as plt

    from analysis.report.chart_style import localise_ticks

    fig, (ax, bars) = plt.subplots(1, 2)
    ax.plot([-0.5, 1.5], [4.75, 6.5])
    bars.barh([0, 1], [1, 2])
    bars.set_yticks([0, 1], ["Bills are accurate", "Staff are courteous"])
    limits = (ax.get_xlim(), ax.get_ylim())
    with i18n.using("en"):
        localise_ticks(fig)
        fig.canvas.draw()
    english = [t.get_text() for t in ax.get_yticklabels()]
    assert "5.00" in english
    with i18n.using("de"):
        localise_ticks(fig)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == [t.replace(".", ",") for t in english]
    xs = [t.get_text() for t in ax.get_xticklabels()]
    assert any(x.startswith("\u2212") for x in xs) and all("." not in x for x in xs)
    assert (ax.get_xlim(), ax.get_ylim()) == limits
    assert [t.get_text() for t in bars.get_yticklabels()] == [
        "Bills are accurate",
        "Staff are courteous",
    ]
    plt.close(fig)
