"""What the ``stripe`` library's resource classes say about the objects the fake serves.

Each object the fake returns names its class by its ``object`` field (``"invoice"`` is
``stripe.Invoice``). The class's annotations, generated from Stripe's OpenAPI document for the
pinned version, tell which fields exist, which may be null, and which are expandable (an id that
``expand[]`` turns into the object). The fake fills the nullable fields it does not model with
``null``, as Stripe always returns every field of an object, and ``conformance`` checks an object
recursively against its class (the tests run it over every object a scenario produced).
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

from stripe._object_classes import OBJECT_CLASSES

JsonObject = dict[str, Any]

#: Fields Stripe returns only when asked for with ``expand[]`` ("includable"), or only on
#: deleted objects: never padded.
INCLUDABLE: dict[str, frozenset[str]] = {
    "checkout.session": frozenset({"line_items"}),
    "invoice": frozenset({"payments"}),
    "customer": frozenset(
        {"sources", "subscriptions", "tax_ids", "tax", "cash_balance", "invoice_credit_balance"}
    ),
    "charge": frozenset({"refunds"}),
    # Only on events about a connected account.
    "event": frozenset({"account"}),
}


@functools.cache
def resource_class(object_name: str) -> type | None:
    entry = OBJECT_CLASSES.get(object_name)
    if entry is None:
        return None
    module, name = entry
    klass: type = getattr(importlib.import_module(module), name)
    return klass


def _annotations(klass: type) -> dict[str, Any]:
    return {
        name: annotation
        for name, annotation in vars(klass).get("__annotations__", {}).items()
        if not name.startswith("_") and "ClassVar" not in str(annotation)
    }


def _resolve(annotation: Any, klass: type) -> Any:
    if isinstance(annotation, ForwardRef):
        module = sys.modules[klass.__module__]
        name = annotation.__forward_arg__
        return getattr(module, name, None) or resource_class_by_name(name)
    return annotation


def resource_class_by_name(name: str) -> Any:
    for module, class_name in OBJECT_CLASSES.values():
        if class_name == name:
            return getattr(importlib.import_module(module), class_name)
    return None


def _options(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def nullable(annotation: Any) -> bool:
    return type(None) in _options(annotation)


def expandable(klass: type, field: str) -> bool:
    """An ``ExpandableField``: a union of an id string and an API resource."""
    annotation = _annotations(klass).get(field)
    if annotation is None:
        return False
    options = _options(annotation)
    return str in options and any(isinstance(o, ForwardRef) for o in options)


def nested_class(klass: type, field: str) -> type | None:
    """The class of a nested object field (``Invoice.StatusTransitions``), if it is one."""
    annotation = _annotations(klass).get(field)
    for option in _options(annotation):
        resolved = _resolve(option, klass)
        if isinstance(resolved, type) and hasattr(resolved, "__annotations__"):
            return resolved
    return None


def complete(obj: JsonObject) -> JsonObject:
    """Give every nullable field of the object's class that the fake does not model a null."""
    klass = resource_class(obj["object"])
    if klass is None:
        return obj
    skipped = INCLUDABLE.get(obj["object"], frozenset()) | {"deleted"}
    for name, annotation in _annotations(klass).items():
        if name not in obj and name not in skipped and nullable(annotation):
            obj[name] = None
    return obj


def conformance(obj: JsonObject) -> list[str]:
    """Where ``obj`` departs from its class: unknown fields, missing required ones, wrong types."""
    klass = resource_class(obj.get("object", ""))
    if klass is None:
        return [f"no class for object {obj.get('object')!r}"]
    return _check(obj, klass, obj["object"])


def _check(obj: JsonObject, klass: type, where: str) -> list[str]:
    problems: list[str] = []
    annotations = _annotations(klass)
    for name, value in obj.items():
        if name not in annotations:
            problems.append(f"{where}.{name}: not a field of {klass.__name__}")
            continue
        problems += _check_value(value, annotations[name], klass, f"{where}.{name}")
    for name, annotation in annotations.items():
        optional = nullable(annotation) or name in INCLUDABLE.get(where, frozenset())
        if name not in obj and not optional and name != "deleted":
            problems.append(f"{where}.{name}: required by {klass.__name__}, missing")
    return problems


def _check_value(value: Any, annotation: Any, owner: type, where: str) -> list[str]:
    if value is None:
        return [] if nullable(annotation) else [f"{where}: null, but not nullable"]
    options = [_resolve(option, owner) for option in _options(annotation)]
    if isinstance(value, dict) and value.get("object") in ("list", "search_result"):
        return []
    if isinstance(value, dict) and isinstance(value.get("object"), str):
        return conformance(value)
    if isinstance(value, dict):
        for option in options:
            if isinstance(option, type) and vars(option).get("__annotations__"):
                return _check(value, option, where)
        return []
    if isinstance(value, list):
        item_types = [get_args(o)[0] for o in options if get_origin(o) is list]
        if not item_types:
            return [f"{where}: a list, not declared as one"]
        return [
            problem
            for index, item in enumerate(value)
            for problem in _check_value(item, item_types[0], owner, f"{where}[{index}]")
        ]
    return _check_scalar(value, options, where)


def _check_scalar(value: Any, options: list[Any], where: str) -> list[str]:
    accepted: list[type] = []
    for option in options:
        if get_origin(option) is Literal:
            if value in get_args(option):
                return []
            continue
        if option is Any:
            return []
        if isinstance(option, type):
            accepted.append(option)
    if isinstance(value, bool):
        return [] if bool in accepted else [f"{where}: boolean {value!r} not declared"]
    if any(isinstance(value, t) for t in accepted if t is not bool):
        return []
    if isinstance(value, str) and any(t.__name__ == "Decimal" for t in accepted):
        return []
    return [f"{where}: {value!r} does not match {options}"]
