"""``outside-in batch``: run the report for many clients, each in its own process.

Every client runs :func:`analysis.report.runner.run_client` outside the batch's process, its
notebook in a papermill kernel of its own: up to ``jobs`` at a time on this machine, each job in a
warm worker process (:class:`analysis.ops.isolated.Worker`: papermill and nbconvert imported once,
one client after another, BLAS threads capped at the job's share of the cores), or as one task per
client on a Dask distributed cluster (``scheduler``), where the worker runs the client in a fresh
subprocess (:func:`analysis.ops.isolated.run_isolated`). A client that fails
(bad data, a crash) or runs past its timeout (its whole process tree is killed) is reported in the
summary and never stops the others; its last good report stays in place, because
:func:`~analysis.report.runner.run_client` replaces reports only after a successful run (atomic
renames).

Incremental: a client whose inputs (params, survey, codebook, margins), notebook, Outside-In
package (version and source fingerprint) and dependency versions are all unchanged since its last
good run, and whose report and gap table on disk are still the ones that run wrote, is skipped
(``force`` runs it anyway). All of that is read from ``data/processed/<client>/manifest.json``.
``--send`` then emails every good report (:func:`send_reports`, with :mod:`analysis.ops.deliver`).
Every batch ends by writing ``reports/index.html``, the page of all clients (:func:`write_index`).
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from analysis import files
from analysis.config.params import Client, load_client
from analysis.errors import OutsideInError
from analysis.ops import deliver, process
from analysis.ops.isolated import DEFAULT_TIMEOUT, Worker, fmt_seconds, run_isolated
from analysis.ops.smtp import SmtpSettings
from analysis.report import runner

STATUSES = ("ok", "skipped", "failed", "timeout")


class BatchError(OutsideInError):
    """The batch could not be started (no params files, an unreachable Dask scheduler ...)."""


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch: the options of ``outside-in batch``."""

    notebook: str | Path | None = None  # the report notebook (default: the project's)
    jobs: int | None = None  # clients at once on this machine (default: usable cores)
    timeout: float = DEFAULT_TIMEOUT  # seconds one client's whole run may take
    force: bool = False  # run clients whose inputs are unchanged, too
    scheduler: str | None = None  # a Dask distributed scheduler's address
    progress: bool | None = None  # progress bar on stderr (default: when it is a terminal)
    pdf: bool = True  # each run prints reports/<client>/report.pdf when Chromium is present


@dataclass(frozen=True)
class Plan:
    """What the batch will do with one params file: ``run`` it or ``skip`` it (or it is
    ``invalid``: the params cannot be loaded), and why."""

    params_file: Path
    client: str
    action: str  # run | skip | invalid
    reason: str
    root: Path = Path()
    notebook: Path | None = None
    rows: dict[str, int] | None = None
    report: Path | None = None


@dataclass(frozen=True)
class Outcome:
    """One client's line in the batch summary."""

    client: str
    params_file: Path
    status: str  # ok | skipped | failed | timeout
    seconds: float
    rows: dict[str, int] | None = None
    report: Path | None = None
    error: str | None = None
    reason: str | None = None
    log: Path | None = None
    send: str | None = None  # filled in by ``batch --send``
    send_failed: bool = False
    send_error: str | None = None

    @property
    def good(self) -> bool:
        return self.status in ("ok", "skipped") and not self.send_failed


# ---------------------------------------------------------------------------------------------
# which clients, and which of them need to run


def discover(params: Sequence[str | Path] | None, root: Path) -> list[Path]:
    """The params files of the batch: those given (relative to ``root``), else every
    ``params/*.yaml`` under ``root``, sorted by name."""
    if params:
        found = [Path(p) if Path(p).is_absolute() else root / p for p in params]
    else:
        found = sorted((root / "params").glob("*.yaml"))
        if not found:
            raise BatchError(f"no params files found in {root / 'params'} (params/*.yaml)")
    seen: set[Path] = set()
    out = []
    for f in found:
        key = f.absolute()
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def plan_client(
    params_file: str | Path,
    root: str | Path,
    notebook: str | Path | None = None,
    force: bool = False,
) -> Plan:
    """Decide whether a client needs to run: compare its inputs, notebook, package and
    dependency versions with the manifest of its last good run.

    Never raises for a bad params file: the plan is ``invalid`` with the error as its reason.
    """
    root = Path(root).absolute()
    params_file = Path(params_file)
    try:
        client = load_client(params_file, root=root)
    except OutsideInError as exc:
        return Plan(params_file, params_file.stem, "invalid", str(exc), root)
    nb = Path(notebook).absolute() if notebook is not None else runner.default_notebook(root)
    if not nb.is_file():
        return Plan(params_file, client.slug, "invalid", f"{nb}: report notebook not found", root)
    run = Plan(params_file, client.slug, "run", "", root, notebook=nb)
    if force:
        return replace(run, reason="--force")
    manifest_path = client.processed_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return replace(run, reason="no previous good run")
    except (OSError, ValueError):
        return replace(run, reason="manifest.json unreadable")
    changed = _changes(client, manifest, nb)
    if changed:
        return replace(run, reason="changed: " + ", ".join(changed))
    return Plan(
        params_file,
        client.slug,
        "skip",
        "unchanged since the last good run",
        root,
        notebook=nb,
        rows=manifest.get("rows"),
        report=client.report_dir / "report.html",
    )


def _changes(client: Client, manifest: dict[str, Any], notebook: Path) -> list[str]:
    """What differs between now and the run ``manifest`` records (empty: nothing)."""
    changed = []
    if manifest.get("client") != client.slug:
        changed.append("client")
    recorded = manifest.get("inputs") or {}
    inputs = client.input_files()
    for role in sorted(set(inputs) | set(recorded)):
        path = inputs.get(role)
        old = (recorded.get(role) or {}).get("sha256")
        if path is None or old is None or not path.is_file() or files.file_sha256(path) != old:
            changed.append(role)
    if (manifest.get("notebook") or {}).get("sha256") != files.file_sha256(notebook):
        changed.append("notebook")
    if manifest.get("package") != runner.package_fingerprint():
        changed.append("Outside-In package")
    if manifest.get("versions") != runner.versions():
        changed.append("package versions")
    outputs = manifest.get("outputs") or {}
    for name, path in (
        ("report_html", client.report_dir / "report.html"),
        ("gap_table", client.processed_dir / "gap_table.csv"),
    ):
        old = (outputs.get(name) or {}).get("sha256")
        if old is None and name != "report_html":
            continue  # not recorded: the notebook wrote none (or an older Outside-In ran)
        if old is None or not path.is_file() or files.file_sha256(path) != old:
            changed.append(f"{path.name} on disk")
    return changed


# ---------------------------------------------------------------------------------------------
# the batch


def run_batch(
    params: Sequence[str | Path] | None = None,
    root: str | Path | None = None,
    options: BatchOptions | None = None,
) -> list[Outcome]:
    """Run every client of a batch; return one :class:`Outcome` per params file, in order.

    Parameters
    ----------
    params
        Params files (relative to ``root`` or absolute); by default every ``params/*.yaml``.
    root
        The project root (the working directory by default).
    options
        The report notebook for every client (default: the project's ``gap_report.ipynb``);
        ``jobs``, the clients run at once on this machine (default: the number of usable cores;
        ignored with ``scheduler``, where the cluster's worker threads decide); ``timeout``, the
        seconds one client's whole run may take before its processes are killed; ``force``, run
        clients whose inputs are unchanged since their last good run, too; ``scheduler``, the
        address of a Dask distributed scheduler (``tcp://host:8786``): each client becomes a
        task on a worker, which runs it in its own subprocess (the workers must see the project
        root at the same path, a shared file system, and run a Python with Outside-In and its
        kernel installed, ``scripts/dev.sh setup``); ``progress``, a progress bar on stderr
        (default: when stderr is a terminal).
    """
    opts = options or BatchOptions()
    root_path = Path(root).absolute() if root is not None else Path.cwd()
    found = discover(params, root_path)
    if opts.jobs is not None and opts.jobs < 1:
        raise BatchError(f"--jobs must be at least 1, got {opts.jobs}")
    if opts.timeout <= 0:
        raise BatchError(f"--timeout must be a positive number of seconds, got {opts.timeout}")
    plans = _check_duplicates([plan_client(f, root_path, opts.notebook, opts.force) for f in found])
    outcomes = {i: o for i, p in enumerate(plans) if (o := _not_run(p)) is not None}
    todo = [(i, p) for i, p in enumerate(plans) if i not in outcomes]
    bar = tqdm(
        total=len(plans),
        initial=len(outcomes),
        desc="outside-in batch",
        unit="client",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if opts.progress is None else not opts.progress,
        dynamic_ncols=True,
    )

    def done(i: int, result: dict[str, Any]) -> None:
        outcomes[i] = o = _outcome(plans[i], result)
        bar.set_postfix_str(f"{o.client}: {o.status}", refresh=False)
        bar.update(1)

    try:
        with process.terminate_as_interrupt():
            if opts.scheduler:
                _run_on_dask(opts.scheduler, todo, opts.timeout, done, opts.pdf)
            else:
                _run_local(todo, opts.timeout, opts.jobs or process.usable_cores(), done, opts.pdf)
    finally:
        bar.close()
    result = [outcomes[i] for i in range(len(plans))]
    write_index(result, root_path)
    return result


def write_index(outcomes: Sequence[Outcome], root: Path) -> Path | None:
    """Record the batch's outcomes (``data/processed/batch.json``) and write
    ``reports/index.html`` (:mod:`analysis.report.index`). A file that cannot be written is
    reported on stderr and leaves the batch's result as it is (None)."""
    from analysis.report import index  # here: templating imports pandas, the batch needs none

    when = dt.datetime.now(dt.UTC)
    records = [
        index.BatchRecord(
            client=o.client,
            status=o.status,
            finished=when,
            params=_display_path(o.params_file, root),
            error=o.error,
            log=_display_path(o.log, root) if o.log else None,
            reason=o.reason,
        )
        for o in outcomes
    ]
    try:
        index.write_batch_status(root, records)
        return index.write_index(root, {r.client: r for r in records})
    except OutsideInError as exc:
        print(f"outside-in batch: the index page was not written: {exc}", file=sys.stderr)
        return None


def _not_run(plan: Plan) -> Outcome | None:
    """The outcome of a client that is skipped or invalid (None: it runs)."""
    if plan.action == "skip":
        return Outcome(
            plan.client,
            plan.params_file,
            "skipped",
            0.0,
            plan.rows,
            plan.report,
            reason=plan.reason,
        )
    if plan.action == "invalid":
        return Outcome(plan.client, plan.params_file, "failed", 0.0, error=plan.reason)
    return None


def _check_duplicates(plans: list[Plan]) -> list[Plan]:
    """Two params files for one client slug would write the same outputs: both fail."""
    by_slug: dict[str, list[Plan]] = {}
    for p in plans:
        if p.action != "invalid":
            by_slug.setdefault(p.client, []).append(p)
    out = []
    for p in plans:
        twins = by_slug.get(p.client, [])
        if p.action != "invalid" and len(twins) > 1:
            names = ", ".join(str(t.params_file.name) for t in twins)
            p = replace(
                p,
                action="invalid",
                reason=f"client slug {p.client!r} is used by more than one params file "
                f"({names}); give each client its own slug",
            )
        out.append(p)
    return out


def _outcome(plan: Plan, result: dict[str, Any]) -> Outcome:
    status = result.get("status", "failed")
    if status not in STATUSES:
        status = "failed"
    report = result.get("report")
    log = result.get("log")
    return Outcome(
        client=plan.client,
        params_file=plan.params_file,
        status=status,
        seconds=float(result.get("seconds") or 0.0),
        rows=result.get("rows"),
        report=Path(report) if report else None,
        error=result.get("error"),
        reason=plan.reason,
        log=Path(log) if log else None,
    )


def _run_local(
    items: list[tuple[int, Plan]],
    timeout: float,
    jobs: int,
    done: Callable[[int, dict[str, Any]], None],
    pdf: bool = True,
) -> None:
    """Run ``items`` on ``jobs`` threads, each with its own warm :class:`Worker` process (the
    process dies with the thread that started it); every worker is ended before returning."""
    if not items:
        return
    jobs = min(jobs, len(items))
    threads = max(1, process.usable_cores() // jobs) if jobs > 1 else None
    local = threading.local()
    workers: list[Worker] = []
    lock = threading.Lock()

    def run(p: Plan) -> dict[str, Any]:
        worker = getattr(local, "worker", None)
        if worker is None or worker.root != p.root:
            if worker is not None:
                worker.close()
            worker = local.worker = Worker(p.root, threads)
            with lock:
                workers.append(worker)
        return worker.run(p.params_file, p.notebook, timeout, p.client, pdf)

    pool = cf.ThreadPoolExecutor(max_workers=jobs)
    futures = {pool.submit(run, p): i for i, p in items}
    try:
        for fut in cf.as_completed(futures):
            done(futures[fut], _result_of(fut))
        # end the workers while the threads that started them live (a worker dies with its
        # thread: killed, not ended)
        for worker in workers:
            worker.close()
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        process.STARTED.stop_all()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result_of(fut: Any) -> dict[str, Any]:
    try:
        return fut.result()
    except Exception as exc:  # the launcher itself failed (e.g. no memory to fork)
        return {"status": "failed", "seconds": 0.0, "error": f"{type(exc).__name__}: {exc}"}


def _run_on_dask(
    address: str,
    items: list[tuple[int, Plan]],
    timeout: float,
    done: Callable[[int, dict[str, Any]], None],
    pdf: bool = True,
) -> None:
    if not items:
        return
    try:
        from distributed import Client as DaskClient
        from distributed import as_completed
    except ImportError:
        raise BatchError(
            "--scheduler needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    try:
        client = DaskClient(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        futures = {
            client.submit(
                run_isolated,
                str(p.params_file),
                str(p.root),
                None if p.notebook is None else str(p.notebook),
                timeout,
                p.client,
                pdf,
                key=f"outside-in-{p.client}-{os.urandom(4).hex()}",
                pure=False,
                retries=0,
            ): i
            for i, p in items
        }
        pending = as_completed(list(futures), loop=client.loop)
        for fut in pending:
            i = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # the worker died, the task was lost ...
                result = {
                    "status": "failed",
                    "seconds": 0.0,
                    "error": f"the Dask task failed: {type(exc).__name__}: {exc}",
                }
            done(i, result)
    except BaseException:
        # tasks not started are dropped; a client already running on a worker goes on until it
        # finishes or reaches its timeout there
        client.cancel(list(futures))
        raise
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------
# sending (batch --send)


def send_reports(
    outcomes: Sequence[Outcome],
    root: str | Path,
    options: deliver.SendOptions | None = None,
    settings: SmtpSettings | None = None,
) -> list[Outcome]:
    """Email the report of every client whose run is ``ok`` or ``skipped`` (its last good report
    is current) with :func:`analysis.ops.deliver.send_client`, and (unless ``options.owners`` is
    off) each owner of params ``report.owners`` their part of the action plan
    (:func:`analysis.ops.deliver.send_owners`). ``settings`` default to the environment's
    (missing settings stop before any is sent). One client's failure to send never stops the
    others; it is recorded in its outcome."""
    opts = options or deliver.SendOptions()
    if not opts.dry_run and settings is None:
        settings = SmtpSettings.from_env()
    out = []
    for o in outcomes:
        if o.status not in ("ok", "skipped"):
            out.append(o)
            continue
        try:
            sent = deliver.send_client(o.params_file, root, opts, settings=settings)
            owners = (
                deliver.send_owners(o.params_file, root, opts, settings=settings)
                if opts.owners
                else []
            )
        except OutsideInError as exc:
            out.append(replace(o, send="failed", send_failed=True, send_error=str(exc)))
            continue
        text = sent.short()
        if owners:
            text += f"; owners {sum(r.ok for r in owners)} of {len(owners)}"
        failed = [r for r in owners if not r.ok]
        if failed:
            error = "; ".join(f"{r.client}: {r.detail}" for r in failed)
            out.append(replace(o, send=text, send_failed=True, send_error=error))
            continue
        out.append(replace(o, send=text))
    return out


# ---------------------------------------------------------------------------------------------
# the summary


def _fmt_rows(rows: dict[str, int] | None) -> str:
    if not rows:
        return "-"
    try:
        return f"{int(rows['accepted']):,} of {int(rows['received']):,}"
    except (KeyError, TypeError, ValueError):
        return "-"


def summary_table(outcomes: Iterable[Outcome], root: Path | None = None) -> str:
    """A plain-text table: client, status, rows (accepted of received), duration, and the report
    path (ok, skipped) or the error (failed, timeout); a ``sent`` column after ``--send``."""
    outcomes = list(outcomes)
    with_send = any(o.send is not None for o in outcomes)
    head = ["client", "status", "rows", "duration"] + (["sent"] if with_send else [])
    head.append("report / error")
    rows = []
    for o in outcomes:
        if o.send_failed:
            last = f"not sent: {o.send_error}"
        elif o.status in ("ok", "skipped"):
            last = _display_path(o.report, root) if o.report else ""
        else:
            last = (o.error or "").replace("\n", " ")
            if o.log:
                last += f" (log: {_display_path(o.log, root)})"
        duration = "-" if o.status == "skipped" else fmt_seconds(o.seconds)
        cells = [o.client, o.status, _fmt_rows(o.rows), duration]
        if with_send:
            cells.append(o.send or "-")
        rows.append([*cells, last])
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head) - 1)]
    lines = []
    for r in [head, ["-" * w for w in widths] + ["-" * 14], *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUSES}
    total = "; ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines.append(f"{len(outcomes)} clients: {total}")
    return "\n".join(line.rstrip() for line in lines)


def _display_path(path: Path | str, root: Path | None) -> str:
    path = Path(path)
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return str(path)
