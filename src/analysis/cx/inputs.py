"""The survey's answers as the analyses read them: ratings, paired ratings, segments, scale means.

The one place for the small input helpers that several analysis families share (gaps, dimensions,
NPS, segments, reliability, perception): each turns validated survey rows into arrays or domain
columns and checks them against the codebook. Nothing is estimated here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.config.params import Codebook
from analysis.cx.vocabulary import ALL, ALL_LABEL
from analysis.errors import DesignError
from analysis.survey.design import level_text


def ratings(clean: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Rating (or score) columns of the validated data as a float array (NaN: not answered)."""
    missing = [c for c in columns if c not in clean.columns]
    if missing:
        raise DesignError(f"columns not in the data: {', '.join(missing)}")
    try:
        return clean[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        bad = [c for c in columns if not pd.api.types.is_numeric_dtype(clean[c])]
        raise DesignError(
            f"columns {', '.join(map(repr, bad))} are not numbers; validate the survey against "
            "its codebook first (analysis.intake.schema)"
        ) from None


def paired_ratings(clean: pd.DataFrame, codebook: Codebook) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) expectation and performance of each item, NaN unless both were answered (the
    respondents of an item's gap; METHODS.md)."""
    e = ratings(clean, [i.expectation for i in codebook.items])
    p = ratings(clean, [i.performance for i in codebook.items])
    both = np.isfinite(e) & np.isfinite(p)
    return np.where(both, e, np.nan), np.where(both, p, np.nan)


def segment_column(clean: pd.DataFrame, codebook: Codebook, column: str) -> pd.Series:
    """The segment column as a categorical of its codebook levels (as text), in codebook order."""
    if column not in codebook.segments:
        raise DesignError(
            f"{column!r} is not a codebook segment (segments: "
            f"{', '.join(codebook.segments) or 'none'})"
        )
    if column not in clean.columns:
        raise DesignError(f"segment column {column!r} is not in the data")
    levels = [str(v) for v in codebook.segments[column]]
    text = level_text(clean[column])
    unknown = text.notna() & ~text.isin(levels)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DesignError(
            f"column {column!r}, row {clean.index[i]!r}: value {text.iloc[i]!r} is not one of the "
            f"codebook's levels ({', '.join(levels)})"
        )
    return pd.Series(pd.Categorical(text, categories=levels), name=column)


def segment_domains(
    clean: pd.DataFrame, codebook: Codebook, by: Sequence[str]
) -> dict[str, pd.Series]:
    """Each ``by`` segment as a domain column (:func:`segment_column`), by segment name."""
    return {group: segment_column(clean, codebook, group) for group in by}


def scale_mean(values: np.ndarray, min_share: float) -> np.ndarray:
    """Row means over the answered columns, NaN where fewer than ``min_share`` of them (at least
    one) were answered: a respondent's score on a scale of several items."""
    k = values.shape[1]
    need = max(1, math.ceil(min_share * k - 1e-9))
    count = np.isfinite(values).sum(axis=1)
    with np.errstate(invalid="ignore"):
        total = np.nansum(values, axis=1)
        mean = np.where(count >= need, total / np.maximum(count, 1), np.nan)
    return mean


def with_labels(table: pd.DataFrame, codebook: Codebook, group: str = "group") -> pd.DataFrame:
    """A result table with the display names the codebook gives its segments and their values.

    ``<group>_label`` is inserted after ``group`` (``group_label``; ``variable_label`` for the
    representativeness table, whose segment column is ``variable``) and ``level_label`` after
    ``level``: the codebook's ``label`` of the segment and display name of the value, else the
    column name and the value as they are; the overall rows (``all``) are ``All customers``.
    A table without those columns is returned unchanged.
    """
    if group not in table.columns or "level" not in table.columns:
        return table
    out = table.copy()
    groups = out[group].astype(str)
    levels = out["level"].astype(str)
    overall = groups == ALL
    group_names = [
        ALL_LABEL if o else codebook.segment_label(g) for g, o in zip(groups, overall, strict=True)
    ]
    level_names = [
        ALL_LABEL if o else codebook.value_label(g, lv)
        for g, lv, o in zip(groups, levels, overall, strict=True)
    ]
    for col in (f"{group}_label", "level_label"):
        if col in out.columns:
            out = out.drop(columns=col)
    out.insert(out.columns.get_loc(group) + 1, f"{group}_label", group_names)
    out.insert(out.columns.get_loc("level") + 1, "level_label", level_names)
    return out
