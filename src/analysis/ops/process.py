"""Process helpers: stop a process tree (with a Jupyter kernel's leftovers), keep track of the
processes a command started so an interrupt can stop them, SIGTERM as Ctrl-C, a child process
that dies with its parent, usable cores, and keeping a slow optional import out of processes
Outside-In owns. No statistics, no parsing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil

KILL_WAIT = 10.0  # seconds to wait for killed processes to be gone
PR_SET_PDEATHSIG = 1  # prctl(2) option (linux/prctl.h)


def skip_slow_optional_imports() -> None:
    """Keep the optional ``rfc3987_syntax`` out of this process.

    jsonschema (which nbformat, and so papermill and nbconvert, import) loads it when it is
    installed (``jsonschema[format-nongpl]``, pulled in by Jupyter) and it builds a parser at
    import: ~1.4 s of every client's run. It only serves jsonschema's ``iri`` format checks,
    which notebook validation does not use. For processes Outside-In owns (the client process,
    the ``outside-in`` command, the test session), never for a user's Python session.
    """
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # import -> ImportError


def kill_tree(pid: int) -> None:
    """Kill a process and every process below it (the papermill kernel starts in its own
    session, so killing the process group is not enough). Stops them first, so none can start
    new children while the tree is collected; then removes the connection and socket files of
    any Jupyter kernel among them."""
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
    deadline = time.monotonic() + KILL_WAIT
    while procs and time.monotonic() < deadline:
        procs = {p for p in procs if _alive(p)}
        if procs:
            time.sleep(0.02)
    for path in leftovers:
        path.unlink(missing_ok=True)
        if path.parent.name.startswith("oi-"):  # report.runner's private socket folder
            with contextlib.suppress(OSError):
                path.parent.rmdir()


def _kernel_files(procs: Iterable[psutil.Process]) -> list[Path]:
    """The connection file and IPC socket files of any Jupyter kernel among ``procs`` (a killed
    kernel cannot remove them itself, nor can the killed process that started it)."""
    found = []
    for p in procs:
        try:
            argv = p.cmdline()
        except psutil.Error:  # the process is gone
            continue
        for flag, value in itertools.pairwise(argv):
            if flag != "-f" or not value.endswith(".json"):
                continue
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
                info = json.loads(Path(value).read_text(encoding="utf-8"))
                if "shell_port" in info and "key" in info:  # a kernel connection file
                    found.append(Path(value))
                    if info.get("transport") == "ipc":
                        ports = [k for k in info if k.endswith("_port")]
                        found += [Path(f"{info['ip']}-{info[k]}") for k in ports]
    return found


def _alive(proc: psutil.Process) -> bool:
    """Running (a killed process whose parent has not reaped it yet is a zombie: gone)."""
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Started:
    """The child processes this process started and has not seen end, so that an interrupt can
    stop their trees (:meth:`stop_all`). Thread-safe: the batch starts clients from threads."""

    def __init__(self) -> None:
        self._pids: set[int] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def tracking(self, pid: int) -> Iterator[None]:
        """Track ``pid`` while the block runs."""
        with self._lock:
            self._pids.add(pid)
        try:
            yield
        finally:
            with self._lock:
                self._pids.discard(pid)

    def add(self, pid: int) -> None:
        """Track ``pid`` until :meth:`discard` (a process that outlives one block, such as a
        warm worker)."""
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        """Stop tracking ``pid``."""
        with self._lock:
            self._pids.discard(pid)

    def stop_all(self) -> None:
        """Kill the tree of every tracked process."""
        with self._lock:
            pids = list(self._pids)
        for pid in pids:
            kill_tree(pid)


STARTED = Started()  # the client processes of this process (see analysis.ops.isolated)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler or ``kill`` stopping the command) unwinds like Ctrl-C, so that child
    processes which run in sessions of their own are stopped too. Only in the main thread
    (elsewhere signal handlers cannot be set: the block runs unchanged)."""
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


def die_with_parent(parent_pid: int) -> bool:
    """Have the kernel send this process SIGKILL when its parent ends (Linux ``prctl
    PR_SET_PDEATHSIG``); end at once if the parent ``parent_pid`` has already gone.

    Called first thing in a client process (:mod:`analysis.ops.isolated`): when the batch or the
    Dask worker that started it is killed, even with ``kill -9``, the client process dies too,
    and its Jupyter kernel follows within a second (ipykernel polls for its parent, the client
    process, and exits when it is gone). The "parent" is the thread that started the process:
    the batch's and Dask's threads wait for their client process, so they outlive it. Returns
    False where ``prctl`` is not available (not Linux): the client then outlives a killed
    parent until its own timeout.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # pragma: no cover
        return False
    if os.getppid() != parent_pid:  # the parent ended before prctl: no signal will come
        os._exit(1)
    return True


def release_freed_memory() -> bool:
    """Hand the memory this process has freed back to the operating system (glibc
    ``malloc_trim(0)``); True if any was returned, False where there is no glibc.

    Reading and validating a survey builds millions of small Python objects (the strings of the
    raw frame) and frees them again; glibc keeps the freed pages in its heap, so a process's
    resident memory stays at its intake peak (1M rows: ~0.7 GB above what is live) for the
    rest of the run. Called by :func:`analysis.ops.pipeline.intake` once the raw frame is gone.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # pragma: no cover (musl and other C libraries)
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)
