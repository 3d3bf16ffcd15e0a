"""`outside-in new-client`: a drafted client that loads and validates, and never overwrites."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from analysis import files
from analysis.cli import main
from analysis.config.params import DesignConfig, load_client
from analysis.errors import ParamsError
from analysis.intake import readers, schema
from analysis.intake.draft import draft_client

DEMO = Path(__file__).resolve().parents[1] / "data" / "raw" / "demo"


def test_draft_from_the_demo_export_loads_and_validates(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    shutil.copy(DEMO / "responses.csv", export)
    draft = draft_client("acme", export, root=tmp_path)
    assert draft.survey == tmp_path / "data/raw/acme/export.csv" and draft.survey.exists()
    client = load_client("params/acme.yaml", root=tmp_path)
    cb = client.codebook
    assert len(cb.items) == 20 and cb.items[0].expectation == "e_tan_1"
    assert {i.dimension for i in cb.items} == {
        "Tangibles",
        "Reliability",
        "Responsiveness",
        "Assurance",
        "Empathy",
    }
    assert (cb.scale.min, cb.scale.max) == (1, 7)
    assert cb.id == "respondent_id"
    assert cb.segments["segment"] == ["Consumer", "Small business", "Enterprise"]
    assert sorted(cb.segments["region"]) == ["East", "North", "South", "West"]
    assert (cb.overall, cb.recommend, cb.duration) == ("overall_sat", "recommend", "duration_sec")
    assert client.config.design.weight == "base_weight"
    assert "REVIEW" in draft.params.read_text() and "REVIEW" in draft.codebook.read_text()
    v = schema.validate(readers.read_survey(client.survey_path), cb, client.config.design)
    assert v.summary.accepted + v.summary.rejected == v.summary.received
    assert 5 <= v.summary.rejected <= 12  # the demo's invalid rows, nothing more


def test_other_naming_patterns(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "RespID": ["a", "b", "c", "d"],
            "speed_imp": [5, 4, 5, 3],
            "speed_sat": [3, 4, 2, 5],
            "price_imp": [4, 4, 5, 1],
            "price_sat": [2, 3, 5, 5],
            "Segment": ["A", "B", "A", "B"],
        }
    )
    frame.to_excel(tmp_path / "survey.xlsx", index=False)
    draft = draft_client("xl", tmp_path / "survey.xlsx", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.id, i.expectation, i.performance) for i in cb.items] == [
        ("speed", "speed_imp", "speed_sat"),
        ("price", "price_imp", "price_sat"),
    ]
    assert cb.id == "RespID" and cb.segments == {"Segment": ["A", "B"]}
    assert (cb.scale.min, cb.scale.max) == (1, 5)
    assert any("dimensions not recognised" in r for r in draft.review)


def test_never_overwrites_and_rejects_unsafe_slugs(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    shutil.copy(DEMO / "responses.csv", export)
    draft_client("acme", export, root=tmp_path)
    before = (tmp_path / "params/acme.yaml").read_text()
    with pytest.raises(ParamsError, match="exists already; nothing was overwritten"):
        draft_client("acme", export, root=tmp_path)
    assert (tmp_path / "params/acme.yaml").read_text() == before
    with pytest.raises(ParamsError, match="not a safe client slug"):
        draft_client("../evil", export, root=tmp_path)


def test_no_pairs_still_drafts_guessed_items_marked_review(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("id,q1,q2,q3,q4\n1,3,4,2,5\n2,5,1,1,2\n3,2,2,4,4\n")
    draft = draft_client("x", tmp_path / "s.csv", root=tmp_path)
    cb = load_client(draft.params, root=tmp_path).codebook
    assert [(i.expectation, i.performance) for i in cb.items] == [("q1", "q3"), ("q2", "q4")]
    text = draft.codebook.read_text()
    assert "no expectation/performance pairs were recognised" in text
    assert "expectation: q1  # REVIEW: guessed pair" in text
    assert any("GUESSED" in r and "re-pair" in r for r in draft.review)
    v = schema.validate(readers.read_survey(tmp_path / "s.csv"), cb, DesignConfig())
    assert v.summary.accepted == 3


def test_fewer_than_two_rating_columns_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("id,q1,city\n1,3,Leeds\n2,5,York\n")
    with pytest.raises(ParamsError, match="no expectation/performance column pairs"):
        draft_client("x", tmp_path / "s.csv", root=tmp_path)
    assert not (tmp_path / "params/x.yaml").exists()


def test_cli_new_client(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export.csv"
    shutil.copy(DEMO / "responses.csv", export)
    assert main(["new-client", "acme", "--survey", str(export), "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Drafted" in out and "outside-in validate params/acme.yaml" in out
    assert main(["new-client", "acme", "--survey", str(export), "--root", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert files.file_sha256(export) == files.file_sha256(tmp_path / "data/raw/acme/export.csv")
