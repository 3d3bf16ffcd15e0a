"""The client report: result tables in, HTML (and charts) out.

The sections, in the report's reading order (each a function returning HTML that a notebook cell
displays; ``notebooks/gap_report.ipynb`` calls them in this order):

- :mod:`~analysis.report.summary`: the cover and the executive summary
- :mod:`~analysis.report.gaps`: the overall gap table and the gaps by dimension
- :mod:`~analysis.report.priorities`: what to fix first (importance-performance, tiers)
- :mod:`~analysis.report.segments`: gaps by segment, underserved groups, priorities per group
- :mod:`~analysis.report.key_drivers`: what drives overall satisfaction
- :mod:`~analysis.report.nps`: the Net Promoter Score
- :mod:`~analysis.report.trend`: change since the last survey
- :mod:`~analysis.report.perception`: what staff believe customers expect
- :mod:`~analysis.report.about`: about the survey (responses, design, who answered,
  reliability, glossary) and the provenance footer

Under them: :mod:`~analysis.report.plots` (charts: tables in, Axes out),
:mod:`~analysis.report.figures` (an Axes as an inline PNG) and
:mod:`~analysis.report.formatting` (numbers, escaping, which rows are shown, table pieces);
:mod:`~analysis.report.runner` runs the notebook and converts it to the client HTML.
Imports run one way: formatting <- plots and figures <- the sections (summary imports the
summary lines of segments, key_drivers, nps and trend).
"""
