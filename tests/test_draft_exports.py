"""`new-client` on exports written the way Qualtrics, SurveyMonkey, Excel and SPSS write them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from export_writers import (
    ACCOUNT,
    EMAILS,
    FIRST_NAMES,
    LAST_NAMES,
    PHONES,
    write_qualtrics,
    write_surveymonkey,
)

from analysis.cli import main
from analysis.config.params import DesignConfig, load_client
from analysis.intake import readers, schema
from analysis.intake.draft import _Export, _numbers, _scale, draft_client, shorten, statement


def _validated(draft_params: Path, root: Path) -> tuple[schema.Validated, readers.RawSurvey]:
    client = load_client(draft_params, root=root)
    raw = readers.read_survey(client.survey_path)
    return schema.validate(raw, client.codebook, client.config.design), raw


def _short(summary: str) -> None:
    """The terminal summary stays short: no line over 240 characters, 40 lines at most."""
    lines = summary.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 240, summary


def test_qualtrics_reader_keeps_question_text_and_file_rows(tmp_path: Path) -> None:
    planted = write_qualtrics(tmp_path / "q.csv")
    raw = readers.read_survey(planted.path)
    assert raw.header_rows == 3 and len(raw.frame) == planted.rows
    assert raw.frame.columns[0] == "StartDate"  # the BOM is gone
    assert raw.questions["Q1_importance"] == (
        "How important is it to you that your bill is accurate? - Importance"
    )
    assert raw.frame["ResponseId"].iloc[0].startswith("R_0000")
    assert raw.file_row(0) == 4 and raw.file_row(5) == 9
    assert raw.frame["Status"].iloc[0] == "Survey Preview"


def test_qualtrics_draft(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    planted = write_qualtrics(tmp_path / "export.csv")
    args = ["new-client", "acme", "--survey", str(planted.path), "--root", str(tmp_path)]
    assert main(args) == 0
    _short(capsys.readouterr().out)
    client = load_client("params/acme.yaml", root=tmp_path)
    cb = client.codebook
    assert [(i.expectation, i.performance) for i in cb.items] == planted.pairs
    assert [i.label for i in cb.items] == planted.labels
    assert [i.id for i in cb.items] == ["Q1", "Q2", "Q3", "Q4"]
    assert cb.id == planted.id
    assert cb.segments == {
        "Q5": ["North", "East", "West", "South"],
        "Q6": ["Household", "Business"],
    }
    assert client.config.analysis.by == ["Q5", "Q6"]
    assert (cb.overall, cb.recommend) == (planted.overall, planted.recommend)
    assert cb.duration == "Duration (in seconds)"
    assert cb.comments == planted.comments
    assert sorted(cb.personal) == sorted(planted.personal)
    assert (cb.scale.min, cb.scale.max) == planted.scale and cb.missing == [6]
    assert client.config.design.weight is None
    text = (tmp_path / "data/raw/acme/codebook.yaml").read_text()
    assert f"6 ({planted.code_cells} cell(s))" in text
    assert "preview responses (Status = Survey Preview)" in text and "exclude:" in text
    for never in ("StartDate", "EndDate", "RecordedDate", "Status", "Finished", "UserLanguage"):
        assert never not in cb.segments
    assert main(["validate", "params/acme.yaml", "--root", str(tmp_path)]) == 0
    v, raw = _validated(tmp_path / "params/acme.yaml", tmp_path)
    summary = v.summary
    assert summary.accepted + summary.rejected + summary.excluded == summary.received
    assert summary.received == planted.rows
    # the draft runs as drafted: no row rejected for bad data; the "Don't know" codes are
    # missing answers and the preview and unfinished responses are set aside with their reasons
    assert summary.rejected == 0
    assert summary.missing_codes == {"6": planted.code_cells}
    preview = raw.frame.loc[raw.frame["Status"] == "Survey Preview", "ResponseId"]
    unfinished = raw.frame["ResponseId"].iloc[1]
    assert set(v.rejected["ResponseId"]) == {*preview, unfinished}
    assert set(v.rejected["ledger"]) == {"excluded"}


def test_surveymonkey_reader_names_questions_and_items(tmp_path: Path) -> None:
    planted = write_surveymonkey(tmp_path / "sm.csv")
    raw = readers.read_survey(planted.path)
    assert raw.header_rows == 2 and len(raw.frame) == planted.rows
    assert list(raw.frame.columns[:2]) == ["Respondent ID", "Collector ID"]
    assert list(raw.frame.columns[9:]) == [
        "Q1_1", "Q1_2", "Q1_3", "Q2_1", "Q2_2", "Q2_3", "Q3", "Q4", "Q5", "Q6",
    ]  # fmt: skip
    assert raw.questions["Q1_2"] == "How important are the following to you? - Quick answers"
    assert raw.questions["Q3"] == "Which region do you live in?"
    assert "Respondent ID" not in raw.questions
    assert raw.file_row(0) == 3
    assert raw.frame["Respondent ID"].iloc[0] == "11400000000"


def test_surveymonkey_file_rows_stay_right_around_a_malformed_line(tmp_path: Path) -> None:
    planted = write_surveymonkey(tmp_path / "sm.csv", n=10)
    lines = planted.path.read_text().splitlines()
    lines.insert(5, "1,2,3")  # file line 6: too few fields
    planted.path.write_text("\n".join(lines) + "\n")
    raw = readers.read_survey(planted.path)
    assert len(raw.frame) == 10 and list(raw.malformed["line"]) == [6]
    assert raw.frame.columns[9] == "Q1_1"
    assert [raw.file_row(k) for k in (0, 2, 3, 9)] == [3, 5, 7, 13]


def test_surveymonkey_draft(tmp_path: Path) -> None:
    planted = write_surveymonkey(tmp_path / "sm.csv")
    draft = draft_client("monkey", planted.path, root=tmp_path)
    _short(draft.summary())
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.expectation, i.performance) for i in cb.items] == planted.pairs
    assert [i.label for i in cb.items] == planted.labels
    assert [i.id for i in cb.items] == ["accurate_bills", "quick_answers", "friendly_staff"]
    assert cb.id == planted.id and cb.segments == {"Q3": ["North", "South", "East", "West"]}
    assert (cb.overall, cb.recommend, cb.comments) == ("Q4", "Q5", ["Q6"])
    assert sorted(cb.personal) == sorted(planted.personal)
    assert (cb.scale.min, cb.scale.max) == (1, 7) and cb.missing == [8]
    v, _ = _validated(draft.params, tmp_path)
    assert v.summary.accepted + v.summary.rejected == planted.rows
    assert set(v.summary.reasons) <= {"rating outside the scale 1-7"}


def test_plain_csv_prefixes_weight_dates_and_content_personal(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 2000
    branch = rng.choice(["Leeds", "York", "Hull"], size=n).astype(object)
    branch[:20] = [f"Leeds {k}" for k in range(20)]  # typos, each once: left out, shortened
    speed_imp = rng.integers(1, 11, n)
    speed_imp[:30] = -99
    frame = pd.DataFrame(
        {
            "case": [f"c{k}" for k in range(n)],
            "submitted": [f"2026-01-{1 + k % 28:02d}T10:{k % 60:02d}:00" for k in range(n)],
            "contact": [f"user{k}@example.com" for k in range(n)],
            "imp_speed": speed_imp,
            "sat_speed": rng.integers(1, 11, n),
            "IMP_Price": rng.integers(1, 11, n),
            "SAT_Price": rng.integers(1, 11, n),
            "branch": branch,
            "wgt": rng.uniform(0.5, 2.0, n).round(3),
            "ltr": rng.integers(0, 11, n),
        }
    )
    frame.loc[5, "sat_speed"] = 99
    frame.loc[7:9, "ltr"] = 999  # 3 cells: a code beyond 0-10
    frame.to_csv(tmp_path / "plain.csv", index=False)
    draft = draft_client("plain", tmp_path / "plain.csv", root=tmp_path)
    summary = draft.summary()
    _short(summary)
    assert "Leeds 0, Leeds 1" in summary and "... 12 more" in summary
    client = load_client(draft.params, root=tmp_path)
    cb = client.codebook
    assert [(i.id, i.expectation, i.performance) for i in cb.items] == [
        ("speed", "imp_speed", "sat_speed"),
        ("Price", "IMP_Price", "SAT_Price"),
    ]
    assert [i.label for i in cb.items] == ["Speed", "Price"]  # from the stems: REVIEW
    assert "label: Speed  # REVIEW" in draft.codebook.read_text()
    assert cb.id == "case" and client.config.design.weight == "wgt"
    assert set(cb.segments) == {"branch"} and sorted(cb.segments["branch"]) == [
        "Hull",
        "Leeds",
        "York",
    ]
    assert "submitted" not in cb.segments and cb.personal == ["contact"]
    assert cb.recommend == "ltr" and cb.overall is None
    assert (cb.scale.min, cb.scale.max) == (1, 10) and cb.missing == [-99, 99, 999]
    assert "in the 0-10 columns: 999 (3 cell(s))" in draft.codebook.read_text()
    v, _ = _validated(draft.params, tmp_path)
    assert v.summary.accepted + v.summary.rejected == n


def test_xlsx_expect_rating_suffixes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 40
    frame = pd.DataFrame(
        {
            "Respondent": [f"r{k}" for k in range(n)],
            "Speed_Expect": rng.integers(1, 8, n),
            "Speed_Rating": rng.integers(1, 8, n),
            "Price Expectation": rng.integers(1, 8, n),
            "Price Rating": rng.integers(1, 8, n),
            "Plan": rng.choice(["Basic", "Plus"], n),
            "Overall satisfaction": rng.integers(0, 11, n),
        }
    )
    frame.to_excel(tmp_path / "survey.xlsx", index=False)
    draft = draft_client("xl", tmp_path / "survey.xlsx", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.id, i.expectation, i.performance) for i in cb.items] == [
        ("Speed", "Speed_Expect", "Speed_Rating"),
        ("Price", "Price Expectation", "Price Rating"),
    ]
    assert cb.overall == "Overall satisfaction" and sorted(cb.segments["Plan"]) == ["Basic", "Plus"]
    assert cb.id == "Respondent"  # no "id" in the name: the first unique column, REVIEW
    assert "id: Respondent  # REVIEW" in draft.codebook.read_text()
    v, _ = _validated(draft.params, tmp_path)
    assert v.summary.accepted == n


def test_sav_labelled_segment_and_undeclared_code(tmp_path: Path) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    rng = np.random.default_rng(5)
    n = 50
    e_1 = rng.integers(1, 6, n).astype(float)
    e_1[:4] = 9  # "No answer", not declared user-missing in the file
    frame = pd.DataFrame(
        {
            "respid": np.arange(1, n + 1, dtype=float),
            "e_rel_1": e_1,
            "p_rel_1": rng.integers(1, 6, n).astype(float),
            "e_emp_1": rng.integers(1, 6, n).astype(float),
            "p_emp_1": rng.integers(1, 6, n).astype(float),
            "region": rng.integers(1, 3, n).astype(float),
        }
    )
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(
        frame, str(path), variable_value_labels={"region": {1.0: "North", 2.0: "South"}}
    )
    draft = draft_client("spss", path, root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.id, i.dimension) for i in cb.items] == [
        ("rel_1", "Reliability"),
        ("emp_1", "Empathy"),
    ]
    assert cb.id == "respid" and cb.missing == [9]
    assert set(cb.segments) == {"region"} and sorted(cb.segments["region"]) == ["North", "South"]
    v, _ = _validated(draft.params, tmp_path)
    assert v.summary.accepted == n and v.summary.rejected == 0
    assert v.summary.missing_codes == {"9": 4}  # the undeclared 9s: missing answers as drafted


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 5, 4], (1, 5, [6])),  # Don't know = 6 on a 1-5 scale
        ([1, 2, 3, 4, 5, 6, 7], (1, 7, [])),
        ([1, 3, 5, 7, 2, 98, 99], (1, 7, [98, 99])),
        ([0, 5, 10, 3, -1], (0, 10, [-1])),
        ([1, 2, 3, 4, 5, 8, 9], (1, 5, [8, 9])),
        ([2, 3, 4, 5], (2, 5, [])),  # not a standard scale: read off the data, REVIEW
    ],
)
def test_scale_and_missing_codes(values: list[int], expected: tuple[int, int, list[int]]) -> None:
    frame = pd.DataFrame({"a": [str(v) for v in values]}, dtype=readers.TEXT)
    export = _Export(
        frame=frame,
        numbers=_numbers(frame),
        questions={},
        value_labels={},
        qualtrics=False,
        review=[],
    )
    assert _scale(export, ["a"]) == expected
    assert export.review


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How important is it to you that bills are accurate? - Importance",
         ("e", "Bills are accurate")),
        ("How satisfied are you with the following? - Quick answers", ("p", "Quick answers")),
        ("Q1 - Staff are friendly - Satisfaction", ("p", "Staff are friendly")),
        ("How well does Acme perform on keeping you informed?", ("p", "Keeping you informed")),
        ("How important is a quick answer to you?", ("e", "A quick answer")),
        ("Which region do you live in?", (None, "Which region do you live in")),
    ],
)  # fmt: skip
def test_statement(text: str, expected: tuple[str | None, str]) -> None:
    assert statement(text) == expected


def test_shorten() -> None:
    assert shorten(list(range(620))) == "0, 1, 2, 3, 4, 5, 6, 7 ... 612 more"
    assert shorten(["a", "b"]) == "a, b"


def test_plain_frame_without_design_validates(tmp_path: Path) -> None:
    """The draft of a CSV needs no design block: validation runs with the default design."""
    (tmp_path / "s.csv").write_text("id,exp_a,perf_a\n1,3,4\n2,5,1\n")
    draft = draft_client("s", tmp_path / "s.csv", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    v = schema.validate(readers.read_survey(tmp_path / "s.csv"), cb, DesignConfig())
    assert v.summary.accepted == 2


def test_qualtrics_draft_runs_as_drafted(tmp_path: Path) -> None:
    """The drafted client runs end to end (validate, analyses, the report notebook), and no
    planted personal data reaches anything the run wrote (about 15 s: one real notebook run)."""
    planted = write_qualtrics(tmp_path / "export.csv", n=120)
    draft_client("acme", planted.path, root=tmp_path)
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "gap_report.ipynb"
    args = ["run", "params/acme.yaml", "--root", str(tmp_path), "--no-pdf"]
    assert main([*args, "--notebook", str(notebook)]) == 0
    html = (tmp_path / "reports/acme/report.html").read_text()
    assert all(label in html for label in planted.labels)
    # no planted personal data anywhere the run wrote: not in the research team's copy
    # (data/processed, parquet included) nor in anything the client receives (reports/)
    planted_data = [*EMAILS, *PHONES, ACCOUNT, "@example.net", "81.2."]
    planted_data += [f" {n}" for n in (*FIRST_NAMES, *LAST_NAMES)]
    written = [
        p
        for folder in ("data/processed/acme", "reports/acme")
        for p in (tmp_path / folder).rglob("*")
        if p.is_file()
    ]
    assert any(p.name == "themes.csv" for p in written)
    for path in written:
        if path.suffix == ".parquet":
            body = pd.read_parquet(path).to_csv()
        else:
            body = path.read_bytes().decode("utf-8", errors="replace")
        found = [d for d in planted_data if d in body]
        assert not found, f"{path.relative_to(tmp_path)} holds planted personal data: {found}"


def test_blank_segments_metadata_and_date_like_names(tmp_path: Path) -> None:
    n = 40
    frame = pd.DataFrame(
        {
            "ResponseId": [f"R_{k}" for k in range(n)],
            "Q_RecaptchaScore": ["0.9", "1.0"] * (n // 2),
            "update_imp": [str(1 + k % 5) for k in range(n)],
            "update_sat": [str(1 + (k * 3) % 5) for k in range(n)],
            "gender": ["F", "M", "", ""] * (n // 4),  # half blank: not a segment
            "plan": ["Basic", "Plus"] * (n // 2),
        }
    )
    frame.to_csv(tmp_path / "s.csv", index=False)
    draft = draft_client("s", tmp_path / "s.csv", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.id, i.expectation) for i in cb.items] == [("update", "update_imp")]
    assert cb.segments == {"plan": ["Basic", "Plus"]}
    assert any("'gender'" in r and "20 of 40 answers blank" in r for r in draft.review)
    assert "Q_RecaptchaScore" in draft.codebook.read_text()  # listed as export metadata
    assert "Q_RecaptchaScore" not in {cb.overall, cb.recommend, *cb.segments}


def test_surveymonkey_xlsx_reads_like_its_csv(tmp_path: Path) -> None:
    planted = write_surveymonkey(tmp_path / "sm.csv", n=30)
    cells = pd.read_csv(planted.path, header=None, dtype=str, keep_default_na=False)
    cells.to_excel(tmp_path / "sm.xlsx", header=False, index=False)
    from_csv = readers.read_survey(planted.path)
    from_xlsx = readers.read_survey(tmp_path / "sm.xlsx")
    assert from_xlsx.header_rows == 2 and from_xlsx.questions == from_csv.questions
    pd.testing.assert_frame_equal(from_xlsx.frame, from_csv.frame)
    assert from_xlsx.file_row(0) == 3
    draft = draft_client("smx", tmp_path / "sm.xlsx", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.expectation, i.performance) for i in cb.items] == planted.pairs


def test_sav_variable_labels_are_question_text(tmp_path: Path) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    rng = np.random.default_rng(6)
    n = 30
    frame = pd.DataFrame({"ID": np.arange(1, n + 1, dtype=float)})
    for k in range(1, 5):
        frame[f"Q{k}"] = rng.integers(1, 6, n).astype(float)
    labels = {
        "Q1": "How important is it to you that bills are accurate?",
        "Q2": "How important is it to you that staff are friendly?",
        "Q3": "How satisfied are you that staff are friendly?",
        "Q4": "How satisfied are you that bills are accurate?",
    }
    path = tmp_path / "survey.sav"
    pyreadstat.write_sav(frame, str(path), column_labels=labels)
    assert readers.read_survey(path).questions == labels
    draft = draft_client("spss", path, root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.label, i.expectation, i.performance) for i in cb.items] == [
        ("Bills are accurate", "Q1", "Q4"),
        ("Staff are friendly", "Q2", "Q3"),
    ]
