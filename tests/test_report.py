"""The client report: HTML sections (summary, gaps, priorities, segments, ..., about), formatting,
figures (plots), and the papermill + nbconvert run (report.run_client) on the tiny fixture client,
including failures that must keep the last report.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from analysis import files
from analysis.config.params import load_client
from analysis.cx import drivers as cx_drivers
from analysis.cx import priorities as cx_priorities
from analysis.errors import ReportError
from analysis.report import (
    about,
    figures,
    formatting,
    gaps,
    key_drivers,
    nps,
    plots,
    priorities,
    segments,
    summary,
    trend,
)
from analysis.report import runner as report
from analysis.survey import inference, replicates

FIXTURE = Path(__file__).parent / "fixtures" / "clients" / "tiny"
HOSTILE = "<img src=x onerror=alert(1)>"
REMOTE = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def copy_tiny(dest: Path) -> Path:
    """A copy of the tiny fixture client, laid out as a project root."""
    shutil.copytree(FIXTURE, dest)
    return dest


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return copy_tiny(tmp_path / "project")


def stand_in_table(hostile_item: str | None = None) -> pd.DataFrame:
    """A small gap table with the gaps.gap_table columns plus ``suppressed``.

    rel_1 a clear shortfall, rel_2 and res_1 unclear, res_2 clearly exceeds; plan=Premium (n=4)
    suppressed.
    """
    items = [
        ("rel_1", "Bills are accurate", "Reliability", -1.4),
        ("rel_2", "Faults are fixed first time", "Reliability", -0.3),
        ("res_1", "Calls are answered within 2 minutes", "Responsiveness", 0.05),
        ("res_2", "Staff explain charges & fees (e.g. $5 top-ups)", "Responsiveness", 0.8),
    ]
    rows = []
    for group, level, n in [
        ("all", "all", 38),
        ("plan", "Basic", 20),
        ("plan", "Plus", 14),
        ("plan", "Premium", 4),
    ]:
        for item, label, dim, gap in items:
            if item == hostile_item:
                label = HOSTILE
            se = 0.25 if group == "all" else 0.45
            rows.append(
                {
                    "item": item,
                    "label": label,
                    "dimension": dim,
                    "group": group,
                    "level": level,
                    "n": n,
                    "expectation": 5.5,
                    "performance": 5.5 + gap,
                    "gap": gap,
                    "se": se,
                    "ci_low": gap - 2 * se,
                    "ci_high": gap + 2 * se,
                    "df": 36,
                    "p_value": 0.001 if abs(gap) > 2 * se else 0.4,
                    "share_met": 0.6 if gap >= 0 else 0.4,
                    "share_met_se": 0.08,
                }
            )
    table = pd.DataFrame(rows)
    table["suppressed"] = table["n"] < 5
    est = ["expectation", "performance", "gap", "se", "ci_low", "ci_high", "p_value"]
    table.loc[table["suppressed"], est] = np.nan
    return table


# ---------------------------------------------------------------------------------------------
# the report's sections: HTML pieces


def test_gap_table_headers_numbers_significance_and_suppression():
    html = gaps.gap_table(stand_in_table(), confidence=0.95, min_cell=5).data
    assert '<th scope="col">Service attribute</th>' in html
    assert '<th scope="col" class="num">Gap</th>' in html
    assert "95% interval" in html
    # dimension groups in first-appearance order, largest shortfall first within a dimension
    assert html.index("Reliability") < html.index("Bills are accurate") < html.index("Faults")
    assert html.index("Responsiveness") < html.index("Calls are answered")
    # real minus sign, sign on positive gaps, significance star only on clear gaps
    assert '−1.40<span class="oi-sig">*</span>' in html
    assert '+0.80<span class="oi-sig">*</span>' in html
    assert "−0.30</td>" in html
    assert "Falls short" in html and "Exceeds expectations" in html and "No clear gap" in html
    assert "&amp; fees" in html  # escaped
    # the overall table has no suppressed rows, so no suppression footnote
    assert "not shown" not in html


def test_suppressed_cells_show_a_dash_and_a_footnote():
    table = stand_in_table()
    table.loc[(table["group"] == "all") & (table["item"] == "res_1"), "suppressed"] = True
    table.loc[table["suppressed"], "gap"] = np.nan
    html = gaps.gap_table(table, 0.95, 5).data
    row = html[html.index("Calls are answered") :]
    row = row[: row.index("</tr>")]
    assert row.count(formatting.DASH) == 5  # 4 estimates and the verdict; n stays visible
    assert '<td class="num">38</td>' in row
    assert "fewer than 5 respondents" in html
    seg = segments.segment_tables(stand_in_table(), 0.95, 5).data
    assert "<h3>Gap by plan</h3>" in seg
    assert seg.count('<td class="num oi-hidden">–</td>') == 4  # Premium, every item
    assert "fewer than 5 respondents" in seg


def test_every_data_string_is_escaped():
    table = stand_in_table(hostile_item="rel_2")
    table["dimension"] = table["dimension"].replace("Reliability", "<b>Reliability</b>")
    table["level"] = table["level"].replace("Plus", "<i>Plus</i>")
    pieces = [
        gaps.gap_table(table).data,
        segments.segment_tables(table).data,
        priorities.priorities_section(stand_in_ranked(table.assign(p_value=0.001))).data,
        about.validation_summary(
            {
                "source": f"/x/{HOSTILE}.csv",
                "detected": {"format": HOSTILE},
                "received": 3,
                "accepted": 2,
                "rejected": 1,
                "reasons": {HOSTILE: 1},
                "flags": {HOSTILE: 2},
            }
        ).data,
    ]
    for html in pieces:
        assert "<img src=x" not in html
        assert "<b>Reliability" not in html and "<i>Plus" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in pieces[0]
    assert "&lt;img src=x onerror=alert(1)&gt;" in pieces[3]


def test_cover_and_design_escape_params_text(tiny: Path):
    params = tiny / "params" / "tiny.yaml"
    data = yaml.safe_load(params.read_text())
    data["title"] = f"Acme {HOSTILE} & sons"
    params.write_text(yaml.safe_dump(data))
    client = load_client("params/tiny.yaml", root=tiny)
    html = summary.cover(client, {"accepted": 38}).data
    assert "<h1>Acme &lt;img src=x onerror=alert(1)&gt; &amp; sons</h1>" in html
    assert "<dd>38</dd>" in html
    design = about.sample_design(
        client,
        {
            "n": 38,
            "sum_weights": 1900.0,
            "kish_neff": 36.6,
            "efficiency": 0.962,
            "adjustment_min": None,
            "adjustment_max": None,
        },
    ).data
    assert "<code>base_weight</code>" in design and "<code>region</code>" in design
    assert "1,900" in design and "96% efficiency" in design
    assert "fewer than 5 respondents" in design


def test_design_section_names_the_variance_method(tiny: Path):
    params = tiny / "params" / "tiny.yaml"
    client = load_client("params/tiny.yaml", root=tiny)
    assert "Taylor linearisation" in about.sample_design(client).data
    data = yaml.safe_load(params.read_text())
    for variance, words in (
        ("jkn", "jackknife replicates"),
        ("bootstrap", "200 bootstrap replicates of the sample"),
    ):
        data["design"] = {**data["design"], "variance": variance}
        if variance == "bootstrap":
            data["design"]["replicates"] = 200
        params.write_text(yaml.safe_dump(data))
        html = about.sample_design(load_client("params/tiny.yaml", root=tiny)).data
        assert words in html and "Taylor" not in html


def test_reliability_table_shows_the_design_alphas_interval_when_there_is_one(analysis_tables):
    rel = analysis_tables["rel"]
    plain = about.reliability_table(rel).data
    assert "Expectation, weighted (interval)" not in plain and "replicate" not in plain
    with_ci = rel.assign(alpha_design_ci_low=0.61, alpha_design_ci_high=0.83)
    html = about.reliability_table(with_ci).data
    assert "Expectation, weighted (interval)" in html and "replicate samples" in html
    assert formatting.interval(0.61, 0.83) in html


def test_validation_summary_wording():
    html = about.validation_summary(
        {
            "source": "data/raw/x/responses.csv",
            "detected": {"format": "csv"},
            "received": 40,
            "accepted": 38,
            "rejected": 2,
            "reasons": {"rating outside the scale 1-7": 1, "segment value not listed": 1},
            "flags": {},
        }
    ).data
    assert "<strong>40 responses</strong>" in html
    assert "<strong>38</strong> passed every check" in html
    assert "<strong>2</strong> (5%)" in html
    assert "/raw/" not in html  # only the file name reaches the client
    assert '<th scope="row">rating outside the scale 1-7</th>' in html
    clean = about.validation_summary(
        {"source": "a.csv", "received": 5, "accepted": 5, "rejected": 0}
    ).data
    assert "All 5 passed every check" in clean


def stand_in_ranked(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The priorities table of :func:`stand_in_table` (BH-adjusted p-values, ranks)."""
    return cx_priorities.priorities(
        inference.add_p_adjusted(stand_in_table() if table is None else table)
    )


def test_cover_shows_fieldwork_dates_when_the_data_have_them(tiny: Path):
    client = load_client("params/tiny.yaml", root=tiny)
    qualtrics = pd.DataFrame(
        {
            "StartDate": ["2026-03-02 09:15:00", "2026-03-28 17:01:00", "not a date"],
            "EndDate": ["2026-03-02 09:31:00", "2026-04-03 08:00:00", None],
        }
    )
    assert summary.fieldwork_dates(qualtrics) == (
        pd.Timestamp("2026-03-02").date(),
        pd.Timestamp("2026-04-03").date(),
    )
    html = summary.cover(client, {"accepted": 38}, qualtrics).data
    assert "<dt>Fieldwork</dt><dd>2 March – 3 April 2026</dd>" in html
    same_month = pd.DataFrame({"start_date": ["2026-05-04", "2026-05-19"]})
    assert "<dd>4–19 May 2026</dd>" in summary.cover(client, None, same_month).data
    for none in (None, pd.DataFrame({"x": [1]}), pd.DataFrame({"StartDate": ["n/a"]})):
        assert summary.fieldwork_dates(none) is None
        assert "Fieldwork" not in summary.cover(client, None, none).data


def test_glossary_defines_the_terms():
    html = about.glossary(0.9).data
    for term in (
        "Gap",
        "Expectation",
        "Performance",
        "90% interval",
        "Clear gap",
        "Weighting",
        "Design effect and effective sample size",
        "NPS (Net Promoter Score)",
        "Priority",
        "Expectations met",
        "Derived importance",
        "Suppressed cell",
    ):
        assert f"<dt>{term}</dt>" in html, term
    assert "multiple testing" in html


def test_number_formatting():
    assert formatting.fmt_num(-0.004) == "0.00"
    assert formatting.fmt_num(-1.235, 2) == "−1.24" or formatting.fmt_num(-1.235, 2) == "−1.23"
    assert formatting.fmt_num(0.5, signed=True) == "+0.50"
    assert formatting.fmt_num(float("nan")) == formatting.DASH
    assert formatting.fmt_num(None) == formatting.DASH
    assert formatting.fmt_int(12345.6) == "12,346"
    assert formatting.fmt_pct(0.0512) == "5%"
    assert formatting.interval(-1.2, 0.25) == "−1.20 to 0.25"
    assert formatting.interval(1.0, None) == formatting.DASH  # never "1.00 to –"
    assert formatting.interval(12.34, 15.0, 1) == "12.3 to 15.0"


def test_one_rule_for_hidden_rows_in_tables_and_charts():
    rows = pd.DataFrame(
        {
            "gap": [0.5, 0.5, np.nan, 0.5],
            "change": [0.1, np.nan, 0.1, 0.1],
            "suppressed": pd.array([False, True, False, pd.NA], dtype="boolean"),
        }
    )
    for column, kept in (("gap", [0, 3]), ("change", [0, 2, 3])):
        hidden = [formatting.is_hidden(r, column) for _, r in rows.iterrows()]
        # suppressed, or no value in the column; a missing flag is not a suppression
        assert [i for i, h in enumerate(hidden) if not h] == kept, column
        assert list(formatting.shown_rows(rows, column).index) == kept, column
    assert formatting.is_hidden({"gap": 1.0}) is False


def test_segment_section_absent_without_segments():
    table = stand_in_table()
    assert segments.segment_section(table[table["group"] == "all"]).data == ""
    html = segments.segment_section(table, 0.95, 5).data
    assert html.startswith('<section class="oi-segment-section"><h2')
    assert 'src="data:image/png;base64,' in html


def test_figure_is_a_picture_of_two_inline_pngs_and_closes_the_figures():
    table = stand_in_table()
    html = figures.figure(
        lambda layout: plots.gap_chart(table, layout=layout),
        alt=f"chart {HOSTILE}",
        caption="a & b",
    ).data
    assert html.startswith(
        '<figure class="oi-figure"><picture><source media="(max-width: 600px)" '
        'srcset="data:image/png;base64,'
    )
    assert '<img src="data:image/png;base64,' in html
    assert 'alt="chart &lt;img src=x onerror=alert(1)&gt;"' in html
    assert "<figcaption>a &amp; b</figcaption>" in html
    # the smallest text of each variant, in image pixels: narrow 8 pt at 180 dpi, wide 9 pt at 144
    assert re.findall(r'data-text-px="([0-9.]+)"', html) == ["20.0", "18.0"]
    assert plt.get_fignums() == []
    # a plain string: sections join it to their HTML ("<h3>" + Markup would escape the "<h3>")
    part = "<h3>x</h3>" + figures.section_figure(lambda layout: plots.gap_chart(table), alt="x")
    assert type(part) is str and part.startswith("<h3>x</h3><figure")
    with pytest.raises(TypeError, match="function drawing the chart"):
        figures.figure(plots.gap_chart(table), alt="x")
    plt.close("all")


def test_narrow_charts_label_rows_above_and_bands_by_dimension():
    table = stand_in_table()
    ax = plots.gap_chart(table, layout="narrow")
    texts = [t.get_text() for t in ax.texts]
    assert "Bills are accurate" in texts and list(ax.get_yticklabels()) == []
    dims = list(dict.fromkeys(table["dimension"]))
    assert all(d in texts for d in dims)  # every band headed by its dimension
    assert ax.figure.get_figwidth() == pytest.approx(plots.LAYOUTS["narrow"].width)
    assert figures.smallest_text_pt(ax.figure) >= plots.LAYOUTS["narrow"].text
    with pytest.raises(ValueError, match="layout must be one of"):
        plots.gap_chart(table, layout="tablet")
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# plots


def test_gap_chart_draws_overall_items_with_plain_text_labels():
    table = stand_in_table()
    ax = plots.gap_chart(table)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Bills are accurate"  # Reliability first, largest shortfall first
    assert any("(e.g. $5" in lab for lab in labels)
    for t in [*ax.get_yticklabels(), *ax.get_legend().get_texts()]:
        assert t.get_parse_math() is False
        assert t.get_usetex() is False
    # one interval line and one dot per item, plus the zero line
    assert (
        sum(
            1
            for ln in ax.lines
            if len(ln.get_xdata()) == 2 and ln.get_marker() in (None, "None", "")
        )
        >= 4
    )
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert sorted(float(d.get_xdata()[0]) for d in dots) == pytest.approx([-1.4, -0.3, 0.05, 0.8])
    hollow = [d for d in dots if d.get_markerfacecolor() == "white"]
    assert len(hollow) == 2  # the two unclear gaps


def test_gap_chart_uses_given_axes():
    _fig, ax = plt.subplots()
    assert plots.gap_chart(stand_in_table(), ax=ax) is ax


def test_segment_heatmap_writes_values_and_dashes():
    ax = plots.segment_gap_heatmap(stand_in_table())
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("–") == 4  # Premium suppressed
    assert "−1.40*" in texts
    assert all(t.get_parse_math() is False for t in ax.texts)


# ---------------------------------------------------------------------------------------------
# report helpers


def test_resolve_root_from_the_notebooks_folder(tiny: Path, monkeypatch: pytest.MonkeyPatch):
    (tiny / "notebooks").mkdir()
    assert report.resolve_root("params/tiny.yaml", tiny) == tiny
    monkeypatch.chdir(tiny / "notebooks")
    assert report.resolve_root("params/tiny.yaml", ".") == tiny
    assert report.open_client("params/tiny.yaml", ".").root == tiny
    assert report.resolve_root("params/nope.yaml", ".") == tiny / "notebooks"


def test_check_self_contained():
    ok = '<p>see https://example.com</p><img src="data:image/png;base64,AAAA"><a href="#gaps">x</a>'
    report.check_self_contained(ok)
    for bad in [
        "<SCRIPT>alert(1)</SCRIPT>",
        '<img src="https://x/y.png">',
        "<link rel=stylesheet href=//cdn/x.css>",
        "<style>@import 'x.css';</style>",
        '<div style="background:url(http://x/y.png)">',
    ]:
        with pytest.raises(ReportError, match="not self-contained"):
            report.check_self_contained(bad)


def write_kernelspec(base: Path, argv0: str) -> Path:
    spec = base / "kernels" / report.KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [argv0, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Outside-In",
                "language": "python",
            }
        )
    )
    return spec


def test_kernel_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: Path):
    assert report.check_kernel()["argv"][0] == report.os.path.abspath(report.sys.executable)
    hint = re.escape(report.setup_hint("outside-in-no-such-kernel"))  # dev.sh setup in .venv
    with pytest.raises(ReportError, match=rf"not installed.*`{hint}`"):
        report.check_kernel("outside-in-no-such-kernel")
    write_kernelspec(tmp_path / "jp", "/opt/other/python")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    hint = re.escape(report.setup_hint())
    with pytest.raises(ReportError, match=rf"runs /opt/other/python, not this Python.*`{hint}`"):
        report.check_kernel()
    with pytest.raises(ReportError, match="runs /opt/other/python"):
        report.run_client("params/tiny.yaml", root=tiny)
    assert not (tiny / "reports").exists()


# ---------------------------------------------------------------------------------------------
# the real run: papermill executes notebooks/gap_report.ipynb on the demo client (the session's
# run, conftest demo_run: min_cell 200, a hostile item label)


def test_run_writes_a_self_contained_report(demo_run):
    root, result = demo_run.root, demo_run.result
    assert result.client == "demo"
    assert result.report_html == root / "reports" / "demo" / "report.html"
    html = result.report_html.read_text(encoding="utf-8")
    # sections
    assert "<title>Harbourline Telecom customer expectations 2026</title>" in html
    assert '<header class="oi-cover">' in html and "<dd>1,723</dd>" in html
    assert '<h2 id="gaps">Gaps</h2>' in html and ">Technical appendix</h2>" in html
    assert "Gaps by segment" in html and "<h3>Gap by Region</h3>" in html  # display labels
    assert "The responses we received" in html and "<strong>1,733 responses</strong>" in html
    assert "How the sample was drawn and weighted" in html
    assert '<h2 id="priorities">Priorities: what to fix first</h2>' in html
    assert "<h3>Ranked list</h3>" in html and "Stated and derived importance" in html
    assert "Which customers are underserved" in html and "Top priorities in each group" in html
    assert (
        '<h2 id="key-drivers">What drives overall satisfaction and likelihood to recommend</h2>'
        in html
    )
    assert 'id="drivers-detail-recommend"' in html
    assert '<h2 id="nps">Net Promoter Score</h2>' in html
    assert "<h3>Gaps by dimension</h3>" in html
    assert "<h3>Who answered</h3>" in html and "How consistently each dimension" in html
    # the demo names its 2024 and 2025 waves: the trend with every wave's gaps
    assert '<h2 id="trend">Change since the last survey</h2>' in html
    assert "Surveys compared: 2024, 2025, 2026" in html
    assert 'id="summary"' in html and "<h2>At a glance</h2>" in html
    assert '<h3 id="glossary">Glossary</h3>' in html
    assert "Key findings" not in html  # folded into the executive summary
    # charts inline (nbconvert's HTML parser puts alt before src): gaps, IPA, dual importance,
    # heatmap, drivers, NPS, themes (what customers said), the change since the last wave, the
    # gap of every wave per dimension (small multiples), representativeness
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) == 10
    assert len(re.findall(r"<img ", html)) == 10
    assert '<table class="oi-table oi-gaps">' in html and '<th scope="col">Gap' not in html
    assert '<th class="num" scope="col">Gap</th>' in html
    assert "oi-provenance" in html
    # West has about 190 respondents (< min_cell 200): suppressed
    assert "fewer than 200 respondents" in html
    # no code, no notebook-only cells, no scripts, nothing remote
    assert "pipeline.intake" not in html and "Outside-In gap report</h1>" not in html
    assert "<script" not in html.lower()
    assert not REMOTE.search(html)
    # the hostile label is text, never markup
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "<style" in html and "<link" not in html


def test_run_writes_the_executed_notebook_and_manifest(demo_run):
    root, result = demo_run.root, demo_run.result
    nb = nbformat.read(result.report_ipynb, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    manifest = json.loads(result.manifest.read_text())
    assert result.manifest == root / "data" / "processed" / "demo" / "manifest.json"
    assert manifest["rows"] == {"received": 1733, "accepted": 1723, "rejected": 10}
    assert set(manifest["inputs"]) == {"params", "survey", "codebook", "margins", "staff_survey"}
    assert manifest["inputs"]["survey"]["path"] == "data/raw/demo/responses.csv"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["inputs"]["survey"]["sha256"])
    assert manifest["params"]["client"] == "demo"
    assert manifest["params"]["design"]["weight"] == "base_weight"
    for name in (
        "python",
        "analysis",
        "pandas",
        "numpy",
        "papermill",
        "nbconvert",
        "pandera",
        "seaborn",
        "pingouin",
    ):
        assert manifest["versions"][name], name
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["notebook"]["sha256"])
    # the session's project has no notebooks/: the packaged notebook ran
    assert manifest["notebook"]["source"] == "package"
    assert manifest["notebook"]["path"] == str(report.PACKAGED_NOTEBOOK)
    assert manifest["notebook"]["sha256"] == files.file_sha256(report.PACKAGED_NOTEBOOK)
    assert manifest["started"] <= manifest["finished"]
    assert manifest["seconds"] > 0 and manifest["steps"]["execute"] > 0
    assert manifest["outputs"]["report_html"]["bytes"] == result.report_html.stat().st_size
    intake = next(c for c in manifest["cells"] if c["source"] == "data = pipeline.intake(client)")
    assert intake["cell"] == 3 and intake["seconds"] > 0


def keep_previous(root: Path) -> tuple[bytes, bytes]:
    out = root / "reports" / "tiny"
    out.mkdir(parents=True)
    (out / "report.html").write_text("<p>last good report</p>")
    (out / "report.ipynb").write_text("{}")
    return (out / "report.html").read_bytes(), (out / "report.ipynb").read_bytes()


def test_failed_run_names_the_cell_and_keeps_the_last_report(tiny: Path):
    before = keep_previous(tiny)
    survey = tiny / "data" / "raw" / "tiny" / "responses.csv"
    lines = survey.read_text().splitlines()
    bad = [lines[0]] + [re.sub(r",(Basic|Plus|Premium),", ",Gold,", ln) for ln in lines[1:]]
    survey.write_text("\n".join(bad) + "\n")
    with pytest.raises(ReportError) as err:
        report.run_client("params/tiny.yaml", root=tiny)
    msg = str(err.value)
    assert "gap_report.ipynb for tiny: cell 3 (`data = pipeline.intake(client)`) failed" in msg
    assert "DataError: " in msg and "40 of 40 rows" in msg
    assert "report.failed.ipynb" in msg
    out = tiny / "reports" / "tiny"
    assert ((out / "report.html").read_bytes(), (out / "report.ipynb").read_bytes()) == before
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.ipynb"]
    assert not (tiny / "data" / "processed" / "tiny" / "manifest.json").exists()


def test_a_raising_cell_is_named_and_nothing_is_replaced(tiny: Path):
    before = keep_previous(tiny)
    nb = new_notebook(
        cells=[
            new_code_cell(
                'params_file = "params/demo.yaml"\nroot = "."', metadata={"tags": ["parameters"]}
            ),
            new_code_cell("x = 1"),
            new_code_cell("# check the input\nraise ValueError('boom <b>')"),
        ],
        metadata={
            "kernelspec": {"name": "outside-in", "display_name": "Outside-In", "language": "python"}
        },
    )
    path = tiny / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(
        ReportError,
        match=re.escape(
            "broken.ipynb for tiny: cell 2 (`# check the input`) failed: ValueError: boom <b>"
        ),
    ):
        report.run_client("params/tiny.yaml", root=tiny, notebook=path)
    out = tiny / "reports" / "tiny"
    assert ((out / "report.html").read_bytes(), (out / "report.ipynb").read_bytes()) == before


def test_params_are_checked_before_anything_runs(tiny: Path):
    from analysis.errors import ParamsError

    params = tiny / "params" / "tiny.yaml"
    params.write_text(params.read_text() + "colour: blue\n")
    with pytest.raises(ParamsError, match="unknown key 'colour'"):
        report.run_client("params/tiny.yaml", root=tiny)
    assert not (tiny / "reports").exists()
    assert not (tiny / "data" / "processed").exists()


# ---------------------------------------------------------------------------------------------
# the analyses' sections and their plots


@pytest.fixture(scope="module")
def analysis_tables() -> dict[str, pd.DataFrame]:
    """Every analysis table of a small survey whose label, dimension and segment level are
    hostile markup; the level "Rare" has 3 respondents (suppressed)."""
    from analysis.config.params import Codebook, DesignConfig
    from analysis.cx import (
        dimensions,
        drivers,
        gaps,
        nps,
        reliability,
        representativeness,
        segments,
        suppression,
    )
    from analysis.cx import trend as trend_mod
    from analysis.survey.design import build_design

    rng = np.random.default_rng(3)
    n = 80
    level = np.array(["Basic"] * 45 + ["<i>Plus</i>"] * 32 + ["Rare"] * 3)
    frame = pd.DataFrame({"rid": range(n), "plan": level, "w": rng.uniform(1, 3, n)})
    items = [("a", HOSTILE, "<b>Reliability</b>"), ("b", "Calls & fees", "<b>Reliability</b>")]
    items += [("c", "Staff $5 help", "Empathy"), ("d", "Opening hours", "Empathy")]
    base = rng.normal(0, 1, n)
    for i, (item, _label, _dim) in enumerate(items):
        frame[f"e_{item}"] = np.clip(np.round(5.5 + rng.normal(0, 1, n)), 1, 7)
        frame[f"p_{item}"] = np.clip(np.round(4.5 + 0.3 * i + base + rng.normal(0, 1, n)), 1, 7)
    frame["overall"] = np.clip(np.round(6 + 1.5 * base + rng.normal(0, 1, n)), 0, 10)
    frame["rec"] = np.clip(np.round(6 + 2 * base + rng.normal(0, 2, n)), 0, 10)
    cb = Codebook(
        id="rid",
        scale={"min": 1, "max": 7},
        items=[
            {
                "id": i,
                "label": lab,
                "dimension": d,
                "expectation": f"e_{i}",
                "performance": f"p_{i}",
            }
            for i, lab, d in items
        ],
        segments={"plan": ["Basic", "<i>Plus</i>", "Rare"]},
        overall="overall",
        recommend="rec",
    )
    design = build_design(frame, DesignConfig(weight="w"))
    table = inference.add_p_adjusted(gaps.gap_table(design, frame, cb, by=["plan"]))
    shown = suppression.suppress(table, 5, gaps.IDENTIFIERS)
    reps = replicates.replicate_weights(design, "subbootstrap", 60, seed=1, rescale_fpc=True)
    both = pd.concat(
        [drivers.key_drivers(design, frame, cb, reps, outcome=o) for o in ("overall", "recommend")],
        ignore_index=True,
    )
    drv = drivers.importance_tiers(both, drivers.stated_importance(table))
    margins = pd.DataFrame(
        {
            "variable": ["plan"] * 3,
            "level": ["Basic", "<i>Plus</i>", "Rare"],
            "count": [60.0, 30, 10],
        }
    )
    waves = [
        trend_mod.Wave(name="before", label="2025", gaps=table.assign(gap=table["gap"] - 0.4)),
        trend_mod.Wave(name="now", label="2026", gaps=table),
    ]
    trend = trend_mod.TrendResult(
        table=trend_mod.trend(waves, min_cell=5),
        notes=pd.DataFrame(columns=trend_mod.NOTE_COLUMNS),
        waves=pd.DataFrame(
            {"wave": ["before", "now"], "wave_order": [1, 2], "wave_label": ["2025", "2026"]}
        ),
    )
    return {
        "shown": shown,
        "dims": suppression.suppress(
            dimensions.dimension_gaps(design, frame, cb, by=["plan"]), 5, dimensions.IDENTIFIERS
        ),
        "ranked": cx_priorities.priorities(shown),
        "drivers": suppression.suppress(drv, 5, drivers.IDENTIFIERS),
        "nps": suppression.suppress(nps.nps(design, frame, cb, by=["plan"]), 5, nps.IDENTIFIERS),
        "contrasts": segments.suppress_contrasts(
            segments.segment_contrasts(design, frame, cb, by=["plan"]), 5
        ),
        "rep": representativeness.representativeness(design, frame, cb, margins),
        "rel": reliability.reliability(design, frame, cb),
        "trend": trend,
    }


@pytest.fixture(scope="module")
def analysis_sections(analysis_tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """The HTML of every analysis section, rendered once."""
    t = analysis_tables
    return {
        "dimensions": gaps.dimension_table(t["dims"], 0.95, 5).data,
        "priorities": priorities.priorities_section(t["ranked"], t["drivers"], 0.95, 5).data,
        "segments": segments.segment_comparison(t["contrasts"], t["ranked"], 0.95, 5).data,
        "drivers": key_drivers.drivers_section(t["drivers"], 0.95).data,
        "drivers_detail": key_drivers.drivers_section(t["drivers"], 0.95, part="detail").data,
        "nps": nps.nps_section(t["nps"], 0.95, 5).data,
        "trend": trend.trend_section(t["trend"], 0.95, 5).data,
        "trend_detail": trend.trend_section(t["trend"], 0.95, 5, part="detail").data,
        "representativeness": about.representativeness(t["rep"]).data,
        "reliability": about.reliability_table(t["rel"]).data,
    }


def test_analysis_sections_escape_every_data_string(analysis_sections):
    sections = analysis_sections
    for name, html in sections.items():
        assert html, name
        assert "<img src=x" not in html, name
        assert "<b>Reliability" not in html and "<i>Plus" not in html, name
        report.check_self_contained(html, where=name)
    for name in ("priorities", "drivers_detail", "trend_detail"):
        assert "&lt;img src=x onerror=alert(1)&gt;" in sections[name], name
    assert "&lt;b&gt;Reliability&lt;/b&gt;" in sections["dimensions"]
    assert "&lt;i&gt;Plus&lt;/i&gt;" in sections["segments"]
    assert "&lt;i&gt;Plus&lt;/i&gt;" in sections["nps"]
    assert "Calls &amp; fees" in sections["drivers_detail"]


def test_analysis_sections_hide_small_cells_and_say_why(analysis_sections):
    s = analysis_sections
    assert "fewer than 5 respondents" in s["nps"] and "fewer than 5 respondents" in s["segments"]
    nps_rare = s["nps"][s["nps"].index("plan: Rare") :]
    nps_rare = nps_rare[: nps_rare.index("</tr>")]
    assert nps_rare.count(formatting.DASH) == 5 and '<td class="num">3</td>' in nps_rare
    assert "(too few respondents)" in s["segments"]  # Rare's top priorities


def test_analysis_sections_are_honest_about_unclear_results():
    ranked = pd.DataFrame(
        {
            "item": ["a", "b"],
            "label": ["A", "B"],
            "dimension": "D",
            "group": "all",
            "level": "all",
            "n": 40,
            "expectation": [6.0, 5.0],
            "performance": [5.8, 5.1],
            "gap": [-0.2, 0.1],
            "se": 0.2,
            "ci_low": [-0.6, -0.3],
            "ci_high": [0.2, 0.5],
            "df": 39,
            "p_value": [0.3, 0.6],
            "p_adjusted": [0.6, 0.6],
            "rank": [1, 2],
            "verdict": ["unclear", "unclear"],
            "quadrant": ["Concentrate here", "Low priority"],
            "importance_cross": 5.5,
            "performance_cross": 5.45,
            "top_priority": [False, False],
        }
    )
    html = priorities.priorities_section(ranked).data
    assert "No attribute falls clearly short" in html and "could be chance" in html
    scores = pd.DataFrame(
        [["all", "all", 50, 4.0, 6.0, -8.0, 16.0, 49, 30.0, 44.0, 26.0]],
        columns=[
            "group",
            "level",
            "n",
            "nps",
            "se",
            "ci_low",
            "ci_high",
            "df",
            "promoters",
            "passives",
            "detractors",
        ],
    )
    assert "not clearly different from zero" in nps.nps_section(scores).data
    no_rows = key_drivers.drivers_section(pd.DataFrame(columns=["share"])).data
    assert "Not shown: too few customers" in no_rows
    for empty in (
        key_drivers.drivers_section(None),
        nps.nps_section(None),
        trend.trend_section(None),
        segments.segment_comparison(None),
        gaps.dimension_table(None),
        about.representativeness(None),
        about.reliability_table(None),
    ):
        assert empty.data == ""


def test_drivers_section_shows_both_outcomes_and_what_drives_one_only(analysis_tables):
    """Both outcomes: one heading naming both, each model's R^2 and key drivers, one chart
    (two series), a sentence on the attributes that drive one outcome but not the other, and
    one appendix table per outcome; an outcome too few answered is said to be missing."""
    t = analysis_tables["drivers"]
    over, loyal = (cx_drivers.for_outcome(t, o) for o in ("overall", "recommend"))
    # make the models disagree: a clearly drives satisfaction only, d loyalty only, b both
    over = over.assign(vs_average=over["item"].map({"a": "above", "b": "above"}).fillna("unclear"))
    loyal = loyal.assign(vs_average=loyal["item"].map({"d": "above", "b": "above"}).fillna("below"))
    table = pd.concat([over, loyal], ignore_index=True)
    html = key_drivers.drivers_section(table, 0.95).data
    title = "What drives overall satisfaction and likelihood to recommend"
    assert f'<h2 id="key-drivers">{title}</h2>' in html
    assert "<strong>Overall satisfaction</strong>" in html
    assert "<strong>Likelihood to recommend</strong>" in html
    assert (
        "Opening hours clearly drives likelihood to recommend but not overall satisfaction" in html
    )
    assert "clearly drives overall satisfaction but not likelihood to recommend" in html
    assert "Calls &amp; fees clearly drives both." in html
    assert len(re.findall(r"<img ", html)) == 1
    r2 = [f"{100 * m['r_squared'].iloc[0]:.0f}%" for m in (over, loyal)]
    assert all(f"account for {v}" in html for v in r2)
    detail = key_drivers.drivers_section(table, 0.95, part="detail").data
    assert 'id="drivers-detail"' in detail and 'id="drivers-detail-recommend"' in detail
    assert "What drives likelihood to recommend: every attribute" in detail
    # the same key drivers for both: said in one sentence
    same = pd.concat([over, loyal.assign(vs_average=over["vs_average"].to_numpy())])
    assert "The same attributes clearly drive both" in key_drivers.drivers_section(same).data
    # recommend named by the codebook but without a model (too few answered)
    one = key_drivers.drivers_section(over, 0.95, outcomes=["overall", "recommend"]).data
    assert f">{title}</h2>" in one
    assert "<strong>Likelihood to recommend</strong>: not shown; too few customers" in one
    # a codebook with recommend only: its own heading and words
    only = key_drivers.drivers_section(loyal, 0.95).data
    assert '<h2 id="key-drivers">What drives likelihood to recommend</h2>' in only
    assert "of the differences in likelihood to recommend among" in only
    assert "overall satisfaction" not in only
    assert key_drivers.drivers_title(["recommend", "overall"]) == title
    # the chart of both: two series, a legend naming the outcomes
    ax = plots.driver_chart(table)
    assert [tx.get_text() for tx in ax.get_legend().get_texts()] == [
        "Satisfaction",
        "Loyalty (recommend)",
    ]
    assert "overall satisfaction and likelihood to recommend" in ax.get_xlabel().replace("\n", " ")
    plt.close("all")


def test_priorities_dual_grid_takes_the_drivers_outcome(analysis_tables):
    t = analysis_tables
    html = priorities.priorities_section(t["ranked"], t["drivers"], 0.95, 5, outcome="recommend")
    assert "what moves their likelihood to recommend (see Key drivers)" in html.data
    assert "Stated and derived importance" in html.data
    ax = plots.importance_grid(cx_drivers.for_outcome(t["drivers"], "recommend"))
    assert "share of explained likelihood to recommend" in ax.get_xlabel().replace("\n", " ")
    with pytest.raises(ValueError, match="one outcome"):
        plots.importance_grid(t["drivers"])
    plt.close("all")


def test_drivers_without_intervals_claim_nothing(analysis_tables):
    table = analysis_tables["drivers"].assign(
        replicates=0, share_ci_low=np.nan, share_ci_high=np.nan, vs_average=None
    )
    html = key_drivers.drivers_section(table).data
    assert "could not be estimated" in html and "Clearly above" not in html


def test_analysis_plots_take_tables_and_axes_and_draw_plain_text(analysis_tables):
    t = analysis_tables
    # (chart, whether its y tick labels carry data rather than numbers)
    calls = [
        (lambda ax: plots.ipa_chart(t["ranked"], ax=ax), False),
        (
            lambda ax: plots.importance_grid(
                cx_drivers.for_outcome(t["drivers"], "overall"), ax=ax
            ),
            False,
        ),
        (lambda ax: plots.driver_chart(t["drivers"], ax=ax), True),
        (lambda ax: plots.nps_chart(t["nps"], ax=ax), True),
        (lambda ax: plots.trend_chart(t["trend"].table.query("wave_order == 2"), ax=ax), True),
        (lambda ax: plots.representativeness_chart(t["rep"], ax=ax), True),
    ]
    for k, (draw, labelled) in enumerate(calls):
        _fig, ax = plt.subplots()
        assert draw(ax) is ax
        ax.figure.canvas.draw()
        texts = [*ax.texts, *(ax.get_yticklabels() if labelled else [])]
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
        assert all(tx.get_parse_math() is False for tx in texts), k
        plt.close("all")
    ax = plots.ipa_chart(t["ranked"])
    numbers = sorted(tx.get_text() for tx in ax.texts if tx.get_text().isdigit())
    assert numbers == ["1", "2", "3", "4"]  # the overall items, numbered by priority rank
    ax = plots.driver_chart(t["drivers"])
    labels = [tx.get_text() for tx in ax.get_yticklabels()]
    assert HOSTILE in "".join(labels).replace("\n", " ") or any("<img" in lab for lab in labels)


def test_ranked_list_marks_gaps_that_clearly_changed_since_the_last_wave():
    """An arrow (with its words for screen readers) beside each gap whose change since the wave
    before is clear on the adjusted p-value; none for an unclear or a hidden change."""
    from analysis.cx.trend import TrendResult

    ranked = stand_in_ranked()
    items = formatting.overall_rows(ranked)["item"].tolist()
    rows = pd.DataFrame(
        {
            "wave": "now",
            "wave_order": 2,
            "item": items[:3],
            "group": "all",
            "level": "all",
            "change": [0.4, -0.3, 0.5],
            "p_adjusted": [0.001, 0.002, 0.4],
            "suppressed": False,
        }
    )
    earlier = rows.assign(wave="before", wave_order=1, change=np.nan, p_adjusted=np.nan)
    waves = pd.DataFrame(
        {"wave": ["before", "now"], "wave_order": [1, 2], "wave_label": ["2025", "2026"]}
    )
    changes = TrendResult(table=pd.concat([earlier, rows]), notes=pd.DataFrame(), waves=waves)
    moved = priorities.changes_since_last(changes, 0.95)
    assert moved == {
        items[0]: {"word": "narrowed", "arrow": "\u25b2", "change": 0.4},
        items[1]: {"word": "widened", "arrow": "\u25bc", "change": -0.3},
    }
    html = priorities.priorities_section(ranked, trend=changes).data
    assert html.count('class="oi-moved oi-narrowed"') == 1
    assert html.count('class="oi-moved oi-widened"') == 1
    assert "(gap widened since the last survey)" in html and "(2025)" in html
    assert "oi-moved" not in priorities.priorities_section(ranked).data
