"""Params and codebook validation: each bad case gets its own clear message naming file and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from analysis.config.params import load_client, load_codebook
from analysis.errors import ParamsError

CODEBOOK = {
    "id": "rid",
    "scale": {"min": 1, "max": 7},
    "items": [
        {
            "id": "rel_1",
            "label": "Bills are accurate",
            "dimension": "Reliability",
            "expectation": "e_rel_1",
            "performance": "p_rel_1",
        },
        {
            "id": "emp_1",
            "label": "Staff care",
            "dimension": "Empathy",
            "expectation": "e_emp_1",
            "performance": "p_emp_1",
        },
    ],
    "segments": {"segment": ["Consumer", "Business"], "region": [1, 2]},
    "overall": "overall_sat",
}

PARAMS = {
    "client": "acme-bank",
    "title": "Acme Bank customer expectations 2026",
    "survey": "data/raw/acme-bank/responses.csv",
    "codebook": "data/raw/acme-bank/codebook.yaml",
    "design": {"weight": "w", "strata": "stratum"},
    "weighting": {"method": "rake", "margins": "data/raw/acme-bank/population.csv"},
    "analysis": {"by": ["segment"], "confidence": 0.95, "min_cell": 5},
    "report": {"recipients": ["cx-lead@acme.example"]},
}


def make_client(root: Path, params: dict | None = None, codebook: dict | None = None) -> Path:
    raw = root / "data" / "raw" / "acme-bank"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "responses.csv").write_text("rid\n1\n", encoding="utf-8")
    (raw / "population.csv").write_text("variable,level,count\nsegment,Consumer,10\n")
    (raw / "codebook.yaml").write_text(yaml.safe_dump(codebook or CODEBOOK), encoding="utf-8")
    (root / "params").mkdir(exist_ok=True)
    path = root / "params" / "acme-bank.yaml"
    path.write_text(yaml.safe_dump(params or PARAMS), encoding="utf-8")
    return path


def with_changes(base: dict, dotted: str, value: object) -> dict:
    out = yaml.safe_load(yaml.safe_dump(base))
    *parents, last = dotted.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


DELETE = object()


def test_valid_params_load(tmp_path: Path) -> None:
    path = make_client(tmp_path)
    client = load_client(path, root=tmp_path)
    assert client.slug == "acme-bank"
    assert client.config.design.clusters == []
    assert client.config.weighting is not None and client.config.weighting.method == "rake"
    assert client.survey_path == tmp_path / "data/raw/acme-bank/responses.csv"
    assert client.processed_dir == tmp_path / "data/processed/acme-bank"
    assert client.report_dir == tmp_path / "reports/acme-bank"
    assert [i.id for i in client.codebook.items] == ["rel_1", "emp_1"]
    assert set(client.input_files()) == {"params", "survey", "codebook", "margins"}


def test_design_variance_defaults_to_taylor_and_takes_replicate_methods(tmp_path: Path) -> None:
    design = load_client(make_client(tmp_path), root=tmp_path).config.design
    assert (design.variance, design.replicates) == ("taylor", 500)
    for variance, extra in (("jkn", {}), ("jk1", {}), ("bootstrap", {"replicates": 200})):
        params = with_changes(PARAMS, "design.variance", variance)
        params["design"].update(extra)
        design = load_client(make_client(tmp_path, params=params), root=tmp_path).config.design
        assert design.variance == variance
        assert design.replicates == extra.get("replicates", 500)


def test_relative_params_path_resolves_against_root(tmp_path: Path) -> None:
    make_client(tmp_path)
    client = load_client("params/acme-bank.yaml", root=tmp_path)
    assert client.params_file == tmp_path / "params" / "acme-bank.yaml"


def test_optional_sections_default(tmp_path: Path) -> None:
    params = {k: v for k, v in PARAMS.items() if k not in ("design", "weighting", "report")}
    client = load_client(make_client(tmp_path, params=params), root=tmp_path)
    assert client.config.design.weight is None
    assert client.config.weighting is None
    assert client.config.analysis.min_cell == 5
    assert client.config.validation.max_rejected_share == 0.2


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("colour", "red", "unknown key 'colour'"),
        ("analysis.colour", "red", "unknown key 'analysis.colour' (known keys here: by,"),
        ("design.wieght", "w", "unknown key 'design.wieght'"),
        ("client", "Acme Bank", "key 'client': 'Acme Bank' is not a safe client slug"),
        ("client", "../etc", "is not a safe client slug"),
        ("client", "-acme", "is not a safe client slug"),
        ("analysis.min_cell", "five", "key 'analysis.min_cell': Input should be a valid integer"),
        ("analysis.min_cell", 0, "key 'analysis.min_cell': Input should be greater than or equal"),
        ("analysis.confidence", 1.5, "key 'analysis.confidence'"),
        ("analysis.by", "segment", "key 'analysis.by': Input should be a valid list"),
        ("weighting.method", "magic", "key 'weighting.method': Input should be 'rake'"),
        ("design.lonely_psu", "ignore", "key 'design.lonely_psu'"),
        ("design.variance", "brr", "key 'design.variance': Input should be 'taylor', 'jk1'"),
        ("design.replicates", 1, "key 'design.replicates': Input should be greater"),
        ("design.replicates", 20_000, "key 'design.replicates': Input should be less"),
        ("design.replicates", 200, "key 'design': replicates is the number of bootstrap"),
        ("report.recipients", ["not-an-email"], "not an email address: 'not-an-email'"),
        ("title", DELETE, "missing required key 'title'"),
        ("survey", "data/raw/acme-bank/responses.docx", "not a survey file type"),
        ("survey", "data/raw/acme-bank/nope.csv", "key 'survey': file data/raw/acme-bank/nope"),
        ("codebook", "data/raw/acme-bank/missing.yaml", "key 'codebook': file data/raw"),
        ("weighting.margins", "data/raw/acme-bank/pop.csv", "key 'weighting.margins': file"),
        ("analysis.by", ["tenure"], "key 'analysis.by': 'tenure' not a segment of the codebook"),
        ("design.weight", "e_rel_1", "are rating items in the codebook"),
        ("design.fpc", ["f1", "f2"], "give one fpc column per sampling stage"),
        ("previous", "params/acme-bank-2025.yaml", "key 'previous': file params/acme-bank-2025"),
        ("analysis.crosshairs", "median", "key 'analysis.crosshairs': Input should be 'mean'"),
        ("analysis.replicates", 1, "key 'analysis.replicates': Input should be greater"),
        ("survey_sheet", [1], "key 'survey_sheet'"),
        ("weighting.variance", "rake", "key 'weighting.variance': Input should be 'greg' or"),
        # booleans are not numbers: min_cell: true is not 1 (issue 12)
        ("analysis.min_cell", True, "key 'analysis.min_cell': true/false given where a value"),
        ("analysis.min_cell", 5.0, "key 'analysis.min_cell': Input should be a valid integer"),
        ("analysis.top_priorities", False, "key 'analysis.top_priorities': true/false given"),
        ("analysis.seed", True, "key 'analysis.seed': true/false given"),
        ("analysis.confidence", True, "key 'analysis.confidence': true/false given"),
        ("validation", {"max_rejected_share": False}, "key 'validation.max_rejected_share': true"),
        ("weighting.max_iter", True, "key 'weighting.max_iter': true/false given"),
        ("survey_sheet", True, "key 'survey_sheet': true/false given"),
        (
            "previous",
            "params/acme-bank.yaml",
            "key 'previous': params/acme-bank.yaml is this params file itself (a wave compared "
            "with itself)",
        ),
    ],
)
def test_bad_params_name_file_and_key(tmp_path: Path, key: str, value: object, expected: str):
    path = make_client(tmp_path, params=with_changes(PARAMS, key, value))
    with pytest.raises(ParamsError) as err:
        load_client(path, root=tmp_path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_params_not_yaml(tmp_path: Path) -> None:
    path = make_client(tmp_path)
    path.write_text("client: [unclosed\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"acme-bank.yaml: not valid YAML at line 2"):
        load_client(path, root=tmp_path)


def test_params_not_a_mapping(tmp_path: Path) -> None:
    path = make_client(tmp_path)
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_client(path, root=tmp_path)


def test_missing_params_file(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"nope.yaml: params file not found"):
        load_client(tmp_path / "params" / "nope.yaml", root=tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("scale.min", 8, "scale min (8) must be below max (7)"),
        ("items", [], "key 'items': List should have at least 1 item"),
        ("items.0.id", "rel 1", "key 'items.0.id': String should match pattern"),
        ("items.1.id", "rel_1", "item ids used twice: rel_1"),
        ("items.1.performance", "p_rel_1", "columns given more than one role: p_rel_1"),
        ("items.0.colour", "red", "unknown key 'items.0.colour'"),
        ("segments.segment", [], "segment 'segment' lists no values"),
        ("segments.segment", ["A", "A"], "segment 'segment' lists a value twice"),
        ("segments.segment", {"label": "Type"}, "segment 'segment': write its values as a list"),
        ("segments.segment", {"values": ["A"], "lable": "x"}, "unknown key(s): lable"),
        ("segments.segment", {"label": "", "values": ["A"]}, "'label' must be a text"),
        ("segments.region", {"values": {"1": ""}}, "value '1' needs a display name"),
        ("segments.segment", {"values": ["A", "A"]}, "segment 'segment' lists a value twice"),
        ("overall", "e_rel_1", "columns given more than one role: e_rel_1"),
        ("id", DELETE, "missing required key 'id'"),
        ("staff", {"id": "sid", "items": {"nope": "s_nope"}}, "staff items not in the codebook"),
        ("staff", {"id": "sid", "items": {"rel_1": "s1", "emp_1": "s1"}}, "staff columns given"),
        ("staff", {"id": "sid", "items": {}}, "key 'staff.items': Dictionary should have at least"),
    ],
)
def test_bad_codebook(tmp_path: Path, key: str, value: object, expected: str) -> None:
    make_client(tmp_path, codebook=with_changes(CODEBOOK, key, value))
    path = tmp_path / "data/raw/acme-bank/codebook.yaml"
    with pytest.raises(ParamsError) as err:
        load_codebook(path)
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value), str(err.value)


def test_codebook_columns() -> None:
    from analysis.config.params import Codebook

    cb = Codebook.model_validate(CODEBOOK)
    assert cb.rating_columns() == ["e_rel_1", "p_rel_1", "e_emp_1", "p_emp_1"]
    assert cb.columns() == [
        "rid",
        "e_rel_1",
        "p_rel_1",
        "e_emp_1",
        "p_emp_1",
        "segment",
        "region",
        "overall_sat",
    ]


def test_segments_with_display_names(tmp_path: Path) -> None:
    """A segment may give its display name, and its values theirs; the plain list still works."""
    book = with_changes(
        CODEBOOK,
        "segments",
        {
            "segment": {"label": "Customer type", "values": ["Consumer", "Business"]},
            "region": {"label": "Region", "values": {1: "North", 2: "South"}},
            "plan": ["No", "Yes"],
        },
    )
    make_client(tmp_path, codebook=book)
    cb = load_codebook(tmp_path / "data/raw/acme-bank/codebook.yaml")
    assert cb.segments == {
        "segment": ["Consumer", "Business"],
        "region": [1, 2],
        "plan": ["No", "Yes"],
    }
    assert {s: cb.segment_label(s) for s in cb.segments} == {
        "segment": "Customer type",
        "region": "Region",
        "plan": "plan",
    }
    assert cb.value_label("region", 2) == "South" and cb.value_label("segment", "Business") == (
        "Business"
    )
    assert "segment" in cb.columns() and "plan" in cb.columns()


def test_r_rake_variance_needs_plain_raking(tmp_path: Path) -> None:
    ok = with_changes(PARAMS, "weighting.variance", "r-rake")
    assert load_client(
        make_client(tmp_path, params=ok), root=tmp_path
    ).config.weighting.variance == ("r-rake")
    bad = with_changes(
        with_changes(ok, "weighting.method", "linear"), "weighting.variance", "r-rake"
    )
    with pytest.raises(ParamsError, match="variance r-rake reproduces R's rake"):
        load_client(make_client(tmp_path, params=bad), root=tmp_path)


def test_small_sample_defaults_to_none_and_is_for_taylor_greg_only(tmp_path: Path) -> None:
    def load(params: dict) -> object:
        return load_client(make_client(tmp_path, params=params), root=tmp_path).config.weighting

    assert load(PARAMS).small_sample == "none"
    for method in ("bell-mccaffrey", "mancl-derouen"):
        assert load(with_changes(PARAMS, "weighting.small_sample", method)).small_sample == method
    with pytest.raises(ParamsError, match=r"key 'weighting\.small_sample': Input should be 'none'"):
        load(with_changes(PARAMS, "weighting.small_sample", "cr2"))
    jkn = with_changes(
        with_changes(PARAMS, "weighting.small_sample", "bell-mccaffrey"), "design.variance", "jkn"
    )
    with pytest.raises(
        ParamsError,
        match=r"weighting\.small_sample applies to Taylor variance; design\.variance is jkn: "
        r"choose one",
    ) as err:
        load(jkn)
    assert "Traceback" not in str(err.value)
    rrake = with_changes(
        with_changes(PARAMS, "weighting.small_sample", "mancl-derouen"),
        "weighting.variance",
        "r-rake",
    )
    with pytest.raises(ParamsError, match=r"variance r-rake reproduces R's rake\(\): choose one"):
        load(rrake)


def test_previous_through_another_path_is_still_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "same.yaml").symlink_to("acme-bank.yaml")
    path = make_client(tmp_path, params={**PARAMS, "previous": "params/../params/same.yaml"})
    with pytest.raises(ParamsError, match=r"key 'previous': .* is this params file itself"):
        load_client(path, root=tmp_path)


def test_an_input_that_is_a_directory_or_a_fifo_is_named_as_such(tmp_path: Path) -> None:
    path = make_client(tmp_path, params={**PARAMS, "survey": "data/raw/acme-bank/export.csv"})
    (tmp_path / "data/raw/acme-bank/export.csv").mkdir()
    with pytest.raises(ParamsError, match=r"key 'survey': .*export.csv is a directory, not a file"):
        load_client(path, root=tmp_path)
    fifo = tmp_path / "data/raw/acme-bank/pipe.csv"
    os.mkfifo(fifo)  # never opened (that would block)
    path = make_client(tmp_path, params={**PARAMS, "survey": "data/raw/acme-bank/pipe.csv"})
    with pytest.raises(ParamsError, match=r"key 'survey': .*pipe.csv is a named pipe \(FIFO\)"):
        load_client(path, root=tmp_path)
