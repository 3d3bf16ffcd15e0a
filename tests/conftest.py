"""Shared fixtures: copies of the demo project, and one real run of the demo client's report per
test session, shared by every test that only reads a finished run's outputs.

The shared run (:func:`demo_run`: papermill + nbconvert, ~20 s) is of a copy of the demo project
that differs from the shipped one in two ways, so that what the tests check is visible in it:
``analysis.min_cell`` is 200, so the smallest region (West, about 190 respondents) is suppressed
in every section; and the largest shortfall, ``res_1``, has a hostile label (markup and an
ampersand), so escaping is checked on what the report and the email really show. Tests must not
change that run: a test that writes (sends, edits, runs again) works on a copy of it
(:func:`demo_run_copy`).

The test session keeps the optional ``rfc3987_syntax`` out, as the ``outside-in`` command does
(nbformat then imports in ~0.4 s instead of ~3 s).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from analysis.ops.process import skip_slow_optional_imports

if TYPE_CHECKING:
    from analysis.report.runner import RunResult

skip_slow_optional_imports()  # before any test module imports nbformat

ROOT = Path(__file__).resolve().parents[1]


def copy_demo(root: Path) -> Path:
    """A project root with the shipped demo client: ``data/raw/demo`` and ``params``."""
    shutil.copytree(ROOT / "data" / "raw" / "demo", root / "data" / "raw" / "demo")
    shutil.copytree(ROOT / "params", root / "params")
    return root


@pytest.fixture
def demo_root(tmp_path: Path) -> Path:
    """A fresh copy of the demo project (nothing run yet), for a test to change as it likes."""
    return copy_demo(tmp_path)


@dataclass(frozen=True)
class DemoRun:
    """The session's finished demo run (read only), and how its project differs from the demo."""

    root: Path
    result: RunResult

    MIN_CELL = 200
    HOSTILE_ITEM = "res_1"
    HOSTILE_LABEL = "Faults fixed <img src=x onerror=alert(1)> & more"
    HOSTILE_ESCAPED = "Faults fixed &lt;img src=x onerror=alert(1)&gt; &amp; more"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed" / "demo"

    @cached_property
    def html(self) -> str:
        return self.result.report_html.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One real run of the report notebook on the demo client (min_cell 200, a hostile label),
    with its PDF printed as ``outside-in run`` prints it when Chromium is present."""
    from analysis.ops import pdf  # here: a session that runs no report need not load them
    from analysis.report import runner

    root = copy_demo(tmp_path_factory.mktemp("demo-run") / "project")
    params_path = root / "params" / "demo.yaml"
    params = yaml.safe_load(params_path.read_text(encoding="utf-8"))
    params["analysis"]["min_cell"] = DemoRun.MIN_CELL
    params_path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    cb_path = root / "data" / "raw" / "demo" / "codebook.yaml"
    cb = yaml.safe_load(cb_path.read_text(encoding="utf-8"))
    [item] = [it for it in cb["items"] if it["id"] == DemoRun.HOSTILE_ITEM]
    item["label"] = DemoRun.HOSTILE_LABEL
    cb_path.write_text(yaml.safe_dump(cb, sort_keys=False), encoding="utf-8")
    printer, _ = pdf.run_printer()
    return DemoRun(root, runner.run_client("params/demo.yaml", root=root, printer=printer))


@pytest.fixture
def demo_run_copy(demo_run: DemoRun, tmp_path: Path) -> Path:
    """A fresh copy of the finished demo run's project (inputs, outputs, report), to change."""
    return Path(shutil.copytree(demo_run.root, tmp_path / "project"))
