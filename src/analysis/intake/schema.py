"""Check every survey row against the codebook (pandera) and account for every row.

A row that breaks any rule is rejected whole, with all of its reasons; accepted + rejected =
received, always. Nothing is coerced, clipped or dropped silently: a cell that is not what the
codebook says is a reason, not a guess.

A malformed line of the file (the reader sets it aside: wrong number of fields, a quote never
closed) is one rejected row too, with its file line in ``reasons``; in ``rejected`` its cells are
empty and the line as received is in the column ``raw_line`` (present only when there are such
lines). Rejected rows are in file order.

Before validation (:func:`exclusions`), rows that are not customers' answers are set aside
("excluded", not validated further): Qualtrics previews, tests, spam and unfinished responses
(automatically for a Qualtrics export), rows matching a codebook ``exclude`` rule, and the dropped
copies of a duplicated respondent id under ``validation.duplicates: keep-first | keep-last``. They
are in ``rejected`` too, with their reasons and ``ledger = excluded`` (the column is present only
when something was excluded); accepted + rejected for bad data + excluded = received.

Missing-answer codes (codebook ``missing``, and an item's own) are missing answers before any
scale check, and counted per code and column. Personal-data columns (codebook ``personal``) never
leave validation (dropped from ``clean``, blanked in ``rejected``); comment columns are redacted
(:func:`analysis.intake.redact.redact`) in both.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from analysis.config.params import Code, Codebook, DesignConfig, StaffQuestionnaire
from analysis.errors import DataError
from analysis.intake.readers import TEXT, RawSurvey
from analysis.intake.redact import personal_names, redact

Questionnaire = Codebook | StaffQuestionnaire  # what a survey is validated against

SCORE_RANGE = (0, 10)  # overall satisfaction and likelihood to recommend
QUALTRICS_DURATION = "Duration (in seconds)"
SPEEDER_FRACTION = 1 / 3  # a speeder took less than a third of the median interview length
MIN_STRAIGHT_LINE_ANSWERS = 6  # straight-lining needs at least this many identical answers
CONTROL = r"[\x00-\x1f\x7f]"  # control characters (newline, tab, ...): never in an id
#: Qualtrics ``Status`` values of responses that are not customers' (preview, test, spam), as
#: text and as the numeric codes of a "numeric values" export
QUALTRICS_STATUS = {
    "Survey Preview": "Survey Preview",
    "Survey Test": "Survey Test",
    "Spam": "Spam",
    "1": "Survey Preview",
    "2": "Survey Test",
    "8": "Spam",
}
UNFINISHED = ("False", "0")  # Qualtrics ``Finished`` of an unfinished response
#: what ``raw_line`` of a malformed line says when the codebook names personal-data columns
WITHHELD = "(withheld: the line may hold personal data; see the survey file at this line)"
Duplicates = Literal["reject", "keep-first", "keep-last"]
EXCLUDED, REJECTED = "excluded", "rejected"  # the ``ledger`` column of the set-aside rows
FLAGS = {
    "straight_lining": "same answer to every rating item",
    "speeder": "interview under a third of the median length",
    "mostly_empty": "more than half of the rating items unanswered",
}


@dataclass(frozen=True)
class ValidationSummary:
    """What validation found: counts of rows and of the rules they broke."""

    source: str
    detected: dict[str, Any]
    received: int
    accepted: int
    rejected: int  # rejected for bad data (rules broken, malformed lines)
    reasons: dict[str, int] = field(default_factory=dict)  # rule -> rows breaking it
    flags: dict[str, int] = field(default_factory=dict)  # quality flag -> rows flagged
    #: set aside before validation (exclusion rules, dropped duplicate copies), not validated
    excluded: int = 0
    exclusions: dict[str, int] = field(default_factory=dict)  # exclusion rule -> rows
    #: missing-answer code (as written in the codebook) -> cells read as missing, in the rows
    #: validated (accepted or rejected, not excluded); and the same per column
    missing_codes: dict[str, int] = field(default_factory=dict)
    missing_codes_by_column: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A readable summary, one line each."""
        fmt = ", ".join(f"{k} {v}" for k, v in self.detected.items())
        out = [
            f"File: {self.source}" + (f" ({fmt})" if fmt else ""),
            f"Rows received: {self.received:,}",
            f"Rows accepted: {self.accepted:,}",
        ]
        if self.excluded:
            out.append(f"Rows excluded (not validated): {self.excluded:,}")
            out += [f"  {n:,} × {rule}" for rule, n in self.exclusions.items()]
        out.append(f"Rows rejected: {self.rejected:,}")
        out += [f"  {n:,} × {rule}" for rule, n in self.reasons.items()]
        if self.missing_codes:
            out.append("Answers given as a missing-answer code (read as no answer):")
            out += [f"  {n:,} × {code}" for code, n in self.missing_codes.items()]
        if self.flags:
            out.append("Quality flags (kept in the analysis):")
            out += [f"  {n:,} × {flag}" for flag, n in self.flags.items()]
        return out


@dataclass(frozen=True)
class Validated:
    """The outcome of validation.

    ``clean``: accepted rows, typed; ``rejected``: rejected rows as received plus ``reasons``;
    ``flags``: quality flags of accepted rows (columns ``id, flag, detail``); flags never reject.
    """

    clean: pd.DataFrame
    rejected: pd.DataFrame
    summary: ValidationSummary
    flags: pd.DataFrame


@dataclass(frozen=True)
class _Rule:
    """A rule of the schema: its name in summaries and how one failing cell is described."""

    summary: str
    detail: str  # formatted with column and value


def _numeric_columns(codebook: Questionnaire, design: DesignConfig) -> dict[str, str]:
    """Columns that must hold numbers, by kind."""
    kinds = {c: "rating" for c in codebook.rating_columns()}
    kinds.update({c: "score" for c in codebook.score_columns()})
    if codebook.value:
        kinds[codebook.value] = "value"
    if design.weight:
        kinds[design.weight] = "weight"
    kinds.update({c: "fpc" for c in design.fpcs})
    return kinds


def required_columns(codebook: Questionnaire, design: DesignConfig) -> list[str]:
    """Every column the codebook and the design name, in a stable order without repeats."""
    return list(dict.fromkeys(codebook.columns() + design.columns()))


def check_columns(raw: RawSurvey, codebook: Questionnaire, design: DesignConfig) -> None:
    """Stop with the list of missing columns and the closest existing names."""
    present = [str(c) for c in raw.frame.columns]
    missing = [c for c in required_columns(codebook, design) if c not in present]
    if not missing:
        return
    unused = [c for c in present if c not in required_columns(codebook, design)]
    parts = []
    for col in missing:
        close = difflib.get_close_matches(col, unused, n=2, cutoff=0.6)
        close += [c for c in unused if col.lower() in c.lower() and c not in close][:2]
        parts.append(col + (f" (closest: {', '.join(close)})" if close else ""))
    sheets = raw.detected.get("sheets") or []
    if len(sheets) > 1 and len(missing) > len(required_columns(codebook, design)) // 2:
        hint = (
            f" Most columns are missing: the data may be on another sheet. This was read from "
            f"sheet {raw.detected.get('sheet')!r}; the workbook's sheets are "
            f"{', '.join(map(repr, sheets))}: set survey_sheet in the params file to the sheet "
            "holding the responses."
        )
    else:
        hint = " Check that the codebook matches this export (a wrong codebook, not bad rows)."
    raise DataError(
        f"{raw.source}: {len(missing)} column(s) named by the codebook or the design are missing: "
        f"{'; '.join(parts)}.{hint}"
    )


def build_schema(codebook: Questionnaire, design: DesignConfig) -> pa.DataFrameSchema:
    """The pandera schema of the typed survey frame (numbers parsed, text stripped)."""
    lo, hi = codebook.scale.min, codebook.scale.max
    whole = pa.Check(lambda s: s == np.floor(s), name="whole_number")
    columns: dict[str, pa.Column] = {
        codebook.id: pa.Column(
            None,
            nullable=False,
            checks=pa.Check(lambda s: ~s.duplicated(keep=False), name="unique_id"),
        ),
    }
    for col in codebook.rating_columns():
        columns[col] = pa.Column(
            float,
            nullable=True,
            checks=[whole, pa.Check(lambda s: s.between(lo, hi), name="in_scale")],
        )
    for col in codebook.score_columns():
        columns[col] = pa.Column(
            float,
            nullable=True,
            checks=[
                whole,
                pa.Check(lambda s: s.between(*SCORE_RANGE), name="in_score_range"),
            ],
        )
    for col, levels in codebook.segments.items():
        columns[col] = pa.Column(
            None,
            nullable=False,
            checks=_listed([str(v) for v in levels]),
        )
    if codebook.value:  # blank: no value recorded (outside every value-weighted estimate)
        columns[codebook.value] = pa.Column(
            float,
            nullable=True,
            checks=[pa.Check(lambda s: np.isfinite(s) & (s >= 0), name="nonnegative_value")],
        )
    if design.weight:
        columns[design.weight] = pa.Column(
            float,
            nullable=False,
            checks=[
                pa.Check(lambda s: np.isfinite(s) & (s > 0), name="positive_weight"),
            ],
        )
    for col in [design.strata, *design.clusters]:
        if col and col not in columns:
            columns[col] = pa.Column(None, nullable=False)
    for col in design.fpcs:
        columns[col] = pa.Column(
            float,
            nullable=False,
            checks=[
                pa.Check(lambda s: np.isfinite(s) & (s > 0), name="positive_fpc"),
            ],
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _listed(levels: list[str]) -> pa.Check:
    return pa.Check(lambda s: s.isin(levels), name="listed_value")


def _rules(codebook: Questionnaire) -> dict[str, _Rule]:
    lo, hi = codebook.scale.min, codebook.scale.max
    return {
        "not_a_number": _Rule("value is not a number", "{col} = {val}: not a number"),
        "whole_number": _Rule("value is not a whole number", "{col} = {val}: not a whole number"),
        "in_scale": _Rule(
            f"rating outside the scale {lo}-{hi}",
            "{col} = {val}: outside the scale " + f"{lo}-{hi}",
        ),
        "in_score_range": _Rule("0-10 score outside 0-10", "{col} = {val}: outside 0-10"),
        "listed_value": _Rule(
            "segment value not listed in the codebook",
            "{col} = {val}: not a listed value ({levels})",
        ),
        "positive_weight": _Rule(
            "weight missing, not finite or not positive",
            "{col} = {val}: weight must be finite and positive",
        ),
        "nonnegative_value": _Rule(
            "customer value not finite or negative",
            "{col} = {val}: a customer's value must be a finite number >= 0 (leave it blank "
            "when it is not known)",
        ),
        "positive_fpc": _Rule(
            "fpc not finite or not positive", "{col} = {val}: fpc must be finite and positive"
        ),
        "unique_id": _Rule("respondent id used more than once", "{col} = {val}: {dup}"),
        "not_nullable": _Rule("required value missing", "{col} is missing"),
        "control_character": _Rule(
            "respondent id holds a control character (newline, tab, ...)",
            "{col} = {val}: holds a control character (a newline, a tab, ...); an id is one "
            "line of visible text",
        ),
        "malformed_line": _Rule(
            "malformed line (wrong number of fields or a quote never closed)",
            "line {line}: {reason}; the line as received is in raw_line",
        ),
        "other": _Rule("other rule broken", "{col} = {val}: fails {check}"),
    }


def validate(
    raw: RawSurvey,
    codebook: Questionnaire,
    design: DesignConfig,
    *,
    duplicates: Duplicates = "reject",
) -> Validated:
    """Validate a survey read by :func:`analysis.intake.readers.read_survey` against its codebook
    and design.

    Rows are first set aside by the exclusion rules (:func:`exclusions`) and, with
    ``duplicates`` ``keep-first`` or ``keep-last`` (params ``validation.duplicates``), the other
    copies of a duplicated respondent id; the rest are validated, missing-answer codes read as
    missing answers. ``reject`` (the default) rejects every copy of a duplicated id.

    Returns
    -------
    Validated
        ``clean``: accepted rows in file order; ratings and scores as nullable ``Int64``,
        segments as ``category`` of strings in codebook order, the weight and fpc columns as
        ``float64``, the id, strata and cluster columns and all other columns as strings;
        without the codebook's personal-data columns, its comment columns redacted.
        ``rejected``: the excluded and rejected rows as received (text; personal-data columns
        empty, comments redacted), in file order, plus a ``reasons`` column (``; ``-separated),
        ``ledger`` (``excluded`` or ``rejected``; only when some row was excluded) and, when the
        file had malformed lines, ``raw_line`` (the line as received; empty for the rows that
        were read). ``summary``: counts of rows received, accepted, rejected, excluded, of rows
        per rule broken and per exclusion rule, and of missing-answer codes.
    """
    check_columns(raw, codebook, design)
    text = raw.frame.astype(TEXT)
    decimal = raw.detected.get("decimal", ".")
    left_out = exclusions(raw, codebook)
    _drop_duplicate_copies(raw, text, codebook.id, duplicates, left_out)
    out_rows = np.zeros(len(text), dtype=bool)
    out_rows[sorted(left_out.reasons)] = True
    work = text[~out_rows]  # keeps the labels of raw.frame (its positions)

    numeric = _numeric_columns(codebook, design)
    found = _Findings(_rules(codebook))
    coded: dict[str, dict[str, int]] = {}
    typed = _labelled_segments(work, raw.value_labels, codebook)
    for col, kind in numeric.items():
        parsed, bad = _parse_numbers(work[col], decimal)
        parsed, bad, counts = _missing_answers(
            work[col], parsed, bad, _codes_of(codebook, col, kind)
        )
        if counts:
            coded[col] = counts
        for row in work.index[bad.to_numpy()]:
            found.add(int(row), "not_a_number", col, work.loc[row, col])
        if kind in ("weight", "fpc"):  # already reported: keep 'missing' from reporting it again
            parsed = parsed.mask(bad, 1.0)
        typed[col] = parsed

    try:
        build_schema(codebook, design).validate(typed, lazy=True)
    except SchemaErrors as exc:
        _collect(exc.failure_cases, raw, work, codebook, found)

    _control_characters(work[codebook.id], found)

    bad_rows = sorted(found.reasons)
    mask = np.zeros(len(text), dtype=bool)
    mask[bad_rows] = True
    aside = sorted([*bad_rows, *left_out.reasons])
    rejected = text.iloc[aside].copy()
    rejected["reasons"] = ["; ".join(found.reasons.get(r) or left_out.reasons[r]) for r in aside]
    if left_out.reasons:
        rejected["ledger"] = [EXCLUDED if r in left_out.reasons else REJECTED for r in aside]
    rejected = _with_malformed(rejected, [raw.file_row(r) for r in aside], raw, found)
    clean = _typed_clean(typed.loc[~mask[work.index]], codebook, design)
    clean = clean.reset_index(drop=True)
    clean, rejected = _protected(clean, rejected, raw, codebook)
    flags = quality_flags(clean, codebook)
    summary = ValidationSummary(
        source=str(raw.source),
        detected=dict(raw.detected),
        received=len(text) + len(raw.malformed),
        accepted=len(clean),
        rejected=len(bad_rows) + len(raw.malformed),
        reasons=found.counts(),
        flags={FLAGS[f]: int(n) for f, n in flags["flag"].value_counts(sort=False).items()},
        excluded=len(left_out.reasons),
        exclusions=left_out.counts(),
        missing_codes=_code_totals(coded),
        missing_codes_by_column=coded,
    )
    counted = summary.accepted + summary.rejected + summary.excluded
    if counted != summary.received or len(rejected) != summary.rejected + summary.excluded:
        raise DataError(  # the accounting invariant
            f"{raw.source}: internal accounting error: {summary.accepted} accepted + "
            f"{summary.rejected} rejected + {summary.excluded} excluded != "
            f"{summary.received} received"
        )
    return Validated(clean=clean, rejected=rejected, summary=summary, flags=flags)


# ---------------------------------------------------------------------------------------------
# exclusions: rows set aside before validation, each with its reason


def is_qualtrics(raw: RawSurvey) -> bool:
    """A Qualtrics export: the reader recognised one, or it has ``ResponseId`` and ``Finished``."""
    export = str(raw.detected.get("export", ""))
    return export.startswith("Qualtrics") or {"ResponseId", "Finished"} <= set(raw.frame.columns)


def exclusions(raw: RawSurvey, codebook: Questionnaire) -> _Findings:
    """The rows to set aside before validation, with their reasons (file order).

    - A Qualtrics export (:func:`is_qualtrics`): ``Status`` a survey preview, test or spam
      (``QUALTRICS_STATUS``), and unfinished responses (``Finished`` false or 0; the reason names
      ``Progress`` when the export has it). A codebook ``exclude`` entry for ``Status`` or
      ``Finished`` replaces the automatic rule (``exclude: {Finished: []}`` keeps unfinished
      responses).
    - Every codebook ``exclude`` rule ``column: [values]``: the cell equals a value (text in any
      case; numbers by value, so ``1`` matches "1.0").
    """
    text = raw.frame
    found = _Findings({})
    rules: dict[str, list[str]] = dict(codebook.exclude)
    personal = set(codebook.personal)
    if is_qualtrics(raw):
        if "Status" in text and "Status" not in rules:
            hit = _matches(text["Status"], list(QUALTRICS_STATUS))
            for row in np.flatnonzero(hit):
                val = str(text["Status"].iloc[row])
                name = QUALTRICS_STATUS.get(_number_text(val) or val, val)
                shown = val if name.casefold() == val.casefold() else f"{val} ({name})"
                found.note(
                    int(row),
                    "survey preview, test or spam response (Qualtrics Status)",
                    f"survey preview, test or spam response (Status = {shown})",
                )
        if "Finished" in text and "Finished" not in rules:
            hit = _matches(text["Finished"], list(UNFINISHED))
            progress = text.get("Progress")
            for row in np.flatnonzero(hit):
                detail = f"Finished = {text['Finished'].iloc[row]}"
                if progress is not None and not pd.isna(progress.iloc[row]):
                    detail += f", Progress = {progress.iloc[row]}%"
                found.note(
                    int(row),
                    "unfinished response (Qualtrics Finished = False)",
                    f"unfinished response ({detail})",
                )
    for col, values in rules.items():
        for value in values:
            hit = _matches(text[col], [value])
            for row in np.flatnonzero(hit):
                cell = "(personal data)" if col in personal else repr(str(text[col].iloc[row]))
                found.note(
                    int(row),
                    f"excluded by the codebook rule {col}: {value}",
                    f"{col} = {cell}: excluded by the codebook rule exclude: {{{col}: {value}}}",
                )
    return found


def _drop_duplicate_copies(
    raw: RawSurvey, text: pd.DataFrame, id_col: str, policy: Duplicates, found: _Findings
) -> None:
    """Under ``keep-first`` (``keep-last``) set aside every copy of a respondent id but the
    first (last) in file order among the rows not already excluded; ``reject`` leaves them to
    the ``unique_id`` rule."""
    if policy == "reject":
        return
    keep = "first" if policy == "keep-first" else "last"
    ids = text[id_col].drop(index=list(found.reasons)).dropna()
    dropped = ids.duplicated(keep=keep)
    if not dropped.any():
        return
    kept = ids[~ids.duplicated(keep=keep) & ids.duplicated(keep=False)]
    kept_row = pd.Series(kept.index, index=kept.to_numpy())
    for row, rid in ids[dropped].items():
        found.note(
            int(row),
            f"duplicate copy of a respondent id (validation.duplicates: {policy})",
            f"duplicate of respondent id {rid}: file row {raw.file_row(int(kept_row[rid]))} kept",
        )


def _number_text(value: str) -> str | None:
    """A number as its shortest text ("1.0" -> "1"); None when ``value`` is not a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return f"{number:g}" if np.isfinite(number) else None


def _matches(cells: pd.Series, codes: list[Code]) -> np.ndarray:
    """Where a text column holds one of ``codes``: numbers by value ("6", "6.0" and 6 are the
    code 6), any other code as text, stripped and in any case."""
    hit = np.zeros(len(cells), dtype=bool)
    for mask in _code_masks(cells, None, codes).values():
        hit |= mask
    return hit


def _code_masks(
    cells: pd.Series, numbers: pd.Series | None, codes: list[Code]
) -> dict[str, np.ndarray]:
    """For each code (keyed as written), where the text column ``cells`` holds it.
    ``numbers`` is the column parsed (:func:`_parse_numbers`), parsed here when None."""
    out: dict[str, np.ndarray] = {}
    lowered: pd.Series | None = None
    for code in codes:
        key = str(code)
        value = None if isinstance(code, str) and _number_text(code) is None else float(code)
        if value is not None:
            if numbers is None:
                numbers, _ = _parse_numbers(cells, ".")
            out[key] = (numbers == value).to_numpy()
        else:
            if lowered is None:
                lowered = cells.str.strip().str.casefold()
            out[key] = (lowered == key.strip().casefold()).fillna(False).to_numpy(bool)
    return out


# ---------------------------------------------------------------------------------------------
# missing-answer codes


def _codes_of(codebook: Questionnaire, column: str, kind: str) -> list[Code]:
    """The missing-answer codes of a column: a rating's own and the codebook's; for a 0-10
    score the codebook's codes that are not scores (text, or numbers outside 0-10)."""
    if kind == "rating":
        return codebook.missing_codes(column)
    if kind == "value":  # codes that cannot be a value: text, or negative numbers (-99)
        return [c for c in codebook.missing if (v := _number_text(str(c))) is None or float(v) < 0]
    if kind == "score":
        lo, hi = SCORE_RANGE
        return [
            c
            for c in codebook.missing
            if (v := _number_text(str(c))) is None or not lo <= float(v) <= hi
        ]
    return []


def _missing_answers(
    cells: pd.Series, numbers: pd.Series, bad: pd.Series, codes: list[Code]
) -> tuple[pd.Series, pd.Series, dict[str, int]]:
    """The parsed column with its missing-answer codes made missing (no longer "not a number"),
    and how many cells held each code (codes never found left out)."""
    if not codes:
        return numbers, bad, {}
    masks = _code_masks(cells, numbers, codes)
    hit = np.zeros(len(cells), dtype=bool)
    for mask in masks.values():
        hit |= mask
    counts = {code: int(m.sum()) for code, m in masks.items() if m.any()}
    return numbers.mask(hit), bad & ~hit, counts


def _code_totals(by_column: dict[str, dict[str, int]]) -> dict[str, int]:
    """Cells per missing-answer code over all columns, most common first."""
    totals: dict[str, int] = {}
    for counts in by_column.values():
        for code, n in counts.items():
            totals[code] = totals.get(code, 0) + n
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------------------------------------
# personal data


def _protected(
    clean: pd.DataFrame, rejected: pd.DataFrame, raw: RawSurvey, codebook: Questionnaire
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``clean`` without the personal-data columns, ``rejected`` with them empty; the comment
    columns of both redacted (names from the personal columns whose names say ``name``), and
    the malformed lines' ``raw_line`` withheld (personal columns) or redacted (comments)."""
    personal = [c for c in codebook.personal if c in raw.frame]
    comments = [c for c in codebook.comments if c in raw.frame]
    if not personal and not comments:
        return clean, rejected
    names = personal_names(raw.frame, personal)
    clean = clean.drop(columns=personal)
    rejected = rejected.copy()
    for col in personal:
        rejected[col] = pd.Series(np.nan, index=rejected.index, dtype=TEXT)
    for col in comments:
        clean[col] = redact(clean[col], names).to_numpy()
        rejected[col] = redact(rejected[col], names).to_numpy()
    if "raw_line" in rejected:
        line = rejected["raw_line"]
        rejected["raw_line"] = (
            line.where(line.isna(), WITHHELD) if personal else redact(line, names).to_numpy()
        )
    return clean, rejected


def _control_characters(ids: pd.Series, found: _Findings) -> None:
    """Reject ids holding a control character (a newline, a tab, ...): they break every file an
    id is written to and are never a real respondent id."""
    ctrl = ids.str.contains(CONTROL, regex=True, na=False).to_numpy()
    for row in ids.index[ctrl]:
        found.add(int(row), "control_character", str(ids.name), ids.loc[row])


def _with_malformed(
    rejected: pd.DataFrame, lines: list[int], raw: RawSurvey, found: _Findings
) -> pd.DataFrame:
    """The rejected rows with the file's malformed lines among them, in file order."""
    if len(raw.malformed) == 0:
        return rejected
    rule = found.rules["malformed_line"]
    for line in raw.malformed["line"]:  # counted per rule like the others (row keys apart)
        found.rule_rows.setdefault(rule.summary, set()).add(-int(line))
    bad = pd.DataFrame(
        {col: pd.Series([np.nan] * len(raw.malformed), dtype=TEXT) for col in rejected.columns}
    )
    bad["reasons"] = [
        rule.detail.format(line=line, reason=reason)
        for line, reason in zip(raw.malformed["line"], raw.malformed["reason"], strict=True)
    ]
    bad["raw_line"] = raw.malformed["raw_line"].astype(TEXT).to_numpy()
    rejected = rejected.assign(raw_line=pd.Series([np.nan] * len(rejected), dtype=TEXT).values)
    order = np.argsort(np.concatenate([lines, raw.malformed["line"].to_numpy(int)]), kind="stable")
    both = pd.concat([rejected.reset_index(drop=True), bad], ignore_index=True)
    return both.iloc[order].reset_index(drop=True)


def quality_flags(clean: pd.DataFrame, codebook: Questionnaire) -> pd.DataFrame:
    """Quality flags of accepted rows: reported, never a reason to reject.

    - ``straight_lining``: every answered rating item has the same answer (at least
      ``MIN_STRAIGHT_LINE_ANSWERS`` answers);
    - ``speeder``: the interview took under a third of the median length (when the codebook names a
      ``duration`` column, or a Qualtrics ``Duration (in seconds)`` column exists);
    - ``mostly_empty``: more than half of the rating items are unanswered.

    Returns a DataFrame with columns ``id, flag, detail``, one row per flag raised.
    """
    ratings = clean[codebook.rating_columns()].astype("float64")
    answered = ratings.notna().sum(axis=1)
    top = ratings.max(axis=1)
    found = {
        "straight_lining": (answered >= MIN_STRAIGHT_LINE_ANSWERS) & (top == ratings.min(axis=1)),
        "mostly_empty": answered < ratings.shape[1] / 2,
    }
    details = {
        "straight_lining": lambda hit: [f"every answer {v:g}" for v in top[hit]],
        "mostly_empty": lambda hit: [f"{k} of {ratings.shape[1]} answered" for k in answered[hit]],
    }
    col = codebook.duration or (QUALTRICS_DURATION if QUALTRICS_DURATION in clean else None)
    if col and col in clean:
        seconds, _ = _parse_numbers(clean[col], ".")
        limit = seconds.median() * SPEEDER_FRACTION
        found["speeder"] = seconds < limit
        details["speeder"] = lambda hit: [f"{v:g} s (limit {limit:g} s)" for v in seconds[hit]]
    rows = [
        pd.DataFrame(
            {"id": clean.loc[hit, codebook.id], "flag": name, "detail": details[name](hit)}
        )
        for name, hit in found.items()
        if hit.any()
    ]
    if not rows:
        return pd.DataFrame({"id": [], "flag": [], "detail": []}, dtype=object)
    return pd.concat(rows, ignore_index=True)


NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(?i:inf|infinity)$"


def _labelled_segments(
    text: pd.DataFrame, value_labels: dict[str, dict[str, str]], codebook: Questionnaire
) -> pd.DataFrame:
    """Segment codes given with value labels (SPSS) read as their labels where the codebook
    lists the label and not the code; every other cell as received."""
    out = text.copy()
    for col, levels in codebook.segments.items():
        labels = value_labels.get(col)
        if not labels:
            continue
        allowed = {str(v) for v in levels}
        mapped = text[col].map(labels)
        use = ~text[col].isin(allowed) & mapped.isin(allowed)
        out.loc[use, col] = mapped[use]
    return out


def _parse_numbers(text: pd.Series, decimal: str) -> tuple[pd.Series, pd.Series]:
    """Parse a text column: the numbers (NaN where missing or not a number), and where the cell
    held text that is not a number. ``decimal`` is "." or "," (then "4,5" reads 4.5). "nan" and
    the like are not numbers: a missing answer is an empty cell."""
    values = arrow.array(text.astype(TEXT), type=arrow.large_string(), from_pandas=True)
    if decimal == ",":
        values = pc.replace_substring_regex(values, r"^([-+]?\d+),(\d+)$", r"\1.\2")
    try:  # fast path: every cell is a number ("nan" casts too, so it is checked for)
        numbers = pc.cast(values, arrow.float64())
        if not pc.any(pc.is_nan(numbers)).as_py():
            bad = np.zeros(len(text), dtype=bool)
            numbers = numbers.to_numpy(zero_copy_only=False)
            return pd.Series(numbers, index=text.index), pd.Series(bad, index=text.index)
    except arrow.ArrowInvalid:
        pass
    ok = pc.fill_null(pc.match_substring_regex(values, NUMBER), False)
    kept = pc.if_else(ok, values, arrow.scalar(None, arrow.large_string()))
    numbers = pc.cast(kept, arrow.float64()).to_numpy(zero_copy_only=False)
    bad = pc.and_(pc.is_valid(values), pc.invert(ok)).to_numpy(zero_copy_only=False)
    return pd.Series(numbers, index=text.index), pd.Series(bad, index=text.index)


class _Findings:
    """Reasons per row (file order) and the rules behind them."""

    def __init__(self, rules: dict[str, _Rule]) -> None:
        self.rules = rules
        self.reasons: dict[int, list[str]] = {}
        self.rule_rows: dict[str, set[int]] = {}

    def add(self, row: int, key: str, col: str, val: Any, **extra: str) -> None:
        rule = self.rules[key]
        shown = "(empty)" if pd.isna(val) else repr(str(val))
        self.note(row, rule.summary, rule.detail.format(col=col, val=shown, **extra))

    def note(self, row: int, summary: str, detail: str) -> None:
        """Record that ``row`` breaks the rule ``summary``, as ``detail`` says."""
        self.reasons.setdefault(row, []).append(detail)
        self.rule_rows.setdefault(summary, set()).add(row)

    def counts(self) -> dict[str, int]:
        """Rows per rule, most common first."""
        pairs = sorted(self.rule_rows.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        return {rule: len(rows) for rule, rows in pairs}


def _collect(
    cases: pd.DataFrame,
    raw: RawSurvey,
    text: pd.DataFrame,
    codebook: Questionnaire,
    found: _Findings,
) -> None:
    """Turn pandera's failure cases into per-row reasons (``text``: the rows validated, as
    received, labelled by their position in ``raw.frame``)."""
    for case in cases.itertuples(index=False):
        col, check, idx = case.column, str(case.check), case.index
        if idx is None or pd.isna(idx):
            raise DataError(f"column {col!r} failed the check {check!r} as a whole")
        row = int(idx)
        val = text.loc[row, col]
        if check == "unique_id":
            same = text.index[(text[col] == val).to_numpy(dtype=bool, na_value=False)]
            others = [str(raw.file_row(int(i))) for i in same if i != row]
            found.add(row, check, col, val, dup="used again on file row(s) " + ", ".join(others))
        elif check == "listed_value":
            found.add(row, check, col, val, levels=", ".join(map(str, codebook.segments[col])))
        elif check in found.rules:
            found.add(row, check, col, val)
        else:  # a pandera built-in we did not name: keep its own wording
            found.add(row, "other", col, val, check=check)


def _typed_clean(
    frame: pd.DataFrame, codebook: Questionnaire, design: DesignConfig
) -> pd.DataFrame:
    out = frame.copy()
    for col in codebook.rating_columns() + codebook.score_columns():
        out[col] = out[col].astype("Int64")
    for col, levels in codebook.segments.items():
        out[col] = pd.Categorical(out[col], categories=[str(v) for v in levels])
    for col in [design.weight, *design.fpcs, codebook.value]:
        if col:
            out[col] = out[col].astype("float64")
    return out


def check_rejected_share(summary: ValidationSummary, max_share: float) -> None:
    """Stop when more than ``max_share`` of the rows validated were rejected for bad data
    (likely a wrong codebook). Excluded rows (previews, unfinished responses, dropped duplicate
    copies) are not counted: they were never validated."""
    validated = summary.received - summary.excluded
    if validated == 0 or summary.rejected / validated <= max_share:
        return
    top = "; ".join(f"{n} × {rule}" for rule, n in list(summary.reasons.items())[:3])
    of = "rows" if not summary.excluded else f"rows validated ({summary.excluded} excluded)"
    raise DataError(
        f"{summary.source}: {summary.rejected} of {validated} {of} "
        f"({summary.rejected / validated:.0%}) were rejected, more than the "
        f"{max_share:.0%} allowed by validation.max_rejected_share. This is more likely a wrong "
        f"codebook than bad respondents. Top reasons: {top}. See rejected.csv for every row."
    )
