"""Rendering an object for a response, with Stripe's ``expand[]``.

``expand[]=customer`` turns the id in ``customer`` into the customer object; dotted paths go
deeper (``payment_intent.latest_charge``), and on a list ``data.customer`` expands each element.
Only fields the library declares expandable can be expanded, and includable lists
(``invoice.payments``, ``checkout.session.line_items``) appear only when asked for. Stripe allows
four levels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import shapes
from .errors import invalid
from .state import JsonObject, State, public

Includer = Callable[[State, JsonObject], JsonObject]

#: Builders of includable lists, registered by the resource modules that own them.
INCLUDERS: dict[tuple[str, str], Includer] = {}
_MAX_DEPTH = 4


def render(state: State, obj: JsonObject, expand: list[str] | None = None) -> JsonObject:
    rendered = public(obj)
    for path in expand or []:
        parts = path.split(".")
        if len(parts) > _MAX_DEPTH:
            raise invalid(
                f"You cannot expand more than {_MAX_DEPTH} levels of a property. Property: {path}",
                param="expand",
            )
        _expand(state, rendered, parts, path)
    return rendered


def _expand(
    state: State, obj: JsonObject, parts: list[str], path: str, klass: type | None = None
) -> None:
    head, rest = parts[0], parts[1:]
    if obj.get("object") in ("list", "search_result") and head == "data":
        for item in obj["data"]:
            if rest:
                _expand(state, item, rest, path)
        return
    if "object" in obj:
        klass = shapes.resource_class(obj["object"])
    value = _expanded_field(state, obj, head, path, klass)
    if rest and isinstance(value, dict):
        inner = None if "object" in value else klass and shapes.nested_class(klass, head)
        _expand(state, value, rest, path, inner)


def _expanded_field(
    state: State, obj: JsonObject, field: str, path: str, klass: type | None
) -> Any:
    includer = INCLUDERS.get((obj.get("object", ""), field))
    if includer is not None:
        obj[field] = includer(state, state.objects[obj["id"]])
        return obj[field]
    value = obj.get(field)
    if isinstance(value, dict):
        return value  # already an object (expanded earlier), or a nested hash to go into
    if klass is None or not shapes.expandable(klass, field):
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    if isinstance(value, str) and value in state.objects:
        obj[field] = public(state.objects[value])
    return obj[field]
