"""Outside-In as a real package: what ships in it, ``outside-in init``, the kernel a plain install
registers, and (slow) a plain install into a fresh virtual environment running the demo.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from analysis import cli
from analysis.config.params import load_client
from analysis.errors import ReportError
from analysis.ops import project
from analysis.report import runner

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "analysis"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# package data


def test_package_data_ships_every_file_that_is_not_python():
    """Every non-Python file under src/analysis (notebook, templates, CSS, skeleton) matches a
    ``[tool.setuptools.package-data]`` pattern of its package, so a wheel carries it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]
    shipped: set[Path] = set()
    for package, globs in patterns.items():
        base = ROOT / "src" / Path(*package.split("."))
        for pattern in globs:
            shipped |= {p for p in base.glob(pattern) if p.is_file()}
    data = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    }
    assert runner.PACKAGED_NOTEBOOK in data
    assert project.SKELETON_DIR / "README.txt" in data
    assert data - shipped == set()


def test_one_notebook_in_git_the_checkout_links_to_the_packaged_one():
    link = ROOT / "notebooks" / "gap_report.ipynb"
    assert link.is_symlink() and not runner.PACKAGED_NOTEBOOK.is_symlink()
    assert link.resolve() == runner.PACKAGED_NOTEBOOK.resolve()
    assert runner.PACKAGED_NOTEBOOK.is_relative_to(PACKAGE)


def test_default_notebook_is_the_project_s_else_the_packaged_one(tmp_path: Path):
    assert runner.default_notebook(tmp_path) == runner.PACKAGED_NOTEBOOK
    assert runner.notebook_source(runner.default_notebook(tmp_path)) == "package"
    own = tmp_path / "notebooks" / "gap_report.ipynb"
    own.parent.mkdir()
    own.write_bytes(runner.PACKAGED_NOTEBOOK.read_bytes())
    assert runner.default_notebook(tmp_path) == own
    assert runner.notebook_source(own) == "project"
    assert runner.notebook_source(ROOT / "notebooks" / "gap_report.ipynb") == "project"  # a link


# ---------------------------------------------------------------------------------------------
# outside-in init


def test_init_creates_a_project_with_the_shipped_sample_client(tmp_path: Path):
    folder = tmp_path / "team"
    code, out, err = run_cli("init", str(folder))
    assert (code, err) == (0, "")
    assert (
        f"Created the Outside-In project {folder}" in out
        and "outside-in run params/demo.yaml" in out
    )
    for sub in ("params", "data/raw", "data/processed", "reports"):
        assert (folder / sub).is_dir(), sub
    made = tree(folder)
    shipped = {f"data/raw/demo/{k}": v for k, v in tree(ROOT / "data" / "raw" / "demo").items()}
    shipped["params/demo.yaml"] = (ROOT / "params" / "demo.yaml").read_bytes()
    assert {k: v for k, v in made.items() if k not in ("README.txt", ".gitignore")} == shipped
    ignored = made[".gitignore"].decode().splitlines()
    assert "data/processed/" in ignored and "reports/" in ignored
    assert "params/" not in ignored and not any(ln.startswith("data/raw") for ln in ignored)
    readme = made["README.txt"].decode()
    for step in ("outside-in run params/demo.yaml", "outside-in new-client", "outside-in validate"):
        assert step in readme
    client = load_client("params/demo.yaml", root=folder)  # the params resolve in the new folder
    assert client.slug == "demo" and client.root == folder
    assert not (folder / "notebooks").exists()  # runs use the packaged notebook


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path):
    folder = tmp_path / "team"
    (folder / "params").mkdir(parents=True)
    (folder / "params" / "demo.yaml").write_text("mine\n")
    (folder / "notes.md").write_text("keep\n")
    before = tree(folder)
    code, out, err = run_cli("init", str(folder))
    assert code == 2 and out == ""
    assert f"outside-in init: {folder}: not creating an Outside-In project here" in err
    assert "1 of its files exist already (params/demo.yaml)" in err
    assert "nothing was written or overwritten" in err
    assert tree(folder) == before and not (folder / "data").exists()
    # a folder that already is a project
    other = tmp_path / "again"
    assert run_cli("init", str(other))[0] == 0
    before = tree(other)
    code, _, err = run_cli("init", str(other))
    assert code == 2 and "12 of its files exist already" in err and " and 4 more" in err
    assert tree(other) == before
    # a file where the folder (or one of its folders) should be
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("init", str(tmp_path / "file"))
    assert code == 2 and "exists and is not a folder" in err
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "reports").write_text("x")
    code, _, err = run_cli("init", str(tmp_path / "odd"))
    assert code == 2 and "(reports)" in err and sorted(tree(tmp_path / "odd")) == ["reports"]


def test_init_into_the_working_directory_with_the_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("init", "--notebook")
    assert code == 0 and "notebooks/gap_report.ipynb" in out
    copied = tmp_path / "notebooks" / "gap_report.ipynb"
    assert copied.read_bytes() == runner.PACKAGED_NOTEBOOK.read_bytes()
    assert not copied.is_symlink()
    assert runner.default_notebook(tmp_path) == copied


# ---------------------------------------------------------------------------------------------
# the kernel: a plain install has none registered, the first run registers it


def test_ensure_kernel_registers_a_missing_kernel_for_this_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    name = "outside-in-test-registration"
    prefix = tmp_path / "env"
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    with pytest.raises(ReportError, match="not installed"):
        runner.check_kernel(name)
    spec = runner.ensure_kernel(name, prefix=prefix)
    kernels = prefix / "share" / "jupyter" / "kernels"
    assert spec["argv"][0] == os.path.abspath(sys.executable)
    assert Path(spec["resource_dir"]) == kernels / name
    assert sorted(p.name for p in kernels.iterdir()) == [name]  # no temporary folder left
    written = json.loads((kernels / name / "kernel.json").read_text())
    assert written["display_name"] == runner.KERNEL_DISPLAY_NAME
    assert "ipykernel_launcher" in written["argv"]
    assert KernelSpecManager().get_kernel_spec(name).argv == spec["argv"]
    assert runner.ensure_kernel(name, prefix=prefix) == spec  # registered: left as it is
    # a batch's clients may register it at the same time: the one that loses the rename is fine
    runner._register_kernel(name, prefix)
    assert sorted(p.name for p in kernels.iterdir()) == [name]
    assert json.loads((kernels / name / "kernel.json").read_text()) == written


def test_ensure_kernel_says_how_when_it_cannot_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "user"))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    with pytest.raises(ReportError) as err:
        runner.ensure_kernel("outside-in-test-blocked", prefix=blocked)
    msg = str(err.value)
    assert "could not be registered in" in msg and str(blocked) in msg
    assert "-m ipykernel install --sys-prefix --name outside-in-test-blocked" in msg


# ---------------------------------------------------------------------------------------------
# a plain install into a fresh virtual environment


def _dependency_paths() -> list[str]:
    """This interpreter's site-packages folders that hold dependencies but no ``analysis``."""
    return [
        p
        for p in sys.path
        if p
        and "site-packages" in Path(p).parts
        and Path(p).is_dir()
        and not (Path(p) / "analysis" / "__init__.py").exists()
    ]


def _nbconvert_data() -> Path:
    """nbconvert's own templates folder (``share/jupyter/nbconvert``) of this environment."""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path():
        if (Path(base) / "nbconvert" / "templates" / "basic").is_dir():
            return (Path(base) / "nbconvert").resolve()
    raise AssertionError("nbconvert's templates are not installed in this environment")


@pytest.mark.slow
def test_a_plain_install_in_a_fresh_venv_inits_and_runs_the_demo(tmp_path: Path):
    """Build a wheel of this checkout (pip, build isolation), install it (not editable, with
    ``--no-deps``) into a new virtual environment in tmp_path, run ``outside-in init`` and then
    ``outside-in run params/demo.yaml --no-pdf`` from the new folder.

    What it checks: the wheel carries everything a run reads (notebook, templates, skeleton,
    generator), nothing is read from the checkout (the checkout's src/ is not importable in the
    venv and the run starts in a folder outside it), the kernel is registered by the run itself
    (no kernel is installed in the venv, none from elsewhere is visible), and the manifest
    says the packaged notebook ran. What it does not check: that pip resolves the third-party
    dependencies; to keep it fast and offline they come from this environment through a ``.pth``
    file listing its site-packages, and nbconvert's data files (its base templates, which pip
    installs under the venv's share/jupyter) through a link to this environment's.
    """
    wheels, venv, folder = tmp_path / "wheels", tmp_path / "venv", tmp_path / "team"
    source = tmp_path / "source"  # what the build reads, copied: no build/ of an earlier build
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)], check=True, cwd=tmp_path
    )
    [wheel] = wheels.glob("outside_in-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    [site] = (venv / "lib").glob("python*/site-packages")
    (site / "_outside_in_deps.pth").write_text("".join(p + "\n" for p in _dependency_paths()))
    (venv / "share" / "jupyter").mkdir(parents=True)
    (venv / "share" / "jupyter" / "nbconvert").symlink_to(_nbconvert_data())
    subprocess.run(
        [*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL"))
    }
    env |= {
        "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-user"),
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
    }
    where = subprocess.run(
        [str(python), "-c", "import analysis; print(analysis.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where
    assert not (venv / "share" / "jupyter" / "kernels").exists()

    def outside_in(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(venv / "bin" / "outside-in"), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=900,
        )

    done = outside_in("init", str(folder), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = outside_in("run", "params/demo.yaml", "--no-pdf", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "demo: report written" in done.stdout
    html = (folder / "reports" / "demo" / "report.html").read_text(encoding="utf-8")
    assert "Harbourline Telecom" in html and "At a glance" in html
    assert (folder / "reports" / "demo" / "report.ipynb").is_file()
    for name in ("gap_table.csv", "priorities.csv", "clean.parquet", "rejected.csv"):
        assert (folder / "data" / "processed" / "demo" / name).is_file(), name
    manifest = json.loads((folder / "data" / "processed" / "demo" / "manifest.json").read_text())
    assert manifest["notebook"]["source"] == "package"
    assert Path(manifest["notebook"]["path"]).is_relative_to(site)
    assert manifest["rows"] == {"received": 1733, "accepted": 1723, "rejected": 10}
    assert manifest["kernel"]["argv"][0] == str(python)
    assert Path(manifest["kernel"]["resource_dir"]).is_relative_to(venv)
