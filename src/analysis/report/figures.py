"""Charts as report figures: a matplotlib Axes becomes an inline PNG (``data:`` URI) with alt text,
so the report stays one self-contained file.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib.pyplot as plt
from IPython.display import HTML
from PIL import Image

from analysis.report.formatting import esc

#: Resolution of the charts inside a section (the gap chart and heatmap are drawn larger).
SECTION_DPI = 110


def figure(ax: Any, alt: str, caption: str | None = None, dpi: int = 144) -> HTML:
    """A matplotlib Axes' figure as an inline PNG (``data:`` URI) with alt text; closes it.

    Closing the figure keeps the notebook from showing it twice (once here, once inline). The PNG
    is reduced to a 256-colour palette when that makes it smaller (charts have few colours), which
    keeps an emailed report light.
    """
    fig = ax.figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    data = base64.b64encode(compact_png(buf.getvalue())).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return HTML(
        f'<figure class="oi-figure"><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
        f"{cap}</figure>"
    )


def section_figure(ax: Any, alt: str) -> str:
    """The HTML of a chart inside a section (:func:`figure` at :data:`SECTION_DPI`)."""
    return figure(ax, alt=alt, dpi=SECTION_DPI).data


def compact_png(png: bytes) -> bytes:
    """The PNG as a 256-colour palette image (octree, no dithering) if that is smaller."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(png) else png
