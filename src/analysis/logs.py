"""Logging: what Outside-In says while it works, on stderr and in a log file per run.

Every module logs to a child of the ``analysis`` logger (``logging.getLogger(__name__)``).
:func:`configure` (called once by ``outside-in``'s ``main``, and by a batch's client process)
sends those records to stderr as bare messages, at the level the global options choose: ``-q``
warnings and errors only, ``-qq`` errors only, default also information, ``-v`` also debugging
detail. A command's result (the paths ``run`` wrote, ``batch``'s table) is its output, on stdout;
logging is for everything said along the way.

:func:`capture` keeps every record of one client's run, debugging detail included; the runner
writes them to ``data/processed/<client>/run.log`` with the run's other outputs (a failed run
changes no output, so its messages are only on stderr). A batch writes the same file for each
client, good or failed: its client process's whole output (see :mod:`analysis.ops.isolated`), so
a client's last run has its log in one place whichever command ran it.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from analysis import files

LOGGER = "analysis"
RUN_LOG = "run.log"  # data/processed/<client>/run.log
_LEVELS = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
_FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted (so redirected
    and captured stderr gets the records too)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def level_for(verbosity: int) -> int:
    """The stderr level for ``verbosity`` (``-v`` counts +1, ``-q`` -1; clipped to -2..1)."""
    return _LEVELS[max(-2, min(1, verbosity))]


def configure(verbosity: int = 0) -> None:
    """Send the ``analysis`` loggers' records to stderr as bare messages, from the level
    ``verbosity`` chooses (see :func:`level_for`). Calling it again replaces the handler."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, _Stderr):
            logger.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level_for(verbosity))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # the handlers choose; a run's log file keeps everything


class RunLog(logging.Handler):
    """Keeps the formatted records of one run in memory (see :func:`capture`)."""

    def __init__(self, header: str) -> None:
        super().__init__(logging.DEBUG)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.lines: list[str] = [f"# {header}", f"# started {started}"]
        self.setFormatter(logging.Formatter(_FILE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def write(self, target: Path) -> Path:
        """Write the records so far to ``target`` atomically (an
        :class:`~analysis.errors.OutputError` if it cannot be written)."""
        return files.write_text("\n".join(self.lines) + "\n", target)


@contextmanager
def capture(header: str) -> Iterator[RunLog]:
    """Keep every record of the ``analysis`` loggers, debugging detail included, while the block
    runs, whatever the stderr level; the block writes them where it wants with
    :meth:`RunLog.write` (the runner: into the run's staging folder, so ``run.log`` is swapped in
    with the outputs it describes)."""
    logger = logging.getLogger(LOGGER)
    keep = RunLog(header)
    before = logger.level
    logger.addHandler(keep)
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)
    try:
        yield keep
    finally:
        logger.removeHandler(keep)
        logger.setLevel(before)
