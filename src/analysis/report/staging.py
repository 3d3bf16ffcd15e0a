"""Staged outputs: a run writes into staging folders and swaps them in whole when it succeeded.

A run's outputs are two folders, ``data/processed/<client>/`` and ``reports/<client>/``. While
it runs they are written to ``data/processed/.<client>.stage-<token>/`` and
``reports/.<client>.stage-<token>/`` (beside the live folders, on the same file system, so the
swap is renames). :func:`commit` swaps them in:

1. the delivery records of ``reports/<client>/`` (``sent.json``, ``outbox/``: they belong to
   the report's sending, not to a run) are copied into the staged report folder;
2. the commit marker ``data/processed/.<client>.commit`` (naming the token) is written
   atomically: from here on the new set is the run's result;
3. for each folder: the live one is renamed aside to ``.<client>.old-<token>``, the staged one
   renamed in;
4. the marker is removed, then the old folders.

Two folders cannot be swapped by one system call, but at every instant either the old set is
complete in place (before the marker: the staged folders are discarded by the next run) or the
new set is complete in place or in its staging folders with the marker saying so (the next run
finishes the renames: :func:`recover`, which every run calls under the client's lock before it
starts). Leftover staging and old folders are removed by :func:`recover` too.

The new set replaces the old set whole: a file only the previous run wrote (``trend.csv`` after
``previous`` was removed from the params, ``report.failed.ipynb`` of an earlier failure,
``run.log``) is not in the new folders.

The notebook's pipeline steps write through ``client.processed_dir``: the run passes the
staging token to the notebook's kernel in the environment variable :data:`STAGE_ENV` (only
``params_file`` and ``root`` are notebook parameters), and
:func:`analysis.report.runner.open_client` then returns a :class:`StagedClient`, whose
``processed_dir`` and ``report_dir`` are the staging folders. The variable carries only a token
(checked against :data:`TOKEN`), never a path, so nothing can redirect a run's writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from analysis import files
from analysis.config.params import Client
from analysis.errors import LockedError, OutputError
from analysis.report import lock

STAGE_ENV = "OUTSIDE_IN_STAGE"  # the kernel's environment: the running stage's token
TOKEN = re.compile(r"^[0-9]+-[0-9a-f]{8}$")  # <pid>-<random hex>
DELIVERY_RECORDS = ("sent.json", "outbox")  # written by analysis.ops.deliver; carried over


@dataclass(frozen=True)
class StagedClient(Client):
    """A client whose run outputs go to the staging folders of the stage ``token``."""

    token: str = ""

    @property
    def processed_dir(self) -> Path:
        return _stage(self.root / "data" / "processed", self.slug, self.token)

    @property
    def report_dir(self) -> Path:
        return _stage(self.root / "reports", self.slug, self.token)

    @property
    def live(self) -> Client:
        """The same client with its live folders."""
        return Client(self.config, self.codebook, self.params_file, self.root)


def new_token() -> str:
    """A fresh stage token: this process's pid and random hex."""
    return f"{os.getpid()}-{os.urandom(4).hex()}"


def staged(client: Client, token: str) -> StagedClient:
    """``client`` writing into the stage ``token`` (a :data:`TOKEN`)."""
    if not TOKEN.match(token):
        raise OutputError(f"{STAGE_ENV}={token!r} is not a stage token (pid-hex)")
    return StagedClient(client.config, client.codebook, client.params_file, client.root, token)


def from_environment(client: Client) -> Client:
    """``client`` staged as :data:`STAGE_ENV` says (a run's kernel), else unchanged."""
    token = os.environ.get(STAGE_ENV)
    return staged(client, token) if token else client


@contextlib.contextmanager
def kernel_environment(token: str) -> Iterator[None]:
    """Set :data:`STAGE_ENV` for the block (the kernel papermill starts inherits it)."""
    before = os.environ.get(STAGE_ENV)
    os.environ[STAGE_ENV] = token
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STAGE_ENV, None)
        else:
            os.environ[STAGE_ENV] = before


# ---------------------------------------------------------------------------------------------
# the swap and its recovery


def _stage(base: Path, slug: str, token: str) -> Path:
    return base / f".{slug}.stage-{token}"


def _old(base: Path, slug: str, token: str) -> Path:
    return base / f".{slug}.old-{token}"


def _bases(root: Path) -> tuple[Path, Path]:
    return Path(root) / "data" / "processed", Path(root) / "reports"


def marker_path(root: Path, slug: str) -> Path:
    """``data/processed/.<slug>.commit``: present while a committed swap is not finished."""
    return Path(root) / "data" / "processed" / f".{slug}.commit"


def commit(client: StagedClient) -> None:
    """Swap the stage's folders in for the live ones (steps 1-4 of the module docstring).

    Raises :class:`~analysis.errors.OutputError` when a step cannot be written; the next run's
    :func:`recover` then completes or discards the swap.
    """
    live = client.live
    with files.writing(client.report_dir):
        client.report_dir.mkdir(parents=True, exist_ok=True)
        client.processed_dir.mkdir(parents=True, exist_ok=True)
        for name in DELIVERY_RECORDS:
            _copy(live.report_dir / name, client.report_dir / name)
    files.write_json({"token": client.token}, marker_path(client.root, client.slug))
    _finish(client.root, client.slug, client.token)


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    elif src.is_file():
        shutil.copy2(src, dst)


def _finish(root: Path, slug: str, token: str) -> None:
    """Steps 3 and 4: rename live folders aside and staged ones in (each pair at most once,
    so it may be repeated after a crash), remove the marker, then the old folders."""
    for base in _bases(root):
        stage, old, target = _stage(base, slug, token), _old(base, slug, token), base / slug
        with files.writing(target):
            if not stage.is_dir():
                continue  # already renamed in
            if target.exists():
                os.rename(target, old)
            os.rename(stage, target)
    with files.writing(marker_path(root, slug)):
        marker_path(root, slug).unlink(missing_ok=True)
    discard(root, slug)


def discard(root: Path, slug: str, keep: str | None = None) -> None:
    """Remove the client's staging and old folders (all but those of the stage ``keep``)."""
    for base in _bases(root):
        if not base.is_dir():
            continue
        for path in base.glob(f".{slug}.*-*"):
            kind, _, token = path.name[len(slug) + 2 :].partition("-")
            if kind in ("stage", "old") and token != keep and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)


def recover(root: Path, slug: str) -> None:
    """Finish a committed swap a killed run left (the marker names its stage), then remove
    every staging and old folder of the client. Call it holding the client's lock."""
    marker = marker_path(root, slug)
    try:
        token = json.loads(marker.read_text(encoding="utf-8")).get("token")
    except FileNotFoundError:
        token = None
    except (OSError, ValueError, AttributeError):
        token = None  # a marker is written atomically; an unreadable one names no stage
        with files.writing(marker):
            marker.unlink()
    if isinstance(token, str) and TOKEN.match(token):
        _finish(root, slug, token)
    discard(root, slug)


def tidy(root: Path, slug: str) -> None:
    """:func:`recover` if no run of the client is in progress (else leave it to that run); for
    the batch, after it has stopped a client's processes. Never raises for a busy lock or a
    folder that cannot be written."""
    with contextlib.suppress(LockedError, OutputError), lock.client_lock(root, slug):
        recover(root, slug)
