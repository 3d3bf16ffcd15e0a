"""Branding from params (report.brand): name, accent colour and an embedded logo, all escaped."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output

from analysis.config.params import load_client
from analysis.errors import ParamsError
from analysis.report import runner as report

FIXTURE = Path(__file__).parent / "fixtures" / "clients" / "tiny"
PNG = base64.b64decode(  # a 1x1 transparent PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def branded(tmp_path: Path, brand: dict) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    (root / "data/raw/tiny/logo.png").write_bytes(PNG)
    path = root / "params" / "tiny.yaml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("report", {})["brand"] = brand
    path.write_text(yaml.safe_dump(data))
    return root


def test_brand_in_the_html(tmp_path: Path) -> None:
    root = branded(
        tmp_path,
        {"name": "Acme <b>Bank</b>", "accent": "#aa3300", "logo": "data/raw/tiny/logo.png"},
    )
    client = load_client("params/tiny.yaml", root=root)
    assert "logo" in client.input_files()
    nb = new_notebook(
        cells=[
            new_code_cell(
                "x", outputs=[new_output("display_data", data={"text/html": "<p>body</p>"})]
            )
        ]
    )
    html = report.to_html(nb, title="T", brand=report.brand_resources(client))
    assert "--accent: #aa3300" in html
    assert "Acme &lt;b&gt;Bank&lt;/b&gt;" in html and "<b>Bank</b>" not in html
    assert 'src="data:image/png;base64,' + base64.b64encode(PNG).decode() in html
    assert 'alt="Acme &lt;b&gt;Bank&lt;/b&gt; logo"' in html
    report.check_self_contained(html)


def test_no_brand_no_header(tmp_path: Path) -> None:
    client = load_client("params/tiny.yaml", root=branded(tmp_path, {}))
    nb = new_notebook(cells=[])
    html = report.to_html(nb, title="T", brand=report.brand_resources(client))
    assert '<header class="oi-brand">' not in html and "<style>:root { --accent" not in html


@pytest.mark.parametrize(
    ("brand", "message"),
    [
        ({"accent": "red"}, "key 'report.brand.accent': String should match pattern"),
        ({"logo": "data/raw/tiny/missing.png"}, "key 'report.brand.logo': file"),
        ({"logo": "data/raw/tiny/codebook.yaml"}, "a logo must be one of .png"),
        ({"colour": "#000000"}, "unknown key 'report.brand.colour'"),
    ],
)
def test_bad_brand(tmp_path: Path, brand: dict, message: str) -> None:
    root = branded(tmp_path, brand)
    with pytest.raises(ParamsError, match=message):
        load_client("params/tiny.yaml", root=root)


def test_logo_size_limit(tmp_path: Path) -> None:
    root = branded(tmp_path, {"logo": "data/raw/tiny/big.png"})
    (root / "data/raw/tiny/big.png").write_bytes(PNG + b"\0" * 300_000)
    with pytest.raises(ParamsError, match="is over 200 KB"):
        load_client("params/tiny.yaml", root=root)
