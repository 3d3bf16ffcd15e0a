"""The report in a real browser: Debian's headless Chromium, network disabled.

Opens the demo client's report (the session's run, conftest ``demo_run``) at desktop and phone
width and checks that nothing is requested from outside the file, nothing is logged to the console
as an error, and no chart or table runs off the page. Screenshots are saved to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analysis.ops import pdf

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = list(pdf.BROWSER_FLAGS)  # as the PDF printer runs it
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}

if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError(
        "CI needs Debian's chromium for the browser tests: scripts/dev.sh test installs it"
    )
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def report_html(demo_run) -> Path:
    return demo_run.result.report_html


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


OVERFLOW = """() => {
  const limit = document.documentElement.clientWidth + 1;
  const out = [];
  for (const el of document.querySelectorAll('img, table, svg, pre')) {
    // a wide table may scroll inside its wrapper; what counts is what sticks out of the page
    const box = (el.closest('.oi-table-wrap') || el).getBoundingClientRect();
    if (box.right > limit || box.left < -1) out.push(el.tagName + ' ' + Math.round(box.right));
  }
  // at desktop width no table should need to scroll inside its wrapper either
  const scrolls = [];
  for (const w of document.querySelectorAll('.oi-table-wrap')) {
    if (w.scrollWidth > w.clientWidth + 1) {
      scrolls.push(w.querySelector('table').className + ' ' + w.scrollWidth + '>' + w.clientWidth);
    }
  }
  return {page: document.documentElement.scrollWidth, view: limit - 1, out: out, scrolls: scrolls};
}"""


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_report_in_chromium(report_html: Path, browser, device: str) -> None:
    width, height = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    failed: list[str] = []
    requested: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("request", lambda r: requested.append(r.url))
    page.goto(report_html.as_uri(), wait_until="load")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{device}.png"), full_page=True)
    layout = page.evaluate(OVERFLOW)
    images = page.evaluate(
        "() => Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, i.alt])"
    )
    context.close()

    assert errors == [] and failed == []
    assert [u for u in requested if not u.startswith(("file:", "data:"))] == []
    assert layout["page"] <= layout["view"], layout
    assert layout["out"] == [], layout
    if device == "desktop":
        assert layout["scrolls"] == [], layout
    assert images and all(ok for ok, _ in images), images  # every chart decoded
    assert all(alt.strip() for _, alt in images), images  # every chart has a text alternative


CHARTS = """() => ({
  page: document.scrollingElement.scrollWidth,
  charts: Array.from(document.querySelectorAll('figure picture')).map(p => {
    const img = p.querySelector('img'), source = p.querySelector('source');
    const narrow = img.currentSrc === source.srcset;
    const shown = img.getBoundingClientRect().width;
    // smallest text in image px (font pt / 72 x dpi) scaled to the displayed width
    const px = parseFloat((narrow ? source : img).dataset.textPx) * shown / img.naturalWidth;
    return {narrow: narrow, shown: shown, natural: img.naturalWidth, text: px, alt: img.alt};
  }),
  hints: Array.from(document.querySelectorAll('.oi-table-wrap')).map(w => [
    w.scrollWidth > w.clientWidth + 1, parseFloat(getComputedStyle(w, '::before').fontSize)]),
})"""


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_charts_pick_their_variant_and_stay_legible(report_html: Path, browser, device: str):
    width, height = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": height}, offline=True)
    page = context.new_page()
    page.goto(report_html.as_uri(), wait_until="load")
    got = page.evaluate(CHARTS)
    context.close()
    charts = got["charts"]
    assert len(charts) >= 7, got
    phone = device == "phone"
    assert all(c["narrow"] is phone for c in charts), charts  # <picture> chose by width
    smallest = min(c["text"] for c in charts)
    assert smallest >= 9.0, charts  # measured: 9.8 px on the phone, 11.5 px on the desktop
    assert got["page"] <= width + 1, got  # the page itself never scrolls sideways
    if phone:  # the "scrolls sideways" line shows exactly on the tables that scroll
        assert any(s for s, _ in got["hints"]), got["hints"]
        assert all((size > 0) == scrolls for scrolls, size in got["hints"]), got["hints"]
