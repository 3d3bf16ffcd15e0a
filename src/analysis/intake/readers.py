"""Read inputs as received (surveys, margins files). No statistics here.

Survey data are read as text (every cell a string, empty cells missing) so that validation
sees exactly what was exported and rejected rows can be written back with their original values.

A malformed line of a delimited file (more or fewer fields than the header, a quote that never
closes) does not refuse the file: it is kept aside as received (:attr:`RawSurvey.malformed`, its
raw text and file line) for validation to reject alone. Only a file whose records are mostly
malformed (more than :data:`MAX_MALFORMED_SHARE`) is refused whole.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from analysis import files
from analysis.errors import DataError

ENCODINGS = ("utf-8", "cp1252", "latin-1")
DELIMITERS = ",;\t|"
TEXT = pd.StringDtype(na_value=float("nan"))  # pandas' default string dtype: missing is NaN
MAX_MALFORMED_SHARE = 0.5  # more malformed records than this: the file is refused whole
MALFORMED_COLUMNS = ["line", "raw_line", "reason"]


@dataclass(frozen=True)
class RawSurvey:
    """A survey file as received.

    ``frame`` holds one row per data row of the file, in file order, every column of pandas' string
    dtype (stripped text; empty cells missing);
    ``detected`` says what was detected about the file (format, encoding, delimiter, decimal mark,
    export kind); ``header_rows`` is the number of lines above the first data row;
    ``questions`` maps a column to its question text when the export carries one (Qualtrics'
    second header row; SurveyMonkey's two header rows as "question - item"), else is empty.
    """

    frame: pd.DataFrame
    source: Path
    detected: dict[str, Any] = field(default_factory=dict)
    header_rows: int = 1
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # column: code -> label
    #: malformed lines, in file order: ``line`` (1-based file line), ``raw_line`` (its text as
    #: received), ``reason``; not rows of ``frame``
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=MALFORMED_COLUMNS))
    #: the file line of each row of ``frame`` when it is not ``index + 1 + header_rows``
    #: (malformed lines were set aside); None otherwise
    lines: np.ndarray | None = None
    #: column -> question text, as the export gives it (empty when it gives none)
    questions: dict[str, str] = field(default_factory=dict)

    def file_row(self, index: int) -> int:
        """The 1-based line of the file (spreadsheet row) holding data row ``index``."""
        if self.lines is not None:
            return int(self.lines[index])
        return index + 1 + self.header_rows


def read_survey(path: Path, *, sheet: str | int = 0) -> RawSurvey:
    """Read a survey export (.csv/.tsv/.txt, .xlsx, .sav, .parquet) as text."""
    path = Path(path)
    check_regular_file(path, "survey")
    suffix = path.suffix.lower()
    value_labels: dict[str, dict[str, str]] = {}
    malformed = pd.DataFrame(columns=MALFORMED_COLUMNS)
    lines: np.ndarray | None = None
    questions: dict[str, str] = {}
    if suffix in (".csv", ".tsv", ".txt"):
        frame, detected, malformed, lines, questions = _read_text_table(path)
    elif suffix == ".xlsx":
        frame, detected, questions = _read_excel(path, sheet)
    elif suffix == ".sav":
        frame, detected, value_labels, questions = _read_sav(path)
    elif suffix == ".parquet":
        frame, detected = _read_parquet(path)
    else:
        raise DataError(
            f"{path}: unknown survey file type {suffix!r}; use .csv, .xlsx, .sav or .parquet"
        )
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"{path}: column names used twice: {', '.join(map(str, dup))}")
    header_rows = 1
    if questions:  # SurveyMonkey: its second header row was read as the first data row
        frame = frame.iloc[1:]
        detected["export"] = "SurveyMonkey (second header row read as question items)"
        header_rows = 2
        lines = None if lines is None else lines[1:]
    elif _is_qualtrics(frame):
        questions = {
            str(col): str(text) for col, text in frame.iloc[0].items() if not pd.isna(text)
        }
        frame = frame.iloc[2:]
        detected["export"] = "Qualtrics (question-text and ImportId rows skipped)"
        header_rows = 3
        lines = None if lines is None else lines[2:]
    if len(frame) == 0 and len(malformed) == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    frame = frame.reset_index(drop=True)
    return RawSurvey(
        frame=frame,
        source=path,
        detected=detected,
        header_rows=header_rows,
        value_labels=value_labels,
        malformed=malformed,
        lines=lines,
        questions=questions,
    )


def check_regular_file(path: Path, what: str) -> None:
    """Raise :class:`DataError` unless ``path`` is a non-empty regular file (after symlinks).

    A directory, a FIFO or a device is named as such (never opened: reading a FIFO blocks).
    """
    problem = files.not_a_file(path)
    if problem == "not found":
        raise DataError(f"{path}: {what} file not found")
    if problem is not None:
        raise DataError(f"{path}: {problem}; name the {what} file itself (an export saved to disk)")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; export the {what} again")


def _is_qualtrics(frame: pd.DataFrame) -> bool:
    """Qualtrics exports carry two extra header rows: question texts, then ``{"ImportId":...}``."""
    if len(frame) < 2:
        return False
    second = frame.iloc[1].dropna().astype(str)
    return bool(len(second)) and bool(second.str.startswith('{"ImportId"').mean() > 0.5)


#: the second header row of a SurveyMonkey export over single-answer and open questions
SURVEYMONKEY_RESPONSE = ("Response", "Open-Ended Response")
#: the first metadata column of a SurveyMonkey export
SURVEYMONKEY_METADATA = ("Respondent ID", "Collector ID")


def _surveymonkey_header(text: str, delimiter: str) -> tuple[list[str], dict[str, str]] | None:
    """Column names and question texts of a SurveyMonkey export, or None if it is not one.

    SurveyMonkey writes two header rows: the question text (blank over the later columns of a
    matrix question), then the item text, "Response" or "Open-Ended Response" (blank over the
    metadata columns such as "Respondent ID"). Metadata columns keep their names; question ``k``
    (counting questions in column order) is named ``Q{k}`` when it has one column and its
    columns ``Q{k}_{j}`` when it has several. The question text of a column is "question - item"
    (the question alone for a "Response" column).
    """
    rows = csv.reader(StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    return _surveymonkey_names(next(rows, []), next(rows, []))


def _surveymonkey_names(
    first: list[str], second: list[str]
) -> tuple[list[str], dict[str, str]] | None:
    """Column names and question texts from SurveyMonkey's two header rows (see
    :func:`_surveymonkey_header`), or None if they are not SurveyMonkey's."""
    first = [c.strip() for c in first]
    second = [c.strip() for c in second] + [""] * max(0, len(first) - len(second))
    if len(second) != len(first) or not any(c in SURVEYMONKEY_RESPONSE for c in second):
        return None
    if not (set(first) & set(SURVEYMONKEY_METADATA) or "" in first):
        return None
    groups: list[list[int]] = []  # the column positions of each question
    for pos, (question, item) in enumerate(zip(first, second, strict=True)):
        if item and (question or not groups):
            groups.append([pos])
        elif item:
            groups[-1].append(pos)
    names = list(first)
    questions: dict[str, str] = {}
    for k, group in enumerate(groups, start=1):
        stem = first[group[0]]
        for j, pos in enumerate(group, start=1):
            name = f"Q{k}" if len(group) == 1 else f"Q{k}_{j}"
            names[pos] = name
            item = second[pos]
            questions[name] = stem if item in SURVEYMONKEY_RESPONSE else f"{stem} - {item}"
    for pos, name in enumerate(names):
        if not name:  # a blank header over no question: named by its position
            names[pos] = f"column_{pos + 1}"
    if len(set(names)) != len(names):
        return None  # a metadata name like Q1 clashes: read as a plain table
    return names, questions


def _text_column(values: pa.Array | pa.ChunkedArray) -> pd.Series:
    """One column as pandas' string dtype: whitespace stripped, empty cells missing (NaN)."""
    values = pc.utf8_trim_whitespace(values.cast(pa.large_string()))
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.large_string()), values)
    return pd.Series(values, dtype=TEXT)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell a stripped string or missing, as pandas' string dtype."""
    out = {}
    for col in frame.columns:
        values = pa.array(frame[col].astype(object).to_numpy(), type=pa.string(), from_pandas=True)
        out[str(col).strip()] = _text_column(values)
    return pd.DataFrame(out)


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    utf16 = _utf16(raw)
    if utf16 is not None:
        try:
            return raw.decode(utf16), utf16
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: looks like UTF-16 text but does not decode as {utf16}; save it as "
                "UTF-8 (CSV UTF-8)"
            ) from None
    if b"\x00" in raw[:4096]:
        raise DataError(
            f"{path}: this looks like a binary file, not a text CSV; check the file type "
            "(Excel files must end in .xlsx, SPSS in .sav)"
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="strict"), "utf-8 (with BOM)"
    for enc in ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise DataError(f"{path}: cannot decode the file as text")  # pragma: no cover (latin-1)


def _utf16(raw: bytes) -> str | None:
    """The UTF-16 codec of ``raw`` (a byte-order mark, or ASCII text with every other byte NUL,
    as Excel's "Unicode text" writes it), else None."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the codec reads the BOM and drops it
    head = raw[:4096]
    if len(head) >= 4:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    return None


def _sniff_delimiter(text: str) -> str:
    """The delimiter is read off the header line (headers hold no decimal commas)."""
    header = text.lstrip("\ufeff").splitlines()[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_text_table(
    path: Path,
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame, np.ndarray | None, dict[str, str]]:
    """The table, what was detected, the malformed lines, (when some were set aside) the
    file line of each row, and the question texts of a SurveyMonkey export (its second header
    row is then the table's first row)."""
    text, encoding = _decode(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; export the survey again")
    delimiter = _sniff_delimiter(text)
    header = _header_names(text, delimiter)
    questions: dict[str, str] = {}
    read_options = None
    monkey = _surveymonkey_header(text, delimiter)
    if monkey is not None:
        header, questions = monkey
        read_options = pacsv.ReadOptions(column_names=header, skip_rows=1)
    invalid: list[int] = []

    def count_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append(row.actual_columns)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            read_options=read_options,
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=count_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"{path}: not a well-formed delimited file ({exc}); check that every row has as "
            "many cells as the header"
        ) from exc
    names = [name.strip() for name in table.column_names]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"{path}: column names used twice: {', '.join(dup)}")
    malformed = pd.DataFrame(columns=MALFORMED_COLUMNS)
    lines = None
    if invalid or _open_quote_at_end(table):
        table, malformed, lines = _records_line_by_line(path, text, delimiter, header)
    frame = pd.DataFrame(
        {name: _text_column(col) for name, col in zip(names, table.columns, strict=True)}
    )
    detected: dict[str, Any] = {
        "format": "csv",
        "encoding": encoding,
        "delimiter": {"\t": "tab"}.get(delimiter, delimiter),
    }
    if delimiter == ";":
        detected["decimal"] = ","
    if len(malformed):
        detected["malformed_lines"] = len(malformed)
    return frame, detected, malformed, lines, questions


def _open_quote_at_end(table: pa.Table) -> bool:
    """pyarrow reads a quote left open on the last line as a value running to the end of the
    file (ending in a newline): the sign of an unclosed quote it does not report."""
    if table.num_rows == 0 or table.num_columns == 0:
        return False
    last = table.slice(table.num_rows - 1)
    return any(str(col[0].as_py() or "").endswith(("\n", "\r")) for col in last.columns)


def _records_line_by_line(
    path: Path, text: str, delimiter: str, header: list[str]
) -> tuple[pa.Table, pd.DataFrame, np.ndarray]:
    """Split a file with malformed lines into well-formed records and malformed lines.

    A record is a line, or the lines a quoted value spans. A line that does not make a record of
    as many fields as the header (more or fewer fields, or a quote that never closes) is
    malformed on its own: the next line starts a new record. Only this slow path reads line by
    line; the file is refused whole when most of its records are malformed.

    Returns the table of well-formed records (text columns), the malformed lines (columns
    ``line``, ``raw_line``, ``reason``) and the file line where each record starts.
    """
    physical = [line.removesuffix("\r") for line in text.lstrip("\ufeff").split("\n")]
    width = len(header)
    rows: list[list[str]] = []
    starts: list[int] = []
    bad: list[tuple[int, str, str]] = []
    i = _first_record(physical) + 1  # skip the header
    while i < len(physical):
        line = physical[i]
        if not line:  # blank lines are no records (as pyarrow reads them)
            i += 1
            continue
        fields, used, problem = _one_record(physical, i, delimiter, width)
        if fields is None:
            bad.append((i + 1, line, problem))
            i += 1
        else:
            rows.append(fields)
            starts.append(i + 1)
            i += used
    if len(bad) > MAX_MALFORMED_SHARE * (len(bad) + len(rows)):
        line, _, problem = bad[0]
        raise DataError(
            f"{path}: {len(bad)} of {len(bad) + len(rows)} lines are malformed (the first, line "
            f"{line}: {problem}); check the delimiter and the header, or export the survey again"
        )
    columns = [pa.array([r[k] for r in rows], type=pa.string()) for k in range(width)]
    table = pa.table(columns, names=header) if rows else _empty_table(header)
    malformed = pd.DataFrame(bad, columns=MALFORMED_COLUMNS)
    return table, malformed, np.asarray(starts, dtype=np.int64)


def _empty_table(header: list[str]) -> pa.Table:
    return pa.table([pa.array([], type=pa.string()) for _ in header], names=header)


def _first_record(physical: list[str]) -> int:
    """Index of the header line (the first non-blank line)."""
    return next((k for k, line in enumerate(physical) if line), 0)


def _one_record(
    physical: list[str], i: int, delimiter: str, width: int
) -> tuple[list[str] | None, int, str]:
    """The record starting at physical line ``i``: its fields (None when malformed), how many
    lines it spans and, when malformed, why."""
    fields = _parse(physical[i], delimiter)
    if fields is not None and len(fields) == width:
        return fields, 1, ""
    if fields is None:  # a quoted value continues on the next lines, or never closes
        open_quotes = physical[i].count('"') % 2
        for j in range(i + 1, len(physical)):
            open_quotes ^= physical[j].count('"') % 2
            if not open_quotes:  # the quote closes on line j: one parse of lines i..j
                spanned = _parse("\n".join(physical[i : j + 1]), delimiter)
                if spanned is not None and len(spanned) == width:
                    return spanned, j - i + 1, ""
                break
        return None, 1, "a quote opened on this line is not closed where the row should end"
    return None, 1, f"{len(fields)} fields where the header has {width}"


def _parse(chunk: str, delimiter: str) -> list[str] | None:
    """The fields of one record (None if a quote is left open or it is not one record)."""
    try:
        records = list(csv.reader(StringIO(chunk), delimiter=delimiter, strict=True))
    except csv.Error:
        return None
    if len(records) != 1:
        return None
    return records[0]


def _header_names(text: str, delimiter: str) -> list[str]:
    """Column names of the header line (for typing every column as text)."""
    first = next(csv.reader(StringIO(text), delimiter=delimiter), [])
    return list(first)


def _read_excel(
    path: Path, sheet: str | int
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, str]]:
    """The sheet as text, what was detected, and the question texts of a SurveyMonkey export
    (its second header row is then the frame's first row)."""
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a corrupt file
        raise DataError(f"{path}: cannot read as an Excel workbook ({exc})") from exc
    with book:
        names = [str(n) for n in book.sheet_names]
        if isinstance(sheet, int) and not 0 <= sheet < len(names):
            raise DataError(f"{path}: no sheet number {sheet}; the sheets are {', '.join(names)}")
        if isinstance(sheet, str) and sheet not in names:
            raise DataError(
                f"{path}: no sheet named {sheet!r}; the sheets are {', '.join(names)} "
                "(set survey_sheet in the params file)"
            )
        name = names[sheet] if isinstance(sheet, int) else sheet
        head = pd.read_excel(book, sheet_name=name, dtype=object, header=None, nrows=2)
        head = head.map(lambda v: _cell_text(v) or "")
        monkey = None
        if len(head) == 2:
            monkey = _surveymonkey_names(list(head.iloc[0]), list(head.iloc[1]))
        questions: dict[str, str] = {}
        if monkey is None:
            frame = pd.read_excel(book, sheet_name=name, dtype=object)
        else:  # the second header row is read as the first data row, as from a CSV
            header, questions = monkey
            frame = pd.read_excel(
                book, sheet_name=name, dtype=object, header=None, skiprows=1, names=header
            )
    frame = frame.map(_cell_text)
    detected: dict[str, Any] = {"format": "xlsx", "sheet": name}
    if len(names) > 1:
        detected["sheets"] = names  # for a hint when the data are on another sheet
    return _as_text(frame), detected, questions


def _cell_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_sav(
    path: Path,
) -> tuple[pd.DataFrame, dict[str, Any], dict[str, dict[str, str]], dict[str, str]]:
    """SPSS: codes as text (user-missing codes -> missing), each column's value labels and its
    variable label (the question text); the value labels are applied by validation to segment
    columns only (a rating scale's labelled end points, "1 = Very poor", must stay numbers)."""
    import pyreadstat

    try:
        frame, meta = pyreadstat.read_sav(
            str(path), apply_value_formats=False, user_missing=False, formats_as_category=False
        )
    except Exception as exc:
        raise DataError(f"{path}: cannot read as an SPSS .sav file ({exc})") from exc
    frame = frame.astype(object).map(_cell_text)
    labels = {
        str(col): {_cell_text(code): str(label) for code, label in mapping.items()}
        for col, mapping in (meta.variable_value_labels or {}).items()
    }
    questions = {
        str(col): str(text).strip()
        for col, text in (meta.column_names_to_labels or {}).items()
        if text is not None and str(text).strip()
    }
    return _as_text(frame), {"format": "sav"}, labels, questions


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as a Parquet file ({exc})") from exc
    frame = frame.astype(object).map(_cell_text)
    return _as_text(frame), {"format": "parquet"}


def read_margins(path: Path) -> pd.DataFrame:
    """Read a margins file: columns ``variable, level, count`` (population counts).

    Returns a DataFrame with columns ``variable`` (str), ``level`` (str), ``count`` (float).
    """
    survey = read_survey(path)
    if len(survey.malformed):
        bad = survey.malformed.iloc[0]
        raise DataError(
            f"{path}: line {bad['line']}: {bad['reason']}; every margins line needs "
            "variable, level, count"
        )
    raw = survey.frame
    missing = [c for c in ("variable", "level", "count") if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: margins file needs columns variable, level, count; missing "
            f"{', '.join(missing)}"
        )
    for col in ("variable", "level"):
        empty = raw.index[raw[col].isna()]
        if len(empty):
            raise DataError(
                f"{path}: row {empty[0] + 2}, column '{col}': empty; every margin row names a "
                "variable (a codebook segment) and one of its levels"
            )
    counts = pd.to_numeric(raw["count"], errors="coerce")
    bad = raw.index[counts.isna() | (counts <= 0)]
    if len(bad):
        row = bad[0]
        raise DataError(
            f"{path}: row {row + 2}, column 'count': {raw.loc[row, 'count']!r} is not a positive "
            "number; population counts must be positive numbers"
        )
    out = pd.DataFrame(
        {
            "variable": raw["variable"].astype(str),
            "level": raw["level"].astype(str),
            "count": counts.astype(float),
        }
    )
    dup = out.duplicated(["variable", "level"])
    if dup.any():
        r = out[dup].iloc[0]
        raise DataError(f"{path}: level {r.level!r} of {r.variable!r} is listed twice")
    return out
