"""The one template environment: autoescape on, undefined names fail, formatting as filters."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pandas as pd
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


# ---- H3b: the templated sections (key_drivers, nps, trend, perception, about) ----

TEMPLATED = ("key_drivers", "nps", "trend", "perception", "about")


@pytest.mark.parametrize("module", TEMPLATED)
def test_templated_sections_build_no_html_in_python(module):
    source = (Path(templating.__file__).parent / f"{module}.py").read_text()
    assert not re.search(r"<[a-z]+[ >]|f\"<|f'<", source)
    assert "esc(" not in source


def test_summary_lines_are_markup_with_data_escaped():
    from analysis.report import key_drivers, nps, trend

    label = "<b>Bills</b> & fees"
    drivers = pd.DataFrame(
        {
            "item": ["a", "b"],
            "label": [label, "Calls"],
            "share": [60.0, 40.0],
            "replicates": 50,
            "vs_average": ["above", "unclear"],
            "r_squared": 0.42,
        }
    )
    (line,) = key_drivers.driver_facts(drivers)
    assert isinstance(line, Markup)
    assert line == (
        "<strong>Key drivers of overall satisfaction</strong> (clearly above the average share "
        "of the 42% of satisfaction the attributes explain): &lt;b&gt;Bills&lt;/b&gt; &amp; "
        "fees (60.0%)."
    )
    (none,) = key_drivers.driver_facts(drivers.assign(vs_average="unclear"))
    assert none.startswith("No attribute stands out") and isinstance(none, Markup)
    changes = pd.DataFrame(
        {
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
    (line,) = trend.trend_facts(changes, 0.95)
    assert isinstance(line, Markup)
    assert line == (
        "<strong>Since the last survey</strong>, 1 of 2 gaps clearly narrowed and 0 clearly "
        "widened; improved most: &lt;b&gt;Bills&lt;/b&gt; &amp; fees (change +0.50, 95% "
        "interval 0.20 to 0.80)."
    )
    scores = pd.DataFrame(
        {"group": ["all"], "level": ["all"], "nps": [12.0], "ci_low": [4.0], "ci_high": [20.0]}
    )
    (line,) = nps.nps_facts(scores, 0.95)
    assert isinstance(line, Markup)
    assert line == (
        "<strong>Net Promoter Score +12</strong> (95% interval 4 to 20; clearly above zero)."
    )
