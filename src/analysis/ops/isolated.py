"""One client's report run in a Python process of its own, with a wall-clock timeout.

:func:`run_isolated` (the batch's side, locally or on a Dask worker) starts
``python -m analysis.ops.isolated '<json>'`` (:func:`main`, the client process), which runs
:func:`analysis.report.runner.run_client` and writes its result as JSON. The client process and
everything it starts (its papermill kernel) are killed when the timeout passes; its output is kept
in ``data/processed/<client>/run.log``. The client process dies with the process that started it
(:func:`analysis.ops.process.die_with_parent`), and a stopped client's staging folders are removed
(:func:`analysis.report.staging.tidy`). This module imports only what the client process needs,
so that each client starts quickly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis import files
from analysis.config.params import SLUG
from analysis.errors import OutsideInError
from analysis.ops import pdf, process
from analysis.report import runner, staging

DEFAULT_TIMEOUT = 1800  # seconds for one client's whole run
RUN_LOG = "run.log"  # data/processed/<client>/run.log: the client process's output
SECRET_PREFIXES = ("SMTP_",)  # never passed to client processes (notebook code cannot see them)


def run_isolated(
    params_file: str | Path,
    root: str | Path,
    notebook: str | Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    client: str | None = None,
    pdf: bool = True,
) -> dict[str, Any]:
    """Run one client's report in a new Python process, with a wall-clock ``timeout``.

    The process (and the kernel it starts, and anything those start) is killed when the timeout
    passes. Its output goes to ``data/processed/<client>/run.log``. Runs locally and on Dask
    workers alike; returns a plain dict (``status``: ``ok``, ``failed`` or ``timeout``;
    ``seconds``; ``error``; ``rows``; ``report``; ``pdf``; ``log``). With ``pdf``, the run prints
    ``report.pdf`` when a Chromium is present (:func:`analysis.ops.pdf.run_printer`).
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
        code, timed_out = _run_process(args, root, tmp, log_file, timeout)
        seconds = round(time.perf_counter() - t0, 3)
        log_text = log_file.read_text(encoding="utf-8", errors="replace")
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
    args: dict[str, Any], root: Path, tmp: str, log_file: Path, timeout: float
) -> tuple[int, bool]:
    """Start the client process, wait up to ``timeout``; return (exit code, timed out)."""
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "analysis.ops.isolated", json.dumps(args)],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_client_env(tmp),
            start_new_session=True,  # our terminal's Ctrl-C is ours to handle, not the child's
        )
        with process.STARTED.tracking(proc.pid):
            try:
                return proc.wait(timeout=timeout), False
            except subprocess.TimeoutExpired:
                process.kill_tree(proc.pid)
                return proc.wait(), True


def _client_env(tmp: str) -> dict[str, str]:
    """The environment of a client's process: ours, less secrets, temporary files in ``tmp``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["TMPDIR"] = tmp
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


def main(argv: Sequence[str]) -> int:
    """``python -m analysis.ops.isolated '<json>'``: the client process (see
    :func:`run_isolated`)."""
    if len(argv) != 1:
        print(
            "usage: python -m analysis.ops.isolated '<json arguments>' (internal)", file=sys.stderr
        )
        return 2
    args = json.loads(argv[0])
    if args.get("parent") is not None:
        process.die_with_parent(int(args["parent"]))
    process.skip_slow_optional_imports()  # before papermill imports nbformat
    return _client(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
