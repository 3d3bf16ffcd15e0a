"""Trend over many waves: each item's gap and share met in every wave, and the change of the gap
from the wave before and from the first wave.

Waves are compared only where they are comparable (:func:`comparability`): the same scale, and
the same item (by id) with the same wording and dimension; anything else is named in the notes
and left out of the trend, never silently compared.

For waves ``a`` (earlier) and ``b``: ``change = gap(b) - gap(a)``. Independent samples (params
``analysis.trend: independent``): ``se = sqrt(se_a^2 + se_b^2)`` (no covariance), ``df`` the sum
of the two designs' degrees of freedom. A panel (``analysis.trend: panel``: the same respondents
recur, matched by the codebook's id): the two waves are stacked into one joined design, each
respondent one PSU across the waves (weights: each wave's final weights), and the change is the
contrast of the two waves' domain means on it (:func:`analysis.survey.estimate.difference`: the
stacked influence values of a respondent's two answers summed within their PSU, so the
covariance of the two waves' estimates enters the variance); ``df`` = respondents - 1. Intervals
and p-values: :func:`analysis.survey.inference.t_interval`; Benjamini-Hochberg across the items
of a group level of a wave (each kind of change its own family).

R: independent, each wave's ``svymean(~gap_j, design_wave, na.rm = TRUE)`` and the change's SE
``sqrt(SE_a^2 + SE_b^2)``; panel, ``d <- svydesign(ids = ~respondent_id, weights = ~w, data =
stacked)``, ``svycontrast(svyby(~gap_j, ~wave, d, svymean, na.rm = TRUE, covmat = TRUE),
c(-1, 1))`` (per segment level, ``wave`` is NA outside the level). Then ``p.adjust(p, "BH")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.config.params import Codebook, DesignConfig
from analysis.cx import suppression
from analysis.cx.inputs import paired_ratings, segment_column
from analysis.cx.vocabulary import ALL
from analysis.errors import DesignError
from analysis.survey import design as design_mod
from analysis.survey import estimate, inference
from analysis.survey.design import SurveyDesign
from analysis.survey.inference import add_p_adjusted

#: The columns of the change from the wave before (today's trend.csv columns keep their names).
CHANGE_COLUMNS = [
    "n_previous",
    "gap_previous",
    "change",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
]
#: The columns of the change from the first wave.
FIRST_COLUMNS = [
    "gap_first",
    "change_first",
    "se_first",
    "ci_low_first",
    "ci_high_first",
    "df_first",
    "p_value_first",
    "p_adjusted_first",
]
TREND_COLUMNS = [
    "wave",
    "wave_order",
    "wave_label",
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "gap",
    "gap_se",
    "share_met",
    "share_met_se",
    *CHANGE_COLUMNS,
    *FIRST_COLUMNS,
]
#: Identifying columns (and the counts, ``df``): visible when a row is suppressed.
IDENTIFIERS = (
    "wave",
    "wave_order",
    "wave_label",
    "item",
    "label",
    "dimension",
    "group",
    "level",
    "n",
    "n_previous",
    "df",
    "df_first",
)
NOTE_COLUMNS = ["wave", "item", "label", "reason"]
TREND_KINDS = ("independent", "panel")
#: The rows of two waves that are compared.
_KEYS = ["item", "group", "level"]


@dataclass(frozen=True)
class Wave:
    """One wave of the survey as the trend reads it.

    ``name`` is its params ``client`` slug, ``title`` its params title, ``label`` the short name
    the report shows (:func:`wave_labels`); ``gaps`` its unsuppressed gap table
    (:func:`analysis.cx.gaps.gap_table`); ``codebook``, ``clean`` and ``design`` its own (needed
    only by a panel trend's joined design).
    """

    name: str
    label: str
    gaps: pd.DataFrame
    title: str = ""
    codebook: Codebook | None = None
    clean: pd.DataFrame | None = None
    design: SurveyDesign | None = None


def wave_labels(titles: Sequence[str]) -> list[str]:
    """Short labels of the waves: the year in each title when every title names a different
    one (``... 2024`` -> ``2024``), else ``Wave 1``, ``Wave 2``, ... (oldest first)."""
    years = [re.findall(r"\b(?:19|20)\d\d\b", t) for t in titles]
    last = [y[-1] if y else None for y in years]
    if all(last) and len(set(last)) == len(last):
        return [str(y) for y in last]
    return [f"Wave {k}" for k in range(1, len(titles) + 1)]


def comparability(current: Codebook, earlier: Sequence[tuple[str, Codebook]]) -> pd.DataFrame:
    """What cannot be compared between the current wave and each earlier one.

    An earlier wave on another rating scale cannot be compared at all (one note per item of
    the current codebook); otherwise an item is not comparable when the earlier wave did not
    ask it (no item of that id) or asked it differently (another wording or dimension).

    Parameters
    ----------
    current
        The current wave's codebook.
    earlier
        ``(wave name, codebook)`` of each earlier wave, oldest first.

    Returns
    -------
    pandas.DataFrame
        Columns ``wave, item, label, reason`` (one row per item left out of the trend and the
        wave that makes it so; no rows when everything compares).
    """
    rows = []
    for name, book in earlier:
        theirs = {i.id: i for i in book.items}
        if (book.scale.min, book.scale.max) != (current.scale.min, current.scale.max):
            reason = (
                f"rated on a {book.scale.min}-{book.scale.max} scale in {name}, "
                f"{current.scale.min}-{current.scale.max} now"
            )
            rows += [(name, i.id, i.label, reason) for i in current.items]
            continue
        for item in current.items:
            old = theirs.get(item.id)
            if old is None:
                rows.append((name, item.id, item.label, f"not asked in {name}"))
            elif old.label != item.label:
                rows.append(
                    (name, item.id, item.label, f"worded differently in {name}: {old.label!r}")
                )
            elif old.dimension != item.dimension:
                rows.append(
                    (
                        name,
                        item.id,
                        item.label,
                        f"in dimension {old.dimension!r} in {name}, {item.dimension!r} now",
                    )
                )
    return pd.DataFrame(rows, columns=NOTE_COLUMNS)


@dataclass(frozen=True)
class TrendResult:
    """The trend of a run: ``table`` as :func:`trend` returns it (labelled, as ``trend.csv``),
    ``notes`` the :func:`comparability` rows (``trend_notes.csv``: what was left out and why)
    and ``waves`` the waves' ``wave, wave_order, wave_label, title, n`` (oldest first)."""

    table: pd.DataFrame
    notes: pd.DataFrame
    waves: pd.DataFrame


#: A function giving the change's SE of two waves: (earlier, later, merged rows) -> (se, df).
ChangeVariance = Callable[[Wave, Wave, pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def trend(
    waves: Sequence[Wave],
    by: Sequence[str] = (),
    kind: str = "independent",
    confidence: float = 0.95,
    min_cell: int | None = None,
    left_out: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each item's gap and share met in every wave, and the change from the wave before and from
    the first wave, overall and per segment level present in every wave.

    Parameters
    ----------
    waves
        The waves, oldest first, the current one last (at least two).
    by
        Segment columns whose levels are compared (each must be in every wave).
    kind
        ``independent`` or ``panel`` (module docstring).
    min_cell
        If given, a wave's gap columns are blanked where its own gap table's suppression hides
        the row, and a change's columns where either wave's does (so a hidden gap cannot be
        worked out from a published one and the change).
    left_out
        :func:`comparability` notes: their items are left out of the trend.

    Returns
    -------
    pandas.DataFrame
        Columns ``wave, wave_order, wave_label, item, label, dimension, group, level, n, gap,
        gap_se, share_met, share_met_se`` (the wave's own estimates), ``n_previous,
        gap_previous, change, se, ci_low, ci_high, df, p_value, p_adjusted`` (the change from the
        wave before; NaN in the first wave's rows) and ``gap_first, change_first, se_first,
        ci_low_first, ci_high_first, df_first, p_value_first, p_adjusted_first`` (from the first
        wave; NaN in its rows), plus ``suppressed`` with ``min_cell``. One row per wave x item x
        group level in the rows of all waves, wave-major (oldest first), each wave in the current
        gap table's order. ``wave_order`` counts from 1.

    Raises
    ------
    ValueError
        Fewer than two waves, or an unknown ``kind``.
    """
    if len(waves) < 2:
        raise ValueError(f"a trend needs at least two waves, got {len(waves)}")
    if kind not in TREND_KINDS:
        raise ValueError(f"trend kind {kind!r} is not one of {', '.join(TREND_KINDS)}")
    variance: ChangeVariance = _panel_variance(by, confidence) if kind == "panel" else _independent
    skip = set() if left_out is None else set(left_out["item"].astype(str))
    tables = [_hidden(w.gaps, min_cell, skip) for w in waves]
    common = tables[-1][_KEYS]
    for t in tables[:-1]:
        common = common.merge(t[_KEYS], on=_KEYS, how="inner")
    tables = [common.merge(t, on=_KEYS, how="left") for t in tables]
    frames = []
    for k, (wave, table) in enumerate(zip(waves, tables, strict=True)):
        rows = table.assign(
            wave=wave.name, wave_order=k + 1, wave_label=wave.label, gap_se=table["se"]
        )
        out = rows[TREND_COLUMNS[: TREND_COLUMNS.index("n_previous")]].copy()
        prev = _pair(waves[k - 1], wave, tables[k - 1], table, variance, confidence, k > 0)
        first = _pair(waves[0], wave, tables[0], table, variance, confidence, k > 0)
        out[CHANGE_COLUMNS] = prev[CHANGE_COLUMNS].to_numpy()
        first = first.rename(columns={c: f"{c}_first" for c in CHANGE_COLUMNS})
        first = first.rename(columns={"gap_previous_first": "gap_first"})
        out[FIRST_COLUMNS] = first[FIRST_COLUMNS].to_numpy()
        if min_cell is not None:
            own = table["_hidden"].to_numpy(dtype=bool)
            pair_prev = own | tables[k - 1]["_hidden"].to_numpy(dtype=bool)
            pair_first = own | tables[0]["_hidden"].to_numpy(dtype=bool)
            out = _blank(out, own, ["gap", "gap_se", "share_met", "share_met_se"])
            out = _blank(out, pair_prev if k > 0 else own, CHANGE_COLUMNS)
            out = _blank(out, pair_first if k > 0 else own, FIRST_COLUMNS)
            out["suppressed"] = own | (pair_prev if k > 0 else own)
        frames.append(out)
    result = pd.concat(frames, ignore_index=True)
    result["n"] = result["n"].astype(int)
    return result


def current_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the current (last) wave: today's trend table of the change since the wave
    before, one row per item and group level."""
    if table.empty:
        return table
    return table[table["wave_order"] == table["wave_order"].max()].reset_index(drop=True)


def _blank(out: pd.DataFrame, hide: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """``out`` with ``columns`` blanked in the ``hide`` rows (:func:`suppression.blank`)."""
    keep = [c for c in out.columns if c not in columns or c in IDENTIFIERS]
    blanked = suppression.blank(out, hide, keep)
    return blanked.drop(columns=[suppression.FLAG], errors="ignore")


def _hidden(table: pd.DataFrame, min_cell: int | None, skip: set[str]) -> pd.DataFrame:
    """A copy with the keys as text, the ``skip`` items left out, and ``_hidden``: the rows its
    suppression would hide."""
    out = table.copy()
    for k in _KEYS:
        out[k] = out[k].astype(str)
    out["_hidden"] = False if min_cell is None else suppression.cells(out, min_cell)
    return out[~out["item"].isin(skip)].reset_index(drop=True)


def _pair(
    a: Wave,
    b: Wave,
    ta: pd.DataFrame,
    tb: pd.DataFrame,
    variance: ChangeVariance,
    confidence: float,
    compare: bool,
) -> pd.DataFrame:
    """The change ``gap(b) - gap(a)`` of each row (rows aligned), with its SE, interval, p and
    BH-adjusted p; all NaN unless ``compare``."""
    n = len(tb)
    if not compare or n == 0:
        empty = {c: np.full(n, np.nan) for c in CHANGE_COLUMNS}
        return pd.DataFrame(empty)
    change = tb["gap"].astype(float).to_numpy() - ta["gap"].astype(float).to_numpy()
    se, df = variance(a, b, tb.assign(se_previous=ta["se"].to_numpy(), df_previous=ta["df"]))
    cols = inference.t_interval(change, se, df, confidence)
    out = pd.DataFrame(
        {
            "group": tb["group"].to_numpy(),
            "level": tb["level"].to_numpy(),
            "n_previous": ta["n"].to_numpy(dtype=float),
            "gap_previous": ta["gap"].to_numpy(dtype=float),
            "change": change,
            "se": se,
            "ci_low": cols["ci_low"],
            "ci_high": cols["ci_high"],
            "df": inference.df_column(df),
            "p_value": cols["p_value"],
        }
    )
    return add_p_adjusted(out)


def _independent(a: Wave, b: Wave, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Independent samples: ``sqrt(se_a^2 + se_b^2)`` and the sum of the two df."""
    del a, b
    se = np.sqrt(rows["se"].astype(float) ** 2 + rows["se_previous"].astype(float) ** 2)
    df = rows["df"].astype(float) + rows["df_previous"].astype(float)
    return se.to_numpy(), df.to_numpy()


def _panel_variance(by: Sequence[str], confidence: float) -> ChangeVariance:
    """The panel's change variance: the contrast of the two waves on their joined design."""

    def variance(a: Wave, b: Wave, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        table = panel_changes(a, b, by, confidence)
        merged = rows[_KEYS].merge(table, on=_KEYS, how="left")
        return merged["se"].to_numpy(dtype=float), merged["df"].to_numpy(dtype=float)

    return variance


def joined_design(a: Wave, b: Wave) -> tuple[SurveyDesign, pd.DataFrame]:
    """The two waves stacked into one design: each respondent (the codebook id) one PSU across
    the waves, weighted by each wave's final (calibrated) weights, without strata.

    Returns
    -------
    tuple
        The design and the stacked frame (columns ``_wave`` (``a`` / ``b``), ``_id``, ``_w``,
        then the current codebook's expectation and performance columns and the segments).

    Raises
    ------
    DesignError
        No respondent of the later wave took part in the earlier one (no panel to join).
    """
    parts = []
    for tag, wave in (("a", a), ("b", b)):
        if wave.codebook is None or wave.clean is None or wave.design is None:
            raise ValueError(f"wave {wave.name}: a panel trend needs its codebook, rows and design")
        frame = wave.clean.reset_index(drop=True)
        part = pd.DataFrame(
            {
                "_wave": tag,
                "_id": frame[wave.codebook.id].astype(str).to_numpy(),
                "_w": np.asarray(wave.design.weights, dtype=float),
            }
        )
        parts.append(part)
    overlap = set(parts[0]["_id"]) & set(parts[1]["_id"])
    if not overlap:
        raise DesignError(
            f"analysis.trend is panel, but no respondent id of {b.name} occurs in {a.name}; "
            "match the waves' respondent ids, or use analysis.trend: independent"
        )
    stacked = pd.concat(parts, ignore_index=True)
    config = DesignConfig(weight="_w", cluster="_id")
    return design_mod.build_design(stacked, config), stacked


def panel_changes(
    a: Wave, b: Wave, by: Sequence[str] = (), confidence: float = 0.95
) -> pd.DataFrame:
    """The change of every item's gap from wave ``a`` to wave ``b`` of a panel, overall and per
    segment level, from their joined design (:func:`joined_design`).

    Returns
    -------
    pandas.DataFrame
        Columns ``item, group, level, change, se, df``: ``change = gap(b) - gap(a)`` over each
        wave's respondents who answered both ratings (and are in the level), ``se`` from the
        stacked influence values (R's ``svycontrast`` of ``svyby(covmat = TRUE)``), ``df`` the
        joined design's (respondents - 1).
    """
    design, stacked = joined_design(a, b)
    items = [i.id for i in b.codebook.items if i.id in {j.id for j in a.codebook.items}]
    gaps, segments = [], {g: [] for g in by}
    for wave in (a, b):
        book = wave.codebook.model_copy(
            update={"items": [i for i in wave.codebook.items if i.id in items]}
        )
        order = {i.id: n for n, i in enumerate(book.items)}
        e, p = paired_ratings(wave.clean.reset_index(drop=True), book)
        cols = [order[i] for i in items]
        gaps.append((p - e)[:, cols])
        for g in by:
            segments[g].append(segment_column(wave.clean.reset_index(drop=True), book, g))
    values = pd.DataFrame(np.vstack(gaps), columns=items)
    tag = stacked["_wave"]
    domains: list[tuple[str, str, pd.Series]] = [(ALL, ALL, tag)]
    for g in by:
        seg = pd.concat([s.astype(str).where(s.notna()) for s in segments[g]], ignore_index=True)
        for level in b.codebook.segments[g]:
            domains.append((g, str(level), tag.where(seg == str(level))))
    frames = []
    for group, level, dom in domains:
        dom = pd.Series(pd.Categorical(dom, categories=["b", "a"]))
        if not {"a", "b"} <= set(dom.dropna()):
            continue
        diff = estimate.difference(design, values, dom, "b", "a", confidence)
        frames.append(
            pd.DataFrame(
                {
                    "item": diff["variable"].astype(str),
                    "group": group,
                    "level": level,
                    "change": diff["estimate"],
                    "se": diff["se"],
                    "df": diff["df"].astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
