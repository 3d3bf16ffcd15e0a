"""YAML that keeps values as written: the loader of params files and codebooks.

PyYAML's safe loader follows YAML 1.1, which turns ``No``, ``Yes``, ``NO`` (Norway), ``On`` and
``Off`` into booleans, ``010`` into 8, ``12:00`` into 720 and ``2026-01-31`` into a date. Survey
codebooks are full of such values (segment levels, labels, codes with leading zeros), so this loader
resolves only what is unambiguous, in the spirit of the YAML 1.2 core schema:

- ``null``, ``Null``, ``NULL``, ``~`` and an empty value: None;
- ``true`` / ``false`` (also ``True``, ``TRUE``, ``False``, ``FALSE``): booleans, the only
  booleans;
- decimal integers without leading zeros (``0``, ``7``, ``-3``): int;
- decimal numbers (``0.95``, ``1e-8``, ``.5``) whose integer part has no leading zero: float;
- everything else, quoted or not, a string exactly as written (``No``, ``NO``, ``01``, ``010``,
  ``12:00``, ``2026-01-31``, ``0x1F``).

The pydantic models then convert a string where the schema wants a number, and keep it a string
where it wants text, so a codebook's segment levels are what its author typed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_INT = r"[-+]?(?:0|[1-9][0-9]*)"
_FLOAT = r"[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"

_RESOLVERS = (
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    ("tag:yaml.org,2002:int", re.compile(rf"^{_INT}$"), list("-+0123456789")),
    ("tag:yaml.org,2002:float", re.compile(rf"^{_FLOAT}$"), list("-+.0123456789")),
)


class AsWrittenLoader(yaml.SafeLoader):
    """A safe loader whose implicit types are only null, true/false, plain ints and floats."""


# start from no implicit resolvers at all (the class attribute is shared with SafeLoader otherwise)
AsWrittenLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in _RESOLVERS:
    AsWrittenLoader.add_implicit_resolver(_tag, _pattern, _first)


def _bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    return loader.construct_scalar(node).lower() == "true"  # type: ignore[arg-type]


def _int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    return int(loader.construct_scalar(node))  # type: ignore[arg-type]


def _float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    return float(loader.construct_scalar(node))  # type: ignore[arg-type]


AsWrittenLoader.add_constructor("tag:yaml.org,2002:bool", _bool)
AsWrittenLoader.add_constructor("tag:yaml.org,2002:int", _int)
AsWrittenLoader.add_constructor("tag:yaml.org,2002:float", _float)


def load(text: str) -> Any:
    """Parse YAML text with :class:`AsWrittenLoader`.

    Raises
    ------
    yaml.YAMLError
        The text is not valid YAML (the error carries the line and column).
    """
    return yaml.load(text, Loader=AsWrittenLoader)
