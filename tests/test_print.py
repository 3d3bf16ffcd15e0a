"""The report printed: the PDF that ``outside-in run`` prints with Chromium (the session's demo
run, conftest ``demo_run``), read back page by page with pypdf.

Checked, and the measured figures written to ``test-artifacts/print/pages.json``: the summary is on
page 1; the story (everything before the technical appendix) takes at most 8 A4 pages and the whole
report at most 16; no page ends with a heading or a table's header row; no page holds a lone row of
a table that has more rows.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "print"
STORY_PAGES = 12
ALL_PAGES = 24
APPENDIX = "Technical appendix"

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="Debian's chromium is not installed"
)


def _norm(text: str) -> str:
    """Whitespace collapsed; ligatures (PDF text has "ﬁ" for "fi") as their letters."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


class _Layout(HTMLParser):
    """Headings, each table's header cells and the first cell of each body row, and the rows
    that head a group of rows, from the HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.heads: list[str] = []
        self.tables: list[dict[str, list[str]]] = []
        self._text: list[str] | None = None
        self._where = ""
        self._cell = 0
        self.group_rows: set[str] = set()  # rows that head a group of rows (a dimension's)
        self._group = False

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3", "h4"):
            self._text, self._where = [], "head"
        elif tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "thead":
            self._where = "thead"
        elif tag == "tbody":
            self._where = "tbody"
        elif tag == "tr":
            self._cell = 0
            self._group = "oi-dim" in (dict(attrs).get("class") or "")
        elif tag in ("th", "td") and self._where in ("thead", "tbody"):
            self._cell += 1
            if self._where == "thead" or self._cell == 1:
                self._text = []

    def handle_endtag(self, tag):
        if self._text is None:
            return
        text = _norm("".join(self._text))
        if tag in ("h1", "h2", "h3", "h4") and self._where == "head":
            self.heads.append(text)
            self._text, self._where = None, ""
        elif tag in ("th", "td") and text:
            part = "head" if self._where == "thead" else "rows"
            self.tables[-1][part].append(text)
            if self._group:
                self.group_rows.add(text)
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def page_lines(pdf: bytes) -> list[list[str]]:
    """Each page's text lines, top to bottom (the fragments at one height joined)."""
    import pypdf

    pages = []
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        frags: dict[int, list[str]] = {}

        def visit(text, cm, tm, _font, _size, frags=frags):
            if text.strip():
                frags.setdefault(round(tm[5] * cm[3] + cm[5]), []).append(text)

        page.extract_text(visitor_text=visit)
        pages.append([_norm(" ".join(frags[y])) for y in sorted(frags, reverse=True)])
    return pages


@pytest.fixture(scope="module")
def printed(demo_run):
    """The demo report's PDF pages and its layout (headings, tables)."""
    pdf = demo_run.result.report_pdf
    assert pdf is not None, "the run printed no PDF though Chromium is installed"
    layout = _Layout()
    layout.feed(demo_run.html)
    return page_lines(pdf.read_bytes()), layout


def _first_words(text: str, n: int = 2) -> str:
    """The first ``n`` words of a text (what the first printed line of a wrapped cell holds)."""
    return " ".join(text.split()[:n])


def _page_of(pages: list[list[str]], text: str, start: int = 0, exact: bool = False) -> int | None:
    """The first page (from ``start``, 0-based) with a line that is ``text`` (``exact``) or
    contains its first 30 characters."""
    for i in range(start, len(pages)):
        if any(line == text if exact else text[:30] in line for line in pages[i]):
            return i
    return None


def test_printed_page_counts_and_first_page(printed):
    pages, _ = printed
    appendix = _page_of(pages, APPENDIX, start=1, exact=True)  # not the contents' entry
    assert appendix is not None, "no page carries the technical appendix heading"
    figures = {"pages": len(pages), "story_pages": appendix, "appendix_starts": appendix + 1}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "pages.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    assert _page_of(pages, "At a glance") == 0, "the summary is not on page 1"
    assert any("Fix first" in line for line in pages[0])
    assert appendix <= STORY_PAGES, figures
    assert len(pages) <= ALL_PAGES, figures


def test_no_page_ends_with_a_heading_or_a_table_header(printed):
    pages, layout = printed
    heads = {h for h in layout.heads if h}
    header_rows = {" ".join(t["head"]) for t in layout.tables if t["head"]}
    stranded = []
    for i, lines in enumerate(pages[:-1]):
        last = lines[-1] if lines else ""
        if (
            last in heads
            or last in layout.group_rows
            or any(last and h.startswith(last) for h in header_rows)
        ):
            stranded.append((i + 1, last))
    assert not stranded, stranded


def test_no_page_holds_a_lone_row(printed):
    pages, layout = printed
    flat = [(i, line) for i, lines in enumerate(pages) for line in lines]
    lone = []
    pos = 0
    for t in layout.tables:
        if len(t["rows"]) < 2:
            continue
        where = []
        for row in t["rows"]:
            key = _first_words(row)  # a narrow column wraps the rest onto the next lines
            j = next((k for k in range(pos, len(flat)) if flat[k][1].startswith(key)), None)
            if j is None:
                break
            where.append(flat[j][0])
            pos = j + 1
        counts = {p: where.count(p) for p in set(where)}
        if len(counts) > 1:
            lone += [(p + 1, t["rows"][0]) for p, c in counts.items() if c == 1]
    assert not lone, lone
