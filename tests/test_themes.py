"""Open comments: theme coding (word stems, accents, several themes, missing), suggested themes,
the design-based share of customers raising each theme (a hand count, and R's svymean/svyby of
the theme indicator on a raked stratified two-stage sample), suppression, quotes, and the
pipeline step that writes themes.csv and quotes.csv."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from analysis.config.params import Codebook, DesignConfig, Theme, load_client
from analysis.cx import themes
from analysis.intake import comments
from analysis.ops import pipeline
from analysis.survey import calibrate, estimate
from analysis.survey.design import build_design
from analysis.survey.inference import bh_adjust

FIXTURES = Path(__file__).parent / "fixtures"
CASE = FIXTURES / "r_reference" / "themes"
RAKING = FIXTURES / "r_reference" / "raking"
THEMES = {
    "Billing": Theme(words=["bill", "invoice", "charg"], items=["q1"]),
    "Staff": Theme(words=["staff", "rude", "helpful"]),
    "Waiting": Theme(words=["wait", "queue", "slow"]),
    "App": Theme(words=["app", "login", "online"]),
}


def _codebook(**extra: object) -> Codebook:
    data = {
        "id": "rid",
        "scale": {"min": 1, "max": 7},
        "items": [
            {"id": "q1", "label": "Q", "dimension": "D", "expectation": "e1", "performance": "p1"}
        ],
        "segments": {
            "segment": ["Business", "Consumer", "Enterprise"],
            "region": ["North", "South", "East", "West"],
        },
        "comments": ["comment", "comment2"],
        "themes": {n: t.model_dump() for n, t in THEMES.items()},
    }
    return Codebook.model_validate({**data, **extra})


# ---------------------------------------------------------------------------------------------
# coding


def test_a_theme_word_matches_as_the_stem_of_a_word_case_and_accents_ignored():
    texts = pd.Series(
        [
            "My BILL was wrong",  # upper case
            "billing is a mess",  # the stem of a longer word
            "They Billed me",
            "rebill, debit, bills",  # 'rebill' is not the start of a word, 'bills' is
            "no mention here",
            "La facturación es mala",  # accented text, plain stem
            "Factura enviada",
            "il a été très rapide",
        ],
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )
    got = comments.code_themes(
        texts, {"Billing": Theme(words=["bill", "facturacion"]), "Fast": Theme(words=["été"])}
    )
    assert list(got.index) == list(texts.index)
    assert got["Billing"].tolist() == [True, True, True, True, False, True, False, False]
    # a word written with accents matches the same word without them, and vice versa
    assert got["Fast"].tolist() == [False] * 7 + [True]
    unaccented = comments.code_themes(pd.Series(["ete chaud"]), {"Fast": Theme(words=["été"])})
    assert unaccented["Fast"].tolist() == [True]


def test_one_comment_raises_several_themes_and_missing_or_empty_raise_none():
    texts = pd.Series(["The bill was late and the staff rude.", None, "", "   ", np.nan, "ok"])
    got = comments.code_themes(texts, THEMES)
    assert got.dtypes.map(pd.api.types.is_bool_dtype).all()
    assert got.iloc[0].tolist() == [True, True, False, False]
    assert not got.iloc[1:].to_numpy().any()
    assert comments.has_text(texts).tolist() == [True, False, False, False, False, True]


def test_special_characters_of_a_theme_word_are_literal():
    texts = pd.Series(["c++ is fine", "cxx", "a.b test", "axb"])
    got = comments.code_themes(texts, {"C": Theme(words=["c++"]), "Dot": Theme(words=["a.b"])})
    assert got["C"].tolist() == [True, False, False, False]
    assert got["Dot"].tolist() == [False, False, True, False]


def test_a_respondent_raises_a_theme_when_any_of_their_comments_does():
    frame = pd.DataFrame(
        {"c1": ["bill wrong", None, "", "slow"], "c2": [None, "the queue", "", "rude staff"]}
    )
    got = comments.code_respondents(frame, ["c1", "c2"], THEMES)
    assert got["Billing"].tolist() == [True, False, False, False]
    assert got["Waiting"].tolist() == [False, True, False, True]
    assert got["Staff"].tolist() == [False, False, False, True]
    assert comments.has_comment(frame, ["c1", "c2"]).tolist() == [True, True, False, True]


def test_a_comment_column_that_is_not_text_is_named_with_its_row():
    with pytest.raises(ValueError, match=r"comment column 'Q11', row 1: 3 is not text"):
        comments.code_themes(pd.Series(["fine", 3], name="Q11"), THEMES)
    with pytest.raises(ValueError, match=r"comment columns 'Q12' are not in the data"):
        comments.has_comment(pd.DataFrame({"Q11": ["a"]}), ["Q12"])
    # a comment column nobody wrote in (read as numbers, all missing) is simply empty
    none = comments.code_themes(pd.Series([np.nan, np.nan]), THEMES)
    assert not none.to_numpy().any()


def test_sentences_are_whole_and_trimmed():
    got = comments.sentences(pd.Series(["First one.  Second one!", None, "No stop", "Why? Yes."]))
    assert got["sentence"].tolist() == ["First one.", "Second one!", "No stop", "Why?", "Yes."]
    assert got["comment"].tolist() == [0, 0, 2, 3, 3]


# ---------------------------------------------------------------------------------------------
# suggested themes


def _planted(n: int, seed: int = 3) -> pd.Series:
    """Comments on three planted topics, in random words of each topic's vocabulary."""
    rng = np.random.default_rng(seed)
    topics = [
        ["bill", "invoice", "charged", "payment", "refund"],
        ["staff", "rude", "manager", "attitude", "polite"],
        ["app", "crashes", "login", "password", "update"],
    ]
    filler = ["really", "again", "today", "always", "my", "the", "was", "very"]
    out = []
    for i in range(n):
        words = list(rng.choice(topics[i % 3], 3, replace=False)) + list(rng.choice(filler, 3))
        rng.shuffle(words)
        out.append(" ".join(words))
    return pd.Series(out)


def test_suggested_themes_find_the_planted_topics_and_are_deterministic():
    texts = _planted(150)
    got = comments.suggest_themes(texts, k=3)
    assert len(got) == 3
    assert got == comments.suggest_themes(texts, k=3)  # the same comments, the same themes
    found = [set(words) for words in got.values()]
    planted = [
        {"bill", "invoice", "charg", "payment", "refund"},
        {"staff", "rude", "manager", "attitude", "polite"},
        {"app", "crash", "login", "password", "update"},
    ]
    for topic in planted:  # each planted topic is one suggested theme, its words mostly its own
        best = max(found, key=lambda f: len(f & topic))
        assert len(best & topic) >= 4, (topic, got)
    for name, words in got.items():
        assert name.count(" / ") == 2 and name[0].isupper()
        coded = comments.code_themes(texts, {name: Theme(words=words)})
        assert coded[name].mean() > 0.25  # the theme's stems find its comments


def test_k_is_chosen_by_the_number_of_comments_and_few_comments_suggest_nothing():
    assert comments.choose_k(100) == 4 and comments.choose_k(300) == 6
    assert comments.choose_k(5000) == 8
    assert comments.suggest_themes(_planted(29)) == {}
    assert comments.suggest_themes(pd.Series(["", None] * 40)) == {}
    assert len(comments.suggest_themes(_planted(300))) >= 4
    assert comments.stem("billing") == "bill" and comments.stem("charges") == "charg"
    assert comments.stem("bus") == "bus"


# ---------------------------------------------------------------------------------------------
# shares: a hand count


def _small() -> tuple[pd.DataFrame, Codebook]:
    clean = pd.DataFrame(
        {
            "rid": [f"r{i}" for i in range(8)],
            "segment": pd.Categorical(
                ["Business"] * 4 + ["Consumer"] * 4, categories=["Business", "Consumer"]
            ),
            "w": [1.0, 2.0, 1.0, 4.0, 2.0, 2.0, 1.0, 1.0],
            "e1": [5] * 8,
            "p1": [4] * 8,
            "comment": [
                "bill wrong",
                "staff rude, bill late",
                None,
                "",
                "slow queue",
                "nice",
                "Billing!",
                None,
            ],
        }
    )
    codebook = Codebook.model_validate(
        {
            "id": "rid",
            "scale": {"min": 1, "max": 7},
            "items": [
                {
                    "id": "q1",
                    "label": "Q",
                    "dimension": "D",
                    "expectation": "e1",
                    "performance": "p1",
                }
            ],
            "segments": {"segment": ["Business", "Consumer"]},
            "comments": ["comment"],
            "themes": {"Billing": {"words": ["bill"], "items": ["q1"]}, "Waiting": ["slow"]},
        }
    )
    return clean, codebook


def test_theme_shares_equal_a_hand_count():
    clean, codebook = _small()
    coded = comments.code_respondents(clean, codebook.comments, codebook.themes)
    # unweighted first: share = raising / n, se = sqrt(p (1 - p) / (n - 1)) (SRS, Taylor)
    srs = build_design(clean, DesignConfig())
    got = themes.theme_shares(srs, clean, codebook, coded, by=["segment"])
    assert list(got.columns) == themes.THEME_COLUMNS
    assert got[["theme", "group", "level"]].values.tolist() == [
        ["Billing", "all", "all"],
        ["Billing", "segment", "Business"],
        ["Billing", "segment", "Consumer"],
        ["Waiting", "all", "all"],
        ["Waiting", "segment", "Business"],
        ["Waiting", "segment", "Consumer"],
    ]
    assert got["n"].tolist() == [8, 4, 4] * 2
    assert got["comments"].tolist() == [5, 2, 3] * 2
    assert got["raising"].tolist() == [3, 2, 1, 1, 0, 1]
    np.testing.assert_allclose(got["share"], [3 / 8, 2 / 4, 1 / 4, 1 / 8, 0, 1 / 4], rtol=1e-12)
    p = 3 / 8
    np.testing.assert_allclose(got["se"].iloc[0], np.sqrt(p * (1 - p) / 7), rtol=1e-12)
    np.testing.assert_allclose(
        got["share_of_comments"], [3 / 5, 2 / 2, 1 / 3, 1 / 5, 0, 1 / 3], rtol=1e-12
    )
    # coded to at least one theme: Business 2 of 2, Consumer 2 of 3 ("nice" raises none)
    np.testing.assert_allclose(got["coded_share"], [4 / 5, 1, 2 / 3] * 2, rtol=1e-12)
    assert got["items"].tolist() == ["q1"] * 3 + [""] * 3
    assert set(got["source"]) == {"codebook"}
    assert got["p_value"].isna().tolist() == [True, False, False] * 2
    # the weighted shares: the weights of who raise it over the domain's weights (14; 8 and 6),
    # among the commenters (weights 8; 3 and 5)
    weighted = build_design(clean, DesignConfig(weight="w"))
    got = themes.theme_shares(weighted, clean, codebook, coded, by=["segment"])
    np.testing.assert_allclose(got["share"], [4 / 14, 3 / 8, 1 / 6, 2 / 14, 0, 2 / 6], rtol=1e-12)
    np.testing.assert_allclose(
        got["share_of_comments"], [4 / 8, 3 / 3, 1 / 5, 2 / 8, 0, 2 / 5], rtol=1e-12
    )
    np.testing.assert_allclose(got["coded_share"], [6 / 8, 3 / 3, 3 / 5] * 2, rtol=1e-12)
    # a segment level against the rest: the estimator's contrast, BH over all rows with p
    rest = estimate.versus_rest(
        weighted, pd.DataFrame({"b": coded["Billing"].astype(float)}), {"segment": clean["segment"]}
    )
    np.testing.assert_allclose(got["p_value"].iloc[1:3], rest["p_value"], rtol=1e-12)
    np.testing.assert_allclose(got["p_adjusted"], bh_adjust(got["p_value"]), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# shares: R's svymean / svyby of the theme indicator (themes.R)


@pytest.fixture(scope="module")
def raked_sample() -> pd.DataFrame:
    sample = pd.read_csv(RAKING / "sample.csv")
    said = pd.read_csv(CASE / "comments.csv", dtype={"comment": str, "comment2": str})
    return sample.merge(said, on="rid", validate="1:1")


@pytest.mark.parametrize("variance", ["greg", "r-rake"])
def test_theme_shares_match_r(raked_sample, variance):
    clean = raked_sample
    design = build_design(clean, DesignConfig(weight="w", strata="stratum", cluster=["psu", "ssu"]))
    margins = pd.read_csv(RAKING / "margins.csv")
    design = calibrate.calibrate(design, clean, margins, method="rake", variance=variance)
    codebook = _codebook()
    coded = comments.code_respondents(clean, codebook.comments, codebook.themes)
    got = themes.theme_shares(design, clean, codebook, coded, by=["segment"])
    want = pd.read_csv(CASE / "expected_themes.csv")
    want = want[want["variant"] == variance]
    merged = want.merge(got, on=["theme", "group", "level"], suffixes=("_r", ""), validate="1:1")
    assert len(merged) == len(want) == len(got) == 4 * (1 + 3)
    for col in ("share", "se", "share_of_comments", "coded_share", "p_value"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_r"], rtol=1e-8, err_msg=col)
    assert (merged["df"] == merged["df_r"]).all()
    # the contrast behind p: its difference and SE are R's svyttest coefficient and SE
    shares = pd.DataFrame({t: coded[t].astype(float) for t in THEMES})
    rest = estimate.versus_rest(design, shares, {"segment": clean["segment"].astype("category")})
    rest = rest.rename(columns={"variable": "theme"}).merge(
        want, on=["theme", "group", "level"], suffixes=("", "_r")
    )
    assert len(rest) == 4 * 3
    np.testing.assert_allclose(rest["estimate"], rest["difference"], rtol=1e-8)
    np.testing.assert_allclose(rest["se"], rest["difference_se"], rtol=1e-8)
    # the interval is the engine's t interval on the design df
    row = got.iloc[0]
    q = (row["ci_high"] - row["share"]) / row["se"]
    assert q == pytest.approx(stats.t.ppf(0.975, row["df"]), rel=1e-10)


# ---------------------------------------------------------------------------------------------
# suppression and quotes


def test_small_domains_are_suppressed_with_their_complement_and_rest():
    clean, codebook = _small()
    coded = comments.code_respondents(clean, codebook.comments, codebook.themes)
    design = build_design(clean, DesignConfig(weight="w"))
    table = themes.theme_shares(design, clean, codebook, coded, by=["segment"])
    shown = themes.suppress_shares(table, min_cell=5)
    # both segment levels have 4 respondents: hidden (every estimate and count), the overall
    # rows shown; the identifiers stay
    assert shown["suppressed"].tolist() == [False, True, True] * 2
    hidden = shown[shown["suppressed"]]
    for col in ("share", "se", "ci_low", "p_value", "p_adjusted", "share_of_comments"):
        assert hidden[col].isna().all(), col
    assert hidden["raising"].isna().all() and hidden["comments"].isna().all()
    assert hidden["n"].tolist() == [4, 4, 4, 4] and set(hidden["theme"]) == {"Billing", "Waiting"}
    # overall: 8 respondents, 5 commenters: the share of comments is shown at min_cell 5,
    # blank at 6 (an estimate from fewer commenters than min_cell)
    assert shown["share_of_comments"].iloc[0] == pytest.approx(4 / 8)
    at6 = themes.suppress_shares(table, min_cell=6)
    assert np.isnan(at6["share_of_comments"].iloc[0]) and np.isnan(at6["coded_share"].iloc[0])
    assert at6["share"].iloc[0] == pytest.approx(4 / 14)
    # a level whose rest is a small cell is hidden too (its share shows through the contrast)
    table2 = table.copy()
    table2.loc[table2["level"] == "Business", "n"] = 40
    shown2 = themes.suppress_shares(table2, min_cell=5)
    assert shown2["suppressed"].tolist() == [False, True, True] * 2


def test_quotes_are_short_whole_sentences_of_themes_raised_by_min_cell_and_never_attributed():
    rng = np.random.default_rng(1)
    n = 40
    bill = [
        "My bill was wrong twice this year.",
        "The bill is far too high for me.",
        "I got a bill for a service I never used.",
        "Bill came late again this month.",
    ]
    rows = []
    for i in range(n):
        if i < 12:
            rows.append(bill[i % 4] + " " + "Otherwise fine.")
        elif i < 15:
            rows.append("The queue was slow at the branch today.")  # 3 respondents only
        elif i == 15:
            rows.append("bill " * 60)  # one sentence too long to quote: left out, never cut
        else:
            rows.append(None)
    clean = pd.DataFrame(
        {
            "rid": [f"id-{i}" for i in range(n)],
            "segment": pd.Categorical(rng.choice(["Business", "Consumer"], n)),
            "e1": 5,
            "p1": 4,
            "comment": rows,
        }
    )
    codebook = _small()[1]
    coded = comments.code_respondents(clean, codebook.comments, codebook.themes)
    design = build_design(clean, DesignConfig())
    table = themes.theme_shares(design, clean, codebook, coded, by=["segment"])
    got = themes.quotes(clean, codebook, coded, table, per_theme=3, min_cell=5)
    assert list(got.columns) == ["theme", "quote"]
    assert set(got["theme"]) == {"Billing"}  # Waiting: 3 respondents < min_cell
    assert len(got) == 3 and got["quote"].is_unique
    assert set(got["quote"]) <= set(bill)  # whole sentences, without the other sentence
    assert (got["quote"].str.len() <= 160).all()
    again = themes.quotes(clean, codebook, coded, table, per_theme=3, min_cell=5)
    pd.testing.assert_frame_equal(got, again)  # deterministic
    text = " ".join(got["quote"])
    assert "id-" not in text and "Business" not in text and "Consumer" not in text
    assert themes.quotes(clean, codebook, coded, table, per_theme=0, min_cell=5).empty
    assert themes.quotes(clean, codebook, coded, table, per_theme=3, min_cell=14).empty


# ---------------------------------------------------------------------------------------------
# the pipeline step


def _client_with_comments(tmp_path: Path, themes_yaml: dict | None) -> Path:
    root = tmp_path / "tiny"
    shutil.copytree(FIXTURES / "clients" / "tiny", root)
    raw = root / "data" / "raw" / "tiny"
    frame = pd.read_csv(raw / "responses.csv", dtype=str, keep_default_na=False)
    said = [
        "The bill was wrong again. Staff were nice.",
        "Charged twice for the same month!",
        "Waited an hour on the phone.",
        "",
        "Staff were really helpful and kind.",
    ]
    frame["Q11"] = [said[i % len(said)] for i in range(len(frame))]
    frame["Q12"] = [
        "Please call me back about the bill." if i % 7 == 0 else "" for i in range(len(frame))
    ]
    frame.to_csv(raw / "responses.csv", index=False)
    cb = yaml.safe_load((raw / "codebook.yaml").read_text())
    cb["comments"] = ["Q11", "Q12"]
    if themes_yaml is not None:
        cb["themes"] = themes_yaml
    (raw / "codebook.yaml").write_text(yaml.safe_dump(cb, sort_keys=False))
    return root


def test_the_pipeline_writes_theme_shares_and_quotes(tmp_path):
    root = _client_with_comments(
        tmp_path,
        {"Billing": {"words": ["bill", "charg"], "items": ["rel_1"]}, "Waiting": ["wait"]},
    )
    client = load_client("params/tiny.yaml", root=root)
    clean = pipeline.read_and_validate(client).clean
    design = pipeline.survey_design(client, clean)
    result = pipeline.themes(client, clean, design)
    assert isinstance(result, pipeline.ThemeResult)
    written = pd.read_csv(client.processed_dir / "themes.csv")
    assert {"group_label", "level_label", "suppressed"} <= set(written.columns)
    assert [
        c for c in written.columns if c not in ("group_label", "level_label", "suppressed")
    ] == themes.THEME_COLUMNS
    overall = written[written["group"] == "all"].set_index("theme")
    rows = [int(r[1:]) - 1 for r in clean["respondent_id"]]  # T001 -> row 0 of the export
    assert len(rows) < 40  # some rows were rejected: counts are of the accepted ones
    billing = [i for i in rows if i % 5 in (0, 1) or i % 7 == 0]  # Q11 or Q12 mention it
    assert overall.loc["Billing", "raising"] == len(billing)
    assert overall.loc["Billing", "items"] == "rel_1"
    assert overall.loc["Waiting", "raising"] == len([i for i in rows if i % 5 == 2])
    assert overall.loc["Billing", "comments"] == len([i for i in rows if i % 5 != 3 or i % 7 == 0])
    assert overall.loc["Billing", "n"] == len(rows)
    assert (written["level_label"][written["group"] == "all"] == "All customers").all()
    # Premium has 4 respondents: suppressed
    assert written.loc[written["level"] == "Premium", "suppressed"].all()
    quotes = pd.read_csv(client.processed_dir / "quotes.csv")
    assert list(quotes.columns) == ["theme", "quote"]
    assert 1 <= (quotes["theme"] == "Billing").sum() <= client.config.analysis.quotes
    for q in quotes["quote"]:
        assert any(q in s for s in [*clean["Q11"].dropna(), *clean["Q12"].dropna()])


def test_the_pipeline_suggests_themes_without_codebook_themes_and_skips_without_comments(tmp_path):
    root = _client_with_comments(tmp_path, None)
    client = load_client("params/tiny.yaml", root=root)
    clean = pipeline.read_and_validate(client).clean
    design = pipeline.survey_design(client, clean)
    result = pipeline.themes(client, clean, design)
    assert result is not None
    assert set(result.table["source"]) == {"suggested"}
    assert result.table["theme"].nunique() >= 1
    tiny = load_client("params/tiny.yaml", root=FIXTURES / "clients" / "tiny")
    assert pipeline.themes(tiny, clean, design) is None


def test_many_comments_suggest_from_a_seeded_sample(monkeypatch):
    """Over MAX_SUGGEST_COMMENTS comments, a seeded sample gives the themes: the same every time,
    and still the planted topics."""
    texts = _planted(600)
    monkeypatch.setattr(comments, "MAX_SUGGEST_COMMENTS", 200)
    got = comments.suggest_themes(texts, k=3)
    assert got == comments.suggest_themes(texts, k=3)
    found = [set(words) for words in got.values()]
    for topic in ({"bill", "invoice", "charg", "payment", "refund"},
                  {"app", "crash", "login", "password", "update"}):  # fmt: skip
        assert max(len(f & topic) for f in found) >= 4, got
