"""The committed notebooks follow the house rules, and params files only use known keys.

No outputs or execution counts; a ``parameters`` cell of literal assignments whose names are exactly
what :func:`analysis.report.runner.run_client` passes; no functions or classes defined in
notebooks; every
``analysis`` function the report notebook calls exists.
"""

from __future__ import annotations

import ast
import importlib
import io
import types
import typing
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import yaml
from pydantic import BaseModel

from analysis.config.params import RunConfig
from analysis.report import runner as report

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPORT_NOTEBOOK = ROOT / "notebooks" / "gap_report.ipynb"
PARAMS_FILES = sorted((ROOT / "params").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "fixtures" / "clients").glob("*/params/*.yaml")
)


def code_cells(path: Path) -> list[Any]:
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def parameters_cell(path: Path) -> Any:
    cells = [c for c in code_cells(path) if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise AssertionError(f"{path.name}: {len(cells)} cells tagged 'parameters', want 1")
    return cells[0]


def declared_parameters(path: Path) -> dict[str, Any]:
    """Names and literal values assigned in the parameters cell (fails on anything else)."""
    tree = ast.parse(parameters_cell(path).source)
    out = {}
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign | ast.AnnAssign), ast.dump(stmt)
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        assert len(targets) == 1 and isinstance(targets[0], ast.Name), ast.dump(stmt)
        assert stmt.value is not None
        out[targets[0].id] = ast.literal_eval(stmt.value)  # raises on non-literals
        assert isinstance(stmt.value, ast.Constant), f"{targets[0].id}: not a plain literal"
    return out


def test_there_is_a_report_notebook():
    assert REPORT_NOTEBOOK in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == report.KERNEL
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: outputs in {cell.source[:40]!r}"
            assert cell.execution_count is None, f"{path.name}: execution count"
    assert "papermill" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_functions_or_classes(path: Path):
    for cell in code_cells(path):
        for node in ast.walk(ast.parse(cell.source)):
            assert not isinstance(
                node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
            ), f"{path.name}: defines something in {cell.source[:60]!r}"


def test_report_notebook_parameters_are_what_run_client_passes():
    declared = declared_parameters(REPORT_NOTEBOOK)
    assert declared == {"params_file": "params/demo.yaml", "root": "."}
    tree = ast.parse(parameters_cell(REPORT_NOTEBOOK).source)
    assert all(isinstance(s, ast.AnnAssign) for s in tree.body)  # typed, for papermill
    passed = report.notebook_parameters("params/x.yaml", Path("/somewhere"))
    assert set(declared) == set(passed) == set(report.PARAMETERS)
    assert all(isinstance(v, str) for v in passed.values())
    nb = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first_code.metadata.get("tags", [])


def test_report_notebook_parameters_have_a_type_and_help():
    """``papermill --help-notebook`` and ``papermill.inspect_notebook`` show every parameter's
    type and what it is (papermill reads both from the parameters cell)."""
    import papermill

    found = papermill.inspect_notebook(str(REPORT_NOTEBOOK))
    assert set(found) == set(report.PARAMETERS)
    for name, info in found.items():
        assert info["inferred_type_name"] == "str", name
        assert len(info["help"]) > 20, name
    assert "relative to root" in found["params_file"]["help"]
    assert "project root" in found["root"]["help"]


def test_report_notebook_title_cell_holds_no_client_text():
    nb = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert report.NOTEBOOK_ONLY_TAG in first.metadata.get("tags", [])
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert "{" not in cell.source and "demo" not in cell.source.lower()


def test_report_notebook_calls_only_existing_analysis_functions():
    """Every ``module.name`` used in the notebook exists in the imported analysis module."""
    modules: dict[str, types.ModuleType] = {}
    for cell in code_cells(REPORT_NOTEBOOK):
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                package = node.module or ""
                assert package.split(".")[0] == "analysis", f"notebook imports {package}"
                for alias in node.names:
                    modules[alias.asname or alias.name] = importlib.import_module(
                        f"{package}.{alias.name}"
                    )
            elif isinstance(node, ast.Import):
                raise AssertionError(
                    "import analysis modules with 'from analysis.<subpackage> import ...'"
                )
    for cell in code_cells(REPORT_NOTEBOOK):
        for node in ast.walk(ast.parse(cell.source)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
            ):
                assert hasattr(modules[node.value.id], node.attr), (
                    f"analysis.{node.value.id}.{node.attr} does not exist"
                )


# ---------------------------------------------------------------------------------------------
# params files: every key is a RunConfig key


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``Model``, ``Model | None``, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def unknown_keys(data: Any, model: type[BaseModel], where: str = "") -> list[str]:
    if not isinstance(data, dict):
        return []
    bad = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        path = f"{where}{key}"
        if field is None:
            bad.append(path)
            continue
        sub = _model_of(field.annotation)
        if sub is not None:
            bad += unknown_keys(value, sub, path + ".")
    return bad


def test_there_are_params_files():
    assert any("fixtures" in str(p) for p in PARAMS_FILES)


@pytest.mark.parametrize("path", PARAMS_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_params_keys_are_known(path: Path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert unknown_keys(data, RunConfig) == []


def test_unknown_key_walk_finds_nested_keys():
    data = {"client": "x", "design": {"weigth": "w"}, "weighting": {"method": "rake", "x": 1}}
    assert unknown_keys(data, RunConfig) == ["design.weigth", "weighting.x"]


def test_papermill_on_the_notebook_writes_what_outside_in_run_writes(
    demo_run, tmp_path: Path
) -> None:
    """papermill run directly on the notebook (no runner: no staging, no manifest, no HTML)
    writes the same data/processed/<client>/ files as the session's ``run_client`` of the same
    project, byte for byte once each project's root path is taken out."""
    import shutil

    import papermill as pm

    project = tmp_path / "project"
    shutil.copytree(demo_run.root / "params", project / "params")
    shutil.copytree(demo_run.root / "data" / "raw", project / "data" / "raw")
    pm.execute_notebook(
        str(REPORT_NOTEBOOK),
        str(tmp_path / "executed.ipynb"),
        parameters={"params_file": "params/demo.yaml", "root": str(project)},
        kernel_name=report.KERNEL,
        cwd=str(project),
        progress_bar=False,
    )
    direct = project / "data" / "processed" / "demo"

    def outputs(folder: Path, root: Path) -> dict[str, bytes]:
        return {
            p.name: p.read_bytes().replace(str(root).encode(), b"<root>")
            for p in folder.iterdir()
            if p.is_file()
        }

    by_runner = outputs(demo_run.processed, demo_run.root)
    runners_own = {"manifest.json", "run.log"}  # the run's record and log are the runner's
    assert set(by_runner) - set(outputs(direct, project)) == runners_own
    mine = outputs(direct, project)
    for name, data in by_runner.items():
        if name in runners_own:
            continue
        if name.endswith(".csv"):  # numbers to 1e-12: the BLAS's thread count orders some sums
            pd.testing.assert_frame_equal(
                pd.read_csv(io.BytesIO(mine[name])),
                pd.read_csv(io.BytesIO(data)),
                check_exact=False,
                rtol=1e-12,
                atol=1e-12,
                obj=name,
            )
        else:
            assert mine[name] == data, name
    assert {"gap_table.csv", "clean.parquet", "validation.json"} <= set(by_runner)
    # the workbook is the kernel's (as in a JupyterLab run); the HTML and PDF are the runner's
    assert sorted(p.name for p in (project / "reports" / "demo").iterdir()) == ["report.xlsx"]


def test_report_notebook_runs_as_in_jupyterlab(demo_root: Path) -> None:
    """Opened in JupyterLab, the kernel starts in notebooks/ and the parameters cell keeps its
    defaults (the demo client, root "."): every cell must run there as it does under papermill."""
    import nbformat
    from nbclient import NotebookClient

    project = demo_root
    (project / "notebooks").mkdir()
    nb = nbformat.read(REPORT_NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="outside-in",
        timeout=600,
        resources={"metadata": {"path": str(project / "notebooks")}},
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    assert (project / "data" / "processed" / "demo" / "gap_table.csv").is_file()
    assert (project / "reports" / "demo" / "report.xlsx").is_file()  # the kernel writes it
    html = "".join(
        o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", [])
    )
    assert "At a glance" in html and "Harbourline Telecom" in html
