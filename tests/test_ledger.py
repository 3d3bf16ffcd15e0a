"""Missing-answer codes, exclusions with a ledger, duplicate policies and personal data (issue 14).

Every fixture is a small export written as a file and read by readers.read_survey, counted by
hand: the ledger must add up (accepted + rejected + excluded = received), and no planted personal
datum may reach clean.parquet, rejected.csv or validation.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis.config.params import Codebook, DesignConfig, load_client
from analysis.errors import DataError
from analysis.intake import readers, schema
from analysis.intake.redact import name_words, redact
from analysis.ops import pipeline

ITEMS = [
    {"id": "a", "label": "A", "dimension": "D", "expectation": "e_a", "performance": "p_a"},
    {
        "id": "b",
        "label": "B",
        "dimension": "D",
        "expectation": "e_b",
        "performance": "p_b",
        "missing": [9],
    },
]


def codebook(**extra: object) -> Codebook:
    return Codebook.model_validate(
        {"id": "rid", "scale": {"min": 1, "max": 5}, "items": ITEMS, "overall": "ov", **extra}
    )


def read(tmp_path: Path, lines: list[str], name: str = "responses.csv") -> readers.RawSurvey:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return readers.read_survey(path)


def ledger_adds_up(v: schema.Validated) -> None:
    s = v.summary
    assert s.accepted + s.rejected + s.excluded == s.received
    assert len(v.clean) == s.accepted and len(v.rejected) == s.rejected + s.excluded


# ---------------------------------------------------------------------------------------------
# missing-answer codes

HEADER = "rid,e_a,p_a,e_b,p_b,ov"


def test_missing_codes_are_missing_answers_and_counted(tmp_path: Path) -> None:
    raw = read(
        tmp_path,
        [
            HEADER,
            "1,6,5,9,4,-99",  # 6 and -99 global; 9 is b's own code
            "2,6.0,Don't know,3,3,6",  # "6.0" is the code 6; 6 stays a 0-10 score
            "3,5,DON'T KNOW ,2,-99,10",  # text codes match stripped, in any case
            "4,9,5,5,5,7",  # 9 is not a code of item a: outside the scale, rejected
        ],
    )
    cb = codebook(missing=[6, -99, "Don't know"])
    v = schema.validate(raw, cb, DesignConfig())
    ledger_adds_up(v)
    assert v.summary.accepted == 3 and v.summary.rejected == 1
    assert "e_a = '9': outside the scale 1-5" in v.rejected["reasons"].iloc[0]
    c = v.clean.set_index("rid")
    assert pd.isna(c.loc["1", "e_a"]) and pd.isna(c.loc["1", "e_b"]) and pd.isna(c.loc["1", "ov"])
    assert pd.isna(c.loc["2", "e_a"]) and pd.isna(c.loc["2", "p_a"]) and c.loc["2", "ov"] == 6
    assert pd.isna(c.loc["3", "p_a"]) and pd.isna(c.loc["3", "p_b"]) and c.loc["3", "e_a"] == 5
    # counted over the rows validated (row 4 too): 6 in e_a twice, -99 in ov and p_b, ...
    assert v.summary.missing_codes == {"6": 2, "-99": 2, "Don't know": 2, "9": 1}
    assert v.summary.missing_codes_by_column == {
        "e_a": {"6": 2},
        "p_a": {"Don't know": 2},
        "e_b": {"9": 1},
        "p_b": {"-99": 1},
        "ov": {"-99": 1},
    }
    # the rejected rows keep the codes as received
    assert v.rejected["e_a"].iloc[0] == "9"
    assert "Answers given as a missing-answer code" in "\n".join(v.summary.lines())


def test_without_codes_a_dont_know_rejects_the_row(tmp_path: Path) -> None:
    raw = read(tmp_path, [HEADER, "1,6,5,3,4,8", "2,5,5,3,4,8"])
    v = schema.validate(raw, codebook(), DesignConfig())
    assert v.summary.rejected == 1 and v.summary.missing_codes == {}
    assert "e_a = '6': outside the scale 1-5" in v.rejected["reasons"].iloc[0]


def test_missing_codes_in_a_spss_file(tmp_path: Path) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    frame = pd.DataFrame(
        {
            "rid": ["1", "2"],
            "e_a": [6.0, 4.0],
            "p_a": [5.0, -99.0],
            "e_b": [1.0, 2.0],
            "p_b": [3.0, 4.0],
            "ov": [8.0, -99.0],
        }
    )
    path = tmp_path / "responses.sav"
    pyreadstat.write_sav(frame, str(path))
    v = schema.validate(readers.read_survey(path), codebook(missing=[6, -99]), DesignConfig())
    assert v.summary.accepted == 2 and v.summary.missing_codes == {"-99": 2, "6": 1}


# ---------------------------------------------------------------------------------------------
# exclusions and duplicates

QUALTRICS = [
    "StartDate,Status,Progress,Finished,ResponseId,rid,e_a,p_a,e_b,p_b,ov",
    '"Start Date","Response Type","Progress","Finished","Response ID","Id","A imp","A sat",'
    '"B imp","B sat","Overall"',
    '"{""ImportId"":""startDate""}","{""ImportId"":""status""}","{""ImportId"":""progress""}",'
    '"{""ImportId"":""finished""}","{""ImportId"":""_recordId""}","{""ImportId"":""QID1""}",'
    '"{""ImportId"":""QID2""}","{""ImportId"":""QID3""}","{""ImportId"":""QID4""}",'
    '"{""ImportId"":""QID5""}","{""ImportId"":""QID6""}"',
    "2026-01-01,IP Address,100,True,R_1,1,5,4,3,3,8",
    "2026-01-01,Survey Preview,100,True,R_2,2,5,4,3,3,8",
    "2026-01-01,IP Address,23,False,R_3,3,5,,,,",
    "2026-01-01,IP Address,100,True,R_4,4,5,7,3,3,8",  # bad data: p_a outside 1-5
    "2026-01-01,8,100,1,R_5,5,5,4,3,3,8",  # numeric export: 8 = spam
    "2026-01-01,IP Address,100,TRUE,R_6,6,4,4,3,3,8",
    "2026-01-01,IP Address,100,True,R_7,7,2,4,3,3,8",
]


def test_qualtrics_previews_and_unfinished_are_excluded(tmp_path: Path) -> None:
    raw = read(tmp_path, QUALTRICS)
    assert raw.detected["export"].startswith("Qualtrics")
    v = schema.validate(raw, codebook(), DesignConfig())
    ledger_adds_up(v)
    s = v.summary
    assert (s.received, s.accepted, s.rejected, s.excluded) == (7, 3, 1, 3)
    assert s.exclusions == {
        "survey preview, test or spam response (Qualtrics Status)": 2,
        "unfinished response (Qualtrics Finished = False)": 1,
    }
    r = v.rejected.set_index("rid")
    assert (
        r.loc["2", "reasons"] == "survey preview, test or spam response (Status = Survey Preview)"
    )
    assert r.loc["5", "reasons"] == "survey preview, test or spam response (Status = 8 (Spam))"
    assert r.loc["3", "reasons"] == "unfinished response (Finished = False, Progress = 23%)"
    assert r.loc["4", "ledger"] == "rejected" and r.loc["3", "ledger"] == "excluded"
    assert list(v.rejected["rid"]) == ["2", "3", "4", "5"]  # file order
    # 1 rejected of 4 validated: 25% (the excluded rows do not count)
    schema.check_rejected_share(s, 0.25)
    with pytest.raises(DataError, match=r"1 of 4 rows validated \(3 excluded\) \(25%\)"):
        schema.check_rejected_share(s, 0.2)
    text = "\n".join(s.lines())
    assert "Rows excluded (not validated): 3" in text and "Rows rejected: 1" in text


def test_a_codebook_rule_replaces_the_automatic_one(tmp_path: Path) -> None:
    raw = read(tmp_path, QUALTRICS)
    v = schema.validate(raw, codebook(exclude={"Finished": []}), DesignConfig())
    ledger_adds_up(v)
    assert v.summary.excluded == 2 and "3" in set(v.clean["rid"])  # unfinished kept
    v = schema.validate(raw, codebook(exclude={"Status": "IP Address"}), DesignConfig())
    ledger_adds_up(v)
    # every IP Address row excluded by the rule (row 3 unfinished too: both reasons, one row);
    # previews are now validated (and accepted)
    assert v.summary.excluded == 5
    assert v.summary.exclusions == {
        "excluded by the codebook rule Status: IP Address": 5,
        "unfinished response (Qualtrics Finished = False)": 1,
    }
    assert (
        "unfinished response (Finished = False, Progress = 23%); Status = "
        in (v.rejected["reasons"].iloc[1])
    )
    assert sorted(v.clean["rid"]) == ["2", "5"]
    assert (
        "Status = 'IP Address': excluded by the codebook rule exclude: {Status: IP Address}"
        in v.rejected["reasons"].iloc[0]
    )


def test_custom_exclude_rule_on_a_plain_csv(tmp_path: Path) -> None:
    raw = read(tmp_path, ["rid,src,e_a,p_a,e_b,p_b,ov", "1,web,5,4,3,3,8", "2,TEST,5,4,3,3,8",
                          "3,staff,5,4,3,3,8", "4,web,5,4,3,3,8"])  # fmt: skip
    v = schema.validate(raw, codebook(exclude={"src": ["test", "staff"]}), DesignConfig())
    ledger_adds_up(v)
    assert v.summary.exclusions == {
        "excluded by the codebook rule src: staff": 1,
        "excluded by the codebook rule src: test": 1,
    }
    assert list(v.clean["rid"]) == ["1", "4"]


DUPS = [HEADER, "1,5,4,3,3,8", "2,5,4,3,3,8", "1,4,4,3,3,8", "3,5,4,3,3,8", "1,3,4,3,3,8"]


@pytest.mark.parametrize(
    ("policy", "kept", "dropped"),
    [("keep-first", "5", [4, 6]), ("keep-last", "3", [2, 4])],
)
def test_duplicates_keep_one_copy(tmp_path: Path, policy: str, kept: str, dropped: list) -> None:
    v = schema.validate(read(tmp_path, DUPS), codebook(), DesignConfig(), duplicates=policy)
    ledger_adds_up(v)
    s = v.summary
    assert (s.accepted, s.rejected, s.excluded) == (3, 0, 2)
    assert v.clean.set_index("rid").loc["1", "e_a"] == int(kept)
    keep_row = {"keep-first": 2, "keep-last": 6}[policy]
    assert (
        list(v.rejected["reasons"])
        == [f"duplicate of respondent id 1: file row {keep_row} kept"] * 2
    )
    assert s.exclusions == {
        f"duplicate copy of a respondent id (validation.duplicates: {policy})": 2
    }
    assert sorted(int(x) for x in v.rejected["e_a"]) == sorted(
        {4: 4, 6: 3, 2: 5}[r] for r in dropped
    )


def test_duplicates_reject_every_copy_by_default(tmp_path: Path) -> None:
    v = schema.validate(read(tmp_path, DUPS), codebook(), DesignConfig())
    ledger_adds_up(v)
    assert (v.summary.accepted, v.summary.rejected, v.summary.excluded) == (2, 3, 0)
    assert "ledger" not in v.rejected  # nothing excluded: the columns as before


def test_a_kept_copy_is_validated_as_usual(tmp_path: Path) -> None:
    rows = [HEADER, "1,8,4,3,3,8", "1,5,4,3,3,8"]
    v = schema.validate(read(tmp_path, rows), codebook(), DesignConfig(), duplicates="keep-first")
    ledger_adds_up(v)
    assert (v.summary.accepted, v.summary.rejected, v.summary.excluded) == (0, 1, 1)
    assert list(v.rejected["ledger"]) == ["rejected", "excluded"]


# ---------------------------------------------------------------------------------------------
# personal data

PLANTED = [
    "jo.bloggs@example.com",
    "+44 20 7946 0958",
    "020 7946 0958",
    "4111 1111 1111 1111",
    "12-345-678",
    "Bloggs",
    "Josephine",
    "203.0.113.9",
]


def test_redact_replaces_each_kind() -> None:
    texts = pd.Series(
        [
            "write to jo.bloggs@example.com or ring +44 20 7946 0958",
            "card 4111 1111 1111 1111, account 12-345-678, see www.example.com/x",
            "JOSEPHINE here (Josephine Bloggs), call 020 7946 0958 or 555-123-4567",
            "3 visits in 2 weeks, 12345 is fine",
            None,
        ]
    )
    out = redact(texts, name_words(["Josephine", "Bloggs", "J"]))
    assert out.tolist()[:4] == [
        "write to [email] or ring [phone]",
        "card [number], account [number], see [url]",
        "[name] here ([name] [name]), call [phone] or [phone]",
        "3 visits in 2 weeks, 12345 is fine",
    ]
    assert pd.isna(out.iloc[4])


def test_no_personal_data_under_data_processed(tmp_path: Path) -> None:
    raw_dir = tmp_path / "data" / "raw" / "acme"
    raw_dir.mkdir(parents=True)
    head = (
        "rid,RecipientFirstName,RecipientLastName,RecipientEmail,IPAddress,e_a,p_a,e_b,p_b,ov,Q11"
    )
    rows = [
        head,
        "1,Josephine,Bloggs,jo.bloggs@example.com,203.0.113.9,5,4,3,3,8,"
        '"Ask for Josephine, mail jo.bloggs@example.com"',
        "2,Sam,Okafor,sam@example.org,203.0.113.10,5,7,3,3,8,"  # bad data: rejected
        '"bloggs again! card 4111 1111 1111 1111, +44 20 7946 0958"',
        "3,Ann,Lee,ann@example.net,203.0.113.11,4,4,3,3,8,call 020 7946 0958 re 12-345-678",
    ]
    (raw_dir / "responses.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    personal = ["RecipientFirstName", "RecipientLastName", "RecipientEmail", "IPAddress"]
    cb = {"id": "rid", "scale": {"min": 1, "max": 5}, "items": ITEMS, "overall": "ov",
          "comments": ["Q11"], "personal": personal}  # fmt: skip
    (raw_dir / "codebook.yaml").write_text(yaml.safe_dump(cb), encoding="utf-8")
    (tmp_path / "params").mkdir()
    params = {"client": "acme", "title": "Acme", "survey": "data/raw/acme/responses.csv",
              "codebook": "data/raw/acme/codebook.yaml",
              "validation": {"max_rejected_share": 0.5}}  # fmt: skip
    (tmp_path / "params" / "acme.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    client = load_client("params/acme.yaml", root=tmp_path)

    result = pipeline.intake(client)
    assert result.summary.accepted == 2 and result.summary.rejected == 1
    out = client.processed_dir
    clean = pd.read_parquet(out / "clean.parquet")
    assert not set(personal) & set(clean.columns)
    assert clean["Q11"].tolist() == ["Ask for [name], mail [email]", "call [phone] re [number]"]
    rejected = pd.read_csv(out / "rejected.csv", dtype=str)
    assert rejected[personal].isna().all().all()
    assert rejected["Q11"].iloc[0] == "[name] again! card [number], [phone]"
    stored = "\n".join(
        [clean.to_csv(), *(p.read_text(encoding="utf-8") for p in out.iterdir() if p.suffix
                            in (".csv", ".json"))]
    )  # fmt: skip
    for planted in [*PLANTED, "Okafor", "sam@example.org", "Lee"]:
        assert planted.lower() not in stored.lower(), planted
    assert json.loads((out / "validation.json").read_text())["received"] == 3


def test_malformed_line_is_withheld_when_the_codebook_names_personal_columns(
    tmp_path: Path,
) -> None:
    raw = read(
        tmp_path,
        ["rid,name,e_a,p_a,e_b,p_b,ov", "1,Josephine,5,4,3,3,8", "2,Bloggs,5,4,3,3,8,extra"],
    )
    v = schema.validate(raw, codebook(personal=["name"]), DesignConfig())
    ledger_adds_up(v)
    assert v.rejected["raw_line"].iloc[0] == schema.WITHHELD
    assert "name" not in v.clean


# ---------------------------------------------------------------------------------------------
# the ledger in the report and the email


def test_report_says_what_was_left_out_and_the_codes(tmp_path: Path) -> None:
    from analysis.ops.deliver import _rows_line
    from analysis.report import about

    raw = read(tmp_path, QUALTRICS)
    v = schema.validate(raw, codebook(missing=["Don't know", 6]), DesignConfig())
    summary = {**v.summary.to_dict(), "missing_codes": {"6": 310, "Don't know": 12}}
    html = about.validation_summary(summary).data
    assert "<strong>7 responses</strong>. <strong>3</strong> of them were left out" in html
    assert "of the other 4, <strong>3</strong> passed every check" in html
    assert "<strong>1</strong> (25%) broke at least one rule" in html  # of the 4 checked
    assert (
        '<th scope="row">unfinished response (Qualtrics Finished = False)</th>'
        '<td class="num">1</td>' in html
    )
    assert '<th scope="row">Don&#39;t know</th><td class="num">12</td>' in html
    rows = {"received": 7, "accepted": 3, "rejected": 1, "excluded": 3}
    assert _rows_line({"rows": rows}) == (
        "Based on 3 of 7 survey responses (3 were left out by the exclusion rules (previews, "
        "unfinished or duplicate responses); 1 did not pass the data checks; all are listed in "
        "the report)."
    )
    rows = {"received": 7, "accepted": 6, "rejected": 1}
    assert _rows_line({"rows": rows}) == (
        "Based on 6 of 7 survey responses (1 did not pass the data checks and are listed in the "
        "report)."
    )
