"""The one template environment: autoescape on, undefined names fail, formatting as filters."""

from __future__ import annotations

import jinja2
import pytest
from markupsafe import Markup

from analysis.report import templating


def test_autoescape_and_markup_pass_through():
    env = templating.environment()
    tpl = env.from_string("{{ text }}|{{ html }}")
    out = tpl.render(text='<b>"x"&</b>', html=Markup("<i>ok</i>"))
    assert out == "&lt;b&gt;&#34;x&#34;&amp;&lt;/b&gt;|<i>ok</i>"


def test_undefined_names_are_errors():
    with pytest.raises(jinja2.UndefinedError):
        templating.environment().from_string("{{ row.nothing_here }}").render(row={})


def test_filters_are_the_formatting_functions():
    tpl = templating.environment().from_string("{{ -1.5 | num(signed=True) }} {{ 0.456 | pct }}")
    assert tpl.render() == "−1.50 46%"


def test_notes_macro_escapes_plain_text():
    tpl = templating.environment().from_string(
        '{% import "_macros.html.j2" as m %}{{ m.notes(["a < b", markup]) }}'
    )
    out = tpl.render(markup=Markup("<em>c</em>"))
    assert out == '<p class="oi-note">a &lt; b</p><p class="oi-note"><em>c</em></p>'
