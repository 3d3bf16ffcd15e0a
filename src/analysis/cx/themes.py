"""What customers said in their own words: the share of customers raising each theme, and quotes.

A respondent raises a theme when one of their comments does (the coding is text work:
:mod:`analysis.intake.comments`). Every share is a design-based proportion, the weighted mean of a
0/1 indicator estimated by the survey engine (:func:`analysis.survey.estimate.means_by`), inside
the full design (domains, never filtered rows):

- ``share``: the indicator over ALL respondents of the domain (who did not comment raises nothing,
  0): the share of the domain's customers who raise the theme.
- ``share_of_comments``: the same indicator, missing for who did not comment, so its domain is
  the domain's commenters: the share of the comments that raise the theme.
- ``coded_share``: the indicator "raises at least one theme", among the commenters.

Each segment level's ``share`` is compared with the rest of the customers (another level of the
same segment) by :func:`analysis.survey.estimate.versus_rest`; ``p_adjusted`` is Benjamini-Hochberg
over every row with a p-value (every theme and segment level: one family).

R: ``svymean(~I(theme), design)``, ``svyby(~I(theme), ~segment, design, svymean)``;
``share_of_comments`` ``svymean(~I(theme), subset(design, commented))`` (and its ``svyby``); the
comparison ``svyby(~I(theme), ~I(segment == level), design, svymean, covmat = TRUE)`` +
``svycontrast``, then ``p.adjust(p, "BH")``.

Quotes (:func:`quotes`) are whole sentences of the (already redacted) comments, never attributed:
no respondent id, no segment, only for themes that at least ``min_cell`` respondents raise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook, Theme
from analysis.cx import suppression
from analysis.cx.inputs import segment_domains
from analysis.cx.vocabulary import ALL
from analysis.errors import DesignError
from analysis.intake import comments as text
from analysis.intake.redact import PLACEHOLDER
from analysis.survey import estimate
from analysis.survey.design import SurveyDesign
from analysis.survey.inference import bh_adjust

THEME_COLUMNS = [
    "theme",
    "items",
    "group",
    "level",
    "n",
    "comments",
    "raising",
    "share",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
    "share_of_comments",
    "coded_share",
    "source",
]
QUOTE_COLUMNS = ["theme", "quote"]
#: Identifying columns (and ``n``, ``df``): visible when a row is suppressed.
IDENTIFIERS = ("theme", "items", "group", "level", "n", "df", "source")
#: Where a theme comes from: the codebook's ``themes``, or suggested from the comments.
CODEBOOK, SUGGESTED = "codebook", "suggested"
#: The shortest quote, in words (shorter sentences say too little to show).
MIN_QUOTE_WORDS = 4


def _check_coded(clean: pd.DataFrame, coded: pd.DataFrame) -> None:
    if len(coded) != len(clean) or not coded.index.equals(clean.index):
        raise DesignError(
            "the coded themes must have one row per respondent of the data, in its order "
            "(analysis.intake.comments.code_respondents of the same rows)"
        )
    bad = [c for c, d in coded.dtypes.items() if not pd.api.types.is_bool_dtype(d)]
    if bad:
        raise DesignError(f"coded themes {', '.join(map(repr, bad))} are not True/False columns")


def theme_shares(
    design: SurveyDesign,
    clean: pd.DataFrame,
    codebook: Codebook,
    coded: pd.DataFrame,
    by: Sequence[str] = (),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The share of customers raising each theme, overall and by segment (design-based).

    Parameters
    ----------
    design
        The sampling design of ``clean`` (possibly calibrated; rows in the order of ``clean``).
    clean
        The validated rows, with the codebook's comment columns.
    codebook
        Names the comment columns (``comments``) and the codebook's themes (``themes``: their
        items; a theme of ``coded`` not among them is a suggested one).
    coded
        Bool, one row per row of ``clean`` (same index), one column per theme: the respondent
        raises the theme (:func:`analysis.intake.comments.code_respondents`).
    by
        Segment columns to break the shares down by.
    confidence
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Columns ``theme, items, group, level, n, comments, raising, share, se, ci_low, ci_high,
        df, p_value, p_adjusted, share_of_comments, coded_share, source``: for each theme (in the
        order of ``coded``) the overall row (``group = level = all``), then each ``by`` segment's
        levels in codebook order. ``n`` respondents of the domain (non-zero weight),
        ``comments`` those who wrote a comment, ``raising`` those who raise the theme
        (unweighted counts); ``share`` the design-based proportion of the domain's customers who
        raise it, with ``se``, t interval and ``df``; ``p_value`` the level against the rest of
        the customers (two-sided, H0: the same share; NaN overall), ``p_adjusted``
        Benjamini-Hochberg over all rows with a p-value; ``share_of_comments`` the share among
        the domain's commenters, ``coded_share`` the share of the domain's commenters coded to at
        least one theme; ``items`` the ``;``-joined item ids the theme names; ``source``
        ``codebook`` or ``suggested``.
    """
    if not codebook.comments:
        raise DesignError("the codebook names no comment columns ('comments')")
    _check_coded(clean, coded)
    names = list(coded.columns)
    k = len(names)
    if k == 0:
        return pd.DataFrame(columns=THEME_COLUMNS)
    wrote = text.has_comment(clean, codebook.comments).to_numpy()
    raised = coded.to_numpy(dtype=bool) & wrote[:, None]
    shares = raised.astype(float)
    among = np.where(wrote[:, None], shares, np.nan)
    coded_any = np.where(wrote, raised.any(axis=1).astype(float), np.nan)
    values = pd.DataFrame(
        np.column_stack([shares, among, coded_any]),
        columns=[*(f"share{j}" for j in range(k)), *(f"among{j}" for j in range(k)), "coded"],
    )
    segments = segment_domains(clean, codebook, by)
    groups: dict[str, pd.Series | None] = {ALL: None, **segments}
    res = estimate.means_by(design, values, groups, confidence, deff=False)
    res["level"] = np.where(res["group"] == ALL, ALL, res["domain"].astype(str))
    res = res.set_index(["variable", "group", "level"])

    counted = _raising(design, raised, groups)
    frames = []
    for j, name in enumerate(names):
        head = res.loc[f"share{j}"]
        keys = head.index
        theme = codebook.themes.get(name)
        frames.append(
            pd.DataFrame(
                {
                    "theme": name,
                    "items": ";".join(theme.items) if theme is not None else "",
                    "group": keys.get_level_values("group"),
                    "level": keys.get_level_values("level"),
                    "n": head["n"].to_numpy(),
                    "comments": res.loc[f"among{j}"]["n"].reindex(keys).to_numpy(),
                    "raising": counted[j].reindex(keys).to_numpy(),
                    "share": head["estimate"].to_numpy(),
                    "se": head["se"].to_numpy(),
                    "ci_low": head["ci_low"].to_numpy(),
                    "ci_high": head["ci_high"].to_numpy(),
                    "df": head["df"].to_numpy(),
                    "share_of_comments": res.loc[f"among{j}"]["estimate"].reindex(keys).to_numpy(),
                    "coded_share": res.loc["coded"]["estimate"].reindex(keys).to_numpy(),
                    "source": CODEBOOK if theme is not None else SUGGESTED,
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    table["p_value"] = np.nan
    if segments:
        rest = estimate.versus_rest(design, values[[f"share{j}" for j in range(k)]], segments)
        rest["theme"] = rest["variable"].map({f"share{j}": n for j, n in enumerate(names)})
        rest["level"] = rest["level"].astype(str)
        p = rest.set_index(["theme", "group", "level"])["p_value"]
        at = pd.MultiIndex.from_frame(table[["theme", "group", "level"]])
        table["p_value"] = p.reindex(at).to_numpy()
    table["p_adjusted"] = bh_adjust(table["p_value"].to_numpy(dtype=float))
    return table[THEME_COLUMNS]


def _raising(
    design: SurveyDesign, raised: np.ndarray, groups: Mapping[str, pd.Series | None]
) -> list[pd.Series]:
    """Per theme, the respondents (non-zero weight) raising it in every domain, indexed by
    (group, level) as the estimator's rows."""
    counts = raised & (np.asarray(design.weights) != 0)[:, None]
    parts = []
    for name, labels in groups.items():
        if labels is None:
            part = pd.DataFrame(counts.sum(axis=0)[None, :], index=[ALL])
        else:
            part = pd.DataFrame(counts).groupby(labels.to_numpy(), observed=False).sum()
            if isinstance(labels.dtype, pd.CategoricalDtype):
                part = part.reindex(labels.cat.categories, fill_value=0)
        part.index = pd.MultiIndex.from_arrays(
            [[name] * len(part), [str(v) for v in part.index]], names=["group", "level"]
        )
        parts.append(part)
    every = pd.concat(parts)
    return [every[j].astype(int) for j in range(raised.shape[1])]


def suppress_shares(table: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """:func:`analysis.cx.suppression.suppress` of a :func:`theme_shares` table.

    A row is hidden (every column but :data:`IDENTIFIERS`, with the ``suppressed`` flag) where its
    domain has fewer than ``min_cell`` respondents (``n``; complementary suppression within each
    theme and segment), and a segment level's row also where the rest of the customers number
    fewer than ``min_cell`` (their share would show through the comparison; as the NPS and
    segment contrasts). In a shown row, ``share_of_comments`` and ``coded_share`` are blank where
    fewer than ``min_cell`` respondents commented (estimates from a small cell). The counts
    ``comments`` and ``raising`` are shown where the row is.
    """
    segment = table["group"].astype(str) != ALL
    total = table.groupby(["theme", "group"], sort=False)["n"].transform("sum")
    rest_small = segment.to_numpy() & suppression.small((total - table["n"]).to_numpy(), min_cell)
    out = suppression.suppress(table, min_cell, IDENTIFIERS, also=rest_small)
    few = suppression.small(out["comments"].astype(float).to_numpy(), min_cell)
    out.loc[few, ["share_of_comments", "coded_share"]] = np.nan
    return out


def quotes(
    clean: pd.DataFrame,
    codebook: Codebook,
    coded: pd.DataFrame,
    themes_table: pd.DataFrame,
    per_theme: int,
    min_cell: int,
    max_chars: int = 160,
    themes: Mapping[str, Theme] | None = None,
) -> pd.DataFrame:
    """Up to ``per_theme`` short quotes for each theme, never attributed.

    A quote is a whole sentence of a comment of a respondent who raises the theme, the sentence
    itself raising it, of at most ``max_chars`` characters and at least
    :data:`MIN_QUOTE_WORDS` words (a longer sentence is left out, never cut). The most typical
    ones are chosen: the sentences whose words the theme's other sentences use most (mean share
    of the candidate sentences using each of its words, English stop words left out), the
    shorter first on ties, then in alphabetical order (a deterministic choice); the same
    sentence is not shown twice. Only themes that at least ``min_cell`` respondents raise
    overall (``raising`` of the ``themes_table``'s overall row) get quotes.

    Parameters
    ----------
    clean, codebook, coded
        As :func:`theme_shares` (comments already redacted of personal data).
    themes_table
        The :func:`theme_shares` table (suppressed or not): which themes have quotes, and their
        order.
    per_theme
        Quotes per theme (params ``analysis.quotes``).
    min_cell
        Fewest respondents raising a theme overall for it to be quoted.
    max_chars
        Longest quote, in characters.
    themes
        Theme name -> its words (to find the sentences that raise it); default the codebook's
        themes. Suggested themes must be given here.

    Returns
    -------
    pandas.DataFrame
        Columns ``theme, quote`` (no respondent id, no segment), themes in table order.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    _check_coded(clean, coded)
    themes = dict(codebook.themes if themes is None else themes)
    overall = themes_table[themes_table["group"].astype(str) == ALL]
    raising = pd.to_numeric(overall.set_index("theme")["raising"], errors="coerce")
    wanted = [t for t in raising.index if raising[t] >= min_cell and t in coded.columns]
    unknown = [t for t in wanted if t not in themes]
    if unknown:
        raise DesignError(f"no words given for the themes {', '.join(map(repr, unknown))}")
    if per_theme <= 0 or not wanted or not codebook.comments:
        return pd.DataFrame(columns=QUOTE_COLUMNS)
    rows = []
    for name in wanted:
        who = coded[name].to_numpy(dtype=bool)
        said = text.comment_texts(clean[who], codebook.comments)
        sent = text.sentences(said)["sentence"]
        sent = sent[text.code_themes(sent, {name: themes[name]})[name].to_numpy()]
        words = sent.str.split().str.len()
        redacted = sent.str.contains(PLACEHOLDER, regex=True)  # a quote never shows one
        sent = sent[(sent.str.len() <= max_chars) & (words >= MIN_QUOTE_WORDS) & ~redacted]
        sent = sent[~sent.str.lower().duplicated()].reset_index(drop=True)
        if sent.empty:
            continue
        score = _typicality(sent, CountVectorizer)
        order = pd.DataFrame({"score": -score, "length": sent.str.len(), "text": sent})
        order = order.sort_values(["score", "length", "text"], kind="stable")
        rows += [(name, q) for q in order["text"].head(per_theme)]
    return pd.DataFrame(rows, columns=QUOTE_COLUMNS)


def _typicality(sentences: pd.Series, vectorizer: type) -> np.ndarray:
    """Per sentence, the mean share of the sentences using each of its (non-stop) words."""
    try:
        x = vectorizer(stop_words="english", binary=True, strip_accents="unicode").fit_transform(
            sentences
        )
    except ValueError:  # only stop words
        return np.zeros(len(sentences))
    share = np.asarray(x.sum(axis=0)).ravel() / len(sentences)
    used = np.asarray(x.sum(axis=1)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(np.asarray(x @ share).ravel() / used)
