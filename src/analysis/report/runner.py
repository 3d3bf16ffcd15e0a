"""Run the report notebook for one client and turn it into a self-contained HTML report.

:func:`run_client` checks the params, checks the Jupyter kernel (registering it for this Python when
none of its name is installed), executes the report notebook with papermill (the project's
``notebooks/gap_report.ipynb`` when it has one, else the one shipped in the package; only the params
file and the project root, as plain strings, are passed in), converts the executed notebook with
nbconvert using our template (``templates/outside_in``: no code, no prompts, no scripts, our CSS
inlined, images as data URIs), checks the HTML is self-contained, writes ``report.html``,
``report.ipynb`` and the run's provenance (``manifest.json``), and only then swaps the run's outputs
in. The whole run holds the client's lock (:mod:`analysis.report.lock`: a second run at the same
time is refused) and writes into staging folders (:mod:`analysis.report.staging`) that replace
``data/processed/<client>/`` and ``reports/<client>/`` whole when everything succeeded. A failed run
raises :class:`~analysis.errors.ReportError` naming the failing cell (or
:class:`~analysis.errors.OutputError` naming the file that could not be written, also when the
notebook's kernel could not write it), changes no output and leaves the executed notebook in
``data/processed/<client>/report.failed.ipynb`` for debugging.

papermill, nbconvert, nbformat and jupyter_client are imported where they are used: the report
notebook's kernel imports this module (for :func:`open_client`) and would otherwise pay ~3 s for
them in every run.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis import __version__, files, logs
from analysis.config.logo import check_logo
from analysis.config.params import Client, load_client
from analysis.errors import DeliveryError, OutputError, ReportError
from analysis.report import i18n, lock, staging

KERNEL = "outside-in"
KERNEL_DISPLAY_NAME = "Outside-In"
SETUP_COMMAND = "scripts/dev.sh setup"  # in a checkout; a plain install registers the kernel itself
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the analysis package (fingerprinted whole)
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE = "outside_in"
NOTEBOOK_NAME = "gap_report.ipynb"
#: The report notebook shipped inside the package (package data); a checkout's
#: ``notebooks/gap_report.ipynb`` is a symbolic link to it, so JupyterLab edits this one file.
PACKAGED_NOTEBOOK = Path(__file__).resolve().parent / "notebooks" / NOTEBOOK_NAME
NOTEBOOK_ONLY_TAG = "notebook-only"  # cells for analysts in JupyterLab, left out of the report
PARAMETERS = ("params_file", "root")  # what the notebook's `parameters` cell declares
LOCK_FILE = "requirements.lock"  # every dependency pinned (`make lock`); see locked_versions
VERSIONED = (
    "pandas",
    "numpy",
    "papermill",
    "nbconvert",
    "pandera",
    "seaborn",
    "pingouin",
    "matplotlib",
    "scipy",
)
FAILED_NOTEBOOK = "report.failed.ipynb"  # in data/processed/<client>/, for debugging a failure
OS_ERRORS = ("OSError", "PermissionError")  # what a cell's failed write raises (ENOSPC, EACCES)

log = logging.getLogger(__name__)

_SCRIPT = re.compile(r"<\s*script", re.IGNORECASE)
_REMOTE_ATTR = re.compile(
    r"""\b(?:src|href|srcset|poster|data|action|formaction)\s*=\s*["']?\s*(?:https?:)?//""",
    re.IGNORECASE,
)
_REMOTE_CSS = re.compile(r"""(?:url\(\s*["']?\s*(?:https?:)?//|@import)""", re.IGNORECASE)


#: Prints a report: ``printer(html_path, pdf_path)`` (:func:`analysis.ops.pdf.print_pdf`).
Printer = Callable[[Path, Path], Path]


@dataclass(frozen=True)
class RunResult:
    """What one client's run produced."""

    client: str
    report_html: Path
    report_ipynb: Path
    manifest: Path
    seconds: float
    report_pdf: Path | None = None  # None: not printed (not asked, or printing failed)
    pdf_note: str | None = None  # why there is no PDF when one was asked for


# ---------------------------------------------------------------------------------------------
# the notebook's side: finding the project root


def resolve_root(params_file: str | Path, root: str | Path = ".") -> Path:
    """The project root against which ``params_file`` resolves.

    ``root`` as given when the params file is found there (or is absolute). Otherwise, when
    ``root`` is the working directory of a notebook opened from ``notebooks/`` in JupyterLab,
    its parent directory, if the params file is found there. Otherwise ``root`` unchanged, and
    :func:`~analysis.config.params.load_client` reports the missing file.
    """
    base = Path(root).absolute()
    params = Path(params_file)
    if params.is_absolute() or (base / params).is_file():
        return base
    parent = base.parent
    if (parent / params).is_file():
        return parent
    return base


def open_client(params_file: str | Path, root: str | Path = ".") -> Client:
    """Load a client from the notebook: :func:`resolve_root`, then ``load_client``; in a run's
    kernel, the client writes into the run's staging folders
    (:func:`analysis.report.staging.from_environment`). The client's ``report.language``
    becomes the active language (:func:`analysis.report.i18n.use`)."""
    loaded = load_client(params_file, root=resolve_root(params_file, root))
    client = staging.from_environment(loaded)
    i18n.use(client.config.report.language)
    return client


# ---------------------------------------------------------------------------------------------
# checks


def setup_hint(name: str = KERNEL) -> str:
    """The command that registers the kernel ``name`` for this Python: ``scripts/dev.sh setup``
    in the checkout's ``.venv`` (it made that environment), else :func:`register_command`."""
    prefix = Path(sys.prefix).resolve()
    if prefix == (PACKAGE_DIR.parents[1] / ".venv").resolve():
        return SETUP_COMMAND
    return register_command(name)


def register_command(name: str = KERNEL) -> str:
    """``ipykernel install`` of the kernel ``name`` into this environment (a conda environment
    from ``environment.yml``, or any other), with ``python`` when it is the active conda
    environment's and this interpreter's path otherwise."""
    prefix = Path(sys.prefix).resolve()
    conda = os.environ.get("CONDA_PREFIX")
    python = "python" if conda and Path(conda).resolve() == prefix else sys.executable
    return (
        f"{python} -m ipykernel install --sys-prefix --name {name} "
        f"--display-name {KERNEL_DISPLAY_NAME}"
    )


def check_kernel(name: str = KERNEL) -> dict[str, Any]:
    """Check that the Jupyter kernel ``name`` exists and runs this Python interpreter.

    Returns the kernelspec's ``name``, ``argv`` and ``resource_dir``. Raises
    :class:`ReportError` telling the user to run the setup command otherwise.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    here = os.path.abspath(sys.executable)
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise ReportError(
            f"the Jupyter kernel {name!r} is not installed, so the report notebook cannot run; "
            f"run `{setup_hint(name)}` to register it for this Python ({here})"
        ) from None
    argv0 = spec.argv[0] if spec.argv else ""
    if argv0 != here:
        raise ReportError(
            f"the Jupyter kernel {name!r} ({spec.resource_dir}) runs {argv0 or '(nothing)'}, "
            f"not this Python ({here}), so the report would use other packages; run "
            f"`{setup_hint(name)}` to register the kernel again"
        )
    return {"name": name, "argv": list(spec.argv), "resource_dir": str(spec.resource_dir)}


def ensure_kernel(name: str = KERNEL, prefix: str | Path | None = None) -> dict[str, Any]:
    """:func:`check_kernel`, first registering the kernel ``name`` for this Python when no kernel
    of that name is installed (a plain ``pip install`` registers none).

    The kernelspec is written into ``prefix/share/jupyter/kernels/<name>`` (``prefix``: this
    environment's ``sys.prefix`` by default, where ``scripts/dev.sh setup`` registers it too),
    into a temporary folder first and renamed into place, so clients of a batch that register
    it at the same time cannot see half a kernelspec. A kernel of that name that runs another
    Python is left alone (:func:`check_kernel` says what to do). Raises :class:`ReportError`
    when the kernelspec cannot be written.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        _register_kernel(name, Path(prefix if prefix is not None else sys.prefix))
    return check_kernel(name)


def _register_kernel(name: str, prefix: Path) -> None:
    """Write this Python's kernelspec as ``name`` under ``prefix`` (see :func:`ensure_kernel`)."""
    from ipykernel.kernelspec import write_kernel_spec

    kernels = prefix / "share" / "jupyter" / "kernels"
    try:
        kernels.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=kernels) as tmp:
            spec = Path(tmp) / name
            write_kernel_spec(str(spec), overrides={"display_name": KERNEL_DISPLAY_NAME})
            try:
                spec.rename(kernels / name)
            except OSError:
                if not (kernels / name / "kernel.json").is_file():  # not another client's
                    raise
    except OSError as exc:
        raise ReportError(
            f"the Jupyter kernel {name!r} is not installed and could not be registered in "
            f"{kernels} ({exc.strerror or exc}); run `{register_command(name)}` with a Python "
            "that may write there, or `--user` instead of `--sys-prefix`"
        ) from None


def notebook_parameters(params_file: str | Path, root: Path) -> dict[str, str]:
    """The values papermill injects into the notebook: plain strings only."""
    return {"params_file": str(params_file), "root": str(root)}


def check_self_contained(html: str, where: str = "report") -> None:
    """Raise :class:`ReportError` if the HTML has a script or loads anything from the network."""
    problems = []
    if _SCRIPT.search(html):
        problems.append("a <script> element")
    m = _REMOTE_ATTR.search(html)
    if m:
        problems.append(f"a remote resource ({m.group(0).strip()}...)")
    m = _REMOTE_CSS.search(html)
    if m:
        problems.append(f"a remote stylesheet reference ({m.group(0).strip()}...)")
    if problems:
        raise ReportError(
            f"{where}: the HTML is not self-contained: it has {' and '.join(problems)}. A "
            "notebook output brought it in; show results with the analysis.report section "
            "functions instead."
        )


# ---------------------------------------------------------------------------------------------
# running


def default_notebook(root: Path) -> Path:
    """The report notebook a run of the project ``root`` uses: the project's own
    ``root/notebooks/gap_report.ipynb`` when it has one (a checkout has, and so may a team's
    project that customised the report), else the one shipped in the package
    (:data:`PACKAGED_NOTEBOOK`)."""
    own = Path(root) / "notebooks" / NOTEBOOK_NAME
    return own if own.is_file() else PACKAGED_NOTEBOOK


def notebook_source(nb_path: Path) -> str:
    """Where the notebook of a run came from: ``"package"`` for the packaged notebook itself,
    ``"project"`` for any other file (the project's ``notebooks/gap_report.ipynb``, or the one
    given with ``--notebook``), even a link to the packaged one: a checkout's notebook is such a
    link, and edits to it are the project's."""
    return "package" if Path(nb_path).absolute() == PACKAGED_NOTEBOOK else "project"


def run_client(
    params_file: str | Path,
    root: str | Path | None = None,
    notebook: str | Path | None = None,
    timeout: int = 600,
    printer: Printer | None = None,
    write_log: bool = True,
) -> RunResult:
    """Run the report notebook for one client; write its report, executed notebook and manifest.

    Parameters
    ----------
    params_file
        ``params/<client>.yaml``, relative to ``root`` or absolute.
    root
        The project root (the working directory by default); the notebook runs with it as its
        working directory.
    notebook
        The notebook to run; by default the project's ``notebooks/gap_report.ipynb`` (under
        ``root``), else the one shipped in the package (:func:`default_notebook`).
    timeout
        Seconds any one cell may run.
    printer
        Prints the report to PDF (``printer(html_path, pdf_path)``, e.g.
        :func:`analysis.ops.pdf.print_pdf`): the PDF is printed from the staged report into the
        stage, so it is swapped in with the report it shows, or not at all. A printer that fails
        (:class:`~analysis.errors.DeliveryError`) leaves the run without a PDF and says why in
        ``pdf_note``; the report itself is unaffected. None: no PDF.
    write_log
        Write the run's log (every record of the ``analysis`` loggers, debugging detail
        included: :func:`analysis.logs.capture`) to ``data/processed/<client>/run.log`` with the
        run's outputs. False for a batch's client process, whose whole output becomes that file.

    Before the run, a warning (one line) names the locked packages whose installed versions
    differ from those the client's last manifest records (:func:`version_changes`).

    Returns
    -------
    RunResult
        The client slug, the paths of ``reports/<client>/report.html`` and ``report.ipynb`` and of
        ``data/processed/<client>/manifest.json``, and the run's duration in seconds.

    Raises
    ------
    ParamsError
        The params file or codebook is invalid (nothing has run).
    ReportError
        The kernel runs another Python or cannot be registered (:func:`ensure_kernel`), a
        notebook cell failed, or the HTML is not self-contained.
    OutputError
        An output could not be written (disk full, no permission, read-only folder), by the
        runner or by the notebook.
    LockedError
        Another run of the same client is in progress.

    Whatever fails, no output of the last good run is changed (see
    :mod:`analysis.report.staging`).
    """
    clock = _Clock()
    root_path = Path(root).absolute() if root is not None else Path.cwd()
    client = load_client(params_file, root=root_path)
    nb_path = _notebook_path(notebook, root_path)
    kernel = ensure_kernel()
    manifest = _run_locked(
        client, params_file, nb_path, timeout, clock, kernel, printer, write_log=write_log
    )
    log.debug("%s: steps %s", client.slug, manifest["steps"])
    return RunResult(
        client.slug,
        client.report_dir / "report.html",
        client.report_dir / "report.ipynb",
        client.processed_dir / "manifest.json",
        manifest["seconds"],
        client.report_dir / "report.pdf" if "report_pdf" in manifest["outputs"] else None,
        manifest.get("pdf_note"),
    )


def _run_locked(
    client: Client,
    params_file: str | Path,
    nb_path: Path,
    timeout: int,
    clock: _Clock,
    kernel: dict[str, Any],
    printer: Printer | None = None,
    write_log: bool = True,
) -> dict[str, Any]:
    """Under the client's lock: recover a killed run's leftovers, run into a new stage, write the
    manifest there, swap the stage in; a failure discards the stage (unless the swap was
    committed: the next run then completes it). Returns the manifest. With ``write_log``, the
    run's log is written into the stage as ``run.log`` just before the swap."""
    header = f"Outside-In {__version__}: run of {client.slug} ({params_file})"
    with lock.client_lock(client.root, client.slug) as stale, logs.capture(header) as run_log:
        staging.recover(client.root, client.slug)
        changed = version_changes(client)  # the last run's manifest, before it is replaced
        if changed:
            log.warning(
                "%s: package versions differ from its last run: %s; its numbers may differ "
                "from that run's (see the manifest's `locked`)",
                client.slug,
                ", ".join(changed),
            )
        log.debug(
            "%s: params %s, notebook %s, kernel %s", client.slug, params_file, nb_path, kernel
        )
        stage = staging.staged(client, staging.new_token())
        clock.lap("check")
        try:
            manifest = _run_staged(stage, params_file, nb_path, timeout, clock, kernel, printer)
            manifest["recovered_from"] = stale  # the record of a killed run whose lock was cleared
            files.write_json(manifest, stage.processed_dir / "manifest.json")
            log.debug("%s: outputs %s", client.slug, sorted(manifest["outputs"]))
            if write_log:
                run_log.write(stage.processed_dir / logs.RUN_LOG)
            staging.commit(stage)
        finally:
            if not staging.marker_path(client.root, client.slug).exists():
                staging.discard(client.root, client.slug)
    return manifest


def _run_staged(
    stage: staging.StagedClient,
    params_file: str | Path,
    nb_path: Path,
    timeout: int,
    clock: _Clock,
    kernel: dict[str, Any],
    printer: Printer | None = None,
) -> dict[str, Any]:
    """Execute, convert and write the report (and its PDF) into the stage; return the run's
    manifest."""
    with staging.kernel_environment(stage.token):
        executed = _execute(stage, params_file, nb_path, timeout)
    clock.lap("execute")
    rows = _row_counts(stage.processed_dir / "validation.json", nb_path)

    html = to_html(
        executed,
        title=stage.config.title,
        brand=brand_resources(stage),
        language=stage.config.report.language,
    )
    check_self_contained(html, where=f"{nb_path.name} for {stage.slug}")
    clock.lap("convert")

    _write_report(stage, executed, html)
    clock.lap("write")
    pdf_note = None
    if printer is not None:
        try:
            printer(stage.report_dir / "report.html", stage.report_dir / "report.pdf")
        except DeliveryError as err:
            pdf_note = f"no PDF: {err}"
        clock.lap("pdf")

    manifest = _manifest(stage, clock, rows, nb_path, kernel, executed)
    if pdf_note:
        manifest["pdf_note"] = pdf_note
    return manifest


def _warm_converter() -> None:
    """Convert an empty notebook and throw the HTML away: imports nbconvert (its markdown
    filters compile ~1 s of regular expressions) and loads our template while the process would
    otherwise only wait for the kernel. A failure here is ignored: the real conversion reports
    it."""
    import contextlib

    with contextlib.suppress(Exception):
        import nbformat.v4

        to_html(nbformat.v4.new_notebook(), title="")


def _notebook_path(notebook: str | Path | None, root: Path) -> Path:
    """The notebook to run (default: :func:`default_notebook`); it must exist."""
    path = Path(notebook).absolute() if notebook is not None else default_notebook(root)
    if not path.is_file():
        raise ReportError(f"{path}: report notebook not found")
    return path


class _Clock:
    """When a run started, and the seconds of each of its steps."""

    def __init__(self) -> None:
        self.started = dt.datetime.now(dt.UTC)
        self.steps: dict[str, float] = {}
        self._t0 = self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        """Record the seconds since the last lap (or the start) as ``step``'s."""
        now = time.perf_counter()
        self.steps[step] = round(now - self._last, 3)
        self._last = now

    def seconds(self) -> float:
        """Seconds since the start."""
        return round(time.perf_counter() - self._t0, 3)


def _write_report(stage: staging.StagedClient, executed: Any, html: str) -> None:
    """Write ``report.ipynb`` and ``report.html`` into the stage's report folder."""
    import nbformat

    with files.atomic_path(stage.report_dir / "report.ipynb") as tmp_ipynb:
        nbformat.write(executed, str(tmp_ipynb))
    files.write_text(html, stage.report_dir / "report.html")


def _manifest(
    stage: staging.StagedClient,
    clock: _Clock,
    rows: dict[str, int],
    nb_path: Path,
    kernel: dict[str, Any],
    executed: Any,
) -> dict[str, Any]:
    """The run's provenance: inputs and outputs with their SHA-256, rows, parameters, notebook,
    kernel, timings (of the run, its steps and each cell), notebook warnings, versions. Output
    paths are the live ones the stage's files will have after the swap."""
    finished = dt.datetime.now(dt.UTC)
    client = stage.live
    outputs = (
        ("report_html", client.report_dir / "report.html", stage.report_dir),
        ("report_ipynb", client.report_dir / "report.ipynb", stage.report_dir),
        ("report_pdf", client.report_dir / "report.pdf", stage.report_dir),
        ("report_xlsx", client.report_dir / "report.xlsx", stage.report_dir),
        ("gap_table", client.processed_dir / "gap_table.csv", stage.processed_dir),
        ("priorities", client.processed_dir / "priorities.csv", stage.processed_dir),
        ("action_plan", client.processed_dir / "action_plan.csv", stage.processed_dir),
    )
    return {
        "client": client.slug,
        "title": client.config.title,
        "started": clock.started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": clock.seconds(),
        "steps": clock.steps,
        "root": str(client.root),
        "inputs": {
            role: {"path": _rel(path, client.root), "sha256": files.file_sha256(path)}
            for role, path in client.input_files().items()
        },
        "rows": rows,
        "params": client.config.model_dump(mode="json"),
        "notebook": {
            "path": _rel(nb_path, client.root),
            "source": notebook_source(nb_path),
            "sha256": files.file_sha256(nb_path),
        },
        "kernel": kernel,
        "outputs": {
            name: {
                "path": _rel(p, client.root),
                "sha256": files.file_sha256(staged / p.name),
                "bytes": (staged / p.name).stat().st_size,
            }
            for name, p, staged in outputs
            if (staged / p.name).is_file()
        },
        "cells": _cell_timings(executed),
        "notebook_warnings": _stderr_text(executed),
        "versions": versions(),
        "locked": locked_versions(client.root),
        "package": package_fingerprint(),
    }


def _execute(
    client: staging.StagedClient, params_file: str | Path, nb_path: Path, timeout: int
) -> Any:
    """Execute the notebook into a temporary file; return the executed notebook. A failure
    keeps the executed notebook so far in the live ``data/processed/<client>/``."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    # nbconvert's imports and template while the kernel starts and runs the notebook
    warm = threading.Thread(target=_warm_converter, name="warm-nbconvert", daemon=True)
    warm.start()
    with (
        tempfile.TemporaryDirectory(prefix=f"outside-in-{client.slug}-") as tmp,
        tempfile.TemporaryDirectory(prefix="oi-") as sockets,
    ):
        out = Path(tmp) / "executed.ipynb"
        try:
            pm.execute_notebook(
                str(nb_path),
                str(out),
                parameters=notebook_parameters(params_file, client.root),
                kernel_name=KERNEL,
                cwd=str(client.root),
                progress_bar=False,
                request_save_on_cell_execute=False,
                execution_timeout=timeout,
                config=_kernel_config(Path(sockets)),
            )
        except PapermillExecutionError as exc:
            kept = _keep_failed(out, client.live)
            raise _cell_failure(exc, nb_path, client, kept) from None
        except OSError as exc:  # the executed notebook could not be written
            raise files.write_error(exc, out) from exc
        except Exception as exc:  # kernel died, cell timed out, kernel would not start ...
            kept = _keep_failed(out, client.live)
            hint = f" The executed notebook so far is in {kept}." if kept else ""
            raise ReportError(
                f"{nb_path.name} for {client.slug}: the notebook could not be run: "
                f"{type(exc).__name__}: {_first_line(str(exc))}.{hint}"
            ) from exc
        finally:
            warm.join()
        return nbformat.read(str(out), as_version=4)


def _kernel_config(sockets: Path) -> Any:
    """On POSIX, the kernel talks over IPC sockets in the private folder ``sockets`` instead of
    TCP ports: kernels started at the same time (``outside-in batch``) cannot race for a port,
    and no kernel listens on the network."""
    from traitlets.config import Config

    if os.name != "posix":  # pragma: no cover
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})


def _keep_failed(out: Path, client: Client) -> Path | None:
    """Keep the executed notebook of a failed run (None: there is none, or it cannot be written,
    as when the disk is full: the run's own error is the one to report)."""
    if not out.is_file():
        return None
    target = client.processed_dir / FAILED_NOTEBOOK
    try:
        files.write_text(out.read_text(encoding="utf-8"), target)
    except (OutputError, OSError):
        return None
    return target


def _cell_failure(
    exc: Any, nb_path: Path, client: Client, kept: Path | None
) -> ReportError | OutputError:
    """Name the failing cell (index in the notebook file, first source line) and the error; a
    cell that could not write a file (:class:`OutputError` or an OSError in the kernel) is an
    :class:`OutputError` that leads with what the system said."""
    source = str(getattr(exc, "source", "") or "")
    index = _source_index(nb_path, source, getattr(exc, "cell_index", None))
    first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "(empty cell)")
    where = f"cell {index}" if index is not None else "a cell"
    ename, evalue = getattr(exc, "ename", "Error"), str(getattr(exc, "evalue", "") or "")
    hint = f" The executed notebook with the full traceback is in {kept}." if kept else ""
    unchanged = "The previous report and outputs, if any, were left unchanged."
    if ename == "OutputError" or ename in OS_ERRORS:
        what = evalue if ename == "OutputError" else f"{ename}: {evalue}"
        return OutputError(
            f"{nb_path.name} for {client.slug}: {what} (in {where}, `{first}`). {unchanged}{hint}"
        )
    return ReportError(
        f"{nb_path.name} for {client.slug}: {where} (`{first}`) failed: {ename}: {evalue}. "
        f"{unchanged}{hint}"
    )


def _source_index(nb_path: Path, source: str, fallback: int | None) -> int | None:
    """Index of the failing cell in the notebook file (papermill counts its injected cell too)."""
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return fallback
    for i, cell in enumerate(cells):
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else text
        if cell.get("cell_type") == "code" and text == source:
            return i
    return fallback


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _cell_timings(nb: Any) -> list[dict[str, Any]]:
    """Seconds per code cell (papermill's record), by index in the notebook file."""
    out, index = [], 0
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            seconds = cell.metadata.get("papermill", {}).get("duration")
            out.append(
                {
                    "cell": index,
                    "source": _first_line(cell.source),
                    "seconds": None if seconds is None else round(float(seconds), 3),
                }
            )
        index += 1
    return out


def _stderr_text(nb: Any) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                out.append(str(o.get("text", "")).strip())
    return [t for t in out if t]


def _row_counts(validation: Path, nb_path: Path) -> dict[str, int]:
    """Rows received/accepted/rejected (and excluded, when any were) from this run's
    ``validation.json`` (in its stage, so never a previous run's)."""
    if not validation.is_file():
        raise ReportError(
            f"{nb_path.name}: the notebook ran but did not write validation.json "
            "(it must call pipeline.intake); the previous report was left unchanged"
        )
    data = json.loads(validation.read_text(encoding="utf-8"))
    rows = {k: int(data[k]) for k in ("received", "accepted", "rejected")}
    if data.get("excluded"):
        rows["excluded"] = int(data["excluded"])
    return rows


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(path).absolute().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def versions() -> dict[str, str | None]:
    """Versions of Python, Outside-In and the packages the numbers and the report depend on."""
    out: dict[str, str | None] = {"python": platform.python_version(), "analysis": __version__}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def lock_file(root: Path) -> Path | None:
    """The lock file this environment was set up from: the checkout's ``requirements.lock``
    beside this package's source (``scripts/dev.sh setup`` installs from it), else the project
    root's; None when there is neither (e.g. a plain ``pip install`` without one)."""
    for folder in (PACKAGE_DIR.parents[1], Path(root)):
        if (folder / LOCK_FILE).is_file():
            return folder / LOCK_FILE
    return None


def _normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Jupyter_Core`` -> ``jupyter-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==")


def _installed() -> dict[str, str]:
    """Installed distributions (normalised name -> version), from the names of the
    ``*.dist-info`` folders on ``sys.path`` (first one wins, as for imports): ~1 ms, where reading
    every distribution's metadata takes ~0.3 s. Nothing is imported."""
    out: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if folder.endswith(".dist-info"):
                name, _, version = folder[: -len(".dist-info")].partition("-")
                out.setdefault(_normalise(name), version)
    return out


def locked_versions(root: Path) -> dict[str, Any]:
    """The installed versions of the packages :func:`lock_file` pins (read from the file, so a
    package the lock pins only for another platform or Python, and not installed, is left out).

    Returns ``{"file": <path of the lock file or None>, "versions": {name: version}}``; without
    a lock file, ``versions`` covers :data:`VERSIONED`. Names are PEP 503-normalised. Cheap
    (no package is imported): the manifest records it on every run.
    """
    path = lock_file(root)
    if path is None:
        names = [_normalise(n) for n in VERSIONED]
    else:
        names = sorted(
            {
                _normalise(m.group(1))
                for line in path.read_text(encoding="utf-8").splitlines()
                if (m := _PINNED.match(line.strip()))
            }
        )
    installed = _installed()
    found = {n: installed[n] for n in names if n in installed}
    return {"file": None if path is None else str(path), "versions": found}


def version_changes(client: Client) -> list[str]:
    """What differs between the installed locked packages and those the client's last manifest
    (``data/processed/<client>/manifest.json``) records: ``"pandas 3.0.0 -> 3.1.1"`` per package
    (``(none)`` for one installed or recorded on one side only), sorted by name. Empty when they
    agree, and when there is no earlier manifest or it records no ``locked`` versions (one
    written before they were recorded)."""
    path = client.processed_dir / "manifest.json"
    try:
        before = json.loads(path.read_text(encoding="utf-8")).get("locked") or {}
    except (OSError, ValueError, AttributeError):
        return []
    old = before.get("versions") if isinstance(before, dict) else None
    if not isinstance(old, dict):
        return []
    new = locked_versions(client.root)["versions"]
    return [
        f"{name} {old.get(name) or '(none)'} -> {new.get(name) or '(none)'}"
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def package_fingerprint() -> dict[str, str]:
    """Outside-In's version and a SHA-256 over its source and templates (code changes that leave
    the version number alone still change the fingerprint; ``outside-in batch`` compares it)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".j2", ".css", ".json", ".tpl"):
            h.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
    return {"version": __version__, "sha256": h.hexdigest()}


# ---------------------------------------------------------------------------------------------
# conversion


def brand_resources(client: Client) -> dict[str, str]:
    """The client's branding for the template: name, accent colour, logo as a data URI.

    The logo's bytes are checked by content again here (:func:`analysis.config.logo.check_logo`:
    the file may have changed since the params were loaded) and exactly the checked bytes are
    embedded; a logo that fails is a :class:`~analysis.errors.ReportError` naming the key.
    """
    brand = client.config.report.brand
    out = {"name": brand.name or "", "accent": brand.accent or ""}
    if brand.logo is not None:
        try:
            kind, content = check_logo(client.root / brand.logo)
        except (ValueError, OSError) as exc:
            raise ReportError(f"{client.params_file}: key 'report.brand.logo': {exc}") from None
        data = base64.b64encode(content).decode("ascii")
        out["logo"] = f"data:{kind};base64,{data}"
    return out


def to_html(
    nb: Any, title: str, brand: dict[str, str] | None = None, language: str = i18n.SOURCE
) -> str:
    """Convert an executed notebook to the client HTML: outputs only, our template and CSS;
    ``<html lang>`` is the report's ``language``.

    Left out: code, prompts, cells tagged ``notebook-only``, stderr streams (warnings; they are
    recorded in the manifest instead), JavaScript and widget outputs.
    """
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    try:
        exporter = HTMLExporter(
            template_name=TEMPLATE,
            extra_template_basedirs=[str(TEMPLATES_DIR)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            exclude_anchor_links=True,
            language_code=language,  # nbconvert sets resources["language_code"] from this trait
        )
    except ValueError as exc:  # a template not found: nbconvert's own are missing
        raise ReportError(
            f"nbconvert cannot load the report template {TEMPLATE!r} ({_first_line(str(exc))}); "
            "its own templates (share/jupyter/nbconvert/templates, which ours builds on) are "
            f"missing from this environment ({sys.prefix}): reinstall nbconvert there "
            "(pip install --force-reinstall nbconvert)"
        ) from None
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags={NOTEBOOK_ONLY_TAG}), enabled=True
    )
    html, _ = exporter.from_notebook_node(
        nb,
        resources={
            "metadata": {"name": title},
            "report_title": title,
            "brand": brand or {},
            "language_code": language,
        },
    )
    return html
