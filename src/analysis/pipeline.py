"""The steps of one client's run, in the order of DESIGN.md's data flow.

Each function is one step the notebook (and the CLI) calls: it takes what the step before produced,
delegates the work to the module that owns it, and writes that step's outputs under
``data/processed/<client>/``. No statistics and no parsing happen here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis import design as design_mod
from analysis import gaps as gaps_mod
from analysis import io, schema, weighting
from analysis.design import SurveyDesign
from analysis.params import Client


@dataclass(frozen=True)
class Intake:
    """The validated survey: accepted rows (typed), rejected rows (as received, with reasons),
    quality flags of accepted rows, and the summary."""

    clean: pd.DataFrame
    rejected: pd.DataFrame
    summary: schema.ValidationSummary
    flags: pd.DataFrame


def intake(client: Client) -> Intake:
    """Read and validate the survey; write clean, rejected, quality-flag and summary files.

    Raises :class:`~analysis.errors.DataError` when the file cannot be read, does not fit the
    codebook, or more than ``validation.max_rejected_share`` of its rows are rejected.
    """
    sheet = client.config.survey_sheet
    raw = io.read_survey(client.survey_path, sheet=0 if sheet is None else sheet)
    result = schema.validate(raw, client.codebook, client.config.design)
    out = client.processed_dir
    io.write_parquet(result.clean, out / "clean.parquet")
    io.write_csv(result.rejected, out / "rejected.csv")
    io.write_csv(result.flags, out / "quality_flags.csv")
    io.write_json(result.summary.to_dict(), out / "validation.json")
    schema.check_rejected_share(result.summary, client.config.validation.max_rejected_share)
    return Intake(
        clean=result.clean, rejected=result.rejected, summary=result.summary, flags=result.flags
    )


def survey_design(client: Client, clean: pd.DataFrame) -> SurveyDesign:
    """The sampling design of the accepted rows, calibrated to the margins file if params ask."""
    design = design_mod.build_design(clean, client.config.design)
    w = client.config.weighting
    if w is None:
        return design
    margins = io.read_margins(client.margins_path)
    return weighting.calibrate(
        design,
        clean,
        margins,
        method=w.method,
        max_iter=w.max_iter,
        tolerance=w.tolerance,
        source=client.margins_path,
    )


def gap_table(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame:
    """Estimate gaps overall and by each ``analysis.by`` segment; write ``gap_table.csv``."""
    table = gaps_mod.gap_table(
        design,
        clean,
        client.codebook,
        by=client.config.analysis.by,
        confidence=client.config.analysis.confidence,
    )
    io.write_csv(table, client.processed_dir / "gap_table.csv")
    return table
