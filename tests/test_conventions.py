"""Conventions around the code: the lock file and the lower bounds, the versions a manifest records
(and the warning when they change), logging with ``-v``/``-q`` and a log per run, the exit codes,
pre-commit, a notebook without outputs, and ``make lab ARGS=...``.

One real ``outside-in run`` (the light notebook of test_batch, a few seconds) is shared by the tests
of the manifest, the log and the warning; the batch exit-code test runs one broken client.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version
from test_batch import make_project

from analysis import logs
from analysis.cli import EXIT_BAD_INPUT, EXIT_CLIENT_FAILED, EXIT_INTERRUPTED, EXIT_OK, main
from analysis.config.params import load_client
from analysis.report import runner

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, list[tuple[str, str | None]]]:
    """requirements.lock: normalised name -> [(version, marker or None)]."""
    pins: dict[str, list[tuple[str, str | None]]] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line.strip()):
            pins.setdefault(_norm(m.group(1)), []).append((m.group(2), m.group(3)))
    return pins


def _requirements() -> list[Requirement]:
    """pyproject.toml's dependencies and its dev and cluster extras (what the lock covers)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["dev"], *extras["cluster"]]]


# ---------------------------------------------------------------------------------------------
# the lock file and the lower bounds


def test_the_lock_pins_every_dependency_within_pyprojects_bounds() -> None:
    pins = _pins()
    assert len(pins) > 100  # the whole tree, not only the direct dependencies
    for req in _requirements():
        name = _norm(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.lock"
        for version, _marker in pins[name]:
            assert req.specifier.contains(Version(version), prereleases=True), (
                f"requirements.lock pins {name}=={version}, outside pyproject's {req}"
            )
    for extra in ("distributed", "dask"):  # the cluster extra's tree
        assert extra in pins


def test_lower_bounds_are_the_tested_ones() -> None:
    """The bounds the lowest-versions run (scripts/dev.sh lowest) showed to be needed: pandas 2
    counts share_met as NaN, pandera.pandas is from 0.24, pandas 3 needs openpyxl 3.1.5, pyarrow
    before 24 fails the codebook's numeric codes, nbconvert before 7.16.5 fails on mistune 3.1+,
    pytest before 8.4 has no --disable-plugin-autoload (pyproject's addopts), the test SMTP server
    (aiosmtpd) before 1.4.4 drops STARTTLS sessions."""
    floors = {_norm(r.name): r.specifier for r in _requirements()}
    needed = {
        "pandas": "3.0",
        "pandera": "0.24",
        "openpyxl": "3.1.5",
        "pyarrow": "24",
        "nbconvert": "7.16.5",
        "aiosmtpd": "1.4.4",
        "pytest": "8.4",
    }
    for name, version in needed.items():
        assert f">={version}" in {str(s) for s in floors[name]}, (name, floors[name])


def test_locked_versions_are_read_from_the_lock_without_imports(tmp_path: Path) -> None:
    locked = runner.locked_versions(tmp_path)
    assert locked["file"] == str(ROOT / "requirements.lock")
    versions = locked["versions"]
    pins = _pins()
    assert set(versions) <= set(pins)
    assert {"pandas", "numpy", "scipy", "papermill", "jupyter-core"} <= set(versions)
    import importlib.metadata

    for name in ("pandas", "jupyter-core", "pyyaml"):
        assert versions[name] == importlib.metadata.version(name)


# ---------------------------------------------------------------------------------------------
# one real run: manifest, run.log, the warning when versions changed


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("conv") / "p", {"a": "good", "b": "broken"})
    assert main(["run", "params/a.yaml", "--root", str(root), "--no-pdf"]) == EXIT_OK
    return root


def test_the_manifest_records_the_locked_versions(ran: Path) -> None:
    manifest = json.loads((ran / "data/processed/a/manifest.json").read_text())
    assert manifest["locked"] == runner.locked_versions(ran)
    assert manifest["locked"]["versions"]["pandas"] == manifest["versions"]["pandas"]


def test_a_run_keeps_its_log_with_its_outputs(ran: Path) -> None:
    text = (ran / "data/processed/a/run.log").read_text()
    assert text.startswith("# Outside-In ") and "run of a (params/a.yaml)" in text
    assert "DEBUG   analysis.report.runner: a: params params/a.yaml" in text  # detail is kept
    assert "a: outputs [" in text


def test_rerunning_with_other_versions_warns_naming_them(
    ran: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(shutil.copytree(ran, tmp_path / "p"))
    path = root / "data/processed/a/manifest.json"
    manifest = json.loads(path.read_text())
    now = manifest["locked"]["versions"]
    manifest["locked"]["versions"] = dict(now, pandas="2.2.0", gone="1.0")
    del manifest["locked"]["versions"]["numpy"]
    path.write_text(json.dumps(manifest))
    client = load_client("params/a.yaml", root=root)
    assert runner.version_changes(client) == [
        "gone 1.0 -> (none)",
        f"numpy (none) -> {now['numpy']}",
        f"pandas 2.2.0 -> {now['pandas']}",
    ]
    capsys.readouterr()
    assert main(["run", "params/a.yaml", "--root", str(root), "--no-pdf"]) == EXIT_OK
    err = capsys.readouterr().err.splitlines()
    [line] = [ln for ln in err if "package versions differ" in ln]
    assert line.startswith("a: package versions differ from its last run: gone 1.0 -> (none), ")
    assert f"pandas 2.2.0 -> {now['pandas']}" in line
    # the new manifest records the versions installed now: no warning the next time
    assert runner.version_changes(client) == []


def test_no_warning_without_an_earlier_record(ran: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(ran, tmp_path / "p"))
    path = root / "data/processed/a/manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["locked"]  # a manifest written before versions were locked
    path.write_text(json.dumps(manifest))
    assert runner.version_changes(load_client("params/a.yaml", root=root)) == []


# ---------------------------------------------------------------------------------------------
# logging, -v/-q, exit codes


def test_quiet_leaves_out_the_result_but_not_the_errors(
    ran: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "validate", "params/a.yaml", "--root", str(ran)]) == EXIT_OK
    assert capsys.readouterr().out == ""
    assert main(["validate", "params/a.yaml", "--root", str(ran)]) == EXIT_OK
    assert "The data can be analysed." in capsys.readouterr().out
    assert main(["-q", "validate", "params/none.yaml", "--root", str(ran)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("outside-in validate: ") and "none.yaml" in err


def test_verbosity_chooses_the_stderr_level(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("analysis.test")
    for verbosity, shown in ((-2, "E"), (-1, "WE"), (0, "IWE"), (1, "DIWE"), (3, "DIWE")):
        logs.configure(verbosity)
        log.debug("D")
        log.info("I")
        log.warning("W")
        log.error("E")
        assert capsys.readouterr().err.split() == list(shown), verbosity
    logs.configure(0)


def test_exit_code_0_ok(ran: Path) -> None:
    assert main(["validate", "params/a.yaml", "--root", str(ran)]) == EXIT_OK == 0


def test_exit_code_1_a_client_failed(ran: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["batch", "params/b.yaml", "--root", str(ran), "--no-pdf", "--no-progress"])
    assert code == EXIT_CLIENT_FAILED == 1
    assert "b" in capsys.readouterr().out  # the summary names the failed client


def test_exit_code_2_bad_input_or_configuration(
    ran: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = ran / "params" / "bad.yaml"
    params.write_text(yaml.safe_dump({"client": "bad", "colour": "red"}))
    try:
        assert main(["run", "params/bad.yaml", "--root", str(ran)]) == EXIT_BAD_INPUT == 2
    finally:
        params.unlink()
    err = capsys.readouterr().err
    assert err.startswith("outside-in run: ") and "Traceback" not in err
    with pytest.raises(SystemExit) as usage:  # argparse: a usage error is bad input too
        main(["run"])
    assert usage.value.code == 2


def test_exit_code_130_interrupted(
    ran: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from analysis.ops import pipeline

    def interrupted(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "intake", interrupted)
    assert main(["validate", "params/a.yaml", "--root", str(ran)]) == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_the_readme_documents_the_exit_codes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Exit codes") :]
    for code, words in ((0, "ok"), (1, "a client failed"), (2, "bad input"), (130, "interrupt")):
        assert re.search(rf"\| `{code}` \|[^\n]*{words}", section, re.IGNORECASE), code


def test_the_kernel_hint_fits_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkout's .venv is set up by dev.sh; a conda environment (or any other) registers the
    kernel with ipykernel itself: conda users are never told to make a .venv."""
    import sys

    monkeypatch.setattr(sys, "prefix", str(runner.PACKAGE_DIR.parents[1] / ".venv"))
    assert runner.setup_hint() == "scripts/dev.sh setup"
    conda = tmp_path / "envs" / "outside-in"
    conda.mkdir(parents=True)
    monkeypatch.setattr(sys, "prefix", str(conda))
    monkeypatch.setenv("CONDA_PREFIX", str(conda))
    assert runner.setup_hint() == (
        "python -m ipykernel install --sys-prefix --name outside-in --display-name Outside-In"
    )
    monkeypatch.delenv("CONDA_PREFIX")
    assert runner.setup_hint().startswith(f"{sys.executable} -m ipykernel install --sys-prefix")
    env_file = (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert ".venv" not in env_file and "-r requirements.lock" in env_file
    assert "python -m ipykernel install --sys-prefix --name outside-in" in env_file


# ---------------------------------------------------------------------------------------------
# pre-commit, the notebook, make lab


def test_pre_commit_runs_ruff_and_strips_notebooks() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {h["id"]: repo for repo in config["repos"] for h in repo["hooks"]}
    assert {"ruff", "ruff-format", "nbstripout"} <= set(hooks)
    [(ruff, _)] = _pins()["ruff"]
    assert hooks["ruff"]["rev"] == f"v{ruff}"  # the hook is the ruff the lock pins


def test_the_report_notebook_is_committed_without_outputs() -> None:
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_make_lab_passes_args_to_jupyter(tmp_path: Path) -> None:
    """``make lab ARGS=...`` reaches ``jupyter lab`` (a stand-in that records its arguments, in a
    set-up .venv stand-in: nothing is installed and no server starts)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("Makefile", "pyproject.toml", "requirements.lock", "scripts/dev.sh"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text("#!/bin/sh\nexit 0\n")  # `import analysis`, ipykernel install
    (bin_dir / "jupyter").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n')
    for tool in ("python", "jupyter"):
        (bin_dir / tool).chmod(0o755)
    digest = subprocess.run(
        "cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / ".venv" / ".installed").write_text(digest)
    done = subprocess.run(
        ["make", "-s", "lab", "ARGS=--no-browser --port 8899"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"},
    )
    assert done.returncode == 0, done.stderr
    assert "Installing" not in done.stdout  # the set-up environment was kept
    args = (bin_dir / "args").read_text().split("\n")
    assert args[0] == "lab" and args[-2] == "notebooks/gap_report.ipynb"
    assert "--no-browser" in args and args[args.index("--port") + 1] == "8899"
