"""The "What customers said" section, and what customers said beside the top priorities (on
the priorities section and the first page), from hand-made theme and quote tables of the
pipeline's shape (themes.csv, quotes.csv)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_report import copy_tiny, stand_in_ranked

from analysis.config.params import load_client
from analysis.report import glance, plots, priorities, runner, themes

COLUMNS = [
    "theme", "items", "group", "level", "n", "comments", "raising", "share", "se", "ci_low",
    "ci_high", "df", "p_value", "p_adjusted", "share_of_comments", "coded_share", "source",
    "suppressed", "group_label", "level_label",
]  # fmt: skip
LONG = (
    "The bill changed three times this year and nobody could tell me why, so I spent an "
    "afternoon on the phone going through every line of it with an advisor who was kind but "
    "could not fix anything at all"
)


@dataclass(frozen=True)
class Tables:
    """What pipeline.themes returns: the themes table and the quotes table."""

    table: pd.DataFrame
    quotes: pd.DataFrame


def _row(theme, items, group, level, n, comments, raising, share, lo, hi, **kw) -> dict:
    base = dict.fromkeys(COLUMNS)
    base.update(
        theme=theme, items=items, group=group, level=level, n=n, comments=comments,
        raising=raising, share=share, se=0.03, ci_low=lo, ci_high=hi, df=36,
        share_of_comments=raising / comments, coded_share=0.75, source="codebook",
        suppressed=False, group_label="Plan" if group != "all" else None, level_label=None,
    )  # fmt: skip
    base.update(kw)
    return base


def theme_tables(source: str = "codebook") -> Tables:
    """Three themes of 38 customers (16 commented): Billing speaks to rel_1 (the stand-in
    ranking's top priority) and is raised by 20%; Waiting times by 30% (items res_1); Rude
    <b>staff</b> (hostile markup) by too few (suppressed). By plan: Basic (n 30) and Premium
    (n 8); Premium's Billing cell is suppressed, Basic's Waiting times differs clearly."""
    rows = [
        _row("Billing", "rel_1;rel_2", "all", "all", 38, 16, 6, 0.20, 0.08, 0.32),
        _row("Waiting times", "res_1", "all", "all", 38, 16, 9, 0.30, 0.15, 0.45),
        _row("Rude <b>staff</b>", "", "all", "all", 38, 16, 2, None, None, None, suppressed=True),
        _row(
            "Billing",
            "rel_1;rel_2",
            "plan",
            "Basic",
            30,
            12,
            5,
            0.22,
            0.08,
            0.36,
            p_value=0.4,
            p_adjusted=0.6,
        ),
        _row(
            "Billing", "rel_1;rel_2", "plan", "Premium", 8, 4, 1, None, None, None, suppressed=True
        ),
        _row(
            "Waiting times",
            "res_1",
            "plan",
            "Basic",
            30,
            12,
            9,
            0.36,
            0.2,
            0.52,
            p_value=0.001,
            p_adjusted=0.004,
        ),
        _row(
            "Waiting times",
            "res_1",
            "plan",
            "Premium",
            8,
            4,
            0,
            0.0,
            0.0,
            0.0,
            p_value=0.001,
            p_adjusted=0.004,
        ),
    ]
    table = pd.DataFrame(rows, columns=COLUMNS).assign(source=source)
    quotes = pd.DataFrame(
        {
            "theme": ["Billing", "Billing", "Billing", "Waiting times", "Rude <b>staff</b>"],
            "quote": [
                "My bill was wrong <script>x</script>",
                LONG,
                "Charged twice",
                "On hold for an hour",
                "never shown",
            ],
        }
    )
    return Tables(table, quotes)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return copy_tiny(tmp_path / "project")


def _between(html: str, start: str, end: str) -> str:
    i = html.index(start)
    return html[i : html.index(end, i)]


def test_story_names_the_biggest_themes_with_shares_and_short_quotes():
    html = themes.themes_section(theme_tables(), 0.95, 5).data
    runner.check_self_contained(html, where="themes")
    assert html.startswith('<section class="oi-themes" id="themes"><h2>What customers said</h2>')
    assert "16 of the 38 customers who answered wrote a comment" in html
    assert "75% of the comments raise at least one of the themes below" in html
    assert (
        "The themes customers raise most are <strong>waiting times</strong> (30% of customers)"
        " and <strong>billing</strong> (20%)." in html
    )
    assert "Not in the chart: 1 theme raised by too few customers to show." in html
    assert "Rude" not in html  # the suppressed theme is never named in the story
    assert "<table" not in html  # the table of every theme is in the appendix
    # quotes: in blockquote/q, escaped, shortened, never of a suppressed theme, not attributed
    quotes = _between(html, "<h3>In their own words</h3>", "</section>")
    first = "<q>My bill was wrong &lt;script&gt;x&lt;/script&gt;</q> <q>"
    assert f"<figcaption>Billing</figcaption><blockquote><p>{first}" in quotes
    cut = themes.short_quote(LONG)
    assert cut.endswith("…") and len(cut) <= themes.QUOTE_CHARS and LONG.startswith(cut[:-1])
    assert f"<q>{cut}</q>" in quotes and LONG not in html
    assert "never shown" not in html and "<script>" not in html
    assert quotes.count("<q>") == 4  # Billing 3, Waiting times 1
    assert "suggested automatically" not in html


def test_quotes_per_theme_limits_the_quotes():
    html = themes.themes_section(theme_tables(), 0.95, 5, quotes_per_theme=1).data
    assert html.count("<q>") == 2
    assert (
        "<h3>In their own words</h3>"
        not in themes.themes_section(theme_tables(), 0.95, 5, quotes_per_theme=0).data
    )


def test_suggested_themes_ask_to_be_named_in_the_codebook():
    html = themes.themes_section(theme_tables("suggested"), 0.95, 5).data
    assert "suggested automatically" in html and "<code>themes:</code>" in html


def test_detail_is_one_table_per_segment_with_hidden_cells_and_clear_differences():
    html = themes.themes_section(theme_tables(), 0.95, 5, part="detail").data
    assert html.startswith('<section class="oi-themes-detail"><h3 id="themes-detail">')
    # every theme: largest share first; the suppressed one last, dashed, its name escaped
    table = _between(html, '<table class="oi-table oi-themes-table">', "</table>")
    # largest share first; the suppressed theme last, its cells dashed, its name escaped
    assert table.index("Waiting times") < table.index("Billing") < table.index("Rude &lt;b&gt;")
    assert '<td class="num">30%</td><td class="num oi-ci">15% to 45%</td>' in table
    assert '<td class="num">56%</td>' in table  # 9 of 16 comments raise waiting times
    assert table.count("oi-hidden") == 3
    assert "<caption>Share of customers raising each theme, by Plan</caption>" in html
    assert 'Basic<span class="oi-n">n = 30</span>' in html
    rows = {r.split("</th>")[0]: r for r in html.split('<tr><th scope="row">')[1:]}
    # Billing: overall 20%, Basic 22% (not clear), Premium suppressed
    assert rows["Billing"].count("oi-hidden") == 1 and '<td class="num">22%</td>' in rows["Billing"]
    # Waiting times: Basic 36% and Premium 0% both clearly differ from the rest (p_adj 0.004)
    assert rows["Waiting times"].count('<span class="oi-sig">*</span>') == 2
    # the suppressed theme: all three cells dashed
    assert rows["Rude &lt;b&gt;staff&lt;/b&gt;"].count("oi-hidden") == 3
    assert "fewer than 5 respondents" in html


def test_no_themes_renders_nothing_and_wrong_tables_say_what_is_missing():
    assert themes.themes_section(None).data == ""
    empty = Tables(theme_tables().table.iloc[0:0], theme_tables().quotes)
    assert themes.themes_section(empty).data == ""
    bad = Tables(theme_tables().table.drop(columns=["share", "coded_share"]), pd.DataFrame())
    with pytest.raises(ValueError, match="lacks the columns share, coded_share"):
        themes.themes_section(bad)
    with pytest.raises(ValueError, match="part must be"):
        themes.themes_section(theme_tables(), part="appendix")
    everything_hidden = theme_tables().table.assign(suppressed=True)
    html = themes.themes_section(Tables(everything_hidden, theme_tables().quotes), 0.95, 5).data
    assert "Not shown: too few customers" in html and "<q>" not in html


def test_said_about_picks_the_biggest_shown_theme_naming_the_item():
    t = theme_tables()
    said = themes.said_about(t, "rel_1")
    assert said == {
        "theme": "billing",
        "share": "20%",
        "quotes": ["My bill was wrong <script>x</script>", themes.short_quote(LONG)],
    }
    assert themes.said_about(t, "rel_2", k=1)["quotes"] == ["My bill was wrong <script>x</script>"]
    assert themes.said_about(t, "res_1")["share"] == "30%"
    assert themes.said_about(t, "res_2") is None  # no theme speaks to it
    assert themes.said_about(None, "rel_1") is None
    # a hidden theme is never used, even when it names the item
    hidden = t.table.assign(suppressed=t.table["theme"] == "Billing")
    assert themes.said_about(Tables(hidden, t.quotes), "rel_1") is None
    # of two themes naming the item, the one raised by more customers
    both = t.table.assign(items=t.table["items"].replace("res_1", "res_1;rel_1"))
    assert themes.said_about(Tables(both, t.quotes), "rel_1")["theme"] == "waiting times"


def test_repeated_quotes_are_shown_once():
    quotes = pd.DataFrame(
        {"theme": ["Billing"] * 4, "quote": ["Charged twice", "charged  twice", None, "Wrong bill"]}
    )
    assert themes.quotes_of(quotes, "Billing", 3) == ["Charged twice", "Wrong bill"]
    assert themes.quotes_of(quotes, "Billing", 1) == ["Charged twice"]
    assert themes.quotes_of(quotes, "Staff", 3) == []


def test_in_sentence_keeps_acronyms():
    assert themes.in_sentence("Waiting times") == "waiting times"
    assert themes.in_sentence("NPS follow-up") == "NPS follow-up"
    assert themes.in_sentence("5G") == "5G"


def test_priorities_show_what_customers_said_about_the_top_priority():
    ranked = stand_in_ranked()
    assert ranked.loc[ranked["item"] == "rel_1", "top_priority"].iloc[0]
    html = priorities.priorities_section(ranked, themes=theme_tables()).data
    said = _between(html, '<ul class="oi-said">', "</ul>")
    assert said.startswith('<ul class="oi-said">\n<li><strong>Bills are accurate</strong>: 20% of')
    assert "customers raise billing in their comments:" in said
    assert "<q>My bill was wrong &lt;script&gt;x&lt;/script&gt;</q>" in said
    assert said.count("<li>") == 1 and said.count("<q>") == themes.PRIORITY_QUOTES
    # without themes the section is as before
    plain = priorities.priorities_section(ranked).data
    assert "oi-said" not in plain
    assert plain == priorities.priorities_section(ranked, themes=None).data


def test_first_page_adds_one_quote_and_the_contents_entry(tiny: Path):
    client = load_client("params/tiny.yaml", root=tiny)
    ranked = stand_in_ranked()
    plain = glance.at_a_glance(client, ranked, {"accepted": 38}).data
    html = glance.at_a_glance(client, ranked, {"accepted": 38}, themes=theme_tables()).data
    fix = _between(html, '<ol class="oi-fix-first">', "</ol>")
    assert (
        "20% of customers raise billing: <q>My bill was wrong &lt;script&gt;x&lt;/script&gt;"
        "</q></li>" in fix
    )
    assert fix.count("<q>") == 1
    assert '<a href="#themes">What customers said</a>' in html
    assert "<q>" not in plain and "#themes" not in plain
    # analysis.quotes: 0 in the params: the share, without a quote
    params = tiny / "params" / "tiny.yaml"
    params.write_text(params.read_text().replace("  min_cell: 5\n", "  min_cell: 5\n  quotes: 0\n"))
    client = load_client("params/tiny.yaml", root=tiny)
    assert client.config.analysis.quotes == 0
    html = glance.at_a_glance(client, ranked, {"accepted": 38}, themes=theme_tables()).data
    assert "20% of customers raise billing.</li>" in html and "<q>" not in html


def test_theme_chart_draws_the_shown_overall_themes_largest_first():
    table = theme_tables().table
    for layout in ("wide", "narrow"):
        ax = plots.theme_chart(table, layout=layout)
        assert ax.get_xlim()[0] == 0
        texts = [t.get_text() for t in ax.texts]
        if layout == "wide":
            labels = [t.get_text() for t in ax.get_yticklabels()]
            assert labels == ["Waiting times", "Billing"]
            assert texts == ["  30%", "  20%"]  # each share beside its interval
        else:
            assert texts == ["Waiting times", "Billing", "  30%", "  20%"]
        points = [line.get_xdata()[0] for line in ax.get_lines() if len(line.get_xdata()) == 1]
        assert np.allclose(sorted(points), [20.0, 30.0])
        plt.close(ax.figure)
