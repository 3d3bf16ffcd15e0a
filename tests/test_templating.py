"""The one template environment: autoescape on, undefined names fail, formatting as filters."""

from __future__ import annotations

import jinja2
import pytest
from markupsafe import Markup

from analysis.report import formatting, templating


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


def _macro(call: str, **context) -> str:
    env = templating.environment()
    return env.from_string('{% import "_macros.html.j2" as m %}' + call).render(**context)


@pytest.mark.parametrize(
    "row",
    [
        {"gap": -1.1, "p_value": 0.001},
        {"gap": 0.4, "p_value": 0.5},
        {"gap": 0.0, "p_value": None, "ci_low": -0.1, "ci_high": 0.2},
        {"gap": float("nan"), "p_value": 0.01},
        {"gap": -0.3, "p_value": 0.01, "suppressed": True},
    ],
)
def test_gap_cell_macro_is_formatting_gap_cell(row):
    assert _macro("{{ m.gap_cell(row, 0.95) }}", row=row) == formatting.gap_cell(row, 0.95)


def test_table_and_cell_macros_are_formatting_pieces():
    head = ["Item", "<Gap>", "n"]
    out = _macro(
        '{% call m.table(head, "oi-x", numeric=[1, 2]) %}<tr></tr>{% endcall %}', head=head
    )
    esc_head = [formatting.esc(h) for h in head]
    assert out == formatting.table_html(esc_head, ["<tr></tr>"], "oi-x", numeric={1, 2})
    assert _macro("{{ m.hidden_cells(2, 1) }}") == formatting.hidden_cells(2, 1)
    assert _macro("{{ m.dimension_row('A & B', 4) }}") == formatting.dimension_row("A & B", 4)
    assert _macro("{{ m.suppression_note(10) }}") == formatting.notes(
        [formatting.esc(formatting.suppression_note(10))]
    )
