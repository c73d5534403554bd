"""Rails-style nested form bodies (``payload[webhook][id]=11``) to the same dict JSON gives.

Kobana can be configured to POST ``application/x-www-form-urlencoded`` (providers.md §1.3).
Werkzeug parses flat forms only and no maintained library does Rails nesting, hence this.
Values stay strings; the schemas coerce ids and amounts (amounts to ``Decimal``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from providers.errors import Invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_MAX_DEPTH = 32


def decode(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise Invalid("form body is not valid UTF-8 urlencoded data") from None
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise Invalid(f"form key {key[:80]!r} is not Rails-style")
        path = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        if len(path) > _MAX_DEPTH:
            raise Invalid("form key nests too deeply")
        _assign(root, path, value)
    return root


def _assign(node: dict[str, Any], path: list[str], value: str) -> None:
    *parents, last = path
    for i, part in enumerate(parents):
        appending = path[i + 1] == "" if i + 1 < len(path) else False
        child = node.get(part)
        if child is None:
            child = [] if appending else {}
            node[part] = child
        if isinstance(child, list):
            if appending and i + 2 == len(path):
                child.append(value)
                return
            raise Invalid("form arrays of objects are not supported")
        if not isinstance(child, dict):
            raise Invalid(f"form key {part!r} is both a value and a container")
        node = child
    if last == "":
        raise Invalid("empty form key")
    if isinstance(node.get(last), dict | list):
        raise Invalid(f"form key {last!r} is both a value and a container")
    node[last] = value
