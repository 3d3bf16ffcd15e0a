"""Charts as report figures: each chart is drawn twice, wide (desktop, print) and narrow (phone),
and both become inline PNGs (``data:`` URIs) in one ``<picture>``, so the browser picks the
variant for its width without scripts and the report stays one self-contained file.

The markup is the ``figure`` macro of ``templates/sections/_macros.html.j2``, rendered through
:mod:`analysis.report.templating`. Each variant carries ``data-text-px``: its smallest text in
image pixels (font size / 72 x dpi), from which the text height as displayed follows
(x displayed width / image width); the browser tests check it.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from functools import partial
from typing import Any

import matplotlib.pyplot as plt
from IPython.display import HTML
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from analysis.report import templating
from analysis.report.chart_style import localise_ticks

#: A function drawing a chart for ``layout=`` ``"wide"`` or ``"narrow"``
#: (:data:`analysis.report.plots.LAYOUTS`), e.g. ``drawn(plots.gap_chart, table)``.
Draw = Callable[..., Axes]

#: Resolution of the charts inside a section (the gap chart and heatmap are drawn larger).
SECTION_DPI = 110
#: Resolution of the narrow variants: their 4-inch width becomes 720 px, twice the ~360 CSS px
#: they are shown at on a phone (sharp on 2x screens).
NARROW_DPI = 180
#: The browser shows the narrow variant at this width and below.
NARROW_MEDIA = "(max-width: 600px)"


def drawn(plot: Callable[..., Axes], *args: Any, **kwargs: Any) -> Draw:
    """``plot`` with its tables and options bound, left to be called with ``layout=``: a
    :data:`Draw` for :func:`figure` (what a notebook, which defines no functions, passes)."""
    return partial(plot, *args, **kwargs)


def smallest_text_pt(fig: Figure) -> float:
    """The font size (pt) of the smallest visible, non-empty text of a drawn figure."""
    sizes = [
        float(t.get_fontsize())
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return min(sizes) if sizes else 0.0


def render_png(ax: Axes, dpi: int) -> dict[str, Any]:
    """A chart's figure as a palette PNG ``data:`` URI; closes the figure.

    Returns
    -------
    dict
        ``uri`` (the data URI), ``text_px`` (the smallest text's height in image pixels),
        ``width`` and ``height`` (image pixels).
    """
    fig = ax.figure
    localise_ticks(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    text_px = smallest_text_pt(fig) / 72.0 * dpi
    plt.close(fig)
    png = compact_png(buf.getvalue())
    width, height = Image.open(io.BytesIO(png)).size
    return {
        "uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "text_px": round(text_px, 2),
        "width": width,
        "height": height,
    }


def chart(draw: Draw, alt: str, caption: str | None = None, dpi: int = 144) -> dict[str, Any]:
    """The view model of a figure: ``draw`` called for the wide and the narrow layout.

    Returns
    -------
    dict
        ``wide`` and ``narrow`` (:func:`render_png` results; wide at ``dpi``, narrow at
        :data:`NARROW_DPI`), ``media`` (:data:`NARROW_MEDIA`), ``alt`` and ``caption``.
    """
    if not callable(draw):
        raise TypeError(
            "figure() takes a function drawing the chart for a layout, e.g. "
            "lambda layout: plots.gap_chart(table, layout=layout), not a drawn Axes"
        )
    return {
        "wide": render_png(draw(layout="wide"), dpi),
        "narrow": render_png(draw(layout="narrow"), NARROW_DPI),
        "media": NARROW_MEDIA,
        "alt": alt,
        "caption": caption,
    }


def figure(draw: Draw, alt: str, caption: str | None = None, dpi: int = 144) -> HTML:
    """A chart as a report figure (wide and narrow variant, alt text, optional caption) for a
    notebook cell; the figures are closed, so the notebook does not show them twice."""
    return HTML(str(figure_html(draw, alt, caption, dpi)))


def figure_html(draw: Draw, alt: str, caption: str | None = None, dpi: int = 144) -> Markup:
    """The HTML of :func:`figure` (the ``figure.html.j2`` template)."""
    return templating.render("figure.html.j2", fig=chart(draw, alt, caption, dpi))


def section_figure(draw: Draw, alt: str, dpi: int = SECTION_DPI) -> str:
    """The HTML of a chart inside a section (:func:`figure_html` at :data:`SECTION_DPI`), as a
    plain string (sections still join strings; ``str + Markup`` would escape the string)."""
    return str(figure_html(draw, alt=alt, dpi=dpi))


def compact_png(png: bytes) -> bytes:
    """The PNG as a 256-colour palette image (octree, no dithering) if that is smaller."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png
