"""``reports/index.html``: one page listing every client of the project, its status and reports.

Written after every batch (:func:`analysis.ops.batch.run_batch`) and by ``outside-in index``.
The clients are those with a params file (``params/*.yaml``), a report folder
(``reports/<client>/``) or a line in the last batch's status (``data/processed/batch.json``,
written by the batch: :func:`write_batch_status`). Each client's status is the latest of what is
on disk:

- ``ok``: its last good run (``data/processed/<client>/manifest.json``: date, rows), or the last
  batch ran it or found it unchanged;
- ``failed``: the last batch says so (failed, or stopped at its timeout; with its error and log),
  or a run failed after the last good one (``report.failed.ipynb`` is left only then: a good
  run replaces the client's folder whole);
- ``not run``: neither.

The headline figures are the report's, read from the last good run's CSVs with the ``csv``
module: NPS (``nps.csv``, the overall row, unless hidden), the share of customers whose
expectations are met (the average over the attributes shown, as "At a glance" gives it:
:func:`analysis.report.glance.glance_view`) and the top priority (``priorities.csv``: the
shown overall row flagged ``top_priority`` with the best rank). A hidden (suppressed) figure is
not shown. The page is rendered from ``templates/sections/index.html.j2`` (inline CSS, no
scripts, nothing remote: checked like the report, :func:`analysis.report.runner.
check_self_contained`) and written atomically. Every word on it is in the template.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analysis import files
from analysis.cx.vocabulary import ALL
from analysis.report import templating
from analysis.report.runner import FAILED_NOTEBOOK, check_self_contained

INDEX = Path("reports") / "index.html"
BATCH_STATUS = Path("data") / "processed" / "batch.json"
STATUSES = ("ok", "failed", "not run")
#: The batch's statuses (:data:`analysis.ops.batch.STATUSES`) as the index shows them.
FROM_BATCH = {"ok": "ok", "skipped": "ok", "failed": "failed", "timeout": "failed"}
RUN_LOG = "run.log"  # data/processed/<client>/run.log (analysis.ops.isolated.RUN_LOG)
LINKS = {"report": "report.html", "pdf": "report.pdf", "workbook": "report.xlsx"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class BatchRecord:
    """One client's line of the last batch: its status (:data:`FROM_BATCH` keys), when the batch
    finished, its error and log (project-relative path), and why it ran or was skipped."""

    client: str
    status: str
    finished: dt.datetime
    params: str | None = None
    error: str | None = None
    log: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ClientEntry:
    """One client's line of the index.

    ``status`` is one of :data:`STATUSES`; ``date`` the day of the last good run; ``accepted``
    and ``received`` its rows; ``nps``, ``share_met`` (0-1) and ``top_priority`` (an attribute's
    label) its headline figures (None: not in the run, or hidden); ``links`` maps ``report``,
    ``pdf``, ``workbook`` to paths relative to ``reports/`` of the files that exist; ``error``
    and ``log`` (relative to ``reports/``) say why the last run failed.
    """

    client: str
    title: str | None
    params: str | None
    status: str
    date: dt.date | None = None
    accepted: int | None = None
    received: int | None = None
    nps: float | None = None
    share_met: float | None = None
    top_priority: str | None = None
    links: Mapping[str, str] | None = None
    error: str | None = None
    log: str | None = None
    reason: str | None = None


# ---------------------------------------------------------------------------------------------
# the batch's record


def write_batch_status(root: Path, records: Iterable[BatchRecord]) -> Path:
    """Write the last batch's status (``data/processed/batch.json``) atomically."""
    data = {
        "clients": [
            {
                "client": r.client,
                "status": r.status,
                "finished": r.finished.isoformat(timespec="seconds"),
                "params": r.params,
                "error": r.error,
                "log": r.log,
                "reason": r.reason,
            }
            for r in records
        ]
    }
    return files.write_json(data, Path(root) / BATCH_STATUS)


def read_batch_status(root: Path) -> dict[str, BatchRecord]:
    """The last batch's records by client (empty: no batch ran, or its file is unreadable)."""
    try:
        data = json.loads((Path(root) / BATCH_STATUS).read_text(encoding="utf-8"))
        out = {}
        for r in data["clients"]:
            finished = _when(r.get("finished"))
            if finished is None or r.get("status") not in FROM_BATCH:
                continue
            out[str(r["client"])] = BatchRecord(
                client=str(r["client"]),
                status=str(r["status"]),
                finished=finished,
                params=r.get("params"),
                error=r.get("error"),
                log=r.get("log"),
                reason=r.get("reason"),
            )
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


# ---------------------------------------------------------------------------------------------
# the clients


def collect(root: Path, batch: Mapping[str, BatchRecord] | None = None) -> list[ClientEntry]:
    """Every client of the project under ``root`` with its status and figures, by slug.

    ``batch``: the last batch's records (default: :func:`read_batch_status`).
    """
    root = Path(root).absolute()
    records = read_batch_status(root) if batch is None else dict(batch)
    params = _params_files(root)
    reports = root / "reports"
    found = set(params) | set(records)
    if reports.is_dir():
        found |= {p.name for p in reports.iterdir() if p.is_dir() and _SLUG.match(p.name)}
    return [_entry(root, slug, params.get(slug), records.get(slug)) for slug in sorted(found)]


def _params_files(root: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """slug -> (params path relative to root, title, error reading it)."""
    out: dict[str, tuple[str, str | None, str | None]] = {}
    for path in sorted((root / "params").glob("*.yaml")):
        rel = path.relative_to(root).as_posix()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            slug, title = str(data["client"]), data.get("title")
            error = None if _SLUG.match(slug) else f"{rel}: client {slug!r} is not a valid slug"
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
            slug, title = path.stem, None
            error = f"{rel}: cannot be read ({type(exc).__name__}: {exc})"
        out.setdefault(slug, (rel, None if title is None else str(title), error))
    return out


def _entry(
    root: Path,
    slug: str,
    params: tuple[str, str | None, str | None] | None,
    record: BatchRecord | None,
) -> ClientEntry:
    processed = root / "data" / "processed" / slug
    manifest = _manifest(processed / "manifest.json")
    rel_params, title, params_error = params if params is not None else (None, None, None)
    title = title or (manifest or {}).get("title")
    events: list[tuple[dt.datetime, int, str]] = []  # (when, precedence, status)
    good = _when((manifest or {}).get("finished"))
    if good is not None:
        events.append((good, 0, "ok"))
    failed_nb = processed / FAILED_NOTEBOOK
    if failed_nb.is_file():
        events.append((_mtime(failed_nb), 1, "failed"))
    if record is not None:
        events.append((record.finished, 2, FROM_BATCH[record.status]))
    status = max(events)[2] if events else "not run"
    error = log = None
    if status == "failed":
        if record is not None and max(events)[1] == 2:
            error = record.error
            log = record.log
        else:
            error = (
                f"the last run failed; its executed notebook is {_project_path(failed_nb, root)}"
            )
        log = _log_link(root, slug, log)
    elif status == "not run" and params_error:
        status, error = "failed", params_error
    figures = _figures(processed) if manifest is not None else {}
    rows = (manifest or {}).get("rows") or {}
    return ClientEntry(
        client=slug,
        title=title,
        params=rel_params or (record.params if record else None),
        status=status,
        date=good.date() if good is not None else None,
        accepted=_int(rows.get("accepted")),
        received=_int(rows.get("received")),
        links={
            k: f"{slug}/{name}"
            for k, name in LINKS.items()
            if (root / "reports" / slug / name).is_file()
        },
        error=error,
        log=log,
        reason=record.reason if record is not None else None,
        **figures,
    )


def _figures(processed: Path) -> dict[str, Any]:
    """``nps``, ``share_met`` and ``top_priority`` from the run's CSVs (module docstring)."""
    out: dict[str, Any] = {"nps": None, "share_met": None, "top_priority": None}
    for row in _rows(processed / "nps.csv"):
        if _overall(row) and not _hidden(row, "nps"):
            out["nps"] = _float(row["nps"])
    shown = [r for r in _rows(processed / "priorities.csv") if _overall(r) and not _hidden(r)]
    met = [x for r in shown if (x := _float(r.get("share_met"))) is not None]
    if met:
        out["share_met"] = statistics.fmean(met)
    top = [
        r for r in shown if r.get("top_priority") == "True" and _float(r.get("rank")) is not None
    ]
    if top:
        best = min(top, key=lambda r: _float(r["rank"]) or 0.0)
        out["top_priority"] = best.get("label") or best.get("item")
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _overall(row: Mapping[str, str]) -> bool:
    return row.get("group", ALL) == ALL and row.get("level", ALL) == ALL


def _hidden(row: Mapping[str, str], column: str = "gap") -> bool:
    """:func:`analysis.report.formatting.is_hidden` on a CSV row: flagged or without a value."""
    return row.get("suppressed") == "True" or _float(row.get(column)) is None


def _float(text: Any) -> float | None:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _int(value: Any) -> int | None:
    x = _float(value)
    return None if x is None else int(x)


def _manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _when(text: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _mtime(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _project_path(path: Path, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def _log_link(root: Path, slug: str, log: str | None) -> str | None:
    """The failed run's log as a link from ``reports/`` (None: there is none)."""
    path = root / "data" / "processed" / slug / RUN_LOG
    if log:
        given = Path(log) if Path(log).is_absolute() else root / log
        path = given if given.is_file() else path
    if not path.is_file():
        return None
    try:
        return Path("..", path.relative_to(root)).as_posix()
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# the page


def render_index(entries: list[ClientEntry], project: str, when: dt.datetime) -> str:
    """The page (``templates/sections/index.html.j2``) for ``entries``, checked self-contained."""
    counts = {s: sum(e.status == s for e in entries) for s in STATUSES}
    html = str(
        templating.render(
            "index.html.j2", clients=entries, project=project, when=when, counts=counts
        )
    )
    check_self_contained(html, where=INDEX.as_posix())
    return html


def write_index(root: Path, batch: Mapping[str, BatchRecord] | None = None) -> Path:
    """Collect the clients under ``root`` (:func:`collect`) and write ``reports/index.html``
    atomically; returns its path."""
    root = Path(root).absolute()
    entries = collect(root, batch)
    html = render_index(entries, root.name, dt.datetime.now().astimezone())
    return files.write_text(html, root / INDEX)
