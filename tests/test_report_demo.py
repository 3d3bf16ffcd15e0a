"""The demo client's report, end to end: the session's real run (papermill + nbconvert) on a copy
of the demo project (conftest ``demo_run``), checked against the CSV outputs of the same run.

The copy sets ``analysis.min_cell`` to 200, so that the smallest region (about 190 respondents)
is suppressed and the suppression is visible in every section; its largest shortfall has a
hostile label, shown escaped.
"""

from __future__ import annotations

import re
from html import escape, unescape

import pandas as pd
import pytest

from analysis.config.params import load_client
from analysis.cx import dimensions, suppression
from analysis.cx import gaps as gaps_mod
from analysis.cx import segments as segments_mod
from analysis.ops import pipeline

REMOTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
MIN_CELL = 200


@pytest.fixture(scope="module")
def demo(demo_run):
    assert demo_run.MIN_CELL == MIN_CELL
    return demo_run.html, demo_run.processed


def num(x: float, digits: int = 2, signed: bool = False) -> str:
    """The report's number format, written independently: real minus, optional plus."""
    text = f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    if float(text) == 0:
        text = f"{0:.{digits}f}"
    return text.replace("-", "−")


def summary_of(html: str) -> str:
    start = html.index('id="summary"')
    return html[start : html.index("</section>", start)]


def overall(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["group"] == "all") & (frame["level"] == "all")]


def test_sections_in_reading_order(demo):
    html, _ = demo
    markers = [
        '<header class="oi-cover">',
        '<section class="oi-summary oi-glance" id="summary">',
        'class="oi-contents"',
        '<h2 id="priorities">',
        '<h2 id="gaps">Gaps</h2>',
        '<h2 id="gaps-by-segment">',
        '<h2 id="key-drivers">',
        '<h2 id="nps">',
        '<h2 id="perception">',
        '<h2 class="oi-appendix" id="appendix">Technical appendix',
        "The responses we received",
        "How the sample was drawn and weighted",
        '<h3 id="glossary">Glossary</h3>',
        'class="oi-provenance"',
    ]
    where = [html.find(m) for m in markers]
    assert all(i >= 0 for i in where), dict(zip(markers, where, strict=True))
    assert where == sorted(where)


def test_summary_numbers_match_the_csv_outputs(demo):
    """The first page ("At a glance") says what the tables say: the top of the priority ranking
    with its gaps and shares met, the count of clear shortfalls, the NPS and its interval, and
    the groups that fare clearly worst (gaps and NPS), under their display names."""
    html, out = demo
    text = summary_of(html)
    ranked = overall(pd.read_csv(out / "priorities.csv")).sort_values("rank")
    top = ranked[ranked["top_priority"].fillna(False).astype(bool)]
    assert len(top) >= 3
    named = [unescape(n) for n in re.findall(r"<li><strong>(.*?)</strong>: gap ", text)]
    assert named == list(top["label"])  # the top of the ranking, in rank order
    for _, r in top.iterrows():
        phrase = (
            f"{escape(r['label'])}</strong>: gap {num(r['gap'], signed=True)}; expectations met "
            f"for {round(100 * r['share_met'])}% of customers"
        )
        assert phrase in text
    short = ranked["priority"].isin(["Fix first", "Improve"]).sum()
    assert f"<dd>{short} of {len(ranked)}</dd>" in text
    nps = overall(pd.read_csv(out / "nps.csv")).iloc[0]
    assert f"<dd>{num(nps['nps'], 0, signed=True)}</dd>" in text
    assert f"95% interval {num(nps['ci_low'], 0)} to {num(nps['ci_high'], 0)}" in text
    # the groups that fare clearly worst, by display name: all-attribute gaps and NPS
    seg = pd.read_csv(out / "segments.csv")
    worse = seg[(seg["item"] == "all") & (seg["p_adjusted"] < 0.05) & (seg["difference"] < 0)]
    scores = pd.read_csv(out / "nps.csv")
    worse_nps = scores[(scores["p_adjusted"] < 0.05) & (scores["difference"] < 0)]
    assert len(worse) + len(worse_nps) >= 1
    for _, r in pd.concat([worse, worse_nps]).head(4).iterrows():
        assert f"<strong>{escape(r['group_label'])}: {escape(r['level_label'])}</strong>" in text
    assert "segment:" not in text and "region:" not in text  # no column names


def test_self_contained_small_and_accessible(demo):
    html, _ = demo
    assert len(html.encode("utf-8")) < 2_000_000
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not REMOTE.search(html)
    assert "@import" not in html and "url(http" not in html
    imgs = re.findall(r"<img\b[^>]*>", html)
    assert len(imgs) >= 7
    for tag in imgs:
        alt = re.search(r'\balt="([^"]*)"', tag)
        assert alt and alt.group(1).strip(), tag[:120]
    # real header cells in every table
    tables = re.findall(r"<table\b.*?</table>", html, flags=re.S)
    assert tables and all(
        '<th scope="col"' in t or '<th class="num" scope="col"' in t for t in tables
    )


@pytest.fixture(scope="module")
def unsuppressed(demo_run):
    """The demo run's gap, dimension and contrast tables before suppression, estimated again
    from its inputs (nothing written): the numbers the report must not show."""
    client = load_client("params/demo.yaml", root=demo_run.root)
    clean = pipeline.read_and_validate(client).clean
    design = pipeline.survey_design(client, clean)
    cfg = client.config.analysis
    return {
        "gap_table.csv": gaps_mod.gap_table(design, clean, client.codebook, by=cfg.by),
        "dimension_gaps.csv": dimensions.dimension_gaps(design, clean, client.codebook, by=cfg.by),
        "segments.csv": segments_mod.segment_contrasts(design, clean, client.codebook, by=cfg.by),
    }


#: data/processed/ files that are rows of the survey, not tables of estimates
# files of rows, not estimates: no cells to suppress (quotes come only from cells of min_cell)
ROW_FILES = {"rejected.csv", "quality_flags.csv", "staff_rejected.csv", "quotes.csv"}
ROW_FILES |= {"trend_notes.csv", "trend_waves.csv"}  # the waves compared and items left out


def test_every_table_marks_the_same_cells_and_blanks_them(demo):
    _, out = demo
    tables = {f.name: pd.read_csv(f) for f in sorted(out.glob("*.csv")) if f.name not in ROW_FILES}
    assert {"gap_table.csv", "representativeness.csv", "priorities.csv"} <= set(tables)
    with_west: list[str] = []
    for name, table in tables.items():
        assert "suppressed" in table.columns, name
        hidden = table[table["suppressed"].astype(bool)]
        shown = table.columns[table.notna().any() | (table.columns == "suppressed")]
        kept = {"item", "label", "dimension", "group", "level", "variable", "n", "n_items", "df"}
        kept |= {"n_rest", "n_staff", "n_customers", "n_no_value", "rating", "suppressed"}
        kept |= {"population"}
        kept |= {"population_share", "sample_share", *suppression.LABELS}
        kept |= {"theme", "items", "source"}  # themes.csv (cx.themes.IDENTIFIERS)
        kept |= {"wave", "wave_order", "wave_label", "n_previous", "df_first"}  # trend.csv
        for col in [c for c in shown if c not in kept]:
            assert hidden[col].isna().all(), (name, col)
        if "level" in table.columns:  # region West (190 < 200 respondents) is hidden everywhere
            key = "variable" if "variable" in table.columns else "group"
            west = table[(table[key] == "region") & (table["level"] == "West")]
            assert west["suppressed"].astype(bool).all(), name
            with_west += [name] if len(west) else []
    assert set(with_west) >= {
        "gap_table.csv",
        "dimension_gaps.csv",
        "priorities.csv",
        "nps.csv",
        "segments.csv",
        "representativeness.csv",
        "themes.csv",
        "value_gaps.csv",
        "value_nps.csv",
        "key_customers.csv",
    }
    gap, pri = tables["gap_table.csv"], tables["priorities.csv"]
    marked = gap.set_index(["item", "group", "level"])["suppressed"]
    assert marked.equals(pri.set_index(["item", "group", "level"])["suppressed"].loc[marked.index])


def test_suppressed_levels_never_show_their_numbers(demo, unsuppressed):
    html, out = demo
    ranked = pd.read_csv(out / "priorities.csv")
    keys = ["group", "level", "group_label", "level_label"]
    hidden = ranked[ranked["suppressed"].astype(bool)][keys].drop_duplicates()
    assert ("region", "West") in {(g, lv) for g, lv, *_ in hidden.values}  # 190 respondents < 200
    for name, full in unsuppressed.items():  # every table's hidden cells, in full
        written = pd.read_csv(out / name)
        assert len(written) == len(full), name
        secret = full[written["suppressed"].astype(bool).to_numpy()]
        assert len(secret), name
        for _, r in secret.iterrows():
            lo = "ci_low" if "ci_low" in r else "gap_ci_low"
            interval = f"{num(r[lo])} to {num(r[lo.replace('low', 'high')])}"
            assert interval not in html, (name, r["group"], r["level"], interval)
    for _, h in hidden.iterrows():
        # its NPS row and its contrast row show dashes only; the summary never names it
        name = f"{escape(h['group_label'])}: {escape(h['level_label'])}"  # display names
        row = re.search(rf'<th scope="row">{name}</th>(.*?)</tr>', html, flags=re.S)
        assert row and "oi-hidden" in row.group(1)
        assert h["level"] not in summary_of(html)
    nps = pd.read_csv(out / "nps.csv")
    assert nps.loc[nps["level"] == "West", "nps"].isna().all()


def test_perception_gap_section_is_suppressed_with_too_few_staff(demo):
    html, processed = demo
    table = pd.read_csv(processed / "perception_gap.csv")
    assert (table["n_staff"] < MIN_CELL).all() and table["difference"].isna().all()
    start = html.index('<h2 id="perception">')
    section = html[start : html.index("</section>", start)]
    assert "too few to show the comparison" in section and "<table" not in section
