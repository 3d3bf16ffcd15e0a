"""``outside-in batch``: run the report for many clients, each in its own process.

Every client runs :func:`analysis.report.runner.run_client` in a fresh Python subprocess (which
starts its
own papermill kernel), up to ``jobs`` at a time on this machine, or as one task per client on a Dask
distributed cluster (``scheduler``), where the worker again runs the client in its own subprocess.
A client that fails (bad data, a crash) or runs past its timeout (its whole process tree is killed)
is reported in the summary and never stops the others; its last good report stays in place,
because :func:`~analysis.report.runner.run_client` replaces reports only after a successful run
(atomic renames).

Incremental: a client whose inputs (params, survey, codebook, margins), notebook, Outside-In
package (version and source fingerprint) and dependency versions are all unchanged since its last
good run, and whose report and gap table on disk are still the ones that run wrote, is skipped
(``force`` runs it anyway). All of that is read from ``data/processed/<client>/manifest.json``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analysis import files
from analysis.errors import OutsideInError

STATUSES = ("ok", "skipped", "failed", "timeout")
DEFAULT_TIMEOUT = 1800  # seconds for one client's whole run
RUN_LOG = "run.log"  # data/processed/<client>/run.log: the client process's output
SECRET_PREFIXES = ("SMTP_",)  # never passed to client processes (notebook code cannot see them)
_KILL_WAIT = 10.0


class BatchError(OutsideInError):
    """The batch could not be started (no params files, an unreachable Dask scheduler ...)."""


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


@dataclass
class _Running:
    """Subprocesses this process started, so an interrupt can stop their trees."""

    pids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


_RUNNING = _Running()


# ---------------------------------------------------------------------------------------------
# which clients, and which of them need to run


def discover(params: Sequence[str | Path] | None, root: Path) -> list[Path]:
    """The params files of the batch: those given (relative to ``root``), else every
    ``params/*.yaml`` under ``root``, sorted by name."""
    if params:
        files = [Path(p) if Path(p).is_absolute() else root / p for p in params]
    else:
        files = sorted((root / "params").glob("*.yaml"))
        if not files:
            raise BatchError(f"no params files found in {root / 'params'} (params/*.yaml)")
    seen: set[Path] = set()
    out = []
    for f in files:
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
    from analysis.config.params import load_client
    from analysis.report import runner as report

    root = Path(root).absolute()
    params_file = Path(params_file)
    try:
        client = load_client(params_file, root=root)
    except OutsideInError as exc:
        return Plan(params_file, params_file.stem, "invalid", str(exc), root)
    nb = Path(notebook).absolute() if notebook is not None else report.default_notebook(root)
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


def _changes(client: Any, manifest: dict[str, Any], notebook: Path) -> list[str]:
    """What differs between now and the run ``manifest`` records (empty: nothing)."""
    from analysis.report import runner as report

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
    if manifest.get("package") != report.package_fingerprint():
        changed.append("Outside-In package")
    if manifest.get("versions") != report.versions():
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
# one client in its own process


def run_isolated(
    params_file: str | Path,
    root: str | Path,
    notebook: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    client: str | None = None,
) -> dict[str, Any]:
    """Run one client's report in a new Python process, with a wall-clock ``timeout``.

    The process (and the kernel it starts, and anything those start) is killed when the timeout
    passes. Its output goes to ``data/processed/<client>/run.log``. Runs locally and on Dask
    workers alike; returns a plain dict (``status``: ``ok``, ``failed`` or ``timeout``;
    ``seconds``; ``error``; ``rows``; ``report``; ``log``).
    """
    root = Path(root).absolute()
    slug = client or Path(params_file).stem
    args = {
        "params_file": str(params_file),
        "root": str(root),
        "notebook": None if notebook is None else str(notebook),
        "timeout": max(1, int(timeout)),
    }
    t0 = time.perf_counter()
    # the client's temporary files (and its kernel's IPC sockets) live in this folder, which is
    # removed whatever happens to the client; a short name keeps socket paths short
    with tempfile.TemporaryDirectory(prefix="oib-") as tmp:
        result_file = Path(tmp) / "result.json"
        log_file = Path(tmp) / RUN_LOG
        args["result"] = str(result_file)
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "analysis.ops.batch", json.dumps(args)],
                cwd=root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_client_env(tmp),
                start_new_session=True,  # our terminal's Ctrl-C is ours to handle, not the child's
            )
            with _RUNNING.lock:
                _RUNNING.pids.add(proc.pid)
            try:
                code = proc.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                code = proc.wait()
                timed_out = True
            finally:
                with _RUNNING.lock:
                    _RUNNING.pids.discard(proc.pid)
        seconds = round(time.perf_counter() - t0, 3)
        log_text = log_file.read_text(encoding="utf-8", errors="replace")
        kept_log = _keep_log(log_text, root, slug)
        if timed_out:
            _remove_partial_files(root, slug)
            return {
                "status": "timeout",
                "seconds": seconds,
                "error": f"did not finish within {_fmt_seconds(timeout)}; its processes were "
                "stopped and the previous report, if any, was left unchanged",
                "log": kept_log,
            }
        try:
            result = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = _tail(log_text)
            return {
                "status": "failed",
                "seconds": seconds,
                "error": f"the client's process ended with exit code {code} without a result"
                + (f"; its last output: {tail}" if tail else ""),
                "log": kept_log,
            }
    result["seconds"] = seconds
    result["log"] = kept_log
    return result


def _client_env(tmp: str) -> dict[str, str]:
    """The environment of a client's process: ours, less secrets, temporary files in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["TMPDIR"] = tmp
    return env


def _keep_log(text: str, root: Path, slug: str) -> str | None:
    from analysis.config.params import SLUG

    if not SLUG.match(slug):
        return None
    target = root / "data" / "processed" / slug / RUN_LOG
    try:
        files.write_text(text, target)
    except OSError:
        return None
    return str(target)


def _remove_partial_files(root: Path, slug: str) -> None:
    """Temporary files an interrupted atomic write left behind (``.<name>.*.tmp``)."""
    for folder in (root / "reports" / slug, root / "data" / "processed" / slug):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def _tail(text: str, lines: int = 3) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip() and "WARNING |" not in ln]
    return " | ".join(kept[-lines:])[-600:]


def kill_tree(pid: int) -> None:
    """Kill a process and every process below it (the papermill kernel starts in its own
    session, so killing the process group is not enough). Stops them first, so none can start
    new children while the tree is collected."""
    import psutil

    try:
        procs = {psutil.Process(pid)}
    except psutil.NoSuchProcess:
        return
    for _ in range(5):
        found = set()
        for p in list(procs):
            try:
                p.suspend()
                found.update(p.children(recursive=True))
            except psutil.Error:
                pass
        if found <= procs:
            break
        procs |= found
    leftovers = _kernel_files(procs)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    deadline = time.monotonic() + _KILL_WAIT
    while procs and time.monotonic() < deadline:
        procs = {p for p in procs if _alive(p)}
        if procs:
            time.sleep(0.02)
    for path in leftovers:
        path.unlink(missing_ok=True)
        if path.parent.name.startswith("oi-"):  # report.py's private socket folder
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def _kernel_files(procs: Iterable[Any]) -> list[Path]:
    """The connection file and IPC socket files of any Jupyter kernel among ``procs`` (a killed
    kernel cannot remove them itself, nor can the killed process that started it)."""
    files = []
    for p in procs:
        try:
            argv = p.cmdline()
        except Exception:  # psutil.Error: the process is gone
            continue
        for flag, value in itertools.pairwise(argv):
            if flag != "-f" or not value.endswith(".json"):
                continue
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
                info = json.loads(Path(value).read_text(encoding="utf-8"))
                if "shell_port" in info and "key" in info:  # a kernel connection file
                    files.append(Path(value))
                    if info.get("transport") == "ipc":
                        ports = [k for k in info if k.endswith("_port")]
                        files += [Path(f"{info['ip']}-{info[k]}") for k in ports]
    return files


def _alive(proc: Any) -> bool:
    """Running (a killed process whose parent has not reaped it yet is a zombie: gone)."""
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _stop_running() -> None:
    with _RUNNING.lock:
        pids = list(_RUNNING.pids)
    for pid in pids:
        kill_tree(pid)


def skip_slow_optional_imports() -> None:
    """Keep the optional ``rfc3987_syntax`` out of this process.

    jsonschema (which nbformat, and so papermill and nbconvert, import) loads it when it is
    installed (``jsonschema[format-nongpl]``, pulled in by Jupyter) and it builds a parser at
    import: ~1.4 s of every client's run. It only serves jsonschema's ``iri`` format checks,
    which notebook validation does not use. For processes Outside-In owns (the client process,
    the ``outside-in`` command), never for a user's Python session.
    """
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError


def _worker(args: dict[str, Any]) -> int:
    """The client process: run one client, write the result as JSON; exit 0 on any outcome
    that produced a result."""
    import traceback

    skip_slow_optional_imports()
    from analysis.report import runner as report

    t0 = time.perf_counter()
    result: dict[str, Any]
    try:
        run = report.run_client(
            args["params_file"],
            root=args["root"],
            notebook=args["notebook"],
            timeout=args["timeout"],
        )
        manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
        result = {
            "status": "ok",
            "client": run.client,
            "report": str(run.report_html),
            "rows": manifest.get("rows"),
        }
    except OutsideInError as exc:
        result = {"status": "failed", "error": str(exc)}
    except Exception as exc:  # a bug, not the user's doing: keep the traceback in the log
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - t0, 3)
    files.write_json(result, Path(args["result"]))
    return 0


# ---------------------------------------------------------------------------------------------
# the batch


def run_batch(
    params: Sequence[str | Path] | None = None,
    root: str | Path | None = None,
    notebook: str | Path | None = None,
    jobs: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    force: bool = False,
    scheduler: str | None = None,
    progress: bool | None = None,
) -> list[Outcome]:
    """Run every client of a batch; return one :class:`Outcome` per params file, in order.

    Parameters
    ----------
    params
        Params files (relative to ``root`` or absolute); by default every ``params/*.yaml``.
    root
        The project root (the working directory by default).
    notebook
        The report notebook for every client (default: the project's ``gap_report.ipynb``).
    jobs
        Clients run at once on this machine (default: the number of usable cores). Ignored with
        ``scheduler``, where the cluster's worker threads decide.
    timeout
        Seconds one client's whole run may take; then its processes are killed.
    force
        Run clients whose inputs are unchanged since their last good run, too.
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): each client becomes a
        task on a worker, which runs it in its own subprocess. The workers must see the project
        root at the same path (a shared file system) and run a Python with Outside-In and its
        kernel installed (``scripts/dev.sh setup``).
    progress
        Show a progress bar on stderr (default: when stderr is a terminal).
    """
    from tqdm import tqdm

    root_path = Path(root).absolute() if root is not None else Path.cwd()
    files = discover(params, root_path)
    if jobs is not None and jobs < 1:
        raise BatchError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise BatchError(f"--timeout must be a positive number of seconds, got {timeout}")
    plans = _check_duplicates([plan_client(f, root_path, notebook, force) for f in files])
    outcomes: dict[int, Outcome] = {}
    todo: list[int] = []
    for i, plan in enumerate(plans):
        if plan.action == "skip":
            outcomes[i] = Outcome(
                plan.client,
                plan.params_file,
                "skipped",
                0.0,
                plan.rows,
                plan.report,
                reason=plan.reason,
            )
        elif plan.action == "invalid":
            outcomes[i] = Outcome(plan.client, plan.params_file, "failed", 0.0, error=plan.reason)
        else:
            todo.append(i)

    bar = tqdm(
        total=len(plans),
        initial=len(outcomes),
        desc="outside-in batch",
        unit="client",
        file=sys.stderr,
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
        dynamic_ncols=True,
    )

    def done(i: int, result: dict[str, Any]) -> None:
        outcomes[i] = _outcome(plans[i], result)
        o = outcomes[i]
        bar.set_postfix_str(f"{o.client}: {o.status}", refresh=False)
        bar.update(1)

    try:
        with _terminate_as_interrupt():
            if scheduler:
                _run_on_dask(scheduler, [(i, plans[i]) for i in todo], timeout, done)
            else:
                _run_local([(i, plans[i]) for i in todo], timeout, jobs or _cores(), done)
    finally:
        bar.close()
    return [outcomes[i] for i in range(len(plans))]


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler or ``kill`` stopping the batch) unwinds like Ctrl-C, so that the
    clients' processes, which run in sessions of their own, are stopped too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


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
) -> None:
    if not items:
        return
    pool = cf.ThreadPoolExecutor(max_workers=min(jobs, len(items)))
    futures = {
        pool.submit(run_isolated, p.params_file, p.root, p.notebook, timeout, p.client): i
        for i, p in items
    }
    try:
        for fut in cf.as_completed(futures):
            done(futures[fut], _result_of(fut))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_running()
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
) -> None:
    if not items:
        return
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise BatchError(
            "--scheduler needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    try:
        client = Client(address, timeout=30, set_as_default=False)
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


def send_reports(outcomes: Sequence[Outcome], root: str | Path, **options: Any) -> list[Outcome]:
    """Email the report of every client whose run is ``ok`` or ``skipped`` (its last good report
    is current) with :func:`analysis.ops.deliver.send_client`; ``options`` go to it. One client's
    failure to send never stops the others; it is recorded in its outcome."""
    from analysis.ops import deliver

    if not options.get("dry_run") and options.get("settings") is None:
        options["settings"] = deliver.SmtpSettings.from_env()  # missing settings: stop now
    out = []
    for o in outcomes:
        if o.status not in ("ok", "skipped"):
            out.append(o)
            continue
        try:
            sent = deliver.send_client(o.params_file, root, **options)
        except OutsideInError as exc:
            out.append(replace(o, send="failed", send_failed=True, send_error=str(exc)))
            continue
        out.append(replace(o, send=sent.short()))
    return out


# ---------------------------------------------------------------------------------------------
# the summary


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


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
        duration = "-" if o.status == "skipped" else _fmt_seconds(o.seconds)
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


def main_worker(argv: Sequence[str]) -> int:
    """``python -m analysis.ops.batch '<json>'``: the client process (see :func:`run_isolated`)."""
    if len(argv) != 1:
        print("usage: python -m analysis.ops.batch '<json arguments>' (internal)", file=sys.stderr)
        return 2
    return _worker(json.loads(argv[0]))


if __name__ == "__main__":
    sys.exit(main_worker(sys.argv[1:]))
