"""One client's report run in a Python process of its own, with a wall-clock timeout.

:func:`run_isolated` (the batch's side, locally or on a Dask worker) starts
``python -m analysis.ops.isolated '<json>'`` (:func:`main`, the client process), which runs
:func:`analysis.report.runner.run_client` and writes its result as JSON. The client process and
everything it starts (its papermill kernel) are killed when the timeout passes; its output is kept
in ``data/processed/<client>/run.log``. The client process dies with the process that started it
(:func:`analysis.ops.process.die_with_parent`), and a stopped client's staging folders are removed
(:func:`analysis.report.staging.tidy`). This module imports only what the client process needs,
so that each client starts quickly.

A local batch reuses warm worker processes instead (:class:`Worker`, ``python -m
analysis.ops.isolated --worker``): one per job, which imports papermill and nbconvert once and then
runs one client after another, each client's notebook still in a kernel process of its own, with
the same timeout, log, temporary folder and clean-up as :func:`run_isolated`. A client that crashes
or hangs its worker, or runs past its timeout, has the worker's whole tree killed; the next client
gets a new worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from analysis import files, logs
from analysis.config.params import SLUG
from analysis.errors import OutsideInError
from analysis.ops import pdf, process
from analysis.report import runner, staging

DEFAULT_TIMEOUT = 1800  # seconds for one client's whole run
RUN_LOG = logs.RUN_LOG  # data/processed/<client>/run.log: the client process's output

log = logging.getLogger(__name__)
SECRET_PREFIXES = ("SMTP_",)  # never passed to client processes (notebook code cannot see them)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
WORKER_CLIENTS = 25  # clients one warm worker runs before it is replaced by a fresh one


def run_isolated(
    params_file: str | Path,
    root: str | Path,
    notebook: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    client: str | None = None,
    pdf: bool = True,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run one client's report in a new Python process, with a wall-clock ``timeout``.

    The process (and the kernel it starts, and anything those start) is killed when the timeout
    passes. Its output goes to ``data/processed/<client>/run.log``. Runs locally and on Dask
    workers alike; returns a plain dict (``status``: ``ok``, ``failed`` or ``timeout``;
    ``seconds``; ``error``; ``rows``; ``report``; ``pdf``; ``log``). With ``pdf``, the run prints
    ``report.pdf`` when a Chromium is present (:func:`analysis.ops.pdf.run_printer`). ``threads``
    caps the BLAS/OpenMP threads of the client's processes (see :func:`_client_env`).
    """
    root = Path(root).absolute()
    slug = client or Path(params_file).stem
    args = {
        "params_file": str(params_file),
        "root": str(root),
        "notebook": None if notebook is None else str(notebook),
        "timeout": max(1, int(timeout)),
        "pdf": bool(pdf),
        "parent": os.getpid(),
    }
    t0 = time.perf_counter()
    # the client's temporary files (and its kernel's IPC sockets) live in this folder, which is
    # removed whatever happens to the client; a short name keeps socket paths short
    with tempfile.TemporaryDirectory(prefix="oib-") as tmp:
        result_file = Path(tmp) / "result.json"
        log_file = Path(tmp) / RUN_LOG
        args["result"] = str(result_file)
        code, timed_out = _run_process(args, root, tmp, log_file, timeout, threads)
        return _finish(root, slug, t0, log_file, result_file, timeout, code, timed_out)


def _finish(
    root: Path,
    slug: str,
    t0: float,
    log_file: Path,
    result_file: Path,
    timeout: float,
    code: int | None,
    timed_out: bool,
) -> dict[str, Any]:
    """After a client's run (ended, crashed or killed): keep its log, tidy its staging folders,
    and return its result (``code``: the exit code of the process that ran it, None while that
    process lives on, as a warm worker does)."""
    seconds = round(time.perf_counter() - t0, 3)
    log_text = log_file.read_text(encoding="utf-8", errors="replace") if log_file.is_file() else ""
    kept_log = _keep_log(log_text, root, slug)
    if SLUG.match(slug):
        staging.tidy(root, slug)  # a stopped or crashed client's staging folders
    if timed_out:
        return {
            "status": "timeout",
            "seconds": seconds,
            "error": f"did not finish within {fmt_seconds(timeout)}; its processes were "
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


def _run_process(
    args: dict[str, Any],
    root: Path,
    tmp: str,
    log_file: Path,
    timeout: float,
    threads: int | None = None,
) -> tuple[int, bool]:
    """Start the client process, wait up to ``timeout``; return (exit code, timed out)."""
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analysis.ops.isolated", json.dumps(args)],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_client_env(tmp, threads),
            start_new_session=True,  # our terminal's Ctrl-C is ours to handle, not the child's
        )
        with process.STARTED.tracking(proc.pid):
            try:
                return proc.wait(timeout=timeout), False
            except subprocess.TimeoutExpired:
                process.kill_tree(proc.pid)
                return proc.wait(), True


def _client_env(tmp: str | None, threads: int | None = None) -> dict[str, str]:
    """The environment of a client's process: ours, less secrets, temporary files in ``tmp``.

    With ``threads``, numpy's BLAS (and any OpenMP code) in the client's kernel uses at most that
    many threads (unless the environment already says): jobs that each spin a thread per core
    would otherwise fight over the cores (the batch gives each job its share of them).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env.setdefault("PYTHONUNBUFFERED", "1")
    if tmp is not None:
        env["TMPDIR"] = tmp
    if threads is not None:
        for name in THREAD_VARIABLES:
            env.setdefault(name, str(max(1, threads)))
    return env


def _keep_log(text: str, root: Path, slug: str) -> str | None:
    if not SLUG.match(slug):
        return None
    target = root / "data" / "processed" / slug / RUN_LOG
    try:
        files.write_text(text, target)
    except OSError:
        return None
    return str(target)


def _tail(text: str, lines: int = 3) -> str:
    kept = [ln.strip() for ln in text.splitlines() if ln.strip() and "WARNING |" not in ln]
    return " | ".join(kept[-lines:])[-600:]


def fmt_seconds(seconds: float) -> str:
    """``6.0 s``, or ``5.0 min`` from two minutes on."""
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


# ---------------------------------------------------------------------------------------------
# warm workers (a local batch)


class Worker:
    """A warm worker process that runs clients one after another (the batch's side).

    The process (``python -m analysis.ops.isolated --worker``) starts on the first
    :meth:`run`, from the thread that calls it (the process dies with that thread, see
    :func:`analysis.ops.process.die_with_parent`), and imports papermill and nbconvert once. Each
    client gets what :func:`run_isolated` gives it: its own kernel process, a temporary folder
    removed afterwards, its output in ``data/processed/<client>/run.log``, the timeout. A client
    whose run crashes the worker, or runs past its timeout (the worker's whole tree is killed),
    fails alone: the next client starts a new worker. After :data:`WORKER_CLIENTS` clients the
    worker is replaced, so that nothing one run leaves behind in it can build up.
    """

    def __init__(self, root: str | Path, threads: int | None = None) -> None:
        self.root = Path(root).absolute()
        self.threads = threads
        self.runs = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def run(
        self,
        params_file: str | Path,
        notebook: str | Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client: str | None = None,
        pdf: bool = True,
    ) -> dict[str, Any]:
        """Run one client in the worker; return the same dict as :func:`run_isolated`."""
        slug = client or Path(params_file).stem
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="oib-") as tmp:
            result_file = Path(tmp) / "result.json"
            log_file = Path(tmp) / RUN_LOG
            request = {
                "params_file": str(params_file),
                "root": str(self.root),
                "notebook": None if notebook is None else str(notebook),
                "timeout": max(1, int(timeout)),
                "pdf": bool(pdf),
                "result": str(result_file),
                "log": str(log_file),
                "tmp": tmp,
            }
            code, timed_out = self._send(request, t0 + timeout)
            self.runs += 1
            if self._proc is not None and self.runs >= WORKER_CLIENTS:
                self.close()
            return _finish(self.root, slug, t0, log_file, result_file, timeout, code, timed_out)

    def close(self) -> None:
        """End the worker (it exits when its input closes; killed if it does not)."""
        proc, self._proc = self._proc, None
        self.runs = 0
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            process.kill_tree(proc.pid)
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            process.STARTED.discard(proc.pid)

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analysis.ops.isolated", "--worker", str(os.getpid())],
            cwd=self.root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_client_env(None, self.threads),
            start_new_session=True,  # our terminal's Ctrl-C is ours to handle, not the worker's
        )
        process.STARTED.add(proc.pid)
        self._proc, self._buffer, self.runs = proc, b"", 0
        return proc

    def _send(self, request: dict[str, Any], deadline: float) -> tuple[int | None, bool]:
        """Hand the worker one client and wait for it until ``deadline``; return (the worker's
        exit code if it ended, None if it lives on; timed out)."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else None
        if proc is None:
            self.close()
            proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        except OSError:  # the worker ended before it took the client
            return self._ended(proc), False
        fd = proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.perf_counter()
            if left <= 0:
                process.kill_tree(proc.pid)
                self._ended(proc)
                return None, True
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:  # the worker died (a crash, a kill) while it ran the client
                return self._ended(proc), False
            self._buffer += chunk
        _, self._buffer = self._buffer.split(b"\n", 1)
        return None, False

    def _ended(self, proc: subprocess.Popen[bytes]) -> int:
        """The worker is gone (or is being killed): reap it; the next client starts a new one."""
        process.kill_tree(proc.pid)  # whatever it started (its client's kernel) goes too
        code = proc.wait()
        self._proc = None
        with contextlib.suppress(OSError):  # closing a pipe whose other end is gone
            if proc.stdin is not None:
                proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()
        process.STARTED.discard(proc.pid)
        return code


# ---------------------------------------------------------------------------------------------
# the client process


def _client(args: dict[str, Any]) -> int:
    """Run one client, write the result as JSON; exit 0 on any outcome that produced a result."""
    t0 = time.perf_counter()
    result: dict[str, Any]
    try:
        printer, note = pdf.run_printer(args.get("pdf", True))
        run = runner.run_client(
            args["params_file"],
            root=args["root"],
            notebook=args["notebook"],
            timeout=args["timeout"],
            printer=printer,
            write_log=False,  # this process's whole output becomes the client's run.log
        )
        manifest = json.loads(run.manifest.read_text(encoding="utf-8"))
        result = {
            "status": "ok",
            "client": run.client,
            "report": str(run.report_html),
            "pdf": None if run.report_pdf is None else str(run.report_pdf),
            "pdf_note": run.pdf_note or note,
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


def _worker(parent: int) -> int:
    """``python -m analysis.ops.isolated --worker <parent pid>``: a warm worker (see
    :class:`Worker`). Reads one client's request (JSON) a line from stdin, runs it with its output
    in the client's log and its temporary files in the client's folder, and answers a line on
    stdout when the result is written; ends when stdin closes."""
    process.die_with_parent(parent)
    logs.configure()  # information and warnings into each client's log (its stderr)
    process.skip_slow_optional_imports()  # before papermill imports nbformat
    import nbconvert  # noqa: F401  # warm: imported once for all of this worker's clients
    import papermill  # noqa: F401

    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    _point_output_at(devnull)
    for line in sys.stdin:
        if not line.strip():
            continue
        args = json.loads(line)
        with _client_output(args["log"]), _client_tmp(args["tmp"]):
            _client(args)
        _point_output_at(devnull)
        answers.write("done\n")
        answers.flush()
    return 0


def _point_output_at(fd: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)


@contextmanager
def _client_output(log: str) -> Iterator[None]:
    """This process's stdout and stderr (and so its client's kernel's) go to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        _point_output_at(fd)
        yield
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os.close(fd)


@contextmanager
def _client_tmp(tmp: str) -> Iterator[None]:
    """Temporary files (this process's and its client's kernel's) in ``tmp`` while the block
    runs."""
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = tmp
    try:
        yield
    finally:
        tempfile.tempdir = None
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before


def main(argv: Sequence[str]) -> int:
    """``python -m analysis.ops.isolated '<json>'``: the client process (see
    :func:`run_isolated`); ``--worker <parent pid>``: a warm worker (:class:`Worker`)."""
    if len(argv) == 2 and argv[0] == "--worker":
        return _worker(int(argv[1]))
    logs.configure()  # information and warnings into the client's log (this process's stderr)
    if len(argv) != 1:
        log.error("usage: python -m analysis.ops.isolated '<json arguments>' (internal)")
        return 2
    args = json.loads(argv[0])
    if args.get("parent") is not None:
        process.die_with_parent(int(args["parent"]))
    process.skip_slow_optional_imports()  # before papermill imports nbformat
    return _client(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
