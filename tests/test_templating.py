"""The one template environment: autoescape on, undefined names fail, formatting as filters."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pandas as pd
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


def _macro(call: str, **context) -> str:
    env = templating.environment()
    return env.from_string('{% import "_macros.html.j2" as m %}' + call).render(**context)


@pytest.mark.parametrize(
    ("row", "want"),
    [
        (
            {"gap": -1.1, "p_value": 0.001},
            '<td class="num oi-gap oi-neg oi-clear">−1.10<span class="oi-sig">*</span></td>',
        ),
        ({"gap": 0.4, "p_value": 0.5}, '<td class="num oi-gap oi-pos">+0.40</td>'),
        (
            {"gap": 0.3, "p_value": None, "ci_low": 0.1, "ci_high": 0.5},  # clear on its interval
            '<td class="num oi-gap oi-pos oi-clear">+0.30<span class="oi-sig">*</span></td>',
        ),
        ({"gap": float("nan"), "p_value": 0.01}, '<td class="num oi-hidden">–</td>'),
        ({"gap": -0.3, "p_value": 0.01, "suppressed": True}, '<td class="num oi-hidden">–</td>'),
    ],
)
def test_gap_cell_macro(row, want):
    assert _macro("{{ m.gap_cell(row, 0.95) }}", row=row) == want


def test_table_and_cell_macros():
    out = _macro(
        '{% call m.table(head, "oi-x", numeric=[1, 2]) %}<tr></tr>{% endcall %}',
        head=["Item", "<Gap>", "n"],
    )
    assert out == (
        '<div class="oi-table-wrap"><table class="oi-table oi-x"><thead><tr>'
        '<th scope="col">Item</th><th scope="col" class="num">&lt;Gap&gt;</th>'
        '<th scope="col" class="num">n</th></tr></thead><tbody><tr></tr></tbody></table></div>'
    )
    assert _macro("{{ m.hidden_cells(2, 1) }}") == (
        '<td class="num oi-hidden">–</td><td class="num oi-hidden">–</td><td>–</td>'
    )
    assert _macro("{{ m.dimension_row('A & B', 4) }}") == (
        '<tr class="oi-dim"><th colspan="4" scope="colgroup">A &amp; B</th></tr>'
    )
    assert _macro("{{ m.suppression_note(10) }}") == (
        '<p class="oi-note">– not shown: the group has fewer than 10 respondents, or showing it '
        "would let a hidden figure be worked out from the others.</p>"
    )


# ---- H3b: the templated sections (key_drivers, nps, trend, perception, about) ----

TEMPLATED = ("key_drivers", "nps", "trend", "perception", "about")


@pytest.mark.parametrize("module", TEMPLATED)
def test_templated_sections_build_no_html_in_python(module):
    source = (Path(templating.__file__).parent / f"{module}.py").read_text()
    assert not re.search(r"<[a-z]+[ >]|f\"<|f'<", source)
    assert "esc(" not in source


def test_the_trend_summary_line_is_markup_with_data_escaped():
    from analysis.cx.trend import TrendResult
    from analysis.report import trend

    label = "<b>Bills</b> & fees"
    changes = pd.DataFrame(
        {
            "wave": "now",
            "wave_order": 1,
            "item": ["a", "b"],
            "label": [label, "Calls"],
            "group": "all",
            "level": "all",
            "change": [0.5, 0.1],
            "ci_low": [0.2, -0.2],
            "ci_high": [0.8, 0.4],
            "p_adjusted": [0.001, 0.5],
        }
    )
    result = TrendResult(table=changes, notes=pd.DataFrame(), waves=pd.DataFrame())
    (line,) = trend.trend_facts(result, 0.95)
    assert isinstance(line, Markup)
    assert line == (
        "<strong>Since the last survey</strong>, 1 of 2 gaps clearly narrowed and 0 clearly "
        "widened; improved most: &lt;b&gt;Bills&lt;/b&gt; &amp; fees (change +0.50, 95% "
        "interval 0.20 to 0.80)."
    )
