"""The client report: result tables in, HTML (and charts) out.

The sections, in the report's reading order (each a function returning HTML that a notebook cell
displays; ``notebooks/gap_report.ipynb`` calls them in this order):

- :mod:`~analysis.report.summary`: the cover
- :mod:`~analysis.report.glance`: the first page, "At a glance" (the summary) and the contents
- :mod:`~analysis.report.priorities`: what to fix first (the one priority model)
- :mod:`~analysis.report.gaps`: the gap chart's tables: gaps by dimension (and, in the appendix,
  the gap of every attribute and the dimension gaps by segment)
- :mod:`~analysis.report.segments`: gaps by segment, underserved groups, priorities per group
- :mod:`~analysis.report.key_drivers`: what drives overall satisfaction
- :mod:`~analysis.report.nps`: the Net Promoter Score
- :mod:`~analysis.report.trend`: change since the last survey
- :mod:`~analysis.report.perception`: what staff believe customers expect
- :mod:`~analysis.report.about`: the technical appendix (responses, design, who answered,
  reliability, glossary) and the provenance footer

Under them: :mod:`~analysis.report.templating` (the one Jinja2 environment: every section is a
template, its module prepares plain data), :mod:`~analysis.report.plots` (charts: tables in, Axes
out), :mod:`~analysis.report.figures` (a chart drawn wide and narrow, inline PNGs) and
:mod:`~analysis.report.formatting` (numbers, which rows are shown, display names);
:mod:`~analysis.report.runner` runs the notebook and converts it to the client HTML.
Imports run one way: formatting <- templating, plots and figures <- the sections (glance uses
trend's summary line).
"""
