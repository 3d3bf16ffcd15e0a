"""``reports/index.html`` (analysis.report.index, ``outside-in index``): every client of a
project with its status, figures and links; a failed client with its error and log; a page
with no scripts and nothing remote. On a copy of the session's demo run (a good client), with a
failed and a not-run client beside it; the batch's own writing of the page is checked in
test_batch.py (a real failing client)."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.ops import batch
from analysis.report import formatting, index

REMOTE = re.compile(r"""\b(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


def row_of(html: str, slug: str) -> str:
    m = re.search(rf'<tr id="client-{slug}">(.*?)</tr>', html, re.S)
    assert m, f"no row for {slug}"
    return m.group(1)


def overall(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["group"] == "all" and r["level"] == "all"]


@pytest.fixture
def project(demo_run_copy: Path) -> Path:
    """The demo run, plus client ``broken`` (params only; its last batch failed, with a log) and
    client ``later`` (params only, never run)."""
    root = demo_run_copy
    text = (root / "params" / "demo.yaml").read_text(encoding="utf-8")
    for slug in ("broken", "later"):
        (root / "params" / f"{slug}.yaml").write_text(
            text.replace("client: demo", f"client: {slug}").replace(
                "title: ", f"title: {slug.title()} "
            ),
            encoding="utf-8",
        )
    log = root / "data" / "processed" / "broken" / "run.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback ...\n", encoding="utf-8")
    return root


def test_index_lists_good_failed_and_not_run_clients(project: Path, demo_run) -> None:
    record = index.BatchRecord(
        client="broken",
        status="failed",
        finished=dt.datetime.now(dt.UTC),
        params="params/broken.yaml",
        error="gap_report.ipynb for broken: cell 2 failed: DataError: <segment> & 'Gold'",
        log="data/processed/broken/run.log",
    )
    path = index.write_index(project, {"broken": record})
    assert path == project / "reports" / "index.html"
    html = path.read_text(encoding="utf-8")
    assert [e.client for e in index.collect(project, {"broken": record})] == [
        "broken",
        "demo",
        "later",
    ]

    good = row_of(html, "demo")
    assert ">OK<" in good and "Harbourline Telecom customer expectations 2026" in good
    assert '<a href="demo/report.html">Report</a>' in good
    assert '<a href="demo/report.xlsx">Workbook</a>' in good
    pdf = (project / "reports" / "demo" / "report.pdf").is_file()
    assert ('<a href="demo/report.pdf">PDF</a>' in good) is pdf
    assert "1,723 of 1,733" in good
    # the headline figures are the report's: NPS, the average share met, the top priority
    nps = float(overall(project / "data" / "processed" / "demo" / "nps.csv")[0]["nps"])
    assert formatting.fmt_num(nps, 0, signed=True) in good
    assert formatting.fmt_num(nps, 0, signed=True) in demo_run.html
    ranked = overall(project / "data" / "processed" / "demo" / "priorities.csv")
    shown = [r for r in ranked if r["suppressed"] == "False" and r["gap"]]
    met = sum(float(r["share_met"]) for r in shown) / len(shown)
    assert f"<dd>{formatting.fmt_pct(met)}</dd>" in demo_run.html  # "At a glance"
    assert f'<td class="num">{formatting.fmt_pct(met)}</td>' in good
    # the top priority is the hostile label of the session's run: escaped
    top = min((r for r in shown if r["top_priority"] == "True"), key=lambda r: float(r["rank"]))
    assert top["item"] == demo_run.HOSTILE_ITEM
    assert demo_run.HOSTILE_ESCAPED in good and demo_run.HOSTILE_LABEL not in html

    failed = row_of(html, "broken")
    assert ">Failed<" in failed
    assert "cell 2 failed: DataError: &lt;segment&gt; &amp; &#39;Gold&#39;" in failed
    assert '(<a href="../data/processed/broken/run.log">log</a>)' in failed
    assert "<a href=" not in failed.replace('<a href="../data/processed/broken/run.log">', "")

    later = row_of(html, "later")
    assert ">Not run<" in later and "log" not in later and "<a " not in later


def test_index_is_self_contained(project: Path) -> None:
    html = index.write_index(project).read_text(encoding="utf-8")
    assert "<script" not in html.lower() and not REMOTE.search(html)
    assert "@import" not in html and "url(" not in html
    assert "<style>" in html and 'rel="stylesheet"' not in html
    assert "<img" not in html


def test_a_run_that_failed_after_the_last_good_one(project: Path) -> None:
    """Without a batch: a failed run leaves report.failed.ipynb beside the last good outputs."""
    processed = project / "data" / "processed" / "demo"
    failed = processed / "report.failed.ipynb"
    failed.write_text("{}", encoding="utf-8")
    later = (processed / "manifest.json").stat().st_mtime + 60
    os.utime(failed, (later, later))
    [demo] = [e for e in index.collect(project) if e.client == "demo"]
    assert demo.status == "failed" and "data/processed/demo/report.failed.ipynb" in demo.error
    assert demo.links["report"] == "demo/report.html"  # the last good report stays linked
    assert demo.nps is not None  # and so do its figures


def test_a_later_good_run_supersedes_a_failed_batch(project: Path) -> None:
    before = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    record = index.BatchRecord(client="demo", status="timeout", finished=before, error="slow")
    [demo] = [e for e in index.collect(project, {"demo": record}) if e.client == "demo"]
    assert demo.status == "ok" and demo.error is None


def test_a_params_file_that_cannot_be_read(project: Path) -> None:
    (project / "params" / "bad.yaml").write_text("client: [unclosed\n", encoding="utf-8")
    [bad] = [e for e in index.collect(project) if e.client == "bad"]
    assert bad.status == "failed" and bad.error.startswith("params/bad.yaml: cannot be read")


def test_outside_in_index_and_the_batch_write_the_page(project: Path, capsys) -> None:
    assert main(["index", "--root", str(project)]) == 0
    assert "reports/index.html" in capsys.readouterr().out
    # a batch of one invalid params file runs nothing, and still writes the page and its record
    (project / "params" / "bad.yaml").write_text("client: bad\ncolour: blue\n", encoding="utf-8")
    outcomes = batch.run_batch(["params/bad.yaml"], root=project)
    assert [o.status for o in outcomes] == ["failed"]
    records = index.read_batch_status(project)
    assert records["bad"].status == "failed" and records["bad"].params == "params/bad.yaml"
    html = (project / "reports" / "index.html").read_text(encoding="utf-8")
    bad = row_of(html, "bad")
    assert ">Failed<" in bad and "colour" in bad
    assert ">OK<" in row_of(html, "demo")  # clients not in the batch keep their status


def test_an_empty_project(tmp_path: Path) -> None:
    html = index.write_index(tmp_path).read_text(encoding="utf-8")
    assert "no clients" in html
    shutil.rmtree(tmp_path / "reports")
