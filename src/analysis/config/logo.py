"""Check a client's logo by its content before it is embedded in a report (params
``report.brand.logo``).

A logo is embedded, base64, in report.html, which is emailed: so its bytes are checked, not its
name. A PNG or JPEG must start with its magic bytes and decode completely (Pillow); an SVG must
parse as XML (defusedxml: no DOCTYPE, no entities) with an ``<svg>`` root and nothing active or
external in it: no ``<script>``, ``<foreignObject>``, embedding or animation elements, no event
attributes (``onload=`` ...), no reference (``href``, ``xlink:href``, ``url(...)``, CSS
``@import``) to anything but a fragment of the same file (``#id``) or an embedded ``data:image``
URI. Such an SVG is refused, not stripped: a logo that needs cleaning is fixed at its source, and
the report never carries a silently altered image. Every problem is a :class:`ValueError` whose
message the params loader turns into one naming the key.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from PIL import Image, UnidentifiedImageError

MAX_LOGO_BYTES = 200_000
#: file suffix -> the image type its content must be
LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".svg": "image/svg+xml",
}
MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
SVG_NS = "http://www.w3.org/2000/svg"
#: elements that run code, embed other documents or pull content from elsewhere
SVG_FORBIDDEN = {"script", "foreignobject", "iframe", "embed", "object"}
SVG_FORBIDDEN |= {"animate", "animatemotion", "animatetransform", "set", "handler", "listener"}
URL = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
SAFE_REF = re.compile(r"^(#[\w.:-]*|data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*)$", re.I)


def check_logo(path: Path) -> tuple[str, bytes]:
    """The logo's image type and bytes, after checking its content.

    Parameters
    ----------
    path
        The logo file (its suffix says which type its content must be).

    Returns
    -------
    tuple of (str, bytes)
        The MIME type (``image/png``, ``image/jpeg`` or ``image/svg+xml``) and the file's bytes,
        exactly as checked (embed these, do not read the file again).

    Raises
    ------
    ValueError
        The file is over :data:`MAX_LOGO_BYTES`, or is not what its suffix says.
    """
    kind = LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: a logo must be one of {', '.join(LOGO_TYPES)}")
    with open(path, "rb") as fh:  # read once, at most one byte over the limit
        data = fh.read(MAX_LOGO_BYTES + 1)
    if len(data) > MAX_LOGO_BYTES:
        raise ValueError(
            f"{path} is over {MAX_LOGO_BYTES // 1000} KB; use a smaller image (the report is "
            "emailed)"
        )
    if kind == "image/svg+xml":
        _check_svg(path, data)
    else:
        _check_bitmap(path, data, kind)
    return kind, data


def _check_bitmap(path: Path, data: bytes, kind: str) -> None:
    name = PIL_FORMATS[kind]
    if not data.startswith(MAGIC[kind]):
        raise ValueError(f"{path} is not a {name} image (its content does not start as one)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[name]) as image:
                image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path} is not a valid {name} image ({exc})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path}: the image is too large in pixels for a logo") from None


def _check_svg(path: Path, data: bytes) -> None:
    try:
        root = safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise ValueError(f"{path}: an SVG logo may not declare a DOCTYPE or entities") from None
    except safe_xml.ParseError as exc:
        raise ValueError(f"{path} is not a valid SVG (XML) file ({exc})") from None
    if _local(root.tag) != "svg" or _namespace(root.tag) not in ("", SVG_NS):
        raise ValueError(f"{path} is not an SVG image (its root element is not <svg>)")
    for element in root.iter():
        tag = _local(element.tag) if isinstance(element.tag, str) else ""
        if tag.lower() in SVG_FORBIDDEN:
            raise ValueError(
                f"{path}: an SVG logo may not contain <{tag}> (scripts, embedded documents and "
                "active content are refused; export the logo as a plain SVG or a PNG)"
            )
        if tag.lower() == "style":
            _check_css(path, element.text or "")
        for name, value in element.attrib.items():
            attr = _local(name).lower()
            if attr.startswith("on"):
                raise ValueError(f"{path}: an SVG logo may not have event attributes ({attr}=)")
            if attr == "href" and not SAFE_REF.match(value.strip()):
                raise ValueError(f"{path}: an SVG logo may not refer to {value.strip()[:60]!r}")
            if attr == "style":
                _check_css(path, value)
            else:
                _check_urls(path, value)


def _check_css(path: Path, css: str) -> None:
    if "@import" in css.lower() or "expression(" in css.lower():
        raise ValueError(f"{path}: an SVG logo's style may not import or run anything")
    _check_urls(path, css)


def _check_urls(path: Path, text: str) -> None:
    for ref in URL.findall(text):
        if not SAFE_REF.match(ref):
            raise ValueError(f"{path}: an SVG logo may not refer to {ref[:60]!r}")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
