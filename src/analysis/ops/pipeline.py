"""The steps of one client's run, in the order of DESIGN.md's data flow.

Each function is one step the notebook (and the CLI) calls: it takes what the step before produced,
delegates the work to the module that owns it, and writes that step's outputs under
``data/processed/<client>/``. No statistics and no parsing happen here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analysis import files
from analysis.config.params import Client, DesignConfig, Theme, load_client
from analysis.cx import action_plan as action_plan_mod
from analysis.cx import dimensions, drivers, inputs, perception, suppression
from analysis.cx import gaps as gaps_mod
from analysis.cx import nps as nps_mod
from analysis.cx import priorities as priorities_mod
from analysis.cx import reliability as reliability_mod
from analysis.cx import representativeness as representativeness_mod
from analysis.cx import segments as segments_mod
from analysis.cx import themes as themes_mod
from analysis.cx import trend as trend_mod
from analysis.cx import value as value_mod
from analysis.errors import DesignError
from analysis.intake import comments as comments_mod
from analysis.intake import readers, schema
from analysis.ops import process
from analysis.survey import calibrate as weighting
from analysis.survey import design as design_mod
from analysis.survey import inference, replicates
from analysis.survey.design import SurveyDesign


@dataclass(frozen=True)
class Intake:
    """The validated survey: accepted rows (typed), rejected rows (as received, with reasons),
    quality flags of accepted rows, and the summary."""

    clean: pd.DataFrame
    rejected: pd.DataFrame
    summary: schema.ValidationSummary
    flags: pd.DataFrame


def read_and_validate(client: Client) -> schema.Validated:
    """Read the client's survey and validate it against its codebook and design (no writes)."""
    sheet = client.config.survey_sheet
    raw = readers.read_survey(client.survey_path, sheet=0 if sheet is None else sheet)
    return schema.validate(
        raw,
        client.codebook,
        client.config.design,
        duplicates=client.config.validation.duplicates,
    )


def intake(client: Client) -> Intake:
    """Read and validate the survey; write clean, rejected, quality-flag and summary files.

    ``rejected.csv`` holds the excluded rows (exclusion rules, dropped duplicate copies) and the
    rows rejected for bad data, each with its reasons; the codebook's personal-data columns are
    in neither file (empty in rejected.csv) and its comment columns are redacted in both
    (:func:`analysis.intake.schema.validate` does both before anything is written).

    Raises :class:`~analysis.errors.DataError` when the file cannot be read, does not fit the
    codebook, or more than ``validation.max_rejected_share`` of the rows validated are rejected
    for bad data (excluded rows not counted).
    """
    result = read_and_validate(client)
    out = client.processed_dir
    files.write_parquet(result.clean, out / "clean.parquet")
    files.write_csv(result.rejected, out / "rejected.csv")
    files.write_csv(result.flags, out / "quality_flags.csv")
    files.write_json(result.summary.to_dict(), out / "validation.json")
    schema.check_rejected_share(result.summary, client.config.validation.max_rejected_share)
    data = Intake(
        clean=result.clean, rejected=result.rejected, summary=result.summary, flags=result.flags
    )
    del result
    process.release_freed_memory()  # the raw frame's strings: freed, but held by the heap
    return data


def survey_design(client: Client, clean: pd.DataFrame) -> SurveyDesign:
    """The sampling design of the accepted rows, calibrated to the margins file if params ask,
    and with the replicate weights of ``design.variance`` (every replicate calibrated as the
    full sample) unless that is ``taylor``: every estimate of the run then takes its variance
    from them."""
    design = design_mod.build_design(clean, client.config.design)
    calibrate = _calibration(client, clean)
    if calibrate is not None:
        design = calibrate(design)
    variance = client.config.design.variance
    if variance == "taylor":
        return design
    reps = replicates.replicate_weights(
        design,
        type=replicates.VARIANCE_TYPES[variance],
        replicates=client.config.design.replicates,
        seed=client.config.analysis.seed,
        recalibrate=_recalibrator(client, clean, design),
    )
    return design.with_replicates(reps)


def _calibration(
    client: Client, clean: pd.DataFrame
) -> Callable[[SurveyDesign], SurveyDesign] | None:
    """The run's calibration (params ``weighting``) as a function of a design; None without it."""
    w = client.config.weighting
    if w is None:
        return None
    margins = readers.read_margins(client.margins_path)

    def calibrate(design: SurveyDesign) -> SurveyDesign:
        return weighting.calibrate(
            design,
            clean,
            margins,
            method=w.method,
            max_iter=w.max_iter,
            tolerance=w.tolerance,
            bounds=w.bounds,
            source=client.margins_path,
            variance=w.variance,
            small_sample=w.small_sample,
        )

    return calibrate


def gap_table(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame:
    """Estimate gaps overall and by each ``analysis.by`` segment; write ``gap_table.csv``.

    The table has the Benjamini-Hochberg adjusted p-value across items (``p_adjusted``) beside
    the raw one. It is written as every table under data/processed/ is: suppressed (the cells
    of :func:`shown_gaps` blank, the ``suppressed`` flag); the unsuppressed table is returned,
    for the steps that need every estimate (stated importance of the key drivers).
    """
    table = gaps_mod.gap_table(
        design,
        clean,
        client.codebook,
        by=client.config.analysis.by,
        confidence=client.config.analysis.confidence,
    )
    table = _labelled(client, inference.add_p_adjusted(table))
    files.write_csv(shown_gaps(client, table), client.processed_dir / "gap_table.csv")
    return table


# ---------------------------------------------------------------------------------------------
# the customer-centred analyses (issue 5). Their CSVs, like gap_table.csv, are written as the
# report shows them: estimates from fewer than analysis.min_cell respondents blank, with a
# ``suppressed`` flag (one rule, cx.suppression, for every table).


def _labelled(client: Client, table: pd.DataFrame, group: str = "group") -> pd.DataFrame:
    """The table with the display names of its segments and their values (``group_label``,
    ``level_label``: :func:`analysis.cx.inputs.with_labels`), as every table is written."""
    return inputs.with_labels(table, client.codebook, group=group)


def shown_gaps(client: Client, table: pd.DataFrame) -> pd.DataFrame:
    """The gap table as the report shows it: small cells suppressed (every estimate column)."""
    return suppression.suppress(table, client.config.analysis.min_cell, gaps_mod.IDENTIFIERS)


def dimension_gaps(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame:
    """Gap of each dimension, overall and by segment; write ``dimension_gaps.csv``."""
    cfg = client.config.analysis
    table = dimensions.dimension_gaps(
        design, clean, client.codebook, by=cfg.by, confidence=cfg.confidence
    )
    table = suppression.suppress(table, cfg.min_cell, dimensions.IDENTIFIERS)
    table = _labelled(client, table)
    files.write_csv(table, client.processed_dir / "dimension_gaps.csv")
    return table


def priorities(
    client: Client, shown: pd.DataFrame, drivers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every item's priority class and rank (the priority model), significance, IPA quadrant
    and top priorities per group; write ``priorities.csv``. ``shown`` is :func:`shown_gaps`;
    ``drivers`` is :func:`key_drivers` (derived importance from the model of
    ``analysis.drivers_outcome``; None, or no rows of that outcome: stated importance alone)."""
    cfg = client.config.analysis
    scale = client.codebook.scale
    table = priorities_mod.priorities(
        shown,
        drivers,
        outcome=cfg.drivers_outcome,
        scale=(scale.min, scale.max),
        crosshairs=client.config.analysis.crosshairs,
        confidence=cfg.confidence,
        top=client.config.analysis.top_priorities,
    )
    table = _labelled(client, table)
    files.write_csv(table, client.processed_dir / "priorities.csv")
    return table


def _recalibrator(
    client: Client, clean: pd.DataFrame, design: SurveyDesign
) -> replicates.Recalibrator | None:
    """How replicate weights are calibrated like the run's (None: the design is not calibrated).

    Unbounded raking and post-stratification: all replicates at once; otherwise one by one with
    the run's own calibration."""
    w = client.config.weighting
    if w is None or not design.is_calibrated:
        return None
    if w.method in ("rake", "poststratify") and w.bounds is None:
        return replicates.raking_recalibrator(
            design, clean, max_iter=w.max_iter, tolerance=w.tolerance
        )
    return replicates.design_recalibrator(design, _calibration(client, clean))


def key_drivers(
    client: Client, clean: pd.DataFrame, design: SurveyDesign, table: pd.DataFrame
) -> pd.DataFrame | None:
    """Derived importance (Johnson's relative weights, replicate intervals) of every outcome the
    codebook names (overall satisfaction, likelihood to recommend) and each item's tier on the
    dual-importance grid of each; write ``drivers.csv`` (one block of rows per outcome, the
    ``outcome`` column). ``table`` is the gap table (stated importance = its expectation means).

    The intervals come from the design's replicates when it has them (``design.variance``),
    else from the drivers' own (``analysis.replicate_method``, ``analysis.replicates``), built
    once and shared by the outcomes. None when the codebook names neither outcome; an outcome
    that too few respondents answered (with every item's performance) has no rows, and when
    no outcome has any, the table is empty (and no file is written). When the drivers' own
    replicates cannot be recalibrated, the table has no intervals (``replicates = 0``) rather
    than failing the run.
    """
    outcomes = drivers.driver_outcomes(client.codebook)
    if not outcomes:
        return None
    cfg = client.config.analysis
    reps = design.replicates
    if reps is None:
        try:
            reps = replicates.replicate_weights(
                design,
                type=drivers.REPLICATE_TYPES[cfg.replicate_method],
                replicates=cfg.replicates,
                seed=cfg.seed,
                rescale_fpc=True,
                recalibrate=_recalibrator(client, clean, design),
            )
        except DesignError:
            reps = None
    blocks = []
    for outcome in outcomes:
        try:
            blocks.append(
                drivers.key_drivers(
                    design,
                    clean,
                    client.codebook,
                    replicates=reps,
                    missing=cfg.drivers_missing,
                    confidence=cfg.confidence,
                    outcome=outcome,
                )
            )
        except DesignError:
            continue
    if not blocks:
        return pd.DataFrame(columns=drivers.DRIVER_COLUMNS)
    result = pd.concat(blocks, ignore_index=True)
    result = drivers.importance_tiers(result, drivers.stated_importance(table))
    result = suppression.suppress(result, cfg.min_cell, drivers.IDENTIFIERS)
    result = _labelled(client, result)
    files.write_csv(result, client.processed_dir / "drivers.csv")
    return result


def nps(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame | None:
    """Net Promoter Score overall and by segment; write ``nps.csv``. None without a
    ``recommend`` question in the codebook."""
    if not client.codebook.recommend:
        return None
    cfg = client.config.analysis
    table = nps_mod.nps(design, clean, client.codebook, by=cfg.by, confidence=cfg.confidence)
    table = nps_mod.suppress_scores(table, cfg.min_cell)
    table = _labelled(client, table)
    files.write_csv(table, client.processed_dir / "nps.csv")
    return table


def reliability(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame:
    """Cronbach's alpha per dimension, unweighted and design-based; write ``reliability.csv``."""
    cfg = client.config.analysis
    table = reliability_mod.reliability(design, clean, client.codebook, confidence=cfg.confidence)
    table = suppression.suppress(table, cfg.min_cell, reliability_mod.IDENTIFIERS)
    files.write_csv(table, client.processed_dir / "reliability.csv")
    return table


def segments(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame | None:
    """Each segment level against the rest of the customers; write ``segments.csv``. None
    without ``analysis.by`` segments."""
    cfg = client.config.analysis
    if not cfg.by:
        return None
    table = segments_mod.segment_contrasts(
        design, clean, client.codebook, by=cfg.by, confidence=cfg.confidence
    )
    table = segments_mod.suppress_contrasts(table, cfg.min_cell)
    table = _labelled(client, table)
    files.write_csv(table, client.processed_dir / "segments.csv")
    return table


def representativeness(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> pd.DataFrame:
    """Respondents against the customer base (margins file), before and after weighting; write
    ``representativeness.csv`` (suppressed like every table)."""
    margins = readers.read_margins(client.margins_path) if client.margins_path is not None else None
    table = representativeness_mod.representativeness(design, clean, client.codebook, margins)
    table = representativeness_mod.suppress_representativeness(
        table, client.config.analysis.min_cell
    )
    table = _labelled(client, table, group="variable")
    files.write_csv(table, client.processed_dir / "representativeness.csv")
    return table


def previous_waves(client: Client) -> list[tuple[Client, pd.DataFrame, SurveyDesign]]:
    """The earlier waves named by the params key ``previous`` (params files of the same survey,
    oldest first), each read, validated and weighted as its own run would; empty when there are
    none. Nothing is written under the earlier waves' folders."""
    out = []
    for path in client.config.previous_waves:
        prev = load_client(path, root=client.root)
        clean = read_and_validate(prev).clean
        out.append((prev, clean, survey_design(prev, clean)))
    return out


def trend(
    client: Client, clean: pd.DataFrame, design: SurveyDesign
) -> trend_mod.TrendResult | None:
    """Each item's gap and share met in every wave and its change from the wave before and from
    the first (params ``analysis.trend``: independent samples or a panel); write ``trend.csv``,
    ``trend_notes.csv`` (items left out as not comparable, and why) and ``trend_waves.csv``.
    None when the params name no earlier wave."""
    earlier = previous_waves(client)
    if not earlier:
        return None
    cfg = client.config.analysis
    runs = [*earlier, (client, clean, design)]
    notes = trend_mod.comparability(
        client.codebook, [(c.config.client, c.codebook) for c, _, _ in earlier]
    )
    by = [b for b in cfg.by if all(b in c.codebook.segments and b in d.columns for c, d, _ in runs)]
    labels = trend_mod.wave_labels([c.config.title for c, _, _ in runs])
    waves = [
        trend_mod.Wave(
            name=c.config.client,
            title=c.config.title,
            label=label,
            codebook=c.codebook,
            clean=d,
            design=s,
            gaps=gaps_mod.gap_table(s, d, c.codebook, by=by, confidence=cfg.confidence),
        )
        for (c, d, s), label in zip(runs, labels, strict=True)
    ]
    table = trend_mod.trend(
        waves,
        by=by,
        kind=cfg.trend,
        confidence=cfg.confidence,
        min_cell=cfg.min_cell,
        left_out=notes,
    )
    table = _labelled(client, table)
    summary = pd.DataFrame(
        {
            "wave": [w.name for w in waves],
            "wave_order": range(1, len(waves) + 1),
            "wave_label": labels,
            "title": [w.title for w in waves],
            "n": [len(w.clean) for w in waves],
        }
    )
    files.write_csv(table, client.processed_dir / "trend.csv")
    files.write_csv(notes, client.processed_dir / "trend_notes.csv")
    files.write_csv(summary, client.processed_dir / "trend_waves.csv")
    return trend_mod.TrendResult(table=table, notes=notes, waves=summary)


def perception_gap(
    client: Client, clean: pd.DataFrame, design: SurveyDesign
) -> pd.DataFrame | None:
    """What staff believe customers expect against what customers said (params ``staff_survey``,
    codebook section ``staff``); None without a staff survey.

    The staff survey is validated like the customers' (every row accepted or rejected with its
    reasons: ``staff_rejected.csv``, ``staff_validation.json``); writes ``perception_gap.csv``.
    """
    if client.staff_path is None:
        return None
    questionnaire = client.codebook.staff_questionnaire()
    raw = readers.read_survey(client.staff_path)
    result = schema.validate(raw, questionnaire, DesignConfig())
    out = client.processed_dir
    files.write_csv(result.rejected, out / "staff_rejected.csv")
    files.write_json(result.summary.to_dict(), out / "staff_validation.json")
    schema.check_rejected_share(result.summary, client.config.validation.max_rejected_share)
    cfg = client.config.analysis
    table = perception.perception_gap(
        result.clean,
        questionnaire.items,
        design,
        clean,
        client.codebook,
        confidence=cfg.confidence,
    )
    table = perception.suppress_perception(table, cfg.min_cell)
    table = _labelled(client, table)
    files.write_csv(table, out / "perception_gap.csv")
    return table


@dataclass(frozen=True)
class ThemeResult:
    """What customers said: the theme shares as written to ``themes.csv`` (suppressed, labelled)
    and the short quotes of ``quotes.csv`` (columns ``theme, quote``; never attributed)."""

    table: pd.DataFrame
    quotes: pd.DataFrame


def themes(client: Client, clean: pd.DataFrame, design: SurveyDesign) -> ThemeResult | None:
    """The share of customers raising each theme of the open comments, overall and by segment,
    and a few short quotes per theme; write ``themes.csv`` and ``quotes.csv``.

    The themes are the codebook's (``themes``, source ``codebook``), else suggested from the
    comments (:func:`analysis.intake.comments.suggest_themes`, source ``suggested``; none from
    fewer than 30 comments: both files are written without rows). A respondent with several
    comment columns raises a theme if any of their comments does. None when the codebook names
    no comment columns.
    """
    codebook = client.codebook
    if not codebook.comments:
        return None
    cfg = client.config.analysis
    chosen = dict(codebook.themes)
    if not chosen:
        said = comments_mod.comment_texts(clean, codebook.comments)
        suggested = comments_mod.suggest_themes(said, seed=cfg.seed)
        chosen = {name: Theme(words=words) for name, words in suggested.items()}
    coded = comments_mod.code_respondents(clean, codebook.comments, chosen)
    table = themes_mod.theme_shares(
        design, clean, codebook, coded, by=cfg.by, confidence=cfg.confidence
    )
    quotes = themes_mod.quotes(
        clean, codebook, coded, table, cfg.quotes, cfg.min_cell, themes=chosen
    )
    shown = _labelled(client, themes_mod.suppress_shares(table, cfg.min_cell))
    files.write_csv(shown, client.processed_dir / "themes.csv")
    files.write_csv(quotes, client.processed_dir / "quotes.csv")
    return ThemeResult(table=shown, quotes=quotes)


def action_plan(
    client: Client,
    ranked: pd.DataFrame,
    contrasts: pd.DataFrame | None = None,
    themes: ThemeResult | None = None,
) -> pd.DataFrame | None:
    """Each owner's attributes in priority order, with the segments hurt most, what customers
    said and quick wins (:func:`analysis.cx.action_plan.action_plan`); write
    ``action_plan.csv``. ``ranked`` is :func:`priorities`, ``contrasts`` :func:`segments`,
    ``themes`` :func:`themes`. None (and no file) when no item of the codebook has an owner."""
    if not client.codebook.owners():
        return None
    table = action_plan_mod.action_plan(
        ranked,
        client.codebook,
        segments=contrasts,
        themes=themes.table if themes is not None else None,
        quotes=themes.quotes if themes is not None else None,
        confidence=client.config.analysis.confidence,
    )
    files.write_csv(table, client.processed_dir / "action_plan.csv")
    return table


def value(
    client: Client, clean: pd.DataFrame, design: SurveyDesign
) -> value_mod.ValueResult | None:
    """Gaps and NPS weighted by each customer's value (codebook ``value``), and each segment
    level's share of customers and of value, mean gap, NPS and value at risk; write
    ``value_gaps.csv``, ``value_nps.csv`` (with a recommend question) and
    ``key_customers.csv``. None when the codebook names no value column."""
    codebook = client.codebook
    if not codebook.value:
        return None
    cfg = client.config.analysis
    out = client.processed_dir
    gaps = value_mod.value_gaps(design, clean, codebook, by=cfg.by, confidence=cfg.confidence)
    gaps = _labelled(client, value_mod.suppress_value_gaps(gaps, cfg.min_cell))
    files.write_csv(gaps, out / "value_gaps.csv")
    nps = None
    if codebook.recommend:
        nps = value_mod.value_nps(design, clean, codebook, by=cfg.by, confidence=cfg.confidence)
        nps = _labelled(client, value_mod.suppress_key_customers(nps, cfg.min_cell))
        files.write_csv(nps, out / "value_nps.csv")
    key = value_mod.key_customers(design, clean, codebook, by=cfg.by, confidence=cfg.confidence)
    key = _labelled(client, value_mod.suppress_key_customers(key, cfg.min_cell))
    files.write_csv(key, out / "key_customers.csv")
    return value_mod.ValueResult(gaps=gaps, nps=nps, key_customers=key)


def workbook(client: Client) -> Path:
    """Write ``reports/<client>/report.xlsx``: the tables this run wrote under
    ``data/processed/<client>/``, one sheet each, as the report shows them, with a README sheet
    (:mod:`analysis.report.workbook`). Call it after the last table is written."""
    # here, not at the top: `outside-in validate` imports this module and needs neither
    # openpyxl nor the report's sections (matplotlib)
    from analysis.report import about
    from analysis.report import workbook as workbook_mod

    cfg = client.config
    waves = client.processed_dir / "trend_waves.csv"
    wave = cfg.title
    if waves.is_file():
        labels = workbook_mod.read_table(waves)["wave_label"].dropna()
        wave = str(labels.iloc[-1]) if len(labels) else wave
    info = workbook_mod.WorkbookInfo(
        client=client.slug,
        title=cfg.title,
        wave=wave,
        date=dt.date.today(),
        design=workbook_mod.design_sentence(
            cfg.design,
            None if cfg.weighting is None else about.calibration_method(cfg.weighting.method),
            about.variance_method(cfg.design.variance, cfg.design.replicates),
        ),
        confidence=cfg.analysis.confidence,
        min_cell=cfg.analysis.min_cell,
    )
    target = client.report_dir / workbook_mod.FILE_NAME
    return workbook_mod.write_workbook(client.processed_dir, target, info)
