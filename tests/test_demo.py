"""The Harbourline Telecom demo generator (analysis.ops.demo): determinism, truth, design, bad
rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import load_client, load_codebook
from analysis.intake.readers import read_margins, read_survey
from analysis.ops import demo

ROOT = Path(__file__).resolve().parents[1]
FILES = ("responses.csv", "codebook.yaml", "population.csv", "truth.csv")

# The deliberately invalid rows of the shipped demo (default seed): file line, id, key.
PINNED_INVALID = [
    (1303, "HT-005438", "out_of_scale"),
    (870, "HT-003546", "not_a_number"),
    (622, "HT-002568", "recommend_out_of_range"),
    (358, "HT-001496", "unknown_segment"),
    (1367, "HT-005682", "duplicate_id"),
    (1581, "HT-005682", "duplicate_id"),
    (477, "HT-001938", "missing_weight"),
    (274, "HT-001118", "negative_weight"),
    (1623, "HT-006736", "non_integer"),
    (1073, "", "missing_id"),
]


def _generate(base: Path, seed: int = demo.DEFAULT_SEED) -> demo.DemoFiles:
    return demo.generate_demo(
        base / "data" / "raw" / "demo", seed, params_path=base / "params" / "demo.yaml"
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoFiles:
    return _generate(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return demo.build_population(demo.DEFAULT_SEED)


@pytest.fixture(scope="module")
def responses(generated: demo.DemoFiles) -> pd.DataFrame:
    return read_survey(generated.responses).frame


def _bytes(files: demo.DemoFiles) -> list[bytes]:
    return [p.read_bytes() for p in files.paths()]


# ---------------------------------------------------------------------------------------------
# determinism and drift


def test_same_seed_gives_identical_bytes(generated: demo.DemoFiles, tmp_path: Path) -> None:
    again = _generate(tmp_path)
    assert _bytes(again) == _bytes(generated)
    assert again.invalid == generated.invalid


def test_different_seed_gives_different_data(generated: demo.DemoFiles, tmp_path: Path) -> None:
    other = _generate(tmp_path, seed=7)
    assert other.responses.read_bytes() != generated.responses.read_bytes()
    assert other.truth.read_bytes() != generated.truth.read_bytes()
    # same codebook apart from the seed in the header comment
    assert load_codebook(other.codebook) == load_codebook(generated.codebook)


def test_shipped_demo_equals_fresh_generation(generated: demo.DemoFiles) -> None:
    for name in FILES:
        shipped = ROOT / "data" / "raw" / "demo" / name
        fresh = generated.responses.parent / name
        assert shipped.read_bytes() == fresh.read_bytes(), (
            f"data/raw/demo/{name} differs from analysis.ops.demo.generate_demo(seed=2026); "
            "regenerate with `outside-in demo-data`"
        )
    assert (ROOT / "params" / "demo.yaml").read_bytes() == generated.params.read_bytes()


# ---------------------------------------------------------------------------------------------
# contracts


def test_codebook_and_params_load(generated: demo.DemoFiles, responses: pd.DataFrame) -> None:
    root = generated.params.parent.parent
    client = load_client("params/demo.yaml", root=root)
    assert client.slug == "demo"
    assert client.survey_path == generated.responses
    assert client.margins_path == generated.population
    assert client.config.design.weight == "base_weight"
    assert client.config.design.strata == "stratum"
    assert client.config.weighting.method == "rake"
    assert client.config.analysis.by == ["segment", "region"]
    book = client.codebook
    assert len(book.items) == 20
    assert sorted({i.dimension for i in book.items}) == sorted(demo.DIMENSIONS.values())
    assert book.segments == {"segment": list(demo.SEGMENTS), "region": list(demo.REGIONS)}
    assert (book.scale.min, book.scale.max) == (1, 7)
    assert set(book.columns()) <= set(responses.columns)
    assert list(responses.columns) == demo.response_columns()


def test_responses_file_is_plain_utf8_csv(generated: demo.DemoFiles) -> None:
    raw = read_survey(generated.responses)
    assert raw.detected == {"format": "csv", "encoding": "utf-8", "delimiter": ","}
    assert b"\r" not in generated.responses.read_bytes()
    assert generated.responses.stat().st_size < 400_000
    assert 1_500 <= generated.n_valid <= 2_000


# ---------------------------------------------------------------------------------------------
# open comments


def test_comments_follow_low_ratings_and_plant_personal_data(responses: pd.DataFrame) -> None:
    comment = responses["comment"].fillna("").astype(str)
    assert 0.30 <= (comment != "").mean() <= 0.40
    book = demo.codebook_dict()
    assert book["comments"] == ["comment"]
    ids = {it.id for it in demo.ITEMS}
    for name, (words, items, _texts) in demo.THEMES.items():
        assert book["themes"][name] == {"words": list(words), "items": list(items)}
        assert set(items) <= ids
        raised = comment.str.lower().str.contains("|".join(words))
        assert raised.sum() >= 40, name
        perf = responses[[f"p_{i}" for i in items]].apply(pd.to_numeric, errors="coerce")
        low, rest = perf[raised].mean(axis=1).mean(), perf[~raised].mean(axis=1).mean()
        assert low < rest - 0.5, (name, low, rest)  # raised by those who rate the items low
    assert comment.str.contains(r"customer\d+@example\.com").sum() == demo.PLANTED_EACH
    assert comment.str.contains(r"07700 900\d{3}").sum() == demo.PLANTED_EACH
    assert comment.str.contains(r"4417\d{8}").sum() == demo.PLANTED_EACH


def test_comments_leave_every_other_column_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    with_comments = demo.simulate().responses
    monkeypatch.setattr(demo, "_comments", lambda table, rng: [""] * len(table))
    without = demo.simulate().responses
    assert (without["comment"] == "").all() and (with_comments["comment"] != "").any()
    pd.testing.assert_frame_equal(
        with_comments.drop(columns="comment"), without.drop(columns="comment")
    )


# ---------------------------------------------------------------------------------------------
# population frame, margins and truth


def test_margins_match_the_frame(generated: demo.DemoFiles, frame: pd.DataFrame) -> None:
    margins = read_margins(generated.population)
    assert len(frame) == demo.POPULATION_SIZE
    for variable in ("segment", "region"):
        m = margins[margins.variable == variable].set_index("level")["count"]
        assert m.sum() == len(frame)
        counts = frame[variable].value_counts()
        assert m.to_dict() == {k: float(v) for k, v in counts.items()}
    seg = margins[margins.variable == "segment"].set_index("level")["count"] / len(frame)
    np.testing.assert_allclose(seg[list(demo.SEGMENTS)], demo.SEGMENT_SHARES, atol=0.01)


def test_truth_is_the_frame_means(generated: demo.DemoFiles, frame: pd.DataFrame) -> None:
    truth = pd.read_csv(generated.truth)
    items = truth[truth.expectation.notna()]
    assert len(items) == 20 * (1 + len(demo.SEGMENTS) + len(demo.REGIONS))
    np.testing.assert_allclose(items.gap, items.performance - items.expectation, atol=2e-6)
    every = items[items.group == "all"].set_index("item")
    for it in demo.ITEMS:
        e, p = frame[f"e_{it.id}"], frame[f"p_{it.id}"]
        assert every.loc[it.id, "expectation"] == pytest.approx(e.mean(), abs=1e-6)
        assert every.loc[it.id, "performance"] == pytest.approx(p.mean(), abs=1e-6)
    ent = frame[frame.segment == "Enterprise"]
    row = items[(items.item == "res_1") & (items.level == "Enterprise")].iloc[0]
    assert row["count"] == len(ent)
    assert row.gap == pytest.approx((ent.p_res_1 - ent.e_res_1).mean(), abs=1e-6)
    scores = truth[truth.expectation.isna()].set_index(["item", "group", "level"])["value"]
    assert scores["overall_sat", "all", "all"] == pytest.approx(frame.overall_sat.mean(), abs=1e-6)
    assert scores["nps", "all", "all"] == pytest.approx(demo.nps(frame.recommend), abs=1e-6)


def test_truth_has_the_intended_shape(generated: demo.DemoFiles) -> None:
    truth = pd.read_csv(generated.truth)
    items = truth[truth.expectation.notna()]
    every = items[items.group == "all"].set_index("item")
    assert 5.7 < every.expectation.mean() < 6.2  # customers expect a lot
    assert (every.gap > 0.1).sum() in (1, 2)  # performance beats expectation somewhere
    assert (every.gap.abs() < 0.12).sum() >= 2  # some items with near-zero gap
    seg = items[items.group == "segment"].pivot(index="item", columns="level", values="gap")
    # Enterprise falls much further short on responsiveness and reliability than Consumers.
    for item in ("res_1", "res_2", "rel_3", "rel_4"):
        assert seg.loc[item, "Enterprise"] < seg.loc[item, "Consumer"] - 0.5


# ---------------------------------------------------------------------------------------------
# the sample


def _valid(generated: demo.DemoFiles, responses: pd.DataFrame) -> pd.DataFrame:
    bad = [r.line - 2 for r in generated.invalid]
    return responses.drop(index=bad)


def test_base_weights_are_inverse_invitation_rates(
    generated: demo.DemoFiles, responses: pd.DataFrame, frame: pd.DataFrame
) -> None:
    valid = _valid(generated, responses)
    sizes = frame.segment.value_counts()
    invited_total = 0.0
    for segment, code, n_h in zip(demo.SEGMENTS, demo.STRATA, demo.INVITED, strict=True):
        rows = valid[valid.segment == segment]
        assert set(rows.stratum) == {code}
        weights = rows.base_weight.astype(float)
        assert (weights == weights.iloc[0]).all()
        assert weights.iloc[0] == pytest.approx(sizes[segment] / n_h, abs=5e-5)
        invited_total += weights.iloc[0] * n_h
    assert invited_total == pytest.approx(len(frame), rel=1e-4)
    # Enterprise is heavily oversampled: a quarter of the respondents, 3% of the customers.
    shares = valid.segment.value_counts(normalize=True)
    assert shares["Enterprise"] > 0.15 > shares["Enterprise"] / 5
    # Nonresponse: respondents' base weights cover only part of the customer base.
    assert 0.1 * len(frame) < valid.base_weight.astype(float).sum() < 0.4 * len(frame)


def test_item_nonresponse_is_a_few_percent(
    generated: demo.DemoFiles, responses: pd.DataFrame
) -> None:
    valid = _valid(generated, responses)
    blank = valid[demo.rating_columns()].isna().mean()
    assert 0.01 < blank.mean() < 0.06
    assert blank["e_emp_4"] > blank["e_tan_1"]  # some items are skipped more


# ---------------------------------------------------------------------------------------------
# the invalid rows


def _problems(row: dict[str, object]) -> set[str]:
    """The rules a row breaks (a small stand-in for the schema module)."""
    found = set()
    rid = row["respondent_id"]
    if pd.isna(rid):
        found.add("missing_id")
    elif not re.fullmatch(r"HT-\d{6}", rid):
        found.add("bad_id")
    if row["segment"] not in demo.SEGMENTS:
        found.add("unknown_segment")
    if row["region"] not in demo.REGIONS:
        found.add("unknown_region")
    w = row["base_weight"]
    if pd.isna(w):
        found.add("missing_weight")
    elif float(w) <= 0:
        found.add("negative_weight")
    for col, (lo, hi) in [(c, demo.SCALE) for c in demo.rating_columns()] + [
        ("overall_sat", demo.SCORE_SCALE),
        ("recommend", demo.SCORE_SCALE),
    ]:
        v = row[col]
        if pd.isna(v):
            continue
        try:
            x = float(v)
        except ValueError:
            found.add("not_a_number")
            continue
        if not x.is_integer():
            found.add("non_integer")
        elif not lo <= x <= hi:
            found.add("recommend_out_of_range" if col == "recommend" else "out_of_scale")
    return found


def test_invalid_rows_are_exactly_the_documented_ones(
    generated: demo.DemoFiles, responses: pd.DataFrame
) -> None:
    assert [key for key, *_ in demo.INVALID_ROWS] == [r.key for r in generated.invalid]
    by_line = {r.line: r for r in generated.invalid}
    for i, row in enumerate(responses.to_dict("records")):
        problems = _problems(row)
        line = i + 2
        if line in by_line:
            inv = by_line[line]
            if inv.key == "duplicate_id":
                assert problems == set(), f"line {line}: {problems}"
            else:
                assert problems == {inv.key}, f"line {line}: {problems}"
                cell = row[inv.column]
                assert ("" if pd.isna(cell) else cell) == inv.value
        else:
            assert problems == set(), f"line {line} breaks {problems}"
    ids = responses.respondent_id.dropna()
    dup = ids[ids.duplicated(keep=False)]
    dup_rows = [r for r in generated.invalid if r.key == "duplicate_id"]
    assert sorted(dup.index + 2) == sorted(r.line for r in dup_rows)
    assert len(set(dup)) == 1


def test_invalid_rows_of_the_shipped_demo(generated: demo.DemoFiles) -> None:
    got = [(r.line, r.respondent_id, r.key) for r in generated.invalid]
    assert got == PINNED_INVALID
    assert generated.n_rows - generated.n_valid == len(PINNED_INVALID)
