"""Runs under real faults (issue 12, items 4-6): a disk that is really full (a small tmpfs) or
read-only, a client process really killed with ``kill -9`` in the middle of its run, two runs of
one client at once, and a batch whose parent process is killed.

The tmpfs tests mount file systems, which needs root (or CAP_SYS_ADMIN); they are skipped, with
the reason, where mounting is not permitted. Each run uses the tiny client and the light report
notebook of test_batch.py, so a run is a few seconds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from test_batch import LIGHT_NOTEBOOK, make_project, processes_in, run_cli, write_notebook

from analysis.errors import LockedError, OutputError
from analysis.report import lock, runner, staging

CLI = Path(sys.executable).with_name("outside-in")
SLEEP = 'import os, time\nopen("kernel.pid", "w").write(str(os.getpid()))\ntime.sleep(300)'


def snapshot(root: Path, slug: str = "a") -> dict[str, bytes]:
    """Every file of the client's two output folders, by path, with its bytes."""
    out = {}
    for folder in (root / "data" / "processed" / slug, root / "reports" / slug):
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def leftovers(root: Path, slug: str = "a") -> list[str]:
    """Staging, old-set and lock files of the client beside its folders."""
    found = []
    for base in (root / "data" / "processed", root / "reports"):
        if base.is_dir():
            found += [p.name for p in base.iterdir() if p.name.startswith(f".{slug}.")]
    return sorted(found)


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# ---------------------------------------------------------------------------------------------
# a full disk, a read-only disk (real tmpfs mounts)


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """``mount(path, size)``: a tmpfs of ``size`` at ``path``; all unmounted at the end."""
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here (needs root): {done.stderr}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path, spare_pages: int = 0) -> None:
    """Fill the file system of ``folder`` for real (write until ENOSPC), then give back
    ``spare_pages`` pages."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    for size in (4096, 1):  # the last page-sized chunks
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * size)
    os.close(fd)
    if spare_pages:
        os.truncate(filler, filler.stat().st_size - 4096 * spare_pages)


def test_a_full_or_read_only_reports_disk_is_a_clear_error(tmpfs, tmp_path: Path, capsys):
    root = make_project(tmp_path / "p", {"a": "good"})
    reports = tmpfs(root / "reports", "4m")
    runner.run_client("params/a.yaml", root=root)
    before = snapshot(root)
    fill(reports)

    code = runner_cli(root)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "No space left on device (ENOSPC)" in err and "the disk is full" in err
    assert f"{reports}/.a.stage-" in err  # the file it could not write
    assert "Traceback" not in err
    assert snapshot(root) == before  # the last good outputs were kept
    assert leftovers(root) == []

    (reports / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(reports)], check=True)
    code = runner_cli(root)
    err = capsys.readouterr().err
    assert code == 2 and "Read-only file system (EROFS)" in err and "mount it read-write" in err
    assert snapshot(root) == before
    assert leftovers(root) == []


def runner_cli(root: Path) -> int:
    code, _ = run_cli("run", "params/a.yaml", "--root", str(root))
    return code


def test_a_full_disk_in_the_notebook_names_the_write_not_a_cell(tmpfs, tmp_path: Path):
    """The kernel's write fails (intake's clean.parquet): the run says what the OSError said."""
    root = make_project(tmp_path / "p", {"a": "good"})
    processed = tmpfs(root / "data" / "processed", "4m")
    runner.run_client("params/a.yaml", root=root)
    before = snapshot(root)
    fill(processed, spare_pages=1)  # room for the lock's record, none for the outputs
    with pytest.raises(OutputError) as caught:
        runner.run_client("params/a.yaml", root=root)
    msg = str(caught.value)
    assert "gap_report.ipynb for a: " in msg and "clean.parquet: cannot write" in msg
    assert "No space left on device (ENOSPC); the disk is full" in msg
    assert "(in cell 2, `data = pipeline.intake(client)`)" in msg
    assert "left unchanged" in msg
    assert snapshot(root) == before
    assert leftovers(root) == []


def test_a_write_error_names_the_path_and_what_to_do(tmp_path: Path):
    from analysis import files

    err = files.write_error(OSError(errno.EACCES, "Permission denied"), tmp_path / "x.csv")
    assert str(err) == (
        f"{tmp_path / 'x.csv'}: cannot write: Permission denied (EACCES); no permission to "
        "write there: give this user write access to the folder, then run again"
    )


# ---------------------------------------------------------------------------------------------
# kill -9 in the middle of a run; a second run at the same time


def test_a_killed_run_changes_nothing_and_the_next_run_recovers(tmp_path: Path, capsys):
    root = make_project(tmp_path / "p", {"a": "good"})
    runner.run_client("params/a.yaml", root=root)
    # as if the last good run had a previous wave: a file the next run does not write
    (root / "data" / "processed" / "a" / "trend.csv").write_text("item,change\n")
    before = snapshot(root)
    sleepy = write_notebook(root / "sleepy.ipynb", *LIGHT_NOTEBOOK, SLEEP)
    proc = subprocess.Popen(
        [str(CLI), "run", "params/a.yaml", "--root", str(root), "--notebook", str(sleepy)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for((root / "kernel.pid").exists, 60), proc.stderr
        kernel = int((root / "kernel.pid").read_text())
        # the run got past intake and the gap table: into its staging folder only
        [stage] = (root / "data" / "processed").glob(".a.stage-*")
        assert (stage / "validation.json").is_file() and (stage / "gap_table.csv").is_file()
        assert snapshot(root) == before

        # a second run of the same client is refused, naming the first one's pid
        with pytest.raises(
            LockedError,
            match=f"another run of client 'a' is in progress \\(pid {proc.pid} on host ",
        ):
            runner.run_client("params/a.yaml", root=root)
        assert runner_cli(root) == 2
        assert f"pid {proc.pid}" in capsys.readouterr().err
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: gone(kernel), 5)  # the kernel follows its client process
    assert snapshot(root) == before  # nothing changed
    record = json.loads(lock.lock_path(root, "a").read_text())
    assert record["pid"] == proc.pid  # the killed run's lock is left, stale
    assert ".a.lock" in leftovers(root) and stage.is_dir()

    result = runner.run_client("params/a.yaml", root=root)
    manifest = json.loads(result.manifest.read_text())
    assert manifest["recovered_from"]["pid"] == proc.pid  # the stale lock was cleared
    assert leftovers(root) == []  # staging folders and lock gone
    # the new set replaced the old set whole: trend.csv (only the old run had it) is gone
    assert not (root / "data" / "processed" / "a" / "trend.csv").exists()
    assert (root / "data" / "processed" / "a" / "gap_table.csv").is_file()
    assert manifest["outputs"]["report_html"]["path"] == "reports/a/report.html"
    assert manifest["outputs"]["report_html"]["sha256"] == files_sha(result.report_html)


def files_sha(path: Path) -> str:
    from analysis import files

    return files.file_sha256(path)


def test_a_killed_batch_takes_its_clients_and_kernels_with_it(tmp_path: Path):
    """kill -9 of ``outside-in batch`` (no handler can run): its client processes die with it
    (PR_SET_PDEATHSIG), and their kernels with them (ipykernel's parent poller)."""
    root = make_project(tmp_path / "p", {"a": "good"})
    nb = write_notebook(root / "sleepy.ipynb", SLEEP)
    proc = subprocess.Popen(
        [str(CLI), "batch", "--root", str(root), "--notebook", str(nb)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for((root / "kernel.pid").exists, 60)
        assert len(processes_in(root)) >= 2  # the client process and its kernel
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: processes_in(root) == [], 5), processes_in(root)


# ---------------------------------------------------------------------------------------------
# the swap, interrupted at every step (no notebook)


def make_sets(root: Path, token: str) -> staging.StagedClient:
    """A live set (old) and a staged set (new) of the client ``a`` with distinct files."""
    client = staging.staged(runner.load_client("params/a.yaml", root=root), token)
    live = client.live
    for folder, name in ((live.processed_dir, "trend.csv"), (live.report_dir, "report.html")):
        folder.mkdir(parents=True)
        (folder / name).write_text("old")
        (folder / "both.txt").write_text("old")
    (live.report_dir / "sent.json").write_text('{"sends": []}')
    for folder in (client.processed_dir, client.report_dir):
        folder.mkdir(parents=True)
        (folder / "both.txt").write_text("new")
    (client.report_dir / "report.html").write_text("new")
    return client


def state(root: Path) -> dict[str, str]:
    return {k: v.decode() for k, v in snapshot(root).items()}


OLD = {
    "data/processed/a/both.txt": "old",
    "data/processed/a/trend.csv": "old",
    "reports/a/both.txt": "old",
    "reports/a/report.html": "old",
    "reports/a/sent.json": '{"sends": []}',
}
NEW = {
    "data/processed/a/both.txt": "new",
    "reports/a/both.txt": "new",
    "reports/a/report.html": "new",
    "reports/a/sent.json": '{"sends": []}',  # a delivery record, carried over
}


class Crash(BaseException):
    """The process dying at this point (nothing after it runs)."""


@pytest.mark.parametrize("crash_after", range(5))
def test_an_interrupted_swap_is_completed_or_undone_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_after: int
):
    root = make_project(tmp_path / "p", {"a": "good"})
    client = make_sets(root, "1-0000abcd")
    renames = []

    def rename(src: str | Path, dst: str | Path) -> None:
        if len(renames) == crash_after:
            raise Crash
        renames.append((src, dst))
        os.replace(src, dst)

    monkeypatch.setattr(staging.os, "rename", rename)
    with contextlib.suppress(Crash):
        staging.commit(client)
    monkeypatch.undo()
    # at this instant: the marker says whether the new set is the result
    committed = staging.marker_path(root, "a").exists() or crash_after == 4
    with lock.client_lock(root, "a"):
        staging.recover(root, "a")
    assert state(root) == (NEW if committed else OLD)
    assert leftovers(root) == []


def test_a_failed_run_before_the_commit_keeps_the_old_set(tmp_path: Path):
    root = make_project(tmp_path / "p", {"a": "good"})
    make_sets(root, "1-0000abcd")
    with lock.client_lock(root, "a"):
        staging.recover(root, "a")  # no marker: the stage is discarded
    assert state(root) == OLD and leftovers(root) == []


def test_the_stage_token_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = make_project(tmp_path / "p", {"a": "good"})
    monkeypatch.setenv(staging.STAGE_ENV, "../../elsewhere")
    with pytest.raises(OutputError, match="is not a stage token"):
        runner.open_client("params/a.yaml", root)
    monkeypatch.setenv(staging.STAGE_ENV, "12-00ff00ff")
    client = runner.open_client("params/a.yaml", root)
    assert client.processed_dir == root / "data" / "processed" / ".a.stage-12-00ff00ff"
    assert client.report_dir == root / "reports" / ".a.stage-12-00ff00ff"
