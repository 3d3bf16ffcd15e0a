"""Small-cell suppression of every published table: which cells to hide, and blanking them.

One mechanism for every table (gaps, dimensions, drivers, NPS, reliability, segment contrasts,
trend, perception, themes):

- :func:`cells`: the cells to hide. Primary suppression: rows with ``0 < n < min_cell``.
  Complementary suppression: within one item (or dimension, or theme) and one group (not the
  overall row), while the hidden levels could be recovered from the overall estimate and the
  other levels (exactly one is hidden, or together they have fewer than ``min_cell``
  respondents, so their combined estimate would reveal a small cell), the shown level with the
  next smallest ``n`` (``n > 0``; the first in table order on ties) is hidden too. Rows with
  ``n = 0`` are flagged (they have no estimate to show) but hide nothing, so they do not
  trigger complementary suppression.
- :func:`blank`: blanks every column of the hidden rows except the table's identifying columns,
  which the module that builds the table declares (its ``IDENTIFIERS``, e.g.
  :data:`analysis.cx.gaps.IDENTIFIERS`), and adds the bool column ``suppressed``. No estimate of
  a hidden row (p-values, ranks, quadrants, flags) is left.
- :func:`suppress`: the two together, with any rows a table's own rule hides besides (``also``:
  e.g. a segment contrast whose "rest of the customers" is a small cell).

Choices: ``n`` stays visible in every row (respondent counts are not what ``min_cell`` protects,
and the reader sees why a cell is blank), and so does ``df`` (a property of the design): both are
in every table's identifiers. A disclosure rule, not an estimate: no R call reproduces it
(METHODS.md, "Confidentiality").
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from analysis.cx.vocabulary import ALL

#: The flag column every suppressed table gets (never blanked).
FLAG = "suppressed"


def suppress(
    table: pd.DataFrame,
    min_cell: int,
    keep: Iterable[str],
    also: np.ndarray | None = None,
) -> pd.DataFrame:
    """Suppress cells of fewer than ``min_cell`` respondents, with complementary suppression.

    Parameters
    ----------
    table
        A table with a column ``n`` and, optionally, ``group``/``level`` (without them: one
        overall group, so no complementary suppression) and ``item``/``dimension``.
    min_cell
        Smallest number of respondents whose estimate may be shown.
    keep
        The table's identifying columns: left visible in hidden rows (every other column is
        blanked).
    also
        Bool per row: rows to hide besides those of :func:`cells`.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with the hidden rows blanked and a bool column ``suppressed``.
    """
    hide = cells(table, min_cell)
    if also is not None:
        hide = hide | np.asarray(also, dtype=bool)
    return blank(table, hide, keep)


def cells(table: pd.DataFrame, min_cell: int) -> np.ndarray:
    """Bool per row: the cells to hide (primary, complementary and empty; module docstring)."""
    if int(min_cell) != min_cell or min_cell < 1:
        raise ValueError(f"min_cell must be a whole number >= 1, got {min_cell!r}")
    if "n" not in table.columns:
        raise ValueError("the table has no 'n' column to suppress by")
    work = table.copy()
    for c in ("group", "level"):
        if c not in work.columns:
            work[c] = ALL
    n = work["n"].to_numpy(dtype=float)
    primary = (n > 0) & (n < min_cell)
    keys = [c for c in ("item", "dimension", "theme", "group") if c in work.columns]
    grp = work.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    in_groups = work["group"].to_numpy() != ALL
    complementary = np.zeros(len(work), dtype=bool)
    for g in np.unique(grp[primary & in_groups]):  # only groups with a small cell need a look
        rows = np.flatnonzero((grp == g) & in_groups)
        hidden = primary[rows].copy()
        order = [i for i in np.argsort(n[rows], kind="stable") if not hidden[i] and n[rows][i] > 0]
        while order and (hidden.sum() == 1 or n[rows][hidden].sum() < min_cell):
            hidden[order.pop(0)] = True
        complementary[rows[hidden & ~primary[rows]]] = True
    return primary | complementary | (n == 0)


def small(counts: pd.Series | np.ndarray, min_cell: int) -> np.ndarray:
    """Bool per row: a count of ``0 < count < min_cell`` (a small cell that is not empty)."""
    c = np.asarray(counts, dtype=float)
    return (c > 0) & (c < min_cell)


#: Display-name columns: identifiers of every table that has them.
LABELS = ("group_label", "variable_label", "level_label")


def blank(table: pd.DataFrame, hide: np.ndarray, keep: Iterable[str]) -> pd.DataFrame:
    """A copy with every column not in ``keep`` blanked in the ``hide`` rows, and ``suppressed``.

    The display names of a row's segment and value (``group_label``, ``variable_label``,
    ``level_label``: :func:`analysis.cx.inputs.with_labels`) identify it and stay visible too.
    Blank means NaN in float columns, ``<NA>`` in integer and bool ones (which become the
    nullable ``Int64`` and ``boolean``) and None in the others.
    """
    out = table.copy()
    hide = np.asarray(hide, dtype=bool)
    shown = {*keep, *LABELS, FLAG}
    if hide.any():
        for col in [c for c in out.columns if c not in shown]:
            dtype = out[col].dtype
            if pd.api.types.is_bool_dtype(dtype):
                out[col] = out[col].astype("boolean")
                out.loc[hide, col] = pd.NA
            elif not pd.api.types.is_numeric_dtype(dtype):
                out[col] = out[col].astype(object)
                out.loc[hide, col] = None
            elif pd.api.types.is_integer_dtype(dtype):
                out[col] = out[col].astype("Int64")
                out.loc[hide, col] = pd.NA
            else:
                out.loc[hide, col] = np.nan
    out[FLAG] = hide
    return out
