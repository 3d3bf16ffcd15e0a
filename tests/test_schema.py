"""Validation against the codebook: every bad row explained, nothing lost."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.config.params import Codebook, DesignConfig
from analysis.errors import DataError
from analysis.intake import readers, schema

CODEBOOK = Codebook.model_validate(
    {
        "id": "rid",
        "scale": {"min": 1, "max": 7},
        "items": [
            {"id": "a", "label": "A", "dimension": "D", "expectation": "e_a", "performance": "p_a"}
        ],
        "segments": {"seg": ["X", "Y"]},
        "overall": "ov",
    }
)
DESIGN = DesignConfig(weight="w", strata="st")
HEADER = "rid,seg,st,w,e_a,p_a,ov,note"
GOOD = ["1,X,s1,2,7,5,8,fine", "2,Y,s2,1.5,6,6,,", "3,X,s1,2,,4,3,"]


def run(tmp_path: Path, rows: list[str], header: str = HEADER) -> schema.Validated:
    path = tmp_path / "responses.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return schema.validate(readers.read_survey(path), CODEBOOK, DESIGN)


def test_good_rows_are_typed(tmp_path: Path) -> None:
    v = run(tmp_path, GOOD)
    assert v.summary.received == v.summary.accepted == 3
    assert v.rejected.empty and list(v.rejected.columns) == [*HEADER.split(","), "reasons"]
    c = v.clean
    assert str(c["e_a"].dtype) == "Int64" and c["e_a"].isna().sum() == 1
    assert list(c["seg"].cat.categories) == ["X", "Y"]
    assert c["w"].dtype == "float64"
    assert c["note"].tolist()[0] == "fine"


CATALOGUE = [
    ("9,X,s1,2,9,5,8,", "e_a = '9': outside the scale 1-7", "rating outside the scale 1-7"),
    ("9,X,s1,2,0,5,8,", "e_a = '0': outside the scale 1-7", "rating outside the scale 1-7"),
    ("9,X,s1,2,4.5,5,8,", "e_a = '4.5': not a whole number", "value is not a whole number"),
    ("9,X,s1,2,n/a,5,8,", "e_a = 'n/a': not a number", "value is not a number"),
    ("9,X,s1,2,5,5,11,", "ov = '11': outside 0-10", "0-10 score outside 0-10"),
    ("9,X,s1,2,5,5,-1,", "ov = '-1': outside 0-10", "0-10 score outside 0-10"),
    (
        "9,Z,s1,2,5,5,8,",
        "seg = 'Z': not a listed value (X, Y)",
        "segment value not listed in the codebook",
    ),
    ("9,x,s1,2,5,5,8,", "seg = 'x': not a listed value", "segment value not listed"),
    ("9,,s1,2,5,5,8,", "seg is missing", "required value missing"),
    ("9,X,,2,5,5,8,", "st is missing", "required value missing"),
    ("9,X,s1,,5,5,8,", "w is missing", "required value missing"),
    (
        "9,X,s1,0,5,5,8,",
        "w = '0': weight must be finite and positive",
        "weight missing, not finite or not positive",
    ),
    ("9,X,s1,-2,5,5,8,", "w = '-2': weight must be finite and positive", "weight"),
    ("9,X,s1,inf,5,5,8,", "w = 'inf': weight must be finite and positive", "weight"),
    ("9,X,s1,heavy,5,5,8,", "w = 'heavy': not a number", "value is not a number"),
    (",X,s1,2,5,5,8,", "rid is missing", "required value missing"),
    ("9,X,s1,2,nan,5,8,", "e_a = 'nan': not a number", "value is not a number"),
    ("9,X,s1,2,5,5,7.5,", "ov = '7.5': not a whole number", "value is not a whole number"),
    ('9,X,s1,2,"5,0",5,8,', "e_a = '5,0': not a number", "value is not a number"),
    ("9,X,s1,NaN,5,5,8,", "w = 'NaN': not a number", "value is not a number"),
    ("9,X,s1,2,5,5,ten,", "ov = 'ten': not a number", "value is not a number"),
    ("9,X / Y,s1,2,5,5,8,", "seg = 'X / Y': not a listed value", "segment value not listed"),
]


@pytest.mark.parametrize(("row", "reason", "rule"), CATALOGUE)
def test_catalogue_of_bad_rows(tmp_path: Path, row: str, reason: str, rule: str) -> None:
    v = run(tmp_path, [*GOOD, row])
    assert v.summary.received == 4 and v.summary.accepted == 3 and v.summary.rejected == 1
    assert len(v.clean) + len(v.rejected) == v.summary.received
    got = v.rejected["reasons"].iloc[0]
    assert reason in got, got
    assert any(rule in r for r in v.summary.reasons), v.summary.reasons
    # the rejected row is kept exactly as received
    kept = ["" if pd.isna(x) else x for x in v.rejected.iloc[0, :-1]]
    assert kept == next(csv.reader([row]))


def test_every_reason_of_a_row_is_listed(tmp_path: Path) -> None:
    v = run(tmp_path, [*GOOD, "9,Z,s1,-1,8,x,12,"])
    reasons = v.rejected["reasons"].iloc[0].split("; ")
    assert len(reasons) == 5, reasons


def test_all_copies_of_a_duplicated_id_are_rejected(tmp_path: Path) -> None:
    v = run(tmp_path, [*GOOD, "1,Y,s2,1,5,5,5,", "1,X,s1,1,5,5,5,"])
    assert v.summary.accepted == 2 and v.summary.rejected == 3
    assert sorted(v.rejected["rid"]) == ["1", "1", "1"]
    first = v.rejected["reasons"].iloc[0]
    assert "rid = '1': used again on file row(s) 5, 6" in first
    assert v.summary.reasons["respondent id used more than once"] == 3


def test_missing_columns_stop_with_closest_names(tmp_path: Path) -> None:
    header = "rid,seg,st,w,e_a,perf_a,overall"
    with pytest.raises(DataError) as err:
        run(tmp_path, ["1,X,s1,2,7,5,8"], header=header)
    msg = str(err.value)
    assert "responses.csv: 2 column(s)" in msg
    assert "p_a (closest: perf_a)" in msg and "ov (closest: overall)" in msg
    assert "wrong codebook" in msg


def test_rejected_share_guard(tmp_path: Path) -> None:
    v = run(tmp_path, [*GOOD, "9,Z,s1,2,5,5,8,", "10,Z,s1,2,5,5,8,"])
    schema.check_rejected_share(v.summary, 0.5)
    with pytest.raises(DataError, match=r"2 of 5 rows \(40%\) were rejected.*segment value"):
        schema.check_rejected_share(v.summary, 0.2)


def test_summary_lines_are_readable(tmp_path: Path) -> None:
    v = run(tmp_path, [*GOOD, "9,Z,s1,2,5,5,8,"])
    text = "\n".join(v.summary.lines())
    assert "Rows received: 4" in text and "Rows rejected: 1" in text
    assert "1 × segment value not listed in the codebook" in text
    assert "encoding utf-8" in text and "delimiter ," in text


@pytest.mark.parametrize(
    ("encoding", "sep", "bom"),
    [("utf-8", ",", False), ("utf-8", ";", True), ("cp1252", "\t", False)],
)
def test_csv_encodings_and_delimiters(tmp_path: Path, encoding: str, sep: str, bom: bool) -> None:
    text = "\n".join([HEADER, *GOOD, "4,Y,s2,1,5,5,5,Café crème"]).replace(",", sep) + "\n"
    path = tmp_path / "r.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    raw = readers.read_survey(path)
    assert raw.detected["encoding"] == ("utf-8 (with BOM)" if bom else encoding)
    assert raw.detected["delimiter"] == {"\t": "tab"}.get(sep, sep)
    v = schema.validate(raw, CODEBOOK, DESIGN)
    assert v.summary.accepted == 4
    assert v.clean["note"].iloc[-1] == "Café crème"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (HEADER.encode() + b"\n", "has a header but no data rows"),
        (b"\x00\x01\x02binary", "looks like a binary file"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        readers.read_survey(path)


def test_same_survey_in_every_format_gives_identical_accepted_rows(tmp_path: Path) -> None:
    rows = [*GOOD, "4,Y,s2,0.25,5,5,5,Café", "5,Z,s1,2,5,5,5,"]  # the last is rejected
    base = run(tmp_path, rows)
    assert base.summary.accepted == 4 and base.summary.rejected == 1
    frame = pd.read_csv(tmp_path / "responses.csv", dtype=str, keep_default_na=False)

    semicolon = "\n".join([HEADER, *rows]).replace(",", ";").replace("0.25", "0,25") + "\n"
    (tmp_path / "cp1252.csv").write_bytes(semicolon.encode("cp1252"))
    frame.to_excel(tmp_path / "r.xlsx", index=False)
    frame.replace("", None).to_parquet(tmp_path / "r.parquet", index=False)
    qualtrics = pd.concat(
        [
            pd.DataFrame(
                [
                    {c: f"Question text for {c}" for c in frame.columns},
                    {c: '{"ImportId":"QID_' + c + '"}' for c in frame.columns},
                ]
            ),
            frame,
        ]
    )
    qualtrics.to_csv(tmp_path / "qualtrics.csv", index=False)
    numeric = frame.replace("", None)
    for col in ("w", "e_a", "p_a", "ov"):
        numeric[col] = pd.to_numeric(numeric[col])
    numeric["e_a"] = numeric["e_a"].fillna(99)  # 99 = user-missing code in SPSS
    numeric["seg"] = numeric["seg"].map({"X": 1, "Y": 2, "Z": 3})  # codes with value labels
    pyreadstat.write_sav(
        numeric,
        tmp_path / "r.sav",
        variable_value_labels={
            "seg": {1: "X", 2: "Y", 3: "Z"},
            "e_a": {1: "Very low", 7: "Very high"},  # labelled end points stay numbers
            "p_a": {1: "Very poor", 7: "Excellent"},
        },
        missing_ranges={"e_a": [99]},
    )
    for name, fmt in [
        ("cp1252.csv", "csv"),
        ("r.xlsx", "xlsx"),
        ("r.parquet", "parquet"),
        ("qualtrics.csv", "csv"),
        ("r.sav", "sav"),
    ]:
        raw = readers.read_survey(tmp_path / name)
        assert raw.detected["format"] == fmt
        got = schema.validate(raw, CODEBOOK, DESIGN)
        pd.testing.assert_frame_equal(got.clean, base.clean, obj=name)
        assert got.summary.rejected == 1, name
    assert readers.read_survey(tmp_path / "cp1252.csv").detected["decimal"] == ","
    assert "Qualtrics" in readers.read_survey(tmp_path / "qualtrics.csv").detected["export"]


def test_rows_are_numbered_as_in_the_file_after_qualtrics_headers(tmp_path: Path) -> None:
    lines = [HEADER, ",".join(["q"] * 8), ",".join(['"{""ImportId"":""x""}"'] * 8), *GOOD, GOOD[0]]
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    v = schema.validate(readers.read_survey(tmp_path / "q.csv"), CODEBOOK, DESIGN)
    assert "rid = '1': used again on file row(s) 7" in v.rejected["reasons"].iloc[0]


def test_quality_flags_do_not_reject(tmp_path: Path) -> None:
    cb = Codebook.model_validate(
        {
            "id": "rid",
            "scale": {"min": 1, "max": 7},
            "items": [
                {
                    "id": f"i{k}",
                    "label": f"I{k}",
                    "dimension": "D",
                    "expectation": f"e{k}",
                    "performance": f"p{k}",
                }
                for k in range(4)
            ],
            "duration": "secs",
        }
    )
    header = "rid,secs,e0,p0,e1,p1,e2,p2,e3,p3"
    rows = [
        "1,600,7,5,6,4,7,3,6,5",
        "2,580,4,4,4,4,4,4,4,4",  # straight-lining
        "3,100,7,5,6,4,7,3,6,5",  # speeder: under a third of the median (580)
        "4,620,7,,,,,,,",  # mostly empty
        "5,590,6,6,6,6,6,6,,",  # six identical answers: straight-lining
    ]
    (tmp_path / "f.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    v = schema.validate(readers.read_survey(tmp_path / "f.csv"), cb, DesignConfig())
    assert v.summary.accepted == 5 and v.summary.rejected == 0
    got = sorted(zip(v.flags["id"], v.flags["flag"], strict=True))
    assert got == [
        ("2", "straight_lining"),
        ("3", "speeder"),
        ("4", "mostly_empty"),
        ("5", "straight_lining"),
    ]
    assert v.summary.flags == {
        "same answer to every rating item": 2,
        "more than half of the rating items unanswered": 1,
        "interview under a third of the median length": 1,
    }


CELL = st.one_of(
    st.none(),
    st.sampled_from(["1", "4", "7", "0", "8", "10", "11", "-1", "2.5", "1e1", "X", "Y", "Z", "s1"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6),
    st.integers(-5, 15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(CELL, min_size=8, max_size=8), min_size=1, max_size=12))
def test_random_frames_keep_the_accounting_invariant(rows: list[list[str | None]]) -> None:
    frame = pd.DataFrame(rows, columns=HEADER.split(",")).astype(object)
    frame = frame.map(lambda v: None if v is None or not str(v).strip() else str(v).strip())
    frame = frame.astype(
        readers.TEXT
    )  # as read_survey gives it: stripped text, empty cells missing
    raw = readers.RawSurvey(frame=frame, source=Path("random.csv"), detected={"format": "csv"})
    v = schema.validate(raw, CODEBOOK, DESIGN)  # may raise nothing but our own errors
    assert len(v.clean) + len(v.rejected) == len(frame) == v.summary.received
    assert v.rejected["reasons"].map(bool).all()
    # every accepted row obeys every rule
    c = v.clean
    assert c["rid"].notna().all() and not c["rid"].duplicated().any()
    assert c["seg"].notna().all() and c["st"].notna().all()
    assert (c["w"] > 0).all() and np.isfinite(c["w"]).all()
    for col in ("e_a", "p_a"):
        vals = c[col].dropna()
        assert vals.between(1, 7).all()
    assert c["ov"].dropna().between(0, 10).all()
    # rejected rows keep their original values
    orig = frame.loc[v.rejected.index]
    pd.testing.assert_frame_equal(v.rejected.drop(columns="reasons"), orig)


FILE_CATALOGUE = [
    ("dup.csv", b"rid,seg,rid\n1,X,2\n", "column names used twice: rid"),
    ("ragged.csv", b"rid,seg\n1,X,a\n2,Y,extra\n3,Z\n", "2 of 3 lines are malformed (the first, "),
    ("badhead.csv", b"rid;seg,x\n1;X\n2;Y\n", "2 of 2 lines are malformed"),
    ("survey.docx", b"PK\x03\x04", "unknown survey file type '.docx'"),
    ("fake.xlsx", b"rid,seg\n1,X\n", "cannot read as an Excel workbook"),
    ("fake.parquet", b"rid,seg\n1,X\n", "cannot read as a Parquet file"),
    ("fake.sav", b"rid,seg\n1,X\n", "cannot read as an SPSS .sav file"),
    ("blank.csv", b"\n\n  \n", "the file is empty"),
]


@pytest.mark.parametrize(("name", "content", "message"), FILE_CATALOGUE)
def test_catalogue_of_bad_files(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        readers.read_survey(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value), str(err.value)


def test_missing_survey_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.csv: survey file not found"):
        readers.read_survey(tmp_path / "nope.csv")


def test_design_columns_are_checked(tmp_path: Path) -> None:
    design = DesignConfig(weight="w", strata="st", cluster="psu", fpc="fpc")
    header = "rid,seg,st,w,e_a,p_a,ov,note,psu,fpc"
    rows = ["1,X,s1,2,7,5,8,,a,100", "2,X,s1,2,7,5,8,,,100", "3,X,s1,2,7,5,8,,b,0"]
    (tmp_path / "d.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    v = schema.validate(readers.read_survey(tmp_path / "d.csv"), CODEBOOK, design)
    assert v.summary.accepted == 1 and v.summary.rejected == 2
    assert list(v.rejected["reasons"]) == [
        "psu is missing",
        "fpc = '0': fpc must be finite and positive",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variable,level\nseg,X\n", "margins file needs columns variable, level, count"),
        ("variable,level,count\nseg,X,0\n", "row 2, column 'count': '0' is not a positive"),
        ("variable,level,count\nseg,X,10\nseg,X,12\n", "level 'X' of 'seg' is listed twice"),
        ("variable,level,count\nseg,X,10\nseg,,12\n", "row 3, column 'level': empty"),
    ],
)
def test_bad_margins(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        readers.read_margins(tmp_path / "m.csv")


def test_excel_sheet_by_name(tmp_path: Path) -> None:
    base = run(tmp_path, GOOD).clean
    frame = pd.read_csv(tmp_path / "responses.csv", dtype=str, keep_default_na=False)
    with pd.ExcelWriter(tmp_path / "book.xlsx") as xl:
        pd.DataFrame({"note": ["exported 2026-11-01"]}).to_excel(xl, sheet_name="About")
        frame.to_excel(xl, sheet_name="Responses", index=False)
    raw = readers.read_survey(tmp_path / "book.xlsx", sheet="Responses")
    assert raw.detected["sheet"] == "Responses"
    pd.testing.assert_frame_equal(schema.validate(raw, CODEBOOK, DESIGN).clean, base)
    with pytest.raises(
        DataError, match="no sheet named 'Answers'; the sheets are About, Responses"
    ):
        readers.read_survey(tmp_path / "book.xlsx", sheet="Answers")


# --- malformed lines (issue 12, item 7) -----------------------------------------------------

MALFORMED = [
    "1,X,s1,2,7,5,8,fine",
    "2,Y,s2,1.5,6,6,,,extra",  # line 3: one field too many
    '3,X,s1,2,,4,3,"two\nlines"',  # lines 4-5: a quoted value over two lines (fine)
    '4,X,s1,2,"7,5,8,',  # line 6: a quote that never closes
    "5,X",  # line 7: too few fields
    "6,X,s1,2,7,5,8,",
    "3,Y,s1,2,7,5,8,",  # line 9: the id of line 4 again
    '8,X,s1,2,7,5,8,"open',  # line 10: the last line's quote never closes
]


def test_a_malformed_line_rejects_that_row_alone(tmp_path: Path) -> None:
    v = run(tmp_path, MALFORMED)
    s = v.summary
    assert (s.received, s.accepted, s.rejected) == (8, 2, 6)
    assert s.accepted + s.rejected == s.received
    assert s.detected["malformed_lines"] == 4
    assert v.clean["rid"].tolist() == ["1", "6"]
    assert list(v.rejected.columns) == [*HEADER.split(","), "reasons", "raw_line"]
    reasons = v.rejected["reasons"].tolist()
    assert reasons[0] == (
        "line 3: 9 fields where the header has 8; the line as received is in raw_line"
    )
    assert reasons[1].startswith("rid = '3': used again on file row(s) 9")  # real file lines
    assert reasons[2].startswith("line 6: a quote opened on this line is not closed")
    assert reasons[3].startswith("line 7: 2 fields where the header has 8")
    assert reasons[4].startswith("rid = '3': used again on file row(s) 4")
    assert reasons[5].startswith("line 10: a quote opened on this line is not closed")
    raw_lines = v.rejected["raw_line"]
    assert raw_lines.iloc[0] == "2,Y,s2,1.5,6,6,,,extra" and pd.isna(raw_lines.iloc[1])
    assert raw_lines.iloc[2] == '4,X,s1,2,"7,5,8,' and raw_lines.iloc[3] == "5,X"
    assert v.rejected.loc[0, ["rid", "seg"]].isna().all()  # no cells: the line is in raw_line
    assert v.rejected.iloc[1]["note"] == "two\nlines"
    assert s.reasons["malformed line (wrong number of fields or a quote never closed)"] == 4
    # rejected.csv keeps the raw line, readable back as written
    out = tmp_path / "rejected.csv"
    v.rejected.to_csv(out, index=False)
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["raw_line"].tolist()[2] == '4,X,s1,2,"7,5,8,'


def test_a_good_file_is_read_by_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    raw = readers.read_survey(path)
    assert raw.lines is None and raw.malformed.empty and "malformed_lines" not in raw.detected


def test_malformed_margins_lines_are_refused(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("variable,level,count\nseg,X,10\nseg,Y\nseg,Z,3\n")
    with pytest.raises(DataError, match="line 3: 2 fields where the header has 3"):
        readers.read_margins(tmp_path / "m.csv")


# --- messages that say what is really wrong (issue 12, item 8) --------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_are_read(tmp_path: Path, codec: str) -> None:
    text = "\n".join([HEADER, *GOOD[:2], "4,X,s1,2,7,5,8,Café"]) + "\n"
    path = tmp_path / "u16.csv"
    path.write_bytes(text.encode(codec))  # "utf-16" writes a BOM; -le/-be (Excel's) do not
    raw = readers.read_survey(path)
    assert raw.detected["encoding"].startswith("utf-16")
    v = schema.validate(raw, CODEBOOK, DESIGN)
    assert v.summary.accepted == 3 and v.clean["note"].iloc[-1] == "Café"


def test_broken_utf16_says_save_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(b"\xff\xfe" + "rid,seg\n1,X\n".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(DataError, match=r"UTF-16 .* save it as UTF-8"):
        readers.read_survey(path)


def test_a_directory_or_a_fifo_is_named_as_such(tmp_path: Path) -> None:
    folder = tmp_path / "export.csv"
    folder.mkdir()
    with pytest.raises(DataError, match=r"export\.csv: is a directory, not a file"):
        readers.read_survey(folder)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # opening it would block: it must never be opened
    with pytest.raises(DataError, match=r"pipe.csv: is a named pipe \(FIFO\), not a file"):
        readers.read_survey(fifo)


def test_data_on_another_sheet_names_the_sheets(tmp_path: Path) -> None:
    frame = pd.DataFrame([r.split(",") for r in GOOD], columns=HEADER.split(","))
    with pd.ExcelWriter(tmp_path / "book.xlsx") as xl:
        pd.DataFrame({"note": ["exported 2026-11-01"]}).to_excel(xl, sheet_name="About")
        frame.to_excel(xl, sheet_name="Responses", index=False)
    raw = readers.read_survey(tmp_path / "book.xlsx")
    with pytest.raises(DataError) as err:
        schema.validate(raw, CODEBOOK, DESIGN)
    msg = str(err.value)
    assert "read from sheet 'About'" in msg and "sheets are 'About', 'Responses'" in msg
    assert "set survey_sheet" in msg


@pytest.mark.parametrize("rid", ['"r\n1"', '"r\t1"', '"r\x011"', '"r\x7f1"'])
def test_an_id_with_a_control_character_is_rejected(tmp_path: Path, rid: str) -> None:
    v = run(tmp_path, [rid + ",X,s1,2,7,5,8,", *GOOD[1:]])
    assert v.summary.rejected == 1 and v.summary.accepted == 2
    assert "holds a control character" in v.rejected["reasons"].iloc[0]
    assert v.summary.reasons == {"respondent id holds a control character (newline, tab, ...)": 1}
