"""Params and codebooks keep their values as written: No/Yes/NO/On stay text, 01 and 12:00 too."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.config import yamlfile
from analysis.config.params import DesignConfig, load_codebook
from analysis.intake import readers, schema

CODEBOOK = """\
id: rid
scale: {min: 1, max: 5}
items:
  - id: q1
    label: No
    dimension: On time
    expectation: e_q1
    performance: p_q1
segments:
  sch.wide: [No, Yes]
  country: [GB, NO, SE]
  branch: [010, 011, 12:00]
  flag: [On, Off]
overall: ov
"""

ROWS = """\
rid,sch.wide,country,branch,flag,e_q1,p_q1,ov
r1,No,NO,010,On,5,4,7
r2,Yes,GB,011,Off,4,4,8
r3,No,SE,12:00,On,3,5,
"""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("No", "No"),
        ("NO", "NO"),
        ("yes", "yes"),
        ("On", "On"),
        ("off", "off"),
        ("01", "01"),
        ("010", "010"),
        ("12:00", "12:00"),
        ("2026-01-31", "2026-01-31"),
        ("0x1F", "0x1F"),
        ("'7'", "7"),
        ("7", 7),
        ("-3", -3),
        ("0.95", 0.95),
        ("1e-8", 1e-8),
        (".5", 0.5),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
    ],
)
def test_scalars_are_read_as_written(text: str, value: object) -> None:
    got = yamlfile.load(f"v: {text}\n")["v"]
    assert got == value and type(got) is type(value)


def test_a_codebook_with_no_yes_and_leading_zeros_validates_its_data(tmp_path: Path) -> None:
    (tmp_path / "codebook.yaml").write_text(CODEBOOK, encoding="utf-8")
    codebook = load_codebook(tmp_path / "codebook.yaml")
    assert codebook.items[0].label == "No"
    assert codebook.items[0].dimension == "On time"
    assert codebook.segments == {
        "sch.wide": ["No", "Yes"],
        "country": ["GB", "NO", "SE"],
        "branch": ["010", "011", "12:00"],
        "flag": ["On", "Off"],
    }
    (tmp_path / "responses.csv").write_text(ROWS, encoding="utf-8")
    result = schema.validate(
        readers.read_survey(tmp_path / "responses.csv"), codebook, DesignConfig()
    )
    assert result.summary.rejected == 0 and result.summary.accepted == 3
    assert list(result.clean["branch"].astype(str)) == ["010", "011", "12:00"]
    assert list(result.clean["country"].astype(str)) == ["NO", "GB", "SE"]
