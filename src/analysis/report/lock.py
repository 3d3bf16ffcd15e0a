"""One run per client at a time: ``data/processed/.<client>.lock``.

:func:`client_lock` holds an advisory lock (``flock``) on that file for the whole run and writes
the holder's pid, host and start time into it. The operating system releases the lock when the
holder's process ends, however it ends, so a lock left by a run killed with ``kill -9`` is stale
by construction: the next run acquires it, finds the dead run's record (returned, so the run can
say it recovered from it) and replaces it. A second run while the first is alive is refused with
:class:`~analysis.errors.LockedError` naming the first one's pid. A run that ends removes the file.

The lock is only held by the process that took it: file descriptors are not inherited by the
processes it starts (the Jupyter kernel), so a kernel that outlives its killed client process
for a moment does not keep the client locked (it writes into its run's own staging folder, which
the next run discards: :mod:`analysis.report.staging`). Needs a file system with working
``flock`` (local disks; NFS with locking, as a Dask cluster's shared project root).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analysis import files
from analysis.errors import LockedError


def lock_path(root: Path, slug: str) -> Path:
    """``data/processed/.<slug>.lock`` under ``root`` (beside the client's folder, which a run
    replaces whole)."""
    return Path(root) / "data" / "processed" / f".{slug}.lock"


@contextlib.contextmanager
def client_lock(root: Path, slug: str) -> Iterator[dict[str, Any] | None]:
    """Hold the client's run lock while the block runs.

    Yields the record of a previous holder that died holding it (its pid, host and start time),
    or None when the lock was free. Raises :class:`~analysis.errors.LockedError` when another
    live run holds it, :class:`~analysis.errors.OutputError` when the lock file cannot be written.
    """
    path = lock_path(root, slug)
    with files.writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, slug)
    try:
        stale = _read(fd)
        with files.writing(path):
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        yield stale
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still holding it: a waiting opener then sees a new inode
        os.close(fd)


def _acquire(path: Path, slug: str) -> int:
    """Open and lock ``path`` without waiting; the locked file must still be the one at
    ``path`` (a run that ended may have removed it between our open and our lock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise LockedError(_busy_message(path, slug, holder)) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _read(fd: int) -> dict[str, Any] | None:
    """The holder's record in the lock file (None: empty or unreadable)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _busy_message(path: Path, slug: str, holder: dict[str, Any] | None) -> str:
    if holder:
        who = (
            f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}"
        )
    else:
        who = "pid not recorded yet"
    return (
        f"another run of client {slug!r} is in progress ({who}; lock {path}); wait for it to "
        "finish, or stop that process, then run again"
    )
