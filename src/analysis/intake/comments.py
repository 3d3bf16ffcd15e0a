"""Open comments as text: which themes each comment raises, suggested themes, quotable sentences.

Text only, no statistics (the shares of customers raising a theme are :mod:`analysis.cx.themes`).
The comments arrive here already redacted of personal data (:mod:`analysis.intake.redact`).

- :func:`code_themes`: a comment raises a theme when any of the theme's words occurs in it as a
  word stem: at the start of a word (``bill`` matches "bill", "billing", "Billed", not "rebill"),
  case-insensitive, accents folded ("facture" matches "Facturé"). One comment may raise several
  themes; an empty or missing comment raises none. Vectorised: one regular expression per theme,
  matched over all comments at once by pyarrow's compute kernels (no Python loop per comment).
- :func:`code_respondents`: the same for a respondent with several comment columns (a theme is
  raised if any of their comments raises it), and :func:`has_comment`.
- :func:`suggest_themes`: themes suggested from the comments when the codebook has none:
  TF-IDF (English stop words) and non-negative matrix factorisation (scikit-learn, no downloaded
  models, deterministic initialisation), each theme named by its top words.
- :func:`sentences`: the comments split into whole sentences, for short quotes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analysis.config.params import Theme
from analysis.intake.redact import PLACEHOLDER

#: A word character for the stem boundary (RE2 classes: letters, digits, underscore).
_WORD = r"\p{L}\p{N}_"
#: Fewer comments than this: no themes are suggested (too few to find any structure).
MIN_COMMENTS = 30
#: Suggested themes: at least, at most (``k`` chosen between them by the number of comments).
K_RANGE = (4, 8)
#: Comments per suggested theme when ``k`` is chosen (200 comments -> 4 themes, 400+ -> 8).
COMMENTS_PER_THEME = 50
#: Words naming a suggested theme, and stems it is coded on.
NAME_WORDS = 3
THEME_WORDS = 6
#: more comments than this: themes are suggested from a seeded random sample of this many (as
#: good a picture of what customers say, in a fraction of the time)
MAX_SUGGEST_COMMENTS = 20_000
#: English inflections removed to make a suggested word a stem ("charges" -> "charg").
_SUFFIXES = ("ing", "ed", "es", "s")


def fold(texts: pd.Series) -> pa.Array:
    """The texts lower-cased with accents removed (NFKD, combining marks dropped), as a pyarrow
    string array; missing stays null. Only the non-ASCII texts need the normalisation."""
    arr = pa.array(texts.astype(object).where(texts.notna(), None), type=pa.large_string())
    lower = pc.utf8_lower(arr)
    wide = pc.invert(pc.fill_null(pc.string_is_ascii(arr), True))
    if not pc.any(wide).as_py():
        return lower
    some = pc.utf8_normalize(pc.filter(lower, wide), form="NFKD")
    some = pc.replace_substring_regex(some, pattern=r"\p{Mn}+", replacement="")
    return pc.replace_with_mask(lower, wide, pc.utf8_lower(some))


def fold_word(word: str) -> str:
    """One theme word folded as :func:`fold` folds the comments."""
    folded = fold(pd.Series([str(word).strip()], dtype=object))[0].as_py()
    return folded or ""


def theme_pattern(words: Sequence[str]) -> str:
    """The RE2 pattern of a theme: any of its (folded) words at the start of a word."""
    stems = sorted({fold_word(w) for w in words if fold_word(w)}, key=lambda s: (-len(s), s))
    if not stems:
        raise ValueError("a theme needs at least one word")
    return rf"(?:^|[^{_WORD}])(?:{'|'.join(re.escape(s) for s in stems)})"


def _check_texts(texts: pd.Series) -> None:
    if not isinstance(texts, pd.Series):
        raise TypeError(f"texts must be a pandas Series of comments, got {type(texts).__name__}")
    if pd.api.types.infer_dtype(texts, skipna=True) in ("string", "empty"):
        return
    values = texts[texts.notna()]
    if values.empty:  # a column with no comment at all (read as numbers)
        return
    i = next(i for i, v in values.items() if not isinstance(v, str))  # error path only
    raise ValueError(
        f"comment column {texts.name!r}, row {i!r}: {texts[i]!r} is not text; comment columns "
        "hold the respondents' own words (read the column as text)"
    )


def code_themes(texts: pd.Series, themes: Mapping[str, Theme]) -> pd.DataFrame:
    """Which themes each comment raises.

    Parameters
    ----------
    texts
        One comment per row (missing or empty: no comment).
    themes
        Theme name -> :class:`~analysis.config.params.Theme` (its word stems).

    Returns
    -------
    pandas.DataFrame
        Bool, indexed like ``texts``, one column per theme (in the order given): True where the
        comment contains any of the theme's words at the start of a word (case and accents
        ignored). Missing and empty comments are False everywhere.
    """
    _check_texts(texts)
    folded = fold(texts)
    out = {}
    for name, theme in themes.items():
        hit = pc.match_substring_regex(folded, pattern=theme_pattern(theme.words))
        out[name] = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
    return pd.DataFrame(out, index=texts.index, columns=list(themes))


def has_text(texts: pd.Series) -> pd.Series:
    """Bool per row: the comment has a non-blank text."""
    _check_texts(texts)
    return texts.astype("string").str.strip().fillna("").str.len().gt(0).astype(bool)


def _columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"comment columns {', '.join(map(repr, missing))} are not in the data (the codebook's "
            "comments name them); check the column names against the survey export"
        )
    if not columns:
        raise ValueError("no comment columns given (the codebook's comments)")
    return list(columns)


def has_comment(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Bool per row: the respondent wrote something in at least one of the comment ``columns``."""
    cols = _columns(frame, columns)
    out = pd.Series(False, index=frame.index)
    for c in cols:
        out |= has_text(frame[c]).to_numpy()
    return out


def code_respondents(
    frame: pd.DataFrame, columns: Sequence[str], themes: Mapping[str, Theme]
) -> pd.DataFrame:
    """:func:`code_themes` per respondent over several comment columns: a respondent raises a
    theme when any of their comments does.

    Returns
    -------
    pandas.DataFrame
        Bool, indexed like ``frame``, one column per theme.
    """
    cols = _columns(frame, columns)
    out = pd.DataFrame(False, index=frame.index, columns=list(themes))
    for c in cols:
        out |= code_themes(frame[c], themes).to_numpy()
    return out


def comment_texts(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Every non-blank comment of the ``columns``, one per row of a Series (column-major: all of
    the first column's comments in row order, then the next column's), index reset."""
    cols = _columns(frame, columns)
    parts = [frame[c][has_text(frame[c]).to_numpy()].astype(str) for c in cols]
    if not parts:
        return pd.Series([], dtype=object)
    return pd.concat(parts, ignore_index=True).astype(object)


# ---------------------------------------------------------------------------------------------
# sentences (quotes)

#: A sentence: up to and including its closing . ! ? (or the end of the text).
_SENTENCE = r"[^.!?\n]*[^.!?\s][^.!?\n]*(?:[.!?]+|$)"


def sentences(texts: pd.Series) -> pd.DataFrame:
    """The comments split into whole sentences.

    Returns
    -------
    pandas.DataFrame
        Columns ``comment`` (the index label of the comment in ``texts``) and ``sentence`` (the
        sentence, whitespace trimmed, with its closing punctuation), one row per sentence, in
        comment order.
    """
    _check_texts(texts)
    s = texts.astype("string").str.findall(_SENTENCE).explode().dropna()
    s = s.astype(str).str.strip()
    s = s[s.str.len() > 0]
    return pd.DataFrame({"comment": s.index.to_numpy(), "sentence": s.to_numpy(dtype=object)})


# ---------------------------------------------------------------------------------------------
# suggested themes


def choose_k(comments: int) -> int:
    """How many themes to suggest for ``comments`` comments: one per :data:`COMMENTS_PER_THEME`,
    between :data:`K_RANGE`."""
    low, high = K_RANGE
    return int(min(high, max(low, comments // COMMENTS_PER_THEME)))


def stem(word: str) -> str:
    """A crude English stem of a suggested word: one inflection (``-ing``, ``-ed``, ``-es``,
    ``-s``) removed when at least four letters remain ("billing" -> "bill", "charges" ->
    "charg"), so that coding on it matches the word's other forms."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def suggest_themes(
    texts: pd.Series, k: int | None = None, seed: int = 2026
) -> dict[str, list[str]]:
    """Themes suggested from the comments, for the researcher to name and keep.

    TF-IDF of the comments' words (English stop words removed, accents folded, words of three or
    more letters used by at least two comments) factorised by NMF into ``k`` topics (scikit-learn;
    ``init="nndsvd"``, a deterministic start, so the same comments give the same themes). Of more
    than :data:`MAX_SUGGEST_COMMENTS` comments, a random sample of that many (seeded by ``seed``)
    is used.

    Parameters
    ----------
    texts
        One comment per row (missing and blank ones are ignored).
    k
        Number of themes; ``None``: :func:`choose_k` of the number of comments.
    seed
        Random state passed to NMF (its solver is deterministic from the nndsvd start).

    Returns
    -------
    dict
        Theme name (its top words, "Bill / invoice / charged") -> its stems (the top words'
        :func:`stem`, for :func:`code_themes`), in order of the themes' weight in the comments.
        Empty when there are fewer than :data:`MIN_COMMENTS` comments or too few shared words.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    _check_texts(texts)
    docs = texts[has_text(texts).to_numpy()]
    if len(docs) < MIN_COMMENTS:
        return {}
    if k is not None and k < 1:
        raise ValueError(f"k must be a positive number of themes, got {k}")
    if len(docs) > MAX_SUGGEST_COMMENTS:
        pick = np.random.default_rng(seed).choice(len(docs), MAX_SUGGEST_COMMENTS, replace=False)
        docs = docs.iloc[np.sort(pick)]
    # redaction placeholders ([email], [name], ...) are not words of the customers
    folded = pd.Series(fold(docs).to_pylist(), dtype=object).str.replace(
        PLACEHOLDER, " ", regex=True
    )
    vectorizer = TfidfVectorizer(
        stop_words="english",
        token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
        min_df=2,
        max_df=0.5,
        sublinear_tf=True,
    )
    try:
        x = vectorizer.fit_transform(folded)
    except ValueError:  # no word used by two comments
        return {}
    vocab = vectorizer.get_feature_names_out()
    n_topics = min(choose_k(len(docs)) if k is None else k, x.shape[0], x.shape[1])
    if n_topics < 1:
        return {}
    model = NMF(n_components=n_topics, init="nndsvd", random_state=seed, max_iter=500)
    weights = model.fit_transform(x)
    order = np.argsort(-weights.sum(axis=0), kind="stable")
    out: dict[str, list[str]] = {}
    for t in order:
        comp = model.components_[t]
        top = [vocab[j] for j in np.argsort(-comp, kind="stable")[:THEME_WORDS] if comp[j] > 0]
        if not top:
            continue
        name = " / ".join(top[:NAME_WORDS])
        name = name[0].upper() + name[1:]
        if name in out:
            continue
        stems = list(dict.fromkeys(stem(w) for w in top))
        out[name] = [s for s in stems if not any(o != s and s.startswith(o) for o in stems)]
    return out
