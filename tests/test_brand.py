"""Branding from params (report.brand): name, accent colour and an embedded logo, all escaped."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook, new_output
from PIL import Image

from analysis.config.params import load_client
from analysis.errors import ParamsError, ReportError
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


# --- the logo is checked by its content (issue 12, item 1) ----------------------------------

SVG_OK = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10">'
    b'<defs><linearGradient id="g"><stop offset="0" stop-color="#a30"/></linearGradient></defs>'
    b'<rect id="r" width="10" height="10" style="fill:url(#g)"/><use xlink:href="#r"/></svg>'
)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), "#aa3300").save(out, format="JPEG")
    return out.getvalue()


def logo_client(tmp_path: Path, name: str, content: bytes | None = None) -> Path:
    root = branded(tmp_path, {"name": "Acme", "logo": f"data/raw/tiny/{name}"})
    if content is not None:
        (root / "data/raw/tiny" / name).write_bytes(content)
    return root


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [("logo.jpg", None, "image/jpeg"), ("logo.svg", SVG_OK, "image/svg+xml")],
)
def test_good_logos_are_embedded_as_checked(tmp_path, name, content, kind) -> None:
    content = jpeg() if content is None else content
    client = load_client("params/tiny.yaml", root=logo_client(tmp_path, name, content))
    logo = report.brand_resources(client)["logo"]
    assert logo == f"data:{kind};base64," + base64.b64encode(content).decode()


def test_a_symlink_to_etc_passwd_is_no_logo(tmp_path: Path) -> None:
    root = logo_client(tmp_path, "logo.png", None)
    link = root / "data/raw/tiny/logo.png"
    link.unlink()
    link.symlink_to("/etc/passwd")
    with pytest.raises(ParamsError, match=r"key 'report.brand.logo': .* is not a PNG image"):
        load_client("params/tiny.yaml", root=root)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("logo.png", b"root:x:0:0:root:/root:/bin/bash\n", "is not a PNG image"),
        ("logo.png", PNG[:40], "is not a valid PNG image"),  # the magic bytes, then truncated
        ("logo.png", jpeg(), "is not a PNG image"),  # a JPEG named .png
        ("logo.jpg", PNG, "is not a JPEG image"),
        ("logo.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 20, "is not a valid JPEG image"),
        ("logo.svg", b"not xml at all", "is not a valid SVG (XML) file"),
        ("logo.svg", b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element is not <svg>"),
        ("logo.svg", SVG_OK.replace(b"<defs>", b"<script>alert(1)</script><defs>"), "<script>"),
        ("logo.svg", SVG_OK.replace(b'id="r"', b'id="r" onload="alert(1)"'), "event attributes"),
        ("logo.svg", SVG_OK.replace(b'"#r"', b'"https://evil.example/x.svg#r"'), "refer to"),
        ("logo.svg", SVG_OK.replace(b"url(#g)", b"url(https://evil.example/t)"), "refer to"),
        ("logo.svg", SVG_OK.replace(b'"#r"', b'"file:///etc/passwd"'), "refer to"),
        (
            "logo.svg",
            SVG_OK.replace(b"<defs>", b"<foreignObject><p>hi</p></foreignObject><defs>"),
            "<foreignObject>",
        ),
        (
            "logo.svg",
            SVG_OK.replace(
                b"<defs>", b"<style>@import url(https://evil.example/c.css);</style><defs>"
            ),
            "may not import",
        ),
        (
            "logo.svg",
            b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            "may not declare a DOCTYPE",
        ),
    ],
)
def test_a_logo_that_is_not_what_it_says_is_refused(tmp_path, name, content, message) -> None:
    root = logo_client(tmp_path, name, content)
    with pytest.raises(ParamsError) as err:
        load_client("params/tiny.yaml", root=root)
    assert "key 'report.brand.logo'" in str(err.value) and message in str(err.value)


def test_a_logo_swapped_after_loading_is_not_embedded(tmp_path: Path) -> None:
    root = logo_client(tmp_path, "logo.png", None)
    client = load_client("params/tiny.yaml", root=root)
    (root / "data/raw/tiny/logo.png").write_bytes(b"secret: 42\n")
    with pytest.raises(ReportError, match=r"key 'report.brand.logo': .* is not a PNG image"):
        report.brand_resources(client)
