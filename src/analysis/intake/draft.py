"""Draft a new client's params file and codebook from its survey export, for a researcher to review.

``outside-in new-client SLUG --survey FILE`` calls :func:`draft_client`. What the export shows is
proposed; what could not be decided is marked ``REVIEW`` in YAML comments. An existing client is
never overwritten. The draft always loads and validates as written:

- expectation/performance pairs are matched on column names (a table of expectation words x
  performance words, as prefix or suffix, any case, with or without separators: ``Q1_importance``
  / ``Q1_satisfaction``, ``imp_speed`` / ``sat_speed``, ``e_rel_1`` / ``p_rel_1``) and on question
  text (Qualtrics' "... - Importance", SurveyMonkey's matrix items, "How important is it that
  ...", "How satisfied ...", "How well does ... perform ..."): items whose statement is the same;
- labels come from the question text (the statement), else from the column stem (REVIEW);
- overall satisfaction and likelihood to recommend (0-10 columns) from names or question text;
  the respondent id and a sampling weight column from names and values;
- dates, ids, IP addresses, emails, coordinates, export metadata and free text are never
  segments; personal-data columns go to ``personal:``, open comments to ``comments:``;
- the rating scale is the standard scale (1-5, 1-7, 1-10, 0-10) the values fit, stray codes
  beside it (6 on a 1-5 scale, 98/99, -99) proposed as ``missing:`` with their counts;
- when no pair is recognised, the rating-like columns are paired as a guess (the first half as
  expectations, the second half as performance, in column order), every item marked REVIEW.

Each column is looked at once, with vectorised pandas operations (no loop over cells).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from analysis import files
from analysis.config.params import SLUG
from analysis.errors import ParamsError
from analysis.intake import comments, readers, redact
from analysis.intake.schema import _parse_numbers

#: Words naming the expectation (importance) and the performance (satisfaction) rating of an
#: item in column names; every expectation word pairs with every performance word.
EXPECTATION_WORDS = (
    "importance",
    "important",
    "expectations",
    "expectation",
    "expected",
    "expect",
    "imp",
    "exp",
    "e",
)
PERFORMANCE_WORDS = (
    "satisfaction",
    "satisfied",
    "performance",
    "perception",
    "rating",
    "perf",
    "sat",
    "p",
)
SEPARATOR = r"[_.\- ]"
#: A question-text part that only names the rating's role ("... - Importance").
ROLE_WORDS = {
    "importance": "e",
    "expectation": "e",
    "expectations": "e",
    "expected": "e",
    "satisfaction": "p",
    "performance": "p",
    "perception": "p",
    "rating": "p",
}
EXPECTATION_TEXT = re.compile(r"\bhow important\b|\bimportan(?:ce|t)\b|\bexpect", re.IGNORECASE)
PERFORMANCE_TEXT = re.compile(
    r"\bhow satisfied\b|\bsatisf|\bhow well\b|\bperform|\brate\b|\brating\b", re.IGNORECASE
)
#: Question leads removed to leave the statement an item is about.
LEADS = (
    r"^how important is it (?:to you )?that\s+",
    r"^how important (?:is|are|was|were)\s+(?:it (?:to you )?(?:that|to have)\s+)?",
    r"^how satisfied (?:are|were) you (?:that|with)\s+",
    r"^how well (?:does|do|did) .+? (?:perform|do) (?:on|in|at|with|when it comes to)\s+",
    r"^how would you rate (?:us on|our performance on)\s+",
    r"^(?:please )?rate\s+",
)
TAIL = r"\s*(?:to you|for you)?\s*[?:.]*\s*$"
DIMENSIONS = {  # SERVQUAL-style stems
    "tan": "Tangibles",
    "rel": "Reliability",
    "res": "Responsiveness",
    "resp": "Responsiveness",
    "asr": "Assurance",
    "ass": "Assurance",
    "emp": "Empathy",
}
ID_NAMES = ("responseid", "respondentid", "respid", "id", "caseid", "recordid", "uuid")
OVERALL_NAMES = ("overall_sat", "overall", "osat", "overall_satisfaction", "satisfaction")
RECOMMEND_NAMES = ("recommend", "nps", "ltr", "likelihood_to_recommend")
OVERALL_TEXT = re.compile(r"\boverall\b.*\bsatisf|\bsatisf.*\boverall\b", re.IGNORECASE)
RECOMMEND_TEXT = re.compile(r"\brecommend|\bNPS\b", re.IGNORECASE)  # "How likely ... recommend"
WEIGHT_HINTS = ("weight", "wgt", "wt", "pw")
DURATION_NAMES = ("duration_sec", "duration", "Duration (in seconds)", "seconds")
#: Export metadata (names compared lower-case, letters and digits only): never segments.
METADATA = {
    "status",
    "progress",
    "finished",
    "durationinseconds",
    "duration",
    "recordeddate",
    "responseid",
    "respondentid",
    "distributionchannel",
    "userlanguage",
    "collectorid",
    "externalreference",
    "externaldatareference",
    "startdate",
    "enddate",
    "date",
    "timestamp",
}
METADATA_PREFIXES = ("recipient", "customdata", "location")
#: Personal data by name (same normalisation): never segments, listed under ``personal:``.
PERSONAL = {"name", "fullname", "firstname", "lastname", "surname", "ipaddress", "ip"}
PERSONAL_PARTS = ("email", "phone", "mobile", "telephone", "latitude", "longitude", "ipaddress")
PERSONAL_ENDS = ("firstname", "lastname", "fullname", "surname")
EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
IP = r"^\d{1,3}(?:\.\d{1,3}){3}$|^[0-9a-fA-F:]{6,}:[0-9a-fA-F]+$"
PHONE = r"^\+?[\d\s().-]{7,}$"
DATE = r"^\d{4}-\d{1,2}-\d{1,2}|^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|^\d{1,2}:\d{2}(?::\d{2})?$"
COMMENT_NAME = re.compile(
    r"comment|feedback|suggest|verbatim|open|anything else|other remarks|why", re.IGNORECASE
)
#: Standard rating scales, tried in this order; (lo, hi).
SCALES = ((1, 5), (1, 7), (1, 10), (0, 10), (1, 4), (1, 6), (1, 9), (1, 11))
#: Codes beyond a scale that mean "no answer" (besides the value just above its top).
CODES_ABOVE = (8, 9, 88, 96, 97, 98, 99, 888, 997, 998, 999)
MAX_SEGMENT_LEVELS = 12
MAX_BLANK_SEGMENT = 0.05  # a column with more blank answers is not proposed as a segment
MAX_BY_LEVELS = 8  # analysis.by proposes segments with at most this many levels
MAX_RATING_VALUES = 16  # distinct values (codes included) of a rating-like column
NUMERIC_SHARE = 0.95  # a column is numeric when this share of its answered cells are numbers
RARE = 0.005  # a text value this rare (and seen at most twice) is more likely a typo than a level
SAMPLE = 500  # cells of a text column looked at to recognise dates, emails, IP addresses
SHOW = 8  # values listed in the terminal summary before "... N more"
REVIEW = "REVIEW"


@dataclass(frozen=True)
class Draft:
    """What was written, and what the researcher must review."""

    params: Path
    codebook: Path
    survey: Path
    review: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Drafted {self.params}", f"Drafted {self.codebook}", f"Survey: {self.survey}"]
        if self.review:
            lines.append("Review before the first run (marked REVIEW in the files):")
            lines += [f"  - {r}" for r in self.review]
        return "\n".join(lines)


def shorten(values: list[Any], show: int = SHOW) -> str:
    """``a, b, c ... 612 more``: a list for the terminal, never longer than ``show`` values."""
    text = [str(v) for v in values]
    if len(text) <= show:
        return ", ".join(text)
    return ", ".join(text[:show]) + f" ... {len(text) - show} more"


@dataclass
class _Export:
    """The export as the draft sees it: text, the numeric columns, question texts."""

    frame: pd.DataFrame
    numbers: dict[str, pd.Series]
    questions: dict[str, str]
    value_labels: dict[str, dict[str, str]]
    qualtrics: bool
    review: list[str]
    notes: dict[str, str] = field(default_factory=dict)  # YAML line key[=value] -> comment
    comments: list[str] = field(default_factory=list)  # YAML comment lines for the header

    def question(self, col: str) -> str:
        return self.questions.get(col, "")


def draft_client(slug: str, survey: Path, root: Path | None = None) -> Draft:
    """Draft ``params/<slug>.yaml`` and ``data/raw/<slug>/codebook.yaml`` from a survey export.

    The survey is copied to ``data/raw/<slug>/`` unless it is there already. Raises
    :class:`~analysis.errors.ParamsError` if the slug is unsafe or the client exists.
    """
    root = Path(root) if root is not None else Path.cwd()
    if not SLUG.match(slug):
        raise ParamsError(
            f"{slug!r} is not a safe client slug: use lower-case letters, digits and '-'"
        )
    params_path = root / "params" / f"{slug}.yaml"
    raw_dir = root / "data" / "raw" / slug
    codebook_path = raw_dir / "codebook.yaml"
    for path in (params_path, codebook_path):
        if path.exists():
            raise ParamsError(f"{path}: client {slug!r} exists already; nothing was overwritten")
    survey = Path(survey)
    raw = readers.read_survey(survey)
    export = _Export(
        frame=raw.frame,
        numbers=_numbers(raw.frame, str(raw.detected.get("decimal", "."))),
        questions=dict(raw.questions),
        value_labels=dict(raw.value_labels),
        qualtrics=str(raw.detected.get("export", "")).startswith("Qualtrics"),
        review=[],
    )
    codebook, weight = _draft_codebook(export)
    _suggested_themes(export, codebook)

    raw_dir.mkdir(parents=True, exist_ok=True)
    target = raw_dir / survey.name
    if survey.resolve() != target.resolve():
        if target.exists():
            raise ParamsError(f"{target}: exists already; nothing was overwritten")
        shutil.copy2(survey, target)
    params: dict[str, Any] = {
        "client": slug,
        "title": f"{slug} customer expectations",
        "survey": target.relative_to(root).as_posix(),
        "codebook": codebook_path.relative_to(root).as_posix(),
    }
    if weight:
        params["design"] = {"weight": weight}
    by = [s for s, levels in codebook["segments"].items() if len(levels) <= MAX_BY_LEVELS][:2]
    params["analysis"] = {"by": by, "confidence": 0.95, "min_cell": 5}
    header = (
        f"# Drafted by `outside-in new-client {slug}` from {survey.name}: review every line marked "
        f"{REVIEW}.\n"
    )
    notes = dict(export.notes)
    codebook_text = header + "".join(f"# {' '.join(line.split())}\n" for line in export.comments)
    files.write_text(codebook_text + _yaml(codebook, notes), codebook_path)
    params_path.parent.mkdir(parents=True, exist_ok=True)
    params_notes = {
        "title": "the report's title",
        "by": "segments to break results down by (at most 2 proposed)",
    }
    if weight:
        params_notes["design"] = "add strata/clusters if the sample had them"
    files.write_text(header + _yaml(params, params_notes), params_path)
    return Draft(params=params_path, codebook=codebook_path, survey=target, review=export.review)


def _numbers(frame: pd.DataFrame, decimal: str = ".") -> dict[str, pd.Series]:
    """Columns that are numeric but for a few stray cells (<= 5% of the answered ones), parsed
    as validation parses them (``decimal`` "." or ","); a column whose first answered cells are
    mostly text is not parsed whole."""
    out = {}
    for col in frame.columns:
        present = int(frame[col].notna().sum())
        if not present:
            continue
        head = frame[col].dropna().head(SAMPLE)
        if _parse_numbers(head, decimal)[1].mean() > 1 - NUMERIC_SHARE:
            continue
        values, _ = _parse_numbers(frame[col], decimal)
        if values.notna().sum() >= NUMERIC_SHARE * present:
            out[col] = values
    return out


def _key(name: str) -> str:
    """A name compared as lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _share(sample: pd.Series, pattern: str) -> float:
    """The share of the (non-missing) sample matching ``pattern``."""
    if not len(sample):
        return 0.0
    return float(sample.str.match(pattern).mean())


def _draft_codebook(export: _Export) -> tuple[dict[str, Any], str | None]:
    """The codebook the export suggests, and the sampling weight column (if one is proposed);
    what the researcher must check is appended to ``export.review``."""
    frame, review = export.frame, export.review
    kinds = _kinds(export)
    personal = [c for c, k in kinds.items() if k == "personal"]
    comments = [c for c, k in kinds.items() if k == "comment"]
    used: set[str] = set(personal) | set(comments)
    roles = _roles(export, kinds, used)
    rating = _rating_like(export, kinds, used)
    pairs = _name_pairs([c for c in rating if c not in used])
    used |= {c for _, e, p in pairs for c in (e, p)}
    text_pairs = _text_pairs(export, [c for c in rating if c not in used])
    used |= {c for _, e, p in text_pairs for c in (e, p)}
    items = _items(export, pairs, text_pairs)
    if not items:
        items = _guessed_items(export, [c for c in rating if c not in used])
        used |= {c for i in items for c in (i["expectation"], i["performance"])}
    rating_cols = [c for i in items for c in (i["expectation"], i["performance"])]
    lo, hi, missing = _scale(export, rating_cols)
    missing = _score_codes(export, [roles["overall"], roles["recommend"]], missing)
    segments = _segments(export, kinds, used)
    used |= set(segments)
    left = [c for c in frame.columns if c not in used and kinds.get(c) != "metadata"]
    if left:
        review.append(f"columns not assigned: {shorten(left)}")
    codebook: dict[str, Any] = {
        "id": roles["id"],
        "scale": {"min": lo, "max": hi},
    }
    if missing:
        codebook["missing"] = missing
    codebook["items"] = items
    codebook["segments"] = segments
    for role in ("overall", "recommend", "duration"):
        if roles[role]:
            codebook[role] = roles[role]
    if comments:
        codebook["comments"] = comments
        export.notes["comments"] = "open comments (long, mostly unique text)"
        review.append(f"comment columns: {shorten(comments)}")
    if personal:
        codebook["personal"] = personal
        export.notes["personal"] = "names, emails, IP addresses, phones, coordinates"
        review.append(f"personal-data columns (never stored or shown): {shorten(personal)}")
    _exclusions(export, {c: k for c, k in kinds.items() if c != roles["id"]})
    return codebook, roles["weight"]


def _kinds(export: _Export) -> dict[str, str]:
    """Each column that is not a candidate for a segment or a rating: ``metadata`` (export
    metadata, dates and timestamps), ``personal`` (names, emails, IP addresses, phones,
    coordinates) or ``comment`` (open text)."""
    frame, numbers = export.frame, export.numbers
    kinds: dict[str, str] = {}
    for col in frame.columns:
        key = _key(col)
        if (
            key in PERSONAL
            or any(p in key for p in PERSONAL_PARTS)
            or key.endswith(PERSONAL_ENDS)
            or key in ("lat", "lon", "lng")
        ):
            kinds[col] = "personal"
            continue
        dated = col not in numbers and ("date" in key or "timestamp" in key)
        if (
            key in METADATA
            or key.startswith(METADATA_PREFIXES)
            or col.lower().startswith("q_")  # Qualtrics' own fields: Q_RecaptchaScore ...
            or dated
        ):
            kinds[col] = "metadata"
            continue
        if col in numbers:
            continue
        sample = frame[col].dropna().head(SAMPLE)
        if not len(sample):
            continue
        if any(_share(sample, pat) > 0.8 for pat in (EMAIL, IP)):
            kinds[col] = "personal"
        elif _share(sample, DATE) > 0.8:
            kinds[col] = "metadata"
        elif _share(sample, PHONE) > 0.8 and sample.str.count(r"\d").mean() >= 7:
            kinds[col] = "personal"
        elif _is_comment(frame[col], col, export.question(col)):
            kinds[col] = "comment"
    return kinds


def _is_comment(values: pd.Series, col: str, question: str) -> bool:
    """Open text: long, mostly unique answers (or named as comments and longer than a code)."""
    present = values.dropna()
    if not len(present):
        return False
    length = float(present.str.len().mean())
    unique = present.nunique() / len(present)
    named = bool(COMMENT_NAME.search(col) or COMMENT_NAME.search(question))
    return (length >= 20 and unique >= 0.5) or (named and length >= 10 and unique >= 0.3)


def _mostly_unique(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and present.nunique() >= 0.99 * len(values)


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


def _is_score(values: pd.Series) -> bool:
    """A 0-10 column: whole numbers, most of them between 0 and 10, with 7 to 11 seen values."""
    present = values.dropna()
    inside = present[(present >= 0) & (present <= 10)]
    return (
        len(present) > 0
        and bool((present == present.round()).all())
        and len(inside) >= NUMERIC_SHARE * len(present)
        and inside.nunique() >= 6
    )


def _roles(export: _Export, kinds: dict[str, str], used: set[str]) -> dict[str, str | None]:
    """The columns of the respondent id, overall satisfaction, recommend, duration and sampling
    weight (None: not found; the id is ``REVIEW`` then). Adds them to ``used``."""
    frame, numbers, review = export.frame, export.numbers, export.review
    candidates = [c for c in frame.columns if c not in used and kinds.get(c) != "personal"]
    by_name = {_key(c): c for c in candidates}
    id_col = next(
        (
            by_name[n]
            for n in map(_key, ID_NAMES)
            if n in by_name and _mostly_unique(frame[by_name[n]])
        ),
        None,
    )
    if id_col is None:
        id_col = next(
            (c for c in candidates if "id" in c.lower() and _mostly_unique(frame[c])), None
        )
    if id_col is None:  # the first column of unique short values (a code, not a comment)
        id_col = next(
            (
                c
                for c in candidates
                if kinds.get(c) is None
                and _mostly_unique(frame[c])
                and frame[c].notna().all()
                and float(frame[c].str.len().max()) <= 40
            ),
            None,
        )
        if id_col is not None:
            export.notes[f"id={id_col}"] = "the first column of unique values: is it the id?"
            review.append(f"respondent id guessed: '{id_col}' (its values are unique)")
    if id_col is None:
        review.append("no respondent id column recognised: name it in the codebook")
        export.notes[f"id={REVIEW}"] = "name the respondent id column"
        id_col = REVIEW
    used.add(id_col)
    free = [c for c in numbers if c not in used and kinds.get(c) != "metadata"]
    scores = [c for c in free if _is_score(numbers[c])]
    overall = _pick(scores, OVERALL_NAMES) or next(
        (c for c in scores if OVERALL_TEXT.search(_spoken(c, export)) or "overall" in _key(c)),
        None,
    )
    rest = [c for c in scores if c != overall]
    recommend = _pick(rest, RECOMMEND_NAMES) or next(
        (c for c in rest if RECOMMEND_TEXT.search(_spoken(c, export))), None
    )
    duration = _pick([c for c in numbers if c not in used], DURATION_NAMES)
    roles: dict[str, str | None] = {
        "id": id_col,
        "overall": overall,
        "recommend": recommend,
        "duration": duration,
    }
    used |= {c for c in roles.values() if c}
    for role in ("overall", "recommend"):
        if roles[role]:
            text = export.question(str(roles[role]))
            export.notes[role] = "0-10" + (f": {_clip(text)}" if text else "")
    roles["weight"] = next(
        (
            c
            for c in numbers
            if c not in used
            and kinds.get(c) is None
            and any(h in c.lower() for h in WEIGHT_HINTS)
            and (numbers[c].dropna() > 0).mean() >= NUMERIC_SHARE
        ),
        None,
    )
    if roles["weight"]:
        used.add(roles["weight"])
        review.append(
            f"'{roles['weight']}' proposed as the sampling weight; add strata/clusters if any"
        )
    return roles


def _spoken(col: str, export: _Export) -> str:
    """The column's question text and its name with separators as spaces, to search in."""
    return f"{export.question(col)} {re.sub(r'[_.-]+', ' ', col)}"


def _rating_like(export: _Export, kinds: dict[str, str], used: set[str]) -> list[str]:
    """Numeric columns of whole numbers with few distinct values (codes included), in order."""
    out = []
    for col, values in export.numbers.items():
        if col in used or kinds.get(col):
            continue
        present = values.dropna()
        whole = present[present == present.round()]
        if (
            len(present)
            and len(whole) >= NUMERIC_SHARE * len(present)
            and whole.nunique() <= MAX_RATING_VALUES
            and whole.max() > 1
        ):
            out.append(col)
    return out


def _word_patterns(words: tuple[str, ...]) -> list[tuple[str, str, re.Pattern[str]]]:
    """(word, position, pattern capturing the stem) for each word as a prefix and a suffix;
    one- and two-letter words need a separator."""
    out = []
    for word in words:
        sep = SEPARATOR if len(word) <= 2 else SEPARATOR + "?"
        out.append((word, "prefix", re.compile(rf"^{word}{sep}(?P<stem>.+)$", re.IGNORECASE)))
        out.append((word, "suffix", re.compile(rf"^(?P<stem>.+?){sep}{word}$", re.IGNORECASE)))
    return out


def _name_pairs(columns: list[str]) -> list[tuple[str, str, str]]:
    """(stem, expectation column, performance column) pairs matched on names, in column order.

    Every expectation word x performance word x position (prefix, suffix) is tried, the longest
    words first; a column joins one pair at most."""
    e_pats, p_pats = _word_patterns(EXPECTATION_WORDS), _word_patterns(PERFORMANCE_WORDS)
    combos = [
        (e, p)
        for e in e_pats
        for p in p_pats
        if e[1] == p[1]  # same position
    ]
    combos.sort(key=lambda ep: -(len(ep[0][0]) + len(ep[1][0])))
    taken: set[str] = set()
    found: list[tuple[str, str, str]] = []
    for (_, _, e_pat), (_, _, p_pat) in combos:
        e_cols: dict[str, tuple[str, str]] = {}
        p_cols: dict[str, str] = {}
        for c in columns:
            if c in taken:
                continue
            if (m := e_pat.match(c)) and (stem := m.group("stem").strip("_.- ")):
                e_cols.setdefault(stem.lower(), (stem, c))
            if (m := p_pat.match(c)) and (stem := m.group("stem").strip("_.- ")):
                p_cols.setdefault(stem.lower(), c)
        for key, (stem, e_col) in e_cols.items():
            p_col = p_cols.get(key)
            if p_col and e_col != p_col and e_col not in taken and p_col not in taken:
                found.append((stem, e_col, p_col))
                taken |= {e_col, p_col}
    order = {c: k for k, c in enumerate(columns)}
    return sorted(found, key=lambda t: order[t[1]])


def statement(text: str) -> tuple[str | None, str]:
    """The role (``"e"`` expectation, ``"p"`` performance, None unknown) and the statement of a
    question text: "How important is it to you that bills are accurate? - Importance" ->
    ("e", "Bills are accurate"); "How satisfied are you with the following? - Quick answers"
    -> ("p", "Quick answers"). The statement is "" when the text holds none."""
    parts = [p.strip() for p in re.split(r"\s+-\s+", text.strip()) if p.strip()]
    role = None
    rest = []
    for part in parts:
        word = part.lower().strip(" ?:.")
        if word in ROLE_WORDS:
            role = role or ROLE_WORDS[word]
        else:
            rest.append(part)
    if not rest:
        return role, ""
    for part in rest:
        if role is None:
            role = _text_role(part)
    said = rest[-1]
    for lead in LEADS:
        said = re.sub(lead, "", said, count=1, flags=re.IGNORECASE)
    said = re.sub(TAIL, "", said, flags=re.IGNORECASE).strip()
    return role, said[:1].upper() + said[1:]


def _text_role(text: str) -> str | None:
    e, p = bool(EXPECTATION_TEXT.search(text)), bool(PERFORMANCE_TEXT.search(text))
    return "e" if e and not p else "p" if p and not e else None


def _text_pairs(export: _Export, columns: list[str]) -> list[tuple[str, str, str]]:
    """(statement, expectation column, performance column) pairs matched on question text:
    an expectation and a performance question about the same statement."""
    e_cols: dict[str, list[tuple[str, str]]] = {}
    p_cols: dict[str, list[str]] = {}
    for c in columns:
        role, said = statement(export.question(c))
        key = " ".join(re.findall(r"[a-z0-9]+", said.lower()))
        if not key or role is None:
            continue
        if role == "e":
            e_cols.setdefault(key, []).append((said, c))
        else:
            p_cols.setdefault(key, []).append(c)
    pairs = []
    for key, es in e_cols.items():
        for (said, e_col), p_col in zip(es, p_cols.get(key, []), strict=False):
            pairs.append((said, e_col, p_col))
    order = {c: k for k, c in enumerate(columns)}
    return sorted(pairs, key=lambda t: order[t[1]])


def _label(export: _Export, e_col: str, p_col: str) -> str | None:
    """The statement of the pair's question text (expectation first), else None."""
    for col in (e_col, p_col):
        _, said = statement(export.question(col))
        if said and _key(said) != _key(col):
            return said
    return None


def _item_id(text: str, taken: set[str]) -> str:
    """A codebook item id (letters, digits, ``_.-``) from a stem or a statement, unique."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    base = (
        "_".join(words[:4]).lower()
        if " " in text.strip()
        else re.sub(r"[^A-Za-z0-9_.-]", "_", text)
    )
    base = base or "item"
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _dimension(stem: str) -> str | None:
    head = re.split(r"[_\d]", stem.lower(), maxsplit=1)[0]
    return DIMENSIONS.get(head)


def _items(
    export: _Export,
    pairs: list[tuple[str, str, str]],
    text_pairs: list[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    """The codebook items of the name pairs (id from the stem) and the text pairs (id from the
    statement); labels from the question text, else from the stem (REVIEW)."""
    taken: set[str] = set()
    items = []
    stem_labels = []
    for stem, e, p in pairs:
        label = _label(export, e, p)
        if label is None:
            label = stem.replace("_", " ").strip()
            label = label[:1].upper() + label[1:]
            stem_labels.append(label)
        items.append(
            {
                "id": _item_id(stem, taken),
                "label": label,
                "dimension": _dimension(stem) or REVIEW,
                "expectation": e,
                "performance": p,
            }
        )
    for said, e, p in text_pairs:
        items.append(
            {
                "id": _item_id(said, taken),
                "label": said,
                "dimension": REVIEW,
                "expectation": e,
                "performance": p,
            }
        )
    if any(i["dimension"] == REVIEW for i in items):
        export.review.append("item dimensions not recognised: set 'dimension' where it says REVIEW")
        export.notes[f"dimension={REVIEW}"] = "group the items into dimensions"
    for label in stem_labels:
        export.notes[f"label={label}"] = "from the column name: write the questionnaire's wording"
    if stem_labels:
        export.review.append("item labels are column stems: write the questionnaire's wording")
    if items:
        export.review.append(
            f"{len(items)} items paired ({len(pairs)} on column names, {len(text_pairs)} on "
            "question text)"
        )
    return items


def _guessed_items(export: _Export, rating: list[str]) -> list[dict[str, Any]]:
    """No pair recognised: the rating-like columns paired as a guess (first half expectations,
    second half performance, in column order), every item marked REVIEW, so the draft loads."""
    half = len(rating) // 2
    if half == 0:
        raise ParamsError(
            "no expectation/performance column pairs recognised and fewer than two rating "
            f"columns ({shorten(rating) or 'none'}): this export is not a gap survey; write the "
            "codebook by hand (each item names its expectation and performance column)"
        )
    taken: set[str] = set()
    items = []
    for e, p in zip(rating[:half], rating[half : 2 * half], strict=True):
        label = _label(export, e, p) or f"{e} vs {p}"
        items.append(
            {
                "id": _item_id(e, taken),
                "label": label,
                "dimension": REVIEW,
                "expectation": e,
                "performance": p,
            }
        )
        export.notes[f"expectation={e}"] = "guessed pair: check"
    export.comments += [
        "REVIEW: no expectation/performance pairs were recognised by name or question text.",
        f"Rating-like columns, in order: {', '.join(rating)}.",
        "The items below pair the first half (expectations) with the second half (performance)",
        "as a guess so the file loads: re-pair them as the questionnaire asks.",
    ]
    export.review.append(
        f"no pairs recognised: {len(items)} items GUESSED from the rating columns "
        f"({shorten(rating)}); re-pair them in the codebook (expectation and performance column "
        "of each item) before the first run"
    )
    export.notes[f"dimension={REVIEW}"] = "group the items into dimensions"
    return items


def _scale(export: _Export, rating_cols: list[str]) -> tuple[int, int, list[int]]:
    """The rating scale and the missing-answer codes beside it.

    The values seen are fitted to a standard scale (:data:`SCALES`) whose top and bottom are
    seen and beyond which only "no answer" codes lie (the value just above the top, 8/9,
    96-99, 888, 997-999, negative numbers); else the run of whole numbers around the most
    common rating."""
    values = np.concatenate([export.numbers[c].dropna().to_numpy() for c in rating_cols])
    values = values[values == np.round(values)]  # a stray 4.5 is rejected by validation
    counts = pd.Series(values).astype("int64").value_counts().sort_index()
    seen = set(counts.index)
    for lo, hi in SCALES:
        outside = [v for v in seen if v < lo or v > hi]
        if lo in seen and hi in seen and all(_is_code(v, lo, hi) for v in outside):
            break
    else:
        lo = hi = int(counts.idxmax())
        while lo - 1 in seen:
            lo -= 1
        while hi + 1 in seen:
            hi += 1
        outside = [v for v in seen if v < lo or v > hi]
        n_out = int(counts[outside].sum()) if outside else 0
        export.review.append(
            f"rating scale {lo}-{hi} read off the data, not a standard scale ({n_out} cell(s) "
            "outside it would be rejected); set the questionnaire's scale"
        )
        export.notes["scale"] = "not a standard scale: set the questionnaire's"
        return lo, hi, []
    codes = sorted(int(v) for v in outside)
    export.notes["scale"] = f"standard scale {lo}-{hi} fitted to the values seen"
    if codes:
        told = ", ".join(f"{c} ({int(counts[c])} cell(s))" for c in codes)
        export.notes["missing"] = f"codes beside the scale, read as no answer: {told}"
        export.review.append(
            f"rating scale {lo}-{hi}; codes outside it proposed as missing answers: {told} "
            "(check the questionnaire: e.g. 6 = Don't know)"
        )
    else:
        export.review.append(f"rating scale {lo}-{hi} fitted to the values seen")
    return lo, hi, codes


def _score_codes(export: _Export, scores: list[str | None], missing: list[int]) -> list[int]:
    """``missing`` with the "no answer" codes seen beyond 0-10 in the 0-10 columns (99, -1):
    validation reads the codebook's codes as missing there only outside 0-10."""
    found: dict[int, int] = {}
    for col in filter(None, scores):
        values = export.numbers[str(col)].dropna()
        values = values[values == values.round()].astype("int64")
        for code, count in values[(values < 0) | (values > 10)].value_counts().items():
            if _is_code(int(code), 0, 10):
                found[int(code)] = found.get(int(code), 0) + int(count)
    new = {c: n for c, n in found.items() if c not in missing}
    if not new:
        return missing
    told = ", ".join(f"{c} ({n} cell(s))" for c, n in sorted(new.items()))
    export.review.append(f"codes beyond 0-10 in the 0-10 columns proposed as missing: {told}")
    note = export.notes.get("missing")
    export.notes["missing"] = (f"{note}; " if note else "") + f"in the 0-10 columns: {told}"
    return sorted({*missing, *new})


def _is_code(value: int, lo: int, hi: int) -> bool:
    """Whether a value outside the scale lo-hi looks like a "no answer" code."""
    if value > hi:
        return value == hi + 1 or value in CODES_ABOVE
    return value < 0


def _segments(export: _Export, kinds: dict[str, str], used: set[str]) -> dict[str, list[str]]:
    """Categorical columns with 2 to ``MAX_SEGMENT_LEVELS`` levels (by frequency; rare values,
    likely typos, left out): text columns, and SPSS-coded columns whose every code has a
    value label (listed by their labels)."""
    frame, numbers, review = export.frame, export.numbers, export.review
    segments = {}
    for c in frame.columns:
        if c in used or kinds.get(c):
            continue
        labels = export.value_labels.get(c, {})
        if c in numbers and not labels:
            continue
        values = frame[c]
        if c in numbers:
            if not values.dropna().isin(list(labels)).all():
                continue
            values = values.map(labels)
        counts = values.value_counts()
        rare = counts[(counts <= 2) & (counts < RARE * counts.sum())]
        counts = counts.drop(rare.index)
        if not 2 <= len(counts) <= MAX_SEGMENT_LEVELS:
            continue
        blank = int(values.isna().sum())
        if blank > MAX_BLANK_SEGMENT * len(values):
            review.append(
                f"'{c}' ({len(counts)} values) not proposed as a segment: {blank} of "
                f"{len(values)} answers blank, and validation rejects a row with a blank segment"
            )
            continue
        segments[c] = [str(v) for v in counts.index]
        if len(rare):
            review.append(
                f"'{c}': rare values left out of the levels (rows with them will be "
                f"rejected): {shorten(list(rare.index))}"
            )
            export.notes[c] = f"rare values left out: {shorten(list(rare.index), 3)}"
        if blank:
            review.append(f"'{c}': {blank} blank cell(s): those rows will be rejected")
    if segments:
        review.append(f"segments proposed: {shorten(list(segments))} (levels by frequency)")
        export.notes["segments"] = "respondent groups, levels by frequency"
    return segments


def _exclusions(export: _Export, kinds: dict[str, str]) -> None:
    """YAML comments on the rows to set aside before validation."""
    if export.qualtrics:
        export.comments += [
            "Qualtrics export: preview responses (Status = Survey Preview) and unfinished ones",
            "(Finished = False) are set aside by validation automatically, with their reason.",
        ]
    meta = [c for c, k in kinds.items() if k == "metadata"]
    if meta:
        export.comments += [
            f"Export metadata (not analysed): {shorten(meta, 12)}.",
            "To set other rows aside, add e.g.  exclude: {DistributionChannel: [preview]}",
        ]


def _yaml(data: dict, notes: dict[str, str]) -> str:
    """YAML text with a ``# REVIEW: note`` comment on the lines of the keys in ``notes``: a key
    (every line of that key) or ``key=value`` (the lines where the key has that value)."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10**6)
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(?:- )?([^:#]+):\s?(.*)$", line)
        note = None
        if m:
            key, value = m.group(1).strip(), m.group(2).strip().strip("'\"")
            note = notes.get(f"{key}={value}", notes.get(key))
        out.append(f"{line}  # {REVIEW}: {note}" if note else line)
    return "\n".join(out) + "\n"


def _clip(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters at a word, with "..." when cut."""
    if len(text) <= width:
        return text
    return text[:width].rsplit(" ", 1)[0] + " ..."


def _suggested_themes(export: _Export, codebook: dict[str, Any]) -> None:
    """Themes suggested from the comment columns (TF-IDF + NMF on the comments redacted of
    personal data, as validation redacts them), written as ``codebook["themes"]`` for the
    researcher to name and keep; nothing when there are too few comments."""
    if not codebook.get("comments"):
        return
    names = redact.personal_names(export.frame, codebook.get("personal") or [])
    texts = redact.redact(comments.comment_texts(export.frame, codebook["comments"]), names)
    suggested = comments.suggest_themes(texts)
    if not suggested:
        export.review.append(
            "too few comments to suggest themes: add themes by hand (codebook themes)"
        )
        return
    codebook["themes"] = suggested
    export.notes["themes"] = "suggested from the comments: name them, keep or drop them"
    export.review.append(
        f"{len(suggested)} themes suggested from the comments: rename them, merge or drop "
        "them, and add the items each speaks to (themes: {Name: {words: [...], items: [...]}})"
    )
