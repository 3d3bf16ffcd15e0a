"""Draft a new client's params file and codebook from its survey export, for a researcher to review.

``outside-in new-client SLUG --survey FILE`` calls :func:`draft_client`. What the export shows is
proposed (expectation/performance column pairs from common naming patterns, low-cardinality text
columns as segments, the id and weight columns, the rating scale seen in the data); what could not
be decided is marked ``REVIEW`` in the files. An existing client is never overwritten.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis import files
from analysis.config.params import SLUG
from analysis.errors import ParamsError
from analysis.intake import readers

# (expectation pattern, performance pattern): each captures the item stem
PAIR_PATTERNS = [
    (r"^e_(.+)$", r"^p_(.+)$"),
    (r"^exp_(.+)$", r"^perf_(.+)$"),
    (r"^expectation_(.+)$", r"^performance_(.+)$"),
    (r"^imp_(.+)$", r"^perf_(.+)$"),
    (r"^imp_(.+)$", r"^sat_(.+)$"),
    (r"^importance_(.+)$", r"^satisfaction_(.+)$"),
    (r"^(.+)_e$", r"^(.+)_p$"),
    (r"^(.+)_exp$", r"^(.+)_perf$"),
    (r"^(.+)_imp$", r"^(.+)_perf$"),
    (r"^(.+)_imp$", r"^(.+)_sat$"),
    (r"^(.+)_expectation$", r"^(.+)_performance$"),
]
DIMENSIONS = {  # SERVQUAL-style stems
    "tan": "Tangibles",
    "rel": "Reliability",
    "res": "Responsiveness",
    "resp": "Responsiveness",
    "asr": "Assurance",
    "ass": "Assurance",
    "emp": "Empathy",
}
OVERALL_NAMES = ("overall_sat", "overall", "osat", "overall_satisfaction", "satisfaction")
RECOMMEND_NAMES = ("recommend", "nps", "ltr", "likelihood_to_recommend")
WEIGHT_HINTS = ("weight", "wgt", "wt", "pw")
DURATION_NAMES = ("duration_sec", "duration", "Duration (in seconds)", "seconds")
MAX_SEGMENT_LEVELS = 12
NUMERIC_SHARE = 0.95  # a column is numeric when this share of its answered cells are numbers
RARE = 0.005  # a text value this rare (and seen at most twice) is more likely a typo than a level
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


def _numbers(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Columns that are numeric but for a few stray cells (<= 5% of the answered ones)."""
    out = {}
    for col in frame.columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        present = int(frame[col].notna().sum())
        if present and values.notna().sum() >= NUMERIC_SHARE * present:
            out[col] = values
    return out


def _pairs(columns: list[str]) -> list[tuple[str, str, str]]:
    """(stem, expectation column, performance column) pairs, in column order."""
    for e_pat, p_pat in PAIR_PATTERNS:
        e_cols = {m.group(1): c for c in columns if (m := re.match(e_pat, c, re.IGNORECASE))}
        p_cols = {m.group(1): c for c in columns if (m := re.match(p_pat, c, re.IGNORECASE))}
        stems = [s for s in e_cols if s in p_cols]
        if stems:
            return [(s, e_cols[s], p_cols[s]) for s in stems]
    return []


def _mostly_unique(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and present.nunique() >= 0.99 * len(values)


def _dimension(stem: str) -> str | None:
    head = re.split(r"[_\d]", stem.lower(), maxsplit=1)[0]
    return DIMENSIONS.get(head)


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[n.lower()] for n in names if n.lower() in lower), None)


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
    review: list[str] = []
    codebook, weight = _draft_codebook(readers.read_survey(survey).frame, survey, review)

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
    params["analysis"] = {"by": list(codebook["segments"])[:2], "confidence": 0.95, "min_cell": 5}
    header = (
        f"# Drafted by `outside-in new-client {slug}` from {survey.name}: review every line marked "
        f"{REVIEW}.\n"
    )
    files.write_text(header + _yaml(codebook, ("scale", "id", "segments")), codebook_path)
    params_path.parent.mkdir(parents=True, exist_ok=True)
    files.write_text(header + _yaml(params, ("title", "design", "by")), params_path)
    return Draft(params=params_path, codebook=codebook_path, survey=target, review=review)


def _draft_codebook(
    frame: pd.DataFrame, survey: Path, review: list[str]
) -> tuple[dict[str, Any], str | None]:
    """The codebook the export suggests, and the sampling weight column (if one is proposed);
    what the researcher must check is appended to ``review``."""
    columns = list(frame.columns)
    numbers = _numbers(frame)
    pairs = _pairs(columns)
    if not pairs:
        raise ParamsError(
            f"{survey}: no expectation/performance column pairs recognised (patterns such as "
            "e_X/p_X, exp_X/perf_X, X_imp/X_sat); write the codebook by hand"
        )
    rating_cols = [c for _, e, p in pairs for c in (e, p)]
    lo, hi = _scale(pd.concat([numbers[c].dropna() for c in rating_cols if c in numbers]), review)
    used = set(rating_cols)
    roles = _roles(frame, numbers, used, review)
    segments = _segments(frame, numbers, used, review)
    left = [c for c in columns if c not in used and c not in segments]
    if left:
        review.append(f"columns not assigned: {', '.join(left)}")
    codebook: dict[str, Any] = {
        "id": roles["id"],
        "scale": {"min": lo, "max": hi},
        "items": _items(pairs, review),
        "segments": segments,
    }
    for role in ("overall", "recommend", "duration"):
        if roles[role]:
            codebook[role] = roles[role]
    return codebook, roles["weight"]


def _scale(rated: pd.Series, review: list[str]) -> tuple[int, int]:
    """The rating scale: the run of whole numbers seen around the most common rating."""
    seen = set(rated[rated == rated.round()].astype(int))
    lo = hi = int(rated.mode().iloc[0])
    while lo - 1 in seen:
        lo -= 1
    while hi + 1 in seen:
        hi += 1
    outside = int(((rated < lo) | (rated > hi)).sum())
    review.append(
        f"rating scale {lo}-{hi} read off the data ({outside} cell(s) outside it would be "
        "rejected); "
        "set the questionnaire's scale"
    )
    return lo, hi


def _roles(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], used: set[str], review: list[str]
) -> dict[str, str | None]:
    """The columns of the respondent id, overall satisfaction, recommend, duration and sampling
    weight (None: not found; the id is ``REVIEW`` then). Adds them to ``used``."""
    id_col = next(
        (
            c
            for c in frame.columns
            if c not in used and "id" in c.lower() and _mostly_unique(frame[c])
        ),
        None,
    )
    if id_col is None:
        review.append("no respondent id column recognised: name it in the codebook")
        id_col = REVIEW
    used.add(id_col)
    free = [c for c in numbers if c not in used]
    roles: dict[str, str | None] = {
        "id": id_col,
        "overall": _pick(free, OVERALL_NAMES),
        "recommend": _pick(free, RECOMMEND_NAMES),
        "duration": _pick(free, DURATION_NAMES),
    }
    used |= {c for c in roles.values() if c}
    roles["weight"] = next(
        (
            c
            for c in numbers
            if c not in used
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


def _segments(
    frame: pd.DataFrame, numbers: dict[str, pd.Series], used: set[str], review: list[str]
) -> dict[str, list[str]]:
    """Text columns with 2 to ``MAX_SEGMENT_LEVELS`` levels (by frequency; rare values, likely
    typos, left out)."""
    segments = {}
    for c in frame.columns:
        if c in used or c in numbers:
            continue
        counts = frame[c].value_counts()
        rare = counts[(counts <= 2) & (counts < RARE * counts.sum())]
        counts = counts.drop(rare.index)
        if 2 <= len(counts) <= MAX_SEGMENT_LEVELS:
            segments[c] = [str(v) for v in counts.index]
            if len(rare):
                review.append(
                    f"'{c}': rare values left out of the levels (rows with them will be "
                    f"rejected): {', '.join(map(str, rare.index))}"
                )
    if segments:
        review.append(f"segments proposed: {', '.join(segments)} (levels by frequency)")
    return segments


def _items(pairs: list[tuple[str, str, str]], review: list[str]) -> list[dict[str, str]]:
    """The codebook items of the column pairs: id and label from the stem, dimension if known."""
    items = [
        {
            "id": re.sub(r"[^A-Za-z0-9_.-]", "_", stem),
            "label": stem.replace("_", " "),
            "dimension": _dimension(stem) or REVIEW,
            "expectation": e,
            "performance": p,
        }
        for stem, e, p in pairs
    ]
    if any(i["dimension"] == REVIEW for i in items):
        review.append("item dimensions not recognised: set 'dimension' where it says REVIEW")
    review.append("item labels are column stems: write the questionnaire's wording")
    return items


def _yaml(data: dict, review: tuple[str, ...]) -> str:
    """YAML text with a ``# REVIEW`` comment on the lines of the keys in ``review``."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    keys = "|".join(map(re.escape, review))
    return re.sub(rf"^(\s*({keys}):.*)$", rf"\1  # {REVIEW}", text, flags=re.MULTILINE)
