"""Decoding of Stripe's form encoding (``application/x-www-form-urlencoded``) into nested values.

Stripe's v1 API takes nested parameters as bracketed keys: ``metadata[plan]=pro``,
``line_items[0][price_data][currency]=usd``, ``expand[]=customer``. Indexed keys are kept as
dictionaries keyed by their index here; whether a level is a list or a hash is decided by the
parameter definitions (``params.py``), as Stripe itself decides from its schema.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from .errors import invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def decode(encoded: str) -> dict[str, Any]:
    """Decode a query string or form body; an empty value is kept (it means "unset")."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True, strict_parsing=False):
        _place(root, _path(key), value, key)
    return root


def _path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        raise invalid(f"Invalid parameter name: {key}", param=key)
    return [match.group(1), *_PART.findall(match.group(2))]


def _place(root: dict[str, Any], path: list[str], value: str, key: str) -> None:
    node: dict[str, Any] = root
    for depth, part in enumerate(path[:-1]):
        if part == "":
            raise invalid(f"Invalid parameter name: {key}", param=key)
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(f"Invalid hash: {'.'.join(path[: depth + 1])}", param=key)
        node = child
    last = path[-1]
    if last == "":
        # ``expand[]=a&expand[]=b``: appended in order, indexed like ``expand[0]``.
        node[str(len(node))] = value
        return
    if isinstance(node.get(last), dict):
        raise invalid(f"Invalid hash: {key}", param=key)
    node[last] = value
