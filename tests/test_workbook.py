"""The client's workbook (``reports/<client>/report.xlsx``, analysis.report.workbook) of the
session's demo run (min_cell 200: the West region is suppressed everywhere): every sheet holds
its CSV's values exactly (only number formats round what Excel shows), hides what the report
hides, has the report's headings, frozen headers and a README sheet; the report links to it."""

from __future__ import annotations

import datetime as dt
import json
import math
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest

from analysis.report import i18n, workbook

GAP_ESTIMATES = ("expectation", "performance", "gap", "se", "ci_low", "ci_high", "p_value")


@pytest.fixture(scope="module")
def book(demo_run):
    path = demo_run.root / "reports" / "demo" / workbook.FILE_NAME
    assert path.is_file()
    return openpyxl.load_workbook(path)  # not read-only: number formats and panes are read


def sheet_rows(book: openpyxl.Workbook, name: str) -> list[tuple[Any, ...]]:
    return list(book[name].iter_rows(values_only=True))


def same(cell: Any, value: Any) -> bool:
    """A sheet cell holds a CSV value: blank for missing, numbers to 1e-12, text as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return cell is None
    if isinstance(value, bool):
        return cell is value
    if isinstance(value, int | float):
        return (
            isinstance(cell, int | float)
            and not isinstance(cell, bool)
            and math.isclose(cell, value, rel_tol=1e-12, abs_tol=1e-12)
        )
    return cell == value


def test_every_sheet_holds_its_csv_exactly(demo_run, book):
    sheets = workbook.present_sheets(demo_run.processed)
    names = [workbook.words()["sheets"][s.key]["name"] for s in sheets]
    assert book.sheetnames == ["README", *names]
    # the demo has every optional table: trend, themes, value, perception, action plan
    assert {s.key for s in sheets} == {s.key for s in workbook.SHEETS}
    cells = 0
    for sheet, name in zip(sheets, names, strict=True):
        table = workbook.read_table(demo_run.processed / sheet.csv)
        rows = sheet_rows(book, name)
        assert rows[0] == tuple(workbook.heading(c) for c in table.columns), name
        assert len(rows) == len(table) + 1, name  # every row of the CSV, nothing more
        for i, (got, want) in enumerate(zip(rows[1:], table.itertuples(index=False), strict=True)):
            bad = [
                (c, g, w)
                for c, g, w in zip(table.columns, got, want, strict=True)
                if not same(g, w.item() if hasattr(w, "item") else w)
            ]
            assert bad == [], f"{name} row {i + 2}: {bad[:3]}"
            cells += len(got)
    assert cells > 20_000


def test_the_workbook_hides_what_the_report_hides(demo_run, book):
    gaps = workbook.read_table(demo_run.processed / "gap_table.csv")
    west = gaps["level"] == "West"
    assert west.any() and gaps.loc[west, "suppressed"].all()  # min_cell 200 hides West
    head = sheet_rows(book, "Gaps by attribute")[0]
    col = {workbook.heading(c): j for j, c in enumerate(gaps.columns)}
    hidden = 0
    for row in sheet_rows(book, "Gaps by attribute")[1:]:
        if row[head.index(workbook.heading("suppressed"))] is True:
            hidden += 1
            assert all(row[col[workbook.heading(c)]] is None for c in GAP_ESTIMATES)
            assert row[col[workbook.heading("n")]] is not None  # n stays, as in the report
        else:
            assert row[col[workbook.heading("gap")]] is not None
    assert hidden == int(gaps["suppressed"].sum()) > 0
    # every sheet with a suppressed flag: no estimate left in a hidden row of the NPS sheet
    nps = sheet_rows(book, "NPS")
    flag = nps[0].index(workbook.heading("suppressed"))
    shown = [nps[0].index(workbook.heading(c)) for c in ("nps", "se", "ci_low", "promoters")]
    west_rows = [r for r in nps[1:] if r[flag] is True]
    assert west_rows and all(r[j] is None for r in west_rows for j in shown)
    # and the report shows no figure for West either
    assert "fewer than 200 respondents" in demo_run.html


def test_number_formats_headers_and_widths(book):
    ws = book["Gaps by attribute"]
    head = [c.value for c in ws[1]]
    fmt = {h: ws.cell(row=2, column=j + 1).number_format for j, h in enumerate(head)}
    assert fmt["Gap"] == "0.00" and fmt["Respondents"] == "#,##0"
    assert fmt["Expectations met"] == "0.0%" and fmt["p-value"] == '[<0.001]"<0.001";0.000'
    assert book["NPS"].cell(row=2, column=6).number_format == "0.0"  # NPS points
    assert all(book[name].freeze_panes == "A2" for name in book.sheetnames[1:])
    assert ws.cell(row=1, column=1).font.b
    widths = [ws.column_dimensions[c].width for c in "ABCDEFGH"]
    assert all(workbook.MIN_WIDTH <= w <= workbook.MAX_WIDTH for w in widths)


def test_readme_sheet_says_what_the_workbook_is(demo_run, book):
    text = "\n".join(str(v) for row in sheet_rows(book, "README") for v in row if v is not None)
    assert "Harbourline Telecom customer expectations 2026" in text
    assert "Client\ndemo" in text and "200 respondents" in text and "95% confidence" in text
    assert "sampling weight 'base_weight'" in text and "raking" in text
    assert "A blank cell means the figure is not shown" in text
    for name in book.sheetnames[1:]:
        assert name in text  # every sheet is described


def test_the_run_records_and_the_report_links_the_workbook(demo_run):
    manifest = json.loads((demo_run.processed / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"]["report_xlsx"]["path"] == "reports/demo/report.xlsx"
    assert '<a href="report.xlsx">report.xlsx</a>' in demo_run.html


def test_words_cover_every_column_and_sheet_names_are_valid(demo_run):
    columns = set()
    for sheet in workbook.present_sheets(demo_run.processed):
        with open(demo_run.processed / sheet.csv, encoding="utf-8") as fh:
            columns |= set(fh.readline().strip().split(","))
    assert sorted(c for c in columns if c not in workbook.words()["columns"]) == []
    for spec in workbook.words()["sheets"].values():
        assert len(spec["name"]) <= 31 and not set(spec["name"]) & set(":\\/?*[]")


#: headings the same in English and the language (every other heading is translated)
SAME_HEADINGS = {
    "de": {"Dimension", "NPS", "Quadrant", "R²", "Segment", "Variable"},
    "fr": {
        "Dimension",
        "Effort",
        "NPS",
        "Performance",
        "Quadrant",
        "R²",
        "Segment",
        "Source",
        "Variable",
    },
}
#: (README sheet, the gap sheet, its gap and respondents headings, words of the README)
TRANSLATED = {
    "de": (
        "Hinweise",
        "Lücken nach Merkmal",
        "Lücke",
        "Befragte",
        [
            "Eine leere Zelle bedeutet",
            "200 Befragte",
            "95\u00a0%-Konfidenzintervalle",
            "Stichprobengewicht 'base_weight'",
            "Erstellt am",
        ],
    ),
    "fr": (
        "Lisez-moi",
        "Écarts par attribut",
        "Écart",
        "Répondants",
        [
            "Une cellule vide signifie",
            "200 répondants",
            "Intervalles de confiance à 95\u00a0%",
            "poids de sondage 'base_weight'",
            "Établi le",
        ],
    ),
}


@pytest.mark.parametrize("language", ["de", "fr"])
def test_the_workbook_in_german_and_french(demo_run, book, tmp_path, language):
    """The workbook in the client's language: valid sheet names, translated README and
    headings, and the very same cells under them as the English workbook's."""
    sheets = workbook.present_sheets(demo_run.processed)
    design = SimpleNamespace(weight="base_weight", strata="region", clusters=[])
    with i18n.using(language):
        info = workbook.WorkbookInfo(
            client="demo",
            title="Harbourline Telecom customer expectations 2026",
            wave="2026",
            date=dt.date(2026, 12, 1),
            design=workbook.design_sentence(design, "raking", "Taylor"),
            confidence=0.95,
            min_cell=200,
        )
        path = tmp_path / f"report.{language}.xlsx"
        workbook.build_workbook(demo_run.processed, info).save(path)
        words = workbook.words()
    translated = openpyxl.load_workbook(path, read_only=True)
    readme, gaps, gap, n, readme_words = TRANSLATED[language]
    names = translated.sheetnames
    # valid for Excel: at most 31 characters, none of : \ / ? * [ ], unique (Excel ignores case)
    assert all(len(name) <= 31 and not set(name) & set(":\\/?*[]") for name in names)
    assert len({name.casefold() for name in names}) == len(names) == len(book.sheetnames)
    assert names == [readme, *(words["sheets"][s.key]["name"] for s in sheets)]
    assert gaps in names and set(names) & set(book.sheetnames) <= {"NPS", "Segments", "Trend"}
    english = workbook._words("en")["columns"]
    text = "\n".join(
        str(v) for row in translated[readme].iter_rows(values_only=True) for v in row if v
    )
    assert all(w in text for w in readme_words), text
    assert "A blank cell" not in text and "respondents" not in text
    assert all(name in text for name in names[1:])  # every sheet is described
    for sheet, name, en_name in zip(sheets, names[1:], book.sheetnames[1:], strict=True):
        columns = list(workbook.read_table(demo_run.processed / sheet.csv).columns)
        rows = list(translated[name].iter_rows(values_only=True))
        en_rows = sheet_rows(book, en_name)
        assert rows[0] == tuple(words["columns"][c] for c in columns), name
        left = [h for h, c in zip(rows[0], columns, strict=True) if h == english[c]]
        assert set(left) <= SAME_HEADINGS[language], (name, left)
        assert rows[1:] == en_rows[1:], name  # the numbers (and every other cell) unchanged
    head = next(translated[gaps].iter_rows(max_row=1, values_only=True))
    assert gap in head and n in head and "Gap" not in head
