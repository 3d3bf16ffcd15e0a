"""Write outputs atomically, check and hash inputs: the file helpers every layer may use. No
statistics.

A write that fails with an :class:`OSError` (disk full, no permission, a read-only folder) raises
:class:`~analysis.errors.OutputError` naming the file and what to do (:func:`writing`); the
target is then left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.errors import OutputError

if TYPE_CHECKING:  # pandas only in annotations: the runner's process never needs it (~0.4 s)
    import pandas as pd

_ADVICE = {
    errno.ENOSPC: "the disk is full: free space on it, then run again",
    errno.EDQUOT: "the disk quota is used up: free space or ask for a larger quota, then run again",
    errno.EROFS: "the file system is read-only: mount it read-write or move the project, then "
    "run again",
    errno.EACCES: "no permission to write there: give this user write access to the folder, "
    "then run again",
    errno.EPERM: "the operation is not permitted there: give this user write access to the "
    "folder, then run again",
    errno.EIO: "the disk reported an input/output error: check the disk, then run again",
}


def write_error(exc: OSError, path: str | Path) -> OutputError:
    """The :class:`~analysis.errors.OutputError` for a failed write of ``path``: the path (the
    one the system named, if any), what the error means (with its errno name) and what to do."""
    where = exc.filename if exc.filename is not None else path
    code = errno.errorcode.get(exc.errno or 0)
    meaning = (os.strerror(exc.errno) if exc.errno else str(exc)) + (f" ({code})" if code else "")
    advice = _ADVICE.get(exc.errno or 0, "check that the folder exists and can be written")
    return OutputError(f"{where}: cannot write: {meaning}; {advice}")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an :class:`OSError` raised in the block into :func:`write_error` for ``path``."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, path) from exc


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it over ``target``.

    If the block raises, the temporary file is removed and ``target`` is left as it was; an
    :class:`OSError` (in the block or in the rename) becomes an
    :class:`~analysis.errors.OutputError` naming ``target``.
    """
    target = Path(target)
    with writing(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            tmp_path.chmod(0o666 & ~_umask())  # mkstemp makes files private; outputs are not
            os.replace(tmp_path, target)
        finally:
            tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(frame: pd.DataFrame, target: Path) -> Path:
    """Write a CSV (UTF-8, no index) atomically."""
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(target)


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    """Write a Parquet file atomically."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(target)


def write_json(data: Any, target: Path) -> Path:
    """Write JSON (indented, UTF-8) atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(target)


def write_text(text: str, target: Path) -> Path:
    """Write a UTF-8 text file atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def not_a_file(path: Path) -> str | None:
    """Why ``path`` (symlinks followed) is not a regular file to read, or None if it is one.

    Says "not found", "is a directory", "is a named pipe (FIFO)" or "is not a regular file";
    never opens the path (opening a FIFO would block).
    """
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None
