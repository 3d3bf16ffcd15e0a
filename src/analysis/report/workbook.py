"""The client's workbook, ``reports/<client>/report.xlsx``: the report's tables, one sheet each.

Each sheet is one CSV of ``data/processed/<client>/`` as the run wrote it: every table there is
already suppressed as the report shows it (:mod:`analysis.cx.suppression`, applied by
:mod:`analysis.ops.pipeline` before anything is written), so a cell the report hides is blank
here too, and no second rule decides it. Values are stored unrounded (only their number format
rounds what Excel displays); blank CSV cells are empty cells. Headers are frozen and carry the
report's words, sheet names, the README sheet and every other word come from
``templates/workbook/words.yaml`` (none is spelt here). Tables that a run did not write (no
trend, no comments, no value column ...) have no sheet.

The notebook's kernel writes the workbook (:func:`analysis.ops.pipeline.workbook`), after the
last table: it needs pandas, which the runner's own process never imports, and a run of the
notebook by papermill alone writes it too. It is written into ``client.report_dir``, so a staged
run (:mod:`analysis.report.staging`) swaps it in with its report.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from analysis import files
from analysis.report import formatting, i18n

WORDS_FILE = Path(__file__).resolve().parent / "templates" / "workbook" / "words.yaml"
FILE_NAME = "report.xlsx"


@dataclass(frozen=True)
class Sheet:
    """One sheet: its key in ``words.yaml``, the CSV it shows, and the columns shown with one
    decimal (points on a 0-100 scale) besides :data:`ONE_DECIMAL`."""

    key: str
    csv: str
    one_decimal: tuple[str, ...] = ()


_NPS_POINTS = ("se", "ci_low", "ci_high", "difference", "difference_se", "difference_ci_low")
#: The sheets, in the report's reading order (the README sheet comes first).
SHEETS: tuple[Sheet, ...] = (
    Sheet("priorities", "priorities.csv"),
    Sheet("action_plan", "action_plan.csv"),
    Sheet("gaps", "gap_table.csv"),
    Sheet("dimensions", "dimension_gaps.csv"),
    Sheet("segments", "segments.csv"),
    Sheet("value_gaps", "value_gaps.csv"),
    Sheet("value_nps", "value_nps.csv", ("se", "ci_low", "ci_high")),
    Sheet("key_customers", "key_customers.csv"),
    Sheet("drivers", "drivers.csv"),
    Sheet("nps", "nps.csv", (*_NPS_POINTS, "difference_ci_high")),
    Sheet("themes", "themes.csv"),
    Sheet("quotes", "quotes.csv"),
    Sheet("trend", "trend.csv"),
    Sheet("trend_waves", "trend_waves.csv"),
    Sheet("perception", "perception_gap.csv"),
    Sheet("representativeness", "representativeness.csv"),
    Sheet("reliability", "reliability.csv"),
)

#: Shares on a 0-1 scale, shown as percentages.
PERCENT = frozenset(
    {
        "share", "share_se", "share_ci_low", "share_ci_high", "share_met", "share_met_se",
        "population_share", "sample_share", "design_weighted_share", "weighted_share",
        "share_of_comments", "coded_share", "theme_share",
    }
)  # fmt: skip
#: p-values: three decimals, ``<0.001`` below that (the report's ``p < 0.001``).
P_VALUES = frozenset({"p_value", "p_adjusted", "p_value_first", "p_adjusted_first"})
#: Counts, ranks and degrees of freedom: whole numbers.
WHOLE = frozenset(
    {
        "n", "n_items", "n_rest", "n_staff", "n_customers", "n_previous", "n_no_value",
        "comments", "raising", "df", "df_first", "rank", "value_rank", "rank_change", "order",
        "wave_order", "replicates", "population",
    }
)  # fmt: skip
#: Scores in points (0-100 scales: NPS, percentages of customers): one decimal.
ONE_DECIMAL = frozenset(
    {
        "nps", "nps_rest", "nps_se", "value_nps", "promoters", "passives", "detractors",
        "customers", "customers_se", "value_share", "value_share_se", "value_at_risk",
        "value_at_risk_se", "detractor_value", "detractor_value_se",
    }
)  # fmt: skip
FORMATS = {
    "percent": "0.0%",
    "p": '[<0.001]"<0.001";0.000',
    "whole": "#,##0",
    "one": "0.0",
    "two": "0.00",
    "three": "0.000",
}
THREE_DECIMALS = frozenset(
    {"raw_weight", "raw_weight_se", "raw_weight_ci_low", "raw_weight_ci_high"}
)
MIN_WIDTH, MAX_WIDTH = 8, 48  # column widths, in characters


@dataclass(frozen=True)
class WorkbookInfo:
    """What the README sheet says about the run: the client's slug and report title, the survey
    (its wave), the day, the design in a sentence, the confidence level and ``min_cell``."""

    client: str
    title: str
    wave: str
    date: dt.date
    design: str
    confidence: float
    min_cell: int


def words() -> dict[str, Any]:
    """The workbook's words (``templates/workbook/words.yaml``) in the report's language: each
    word is a message of the catalogs (:func:`analysis.report.i18n.word_list`)."""
    return _words(i18n.active())


@cache
def _words(language: str) -> dict[str, Any]:
    with i18n.using(language):
        return i18n.word_list(WORDS_FILE)


def heading(column: str) -> str:
    """A column's heading in the workbook (its name when ``words.yaml`` has none)."""
    return str(words()["columns"].get(column, column))


def number_format(sheet: Sheet, column: str) -> str | None:
    """The Excel number format of a numeric column of ``sheet`` (None: a text column)."""
    if column in P_VALUES:
        return FORMATS["p"]
    if column in PERCENT:
        return FORMATS["percent"]
    if column in WHOLE:
        return FORMATS["whole"]
    if column in ONE_DECIMAL or column in sheet.one_decimal:
        return FORMATS["one"]
    if column in THREE_DECIMALS:
        return FORMATS["three"]
    return FORMATS["two"]


def read_table(path: Path) -> pd.DataFrame:
    """A CSV as the run wrote it: only empty cells are missing (a level called ``NA`` stays
    text); numbers as pandas parses them (exactly from pandas 3, within an ulp before)."""
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def design_sentence(design: Any, calibration: str | None, variance: str) -> str:
    """The design and weights in a sentence or two (``words.yaml``'s ``readme.design``), from
    the params' ``design`` block (:class:`analysis.config.params.DesignConfig`), the
    calibration method in the report's words (None: not calibrated) and where the standard
    errors come from, in the report's words (:func:`analysis.report.about.variance_method`)."""
    w = words()["readme"]["design"]
    parts = [w["weighted" if design.weight else "srs"].format(weight=design.weight)]
    if design.strata:
        parts.append(w["strata"].format(strata=design.strata))
    if design.clusters:
        parts.append(w["cluster"].format(cluster="', '".join(design.clusters)))
    if calibration is not None:
        parts.append(w["calibrated"].format(method=calibration))
    parts.append(w["variance"].format(variance=variance))
    return " ".join(parts)


def present_sheets(processed_dir: Path) -> list[Sheet]:
    """The sheets whose CSV the run wrote, in :data:`SHEETS` order."""
    return [s for s in SHEETS if (Path(processed_dir) / s.csv).is_file()]


def build_workbook(processed_dir: Path, info: WorkbookInfo) -> openpyxl.Workbook:
    """The workbook of the tables under ``processed_dir``: a README sheet, then one sheet per
    table of :func:`present_sheets` (every column of its CSV, in order, under its heading).
    A write-only workbook (streamed when saved): save it once."""
    book = openpyxl.Workbook(write_only=True)
    sheets = present_sheets(processed_dir)
    _readme(book.create_sheet(words()["readme"]["sheet"]), info, sheets)
    for sheet in sheets:
        table = read_table(Path(processed_dir) / sheet.csv)
        _table_sheet(book.create_sheet(words()["sheets"][sheet.key]["name"]), sheet, table)
    return book


def write_workbook(processed_dir: Path, target: Path, info: WorkbookInfo) -> Path:
    """Build the workbook (:func:`build_workbook`) and write it to ``target`` atomically."""
    book = build_workbook(processed_dir, info)
    with files.atomic_path(Path(target)) as tmp:
        book.save(tmp)
    return Path(target)


def _cell_value(value: Any) -> Any:
    """A table value as openpyxl stores it: missing -> empty, numpy scalars -> Python."""
    if formatting.missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _table_sheet(ws: Worksheet, sheet: Sheet, table: pd.DataFrame) -> None:
    columns = [str(c) for c in table.columns]
    formats: list[str | None] = []
    for col in columns:
        values = table[col]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        formats.append(number_format(sheet, col) if numeric else None)
    for j, col in enumerate(columns, start=1):
        width = _width(heading(col), table[col], formats[j - 1])
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = "A2"
    ws.append([_header(ws, heading(c)) for c in columns])
    # one formatted cell per numeric column, its value set row by row: a write-only sheet
    # writes each row as it is appended, and styling a new cell per value costs ~10x more
    cells = [None if f is None else WriteOnlyCell(ws) for f in formats]
    for cell, fmt in zip(cells, formats, strict=True):
        if cell is not None:
            cell.number_format = fmt
    for row in table.itertuples(index=False, name=None):
        ws.append([_value(v, c) for v, c in zip(row, cells, strict=True)])


def _header(ws: Worksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.font = Font(bold=True)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def _value(value: Any, cell: WriteOnlyCell | None) -> Any:
    """A table value as the sheet stores it: missing -> empty; a number in its column's
    formatted ``cell`` (None: a text column)."""
    value = _cell_value(value)
    if cell is None or value is None or isinstance(value, bool):
        return value
    cell.value = value
    return cell


def _width(head: str, values: pd.Series, fmt: str | None) -> float:
    """A column's width: its longest heading word or value as shown (numbers: their format's
    width), within :data:`MIN_WIDTH` and :data:`MAX_WIDTH`."""
    longest_word = max((len(w) for w in head.split()), default=0)
    if fmt is not None:
        shown = 10 if fmt in (FORMATS["whole"], FORMATS["one"]) else 8
    else:
        text = values.dropna().astype(str)
        shown = int(text.str.len().quantile(0.9)) if len(text) else 0
    return float(min(MAX_WIDTH, max(MIN_WIDTH, longest_word + 2, min(len(head), 24), shown + 2)))


def _readme(ws: Worksheet, info: WorkbookInfo, sheets: list[Sheet]) -> None:
    w = words()["readme"]
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    title = WriteOnlyCell(ws, value=w["heading"].format(title=info.title))
    title.font = Font(bold=True, size=14)
    ws.append([title])
    ws.append([])
    date = WriteOnlyCell(ws, value=info.date)
    date.number_format = "yyyy-mm-dd"
    date.alignment = Alignment(horizontal="left")
    facts = {
        "client": info.client,
        "wave": info.wave,
        "date": date,
        "design": _wrapped(ws, info.design),
        "confidence": w["confidence"].format(level=formatting.level_pct(info.confidence)),
        "min_cell": w["min_cell"].format(min_cell=info.min_cell),
    }
    for key, value in facts.items():
        ws.append([_header(ws, w["facts"][key]), value])
    ws.append([])
    ws.append([_header(ws, w["sheets"])])
    for sheet in sheets:
        spec = words()["sheets"][sheet.key]
        ws.append([spec["name"], _wrapped(ws, spec["about"])])
    for key in ("blank", "values"):
        ws.append([])
        ws.append([None, _wrapped(ws, w[key])])


def _wrapped(ws: Worksheet, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell
