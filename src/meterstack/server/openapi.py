"""The OpenAPI document says what the doors accept where a field's type alone cannot.

Two things a request is refused for are known only once the service runs, and the document
states them then (``MeterstackApp.openapi``):

- a field marked with :data:`CATALOG_VALUES` (a plan id, a billing interval) takes one of the
  values the loaded catalog declares: its schema gains that ``enum``;
- no text of a request body may hold a NUL character (the store could not keep it, see
  ``server.contract``): every string of a request body's schema, and every key of its
  objects, gains a pattern without one, unless it has a pattern or an enum already.

A request the document allows is then one the service can decide on its merits: what remains
refused is the account's own state (an upgrade from the plan it is on, a return URL on an
origin the server does not allow), answered 409 or 422 with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from meterstack.catalog.schema import Catalog

#: The key, in a field's JSON schema, naming which of the catalog's values it takes.
CATALOG_VALUES = "x-catalog-values"
#: Any text without a NUL character.
NO_NUL = "^[^\\u0000]*$"

#: The key, in a field's JSON schema, marking a checkout's return URL (D30).
RETURN_URL = "x-return-url"
#: What may follow an origin in a return URL: no space, control character or backslash.
_URL_REST = "(?:[/?#][^\\u0000-\\u0020\\\\]*)?"

_VALUES: dict[str, Callable[[Catalog], list[str]]] = {
    "plans": lambda catalog: [plan.id for plan in catalog.plans],
    "intervals": lambda catalog: list(catalog.policies.intervals),
}


def catalog_field(kind: str) -> dict[str, Any]:
    """The ``json_schema_extra`` of a field taking one of the catalog's ``kind`` values."""
    assert kind in _VALUES, kind
    return {CATALOG_VALUES: kind}


def refine(document: dict[str, Any], catalog: Catalog, origins: Iterable[str]) -> dict[str, Any]:
    """``document`` with the catalog's values, the return URLs on the allowed ``origins``
    (``scheme://host[:port]``, as the engine keeps them) and the NUL-free text of request
    bodies."""
    url = return_url_pattern(origins)
    for node in _nodes(document):
        kind = node.pop(CATALOG_VALUES, None)
        if kind is not None:
            node["enum"] = _VALUES[kind](catalog)
        if node.pop(RETURN_URL, False):
            node["pattern"] = url
    components = document.get("components", {}).get("schemas", {})
    for name in _body_schemas(document, components):
        _without_nul(components[name], components, set())
    return document


def return_url_pattern(origins: Iterable[str]) -> str:
    """A URL on one of ``origins`` (scheme and host in any case), or nothing when none is
    allowed."""
    choices = sorted(_any_case(origin) for origin in origins)
    if not choices:
        return "^(?!)$"
    return f"^(?:{'|'.join(choices)}){_URL_REST}$"


def _any_case(origin: str) -> str:
    return "".join(
        f"[{char.lower()}{char.upper()}]" if char.isalpha() else re.escape(char) for char in origin
    )


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _body_schemas(document: dict[str, Any], components: dict[str, Any]) -> set[str]:
    """The component schemas request bodies refer to (directly)."""
    names = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            content = (
                operation.get("requestBody", {}).get("content", {})
                if isinstance(operation, dict)
                else {}
            )
            for media in content.values():
                for node in _nodes(media.get("schema", {})):
                    reference = node.get("$ref")
                    if isinstance(reference, str) and reference.rsplit("/", 1)[-1] in components:
                        names.add(reference.rsplit("/", 1)[-1])
    return names


def _without_nul(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Give every string of ``schema`` (following references once) the NUL-free pattern."""
    if isinstance(schema, list):
        for item in schema:
            _without_nul(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    reference = schema.get("$ref")
    if isinstance(reference, str):
        name = reference.rsplit("/", 1)[-1]
        if name in components and name not in seen:
            seen.add(name)
            _without_nul(components[name], components, seen)
        return
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = NO_NUL
    if schema.get("type") == "object" and isinstance(schema.get("additionalProperties"), dict):
        schema.setdefault("propertyNames", {"pattern": NO_NUL})
    for key in ("properties",):
        for value in schema.get(key, {}).values():
            _without_nul(value, components, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        if key in schema:
            _without_nul(schema[key], components, seen)
