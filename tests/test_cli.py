"""`outside-in validate`: a readable summary, exit 0 when the data can be analysed, else 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis.cli import main


def _edit_params(root: Path, **changes: object) -> None:
    path = root / "params" / "demo.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def test_validate_demo(demo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "params/demo.yaml", "--root", str(demo_root)]) == 0
    out = capsys.readouterr().out
    assert "Rows received: 1,733" in out and "Rows accepted: 1,723" in out
    assert "Rows rejected: 10" in out and "respondent id used more than once" in out
    assert "Quality flags" in out and "The data can be analysed." in out
    assert "encoding utf-8" in out
    rejected = (demo_root / "data/processed/demo/rejected.csv").read_text()
    assert rejected.count("\n") == 11 and "reasons" in rejected.splitlines()[0]


def test_validate_stops_when_too_many_rows_are_rejected(
    demo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _edit_params(demo_root, validation={"max_rejected_share": 0.001})
    assert main(["validate", "params/demo.yaml", "--root", str(demo_root)]) == 2
    err = capsys.readouterr().err
    assert "10 of 1733 rows (1%) were rejected" in err and "Top reasons" in err
    assert "Traceback" not in err
    assert "rejected.csv" in err  # the researcher is told where the reasons are


def test_validate_names_missing_columns(demo_root: Path, capsys: pytest.CaptureFixture[str]):
    survey = demo_root / "data/raw/demo/responses.csv"
    survey.write_text(survey.read_text().replace("p_rel_1", "perf_rel_1", 1))
    assert main(["validate", "params/demo.yaml", "--root", str(demo_root)]) == 2
    err = capsys.readouterr().err
    assert "responses.csv: 1 column(s)" in err and "p_rel_1 (closest: perf_rel_1)" in err


def test_bad_params_exit_2(demo_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit_params(demo_root, colour="red")
    assert main(["validate", "params/demo.yaml", "--root", str(demo_root)]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err
