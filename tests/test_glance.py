"""The first page, "At a glance": the top of the priority ranking, the key figures and the
groups that fare clearly worst, from hand-made tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_report import analysis_tables, copy_tiny, stand_in_ranked  # noqa: F401

from analysis.config.params import load_client
from analysis.cx import trend
from analysis.cx.trend import TrendResult
from analysis.report import glance, runner


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return copy_tiny(tmp_path / "project")


def _client(tiny_root: Path):
    return load_client("params/tiny.yaml", root=tiny_root)


def test_fix_first_is_the_top_of_the_ranking_and_facts_are_honest(tiny: Path):
    ranked = stand_in_ranked()
    html = glance.at_a_glance(_client(tiny), ranked, {"accepted": 38}).data
    assert html.startswith('<section class="oi-summary oi-glance" id="summary">')
    # only rel_1 falls clearly short: it is the one line under Fix first
    fix = html[html.index('<ol class="oi-fix-first">') : html.index("</ol>")]
    assert fix.count("<li>") == 1
    assert "<strong>Bills are accurate</strong>: gap −1.40; expectations met for 40% of" in fix
    assert "<dd>1 of 4</dd>" in html and "<dd>38</dd>" in html
    assert "<dd>50%</dd>" in html  # share met: mean of 0.4, 0.4, 0.6, 0.6 over the 4 shown
    assert "Net Promoter" not in html and "Who fares worst" not in html  # no tables given
    assert '<a href="#appendix">Technical appendix</a>' in html


def test_nothing_clearly_short_says_so(tiny: Path):
    table = stand_in_ranked()
    calm = table.assign(p_adjusted=0.5, p_value=0.5, priority="Monitor", top_priority=False)
    html = glance.at_a_glance(_client(tiny), calm).data
    assert "No attribute falls clearly short" in html and 'class="oi-fix-first"' not in html


def test_worst_groups_by_display_name_and_escaped(tiny: Path, analysis_tables):  # noqa: F811
    t = analysis_tables
    contrasts = t["contrasts"].copy()
    rows = contrasts["item"] == "all"
    contrasts.loc[rows, ["difference", "p_adjusted", "gap", "gap_rest"]] = [-0.5, 0.001, -1, -0.5]
    contrasts["group_label"], contrasts["level_label"] = "Plan <b>type</b>", contrasts["level"]
    contrasts.loc[contrasts["suppressed"].fillna(False).astype(bool), "difference"] = None
    html = glance.at_a_glance(_client(tiny), t["ranked"], None, contrasts, t["nps"]).data
    runner.check_self_contained(html, where="at a glance")
    worst = html[html.index('<ul class="oi-worst">') : html.index("</ul>")]
    assert "<strong>Plan &lt;b&gt;type&lt;/b&gt;: Basic</strong>" in worst
    assert "Rare" not in html  # suppressed: never named
    assert "average gap −1.00 against −0.50 for the other customers" in worst
    assert "<img" not in html and "<b>type" not in html


def test_contents_lists_only_the_sections_the_report_has(tiny: Path):
    view = glance.glance_view(_client(tiny), stand_in_ranked(), None, None, None, None, 0.95)
    ids = [c["id"] for c in view["contents"]]
    assert ids[0] == "priorities" and ids[-1] == "appendix"
    assert "trend" not in ids  # no previous wave
    no_change = TrendResult(
        table=pd.DataFrame(columns=trend.TREND_COLUMNS), notes=pd.DataFrame(), waves=pd.DataFrame()
    )
    with_trend = glance.glance_view(
        _client(tiny), stand_in_ranked(), None, None, None, no_change, 0.95
    )
    assert "trend" in [c["id"] for c in with_trend["contents"]]
