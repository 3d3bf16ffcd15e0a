"""The headings of the report's parts that no section carries: "Gaps" (before the gap chart),
"Technical appendix" (with its one-line introduction) and "The gap of every attribute" (before
the overall gap table, in the appendix).

They were markdown cells of the notebook; as code cells calling :func:`heading` they are written
in the report's language (``templates/sections/headings.html.j2``), with the same HTML and ids
(``#gaps``, ``#appendix``, ``#gap-detail``: the contents link to them, and the print style starts
the appendix on a new page at ``h2.oi-appendix``).
"""

from __future__ import annotations

from IPython.display import HTML

from analysis.report.templating import section

#: the headings there are -> the id of the HTML heading each renders
NAMES: dict[str, str] = {"gaps": "gaps", "appendix": "appendix", "detail": "gap-detail"}


def heading(name: str) -> HTML:
    """The heading ``name`` (one of :data:`NAMES`) in the active language, for a notebook cell
    to display; a ValueError naming the headings there are for any other name."""
    if name not in NAMES:
        raise ValueError(f"no report heading {name!r}; the headings are {', '.join(NAMES)}")
    return section("headings.html.j2", heading=name)
