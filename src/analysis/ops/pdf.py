"""Print a self-contained HTML report to PDF with headless Chromium (``chromium`` on the PATH, or
the program named by ``OUTSIDE_IN_CHROMIUM``), atomically, killing Chromium if it hangs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from analysis import files
from analysis.errors import DeliveryError
from analysis.ops.process import kill_tree

if TYPE_CHECKING:
    from analysis.report.runner import Printer

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: How Chromium runs here (also in the browser tests): no sandbox (root in containers), no GPU, no
#: network services of its own.
BROWSER_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)
CHROMIUM_FLAGS = ("--headless", *BROWSER_FLAGS, "--no-pdf-header-footer")
PDF_TIMEOUT = 120


def find_chromium() -> str | None:
    """A Chromium to print PDFs with: ``OUTSIDE_IN_CHROMIUM``, else one on the PATH."""
    given = os.environ.get("OUTSIDE_IN_CHROMIUM", "").strip()
    if given:
        return shutil.which(given)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(
    html_path: Path, pdf_path: Path, chromium: str | None = None, timeout: float = PDF_TIMEOUT
) -> Path:
    """Print a (self-contained) HTML file to PDF with headless Chromium, atomically.

    Chromium runs with a fresh profile, no network services, no sandbox (it may run as root in
    containers); it is killed, with every process it started, if it takes over ``timeout``.
    Raises :class:`DeliveryError` when there is no Chromium or it cannot print the file.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise DeliveryError("no Chromium found to print the PDF (install chromium)")
    with tempfile.TemporaryDirectory(prefix="outside-in-chromium-") as tmp:
        out = Path(tmp) / "report.pdf"
        cmd = [
            exe,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            Path(html_path).absolute().as_uri(),
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc.pid)
            proc.communicate()
            raise DeliveryError(
                f"Chromium did not print {html_path} within {timeout:.0f} s"
            ) from None
        data = out.read_bytes() if out.is_file() else b""
        if proc.returncode != 0 or not data.startswith(b"%PDF-"):
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            raise DeliveryError(
                f"Chromium could not print {html_path} (exit code {proc.returncode})"
                + (f": {tail[0]}" if tail else "")
            )
        with files.atomic_path(pdf_path) as tmp_pdf:
            tmp_pdf.write_bytes(data)
    return Path(pdf_path)


def run_printer(wanted: bool = True) -> tuple[Printer | None, str | None]:
    """The printer a run uses for ``reports/<client>/report.pdf`` (:func:`print_pdf`), and when
    there is none though one was wanted, why: ``(None, "no PDF: ...")``. Not wanted: no note."""
    if not wanted:
        return None, None
    if find_chromium() is None:
        return None, (
            "no PDF: Chromium was not found (install Debian's chromium, or set "
            "OUTSIDE_IN_CHROMIUM; --no-pdf skips the PDF)"
        )
    return print_pdf, None
