"""Read inputs as received (surveys, margins files). No statistics here.

Survey data are read as text (every cell a string, empty cells missing) so that validation
sees exactly what was exported and rejected rows can be written back with their original values.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from analysis.errors import DataError

ENCODINGS = ("utf-8", "cp1252", "latin-1")
DELIMITERS = ",;\t|"
TEXT = pd.StringDtype(na_value=float("nan"))  # pandas' default string dtype: missing is NaN


@dataclass(frozen=True)
class RawSurvey:
    """A survey file as received.

    ``frame`` holds one row per data row of the file, in file order, every column of pandas' string
    dtype (stripped text; empty cells missing);
    ``detected`` says what was detected about the file (format, encoding, delimiter, decimal mark,
    export kind); ``header_rows`` is the number of lines above the first data row.
    """

    frame: pd.DataFrame
    source: Path
    detected: dict[str, Any] = field(default_factory=dict)
    header_rows: int = 1
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # column: code -> label

    def file_row(self, index: int) -> int:
        """The 1-based line of the file (spreadsheet row) holding data row ``index``."""
        return index + 1 + self.header_rows


def read_survey(path: Path, *, sheet: str | int = 0) -> RawSurvey:
    """Read a survey export (.csv/.tsv/.txt, .xlsx, .sav, .parquet) as text."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: survey file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; export the survey again")
    suffix = path.suffix.lower()
    value_labels: dict[str, dict[str, str]] = {}
    if suffix in (".csv", ".tsv", ".txt"):
        frame, detected = _read_text_table(path)
    elif suffix == ".xlsx":
        frame, detected = _read_excel(path, sheet)
    elif suffix == ".sav":
        frame, detected, value_labels = _read_sav(path)
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
    if _is_qualtrics(frame):
        frame = frame.iloc[2:]
        detected["export"] = "Qualtrics (question-text and ImportId rows skipped)"
        header_rows = 3
    if len(frame) == 0:
        raise DataError(f"{path}: the file has a header but no data rows")
    frame = frame.reset_index(drop=True)
    return RawSurvey(
        frame=frame,
        source=path,
        detected=detected,
        header_rows=header_rows,
        value_labels=value_labels,
    )


def _is_qualtrics(frame: pd.DataFrame) -> bool:
    """Qualtrics exports carry two extra header rows: question texts, then ``{"ImportId":...}``."""
    if len(frame) < 2:
        return False
    second = frame.iloc[1].dropna().astype(str)
    return bool(len(second)) and bool(second.str.startswith('{"ImportId"').mean() > 0.5)


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


def _sniff_delimiter(text: str) -> str:
    """The delimiter is read off the header line (headers hold no decimal commas)."""
    header = text.lstrip("\ufeff").splitlines()[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_text_table(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    text, encoding = _decode(path)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; export the survey again")
    delimiter = _sniff_delimiter(text)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(text.encode("utf-8")),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(_header_names(text, delimiter), pa.string()),
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
    return frame, detected


def _header_names(text: str, delimiter: str) -> list[str]:
    """Column names of the header line (for typing every column as text)."""
    first = next(csv.reader(StringIO(text), delimiter=delimiter), [])
    return list(first)


def _read_excel(path: Path, sheet: str | int) -> tuple[pd.DataFrame, dict[str, Any]]:
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
        frame = pd.read_excel(book, sheet_name=name, dtype=object)
    frame = frame.map(_cell_text)
    return _as_text(frame), {"format": "xlsx", "sheet": name}


def _cell_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_sav(path: Path) -> tuple[pd.DataFrame, dict[str, Any], dict[str, dict[str, str]]]:
    """SPSS: codes as text (user-missing codes -> missing) and each column's value labels; the
    labels are applied by validation to segment columns only (a rating scale's labelled end
    points, "1 = Very poor", must stay numbers)."""
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
    return _as_text(frame), {"format": "sav"}, labels


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
    raw = read_survey(path).frame
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
