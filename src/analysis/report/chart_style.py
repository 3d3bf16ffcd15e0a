"""How the charts look: the colour palettes (Okabe-Ito, checked for colour-vision deficiency in
tests/test_colours.py), the two layouts (wide for desktop and print, narrow for a phone) and the
small drawing helpers every chart module shares (plain text without mathtext, wrapped labels,
labels beside or above rows).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis.report import i18n

PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
LABEL_WIDTH = 42  # characters per line of an item label

# ---- colours (Okabe & Ito 2008, "Color universal design"; checked in tests/test_colours.py) ----
#: One colour per dimension of the gap chart, in order (orange, blue, black, bluish green, sky
#: blue): any two of the first five stay >= 24 CIE76 units apart under normal vision,
#: deuteranopia and protanopia. A sixth dimension reuses the colours in order (bands are labelled).
DIMENSION_COLOURS = ("#E69F00", "#0072B2", "#000000", "#009E73", "#56B4E9")
#: The series of one chart (representativeness: customer base, respondents, weighted).
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73")
#: The one colour of a single-series chart (quadrant grids, drivers, NPS, trend).
SINGLE_COLOUR = "#0072B2"
#: The four priority classes of :mod:`analysis.cx.vocabulary`, in order: "Fix first" (dark
#: vermilion), "Improve" (orange), "Monitor" (sky blue), "Maintain" (blue).
PRIORITY_COLOURS = ("#A63603", "#E69F00", "#56B4E9", "#0072B2")


@dataclass(frozen=True)
class Layout:
    """How a chart is drawn for one display width.

    ``width`` is the figure width (inches), ``text`` the smallest font size (pt) and ``font`` the
    size of tick and axis labels, ``chars`` the characters per line of an item label,
    ``xlabel_chars`` of an axis label, ``above`` whether item labels go above their rows,
    ``row`` the height of one item row (inches).
    """

    name: str
    width: float
    text: float
    font: float
    chars: int
    xlabel_chars: int
    above: bool
    row: float


#: The two layouts. Narrow: shown ~360 CSS px wide, a 4 in figure gives 90 px per inch, so the
#: smallest text (8 pt) is 8 / 72 x 90 = 10 px tall as displayed.
LAYOUTS = {
    "wide": Layout("wide", 8.5, 9.0, 10.0, LABEL_WIDTH, 200, False, 0.42),
    "narrow": Layout("narrow", 4.0, 8.0, 8.5, 58, 56, True, 0.5),
}


def layout_of(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, not {name!r}") from None


def colours(palette: tuple[str, ...], n: int) -> list[str]:
    """``n`` colours of ``palette`` in order, repeating it when ``n`` is larger."""
    return [palette[k % len(palette)] for k in range(n)]


@contextmanager
def plain_text(lay: Layout | None = None) -> Iterator[None]:
    rc: dict[str, Any] = dict(PLAIN_TEXT)
    if lay is not None and lay.above:  # narrow: smaller (still legible) type throughout
        rc |= {
            "font.size": lay.font,
            "axes.labelsize": lay.font,
            "xtick.labelsize": lay.text,
            "ytick.labelsize": lay.text,
            "legend.fontsize": lay.text,
        }
    with mpl.rc_context(rc):
        yield


def plain(texts: object) -> None:
    for t in texts:  # type: ignore[attr-defined]
        t.set_parse_math(False)
        t.set_usetex(False)


def new_axes(width: float, height: float) -> Axes:
    _fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def wrap(text: str, width: int = LABEL_WIDTH) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def row_labels(ax: Axes, ypos: list[float] | np.ndarray, labels: list[str], lay: Layout) -> None:
    """Item labels: tick labels beside the rows (wide) or text above each row (narrow), the
    full width of the plot."""
    if not lay.above:
        ax.set_yticks(ypos, labels)
        plain(ax.get_yticklabels())
        return
    ax.set_yticks([])
    for y, label in zip(ypos, labels, strict=True):
        ax.text(
            0,
            y - 0.2,
            label,
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=lay.font,
            color="0.1",
        )


def strip_spines(ax: Axes, sides: tuple[str, ...] = ("top", "right", "left")) -> None:
    for side in sides:
        ax.spines[side].set_visible(False)


_TICK_NUMBER = re.compile(r"^([\u2212-]?)(\d+(?:\.\d+)?)$")


def localise_ticks(fig: Figure) -> None:
    """Write a drawn figure's numeric tick labels in the report's language (``6.50`` ->
    ``6,50``), leaving text labels (attributes, groups) as they are; nothing changes in
    English. The ticks are fixed where matplotlib put them."""
    if i18n.active() == i18n.SOURCE:
        return
    fig.canvas.draw()
    for ax in fig.axes:
        for axis, get_lim, set_lim in (
            (ax.xaxis, ax.get_xlim, ax.set_xlim),
            (ax.yaxis, ax.get_ylim, ax.set_ylim),
        ):
            labels = [t.get_text() for t in axis.get_ticklabels()]
            if not labels or not all(_TICK_NUMBER.match(t) for t in labels if t):
                continue
            lim = get_lim()
            axis.set_ticks(axis.get_ticklocs(), [_localised_number(t) for t in labels])
            set_lim(lim)  # set_ticks widens the limits to every tick, drawn or not


def _localised_number(text: str) -> str:
    """An English tick number (``−0.50``) with the language's decimal symbol (``−0,50``)."""
    m = _TICK_NUMBER.match(text)
    if not m:
        return text
    sign, number = m.groups()
    digits = len(number.partition(".")[2])
    return sign + i18n.decimal(float(number), digits, grouping=False)
