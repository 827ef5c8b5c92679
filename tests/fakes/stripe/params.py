"""Validation of request parameters against the ``stripe`` library's typed definitions.

The library ships, for every endpoint, a ``TypedDict`` generated from Stripe's OpenAPI document
for the API version it pins (``stripe.params.CustomerCreateParams``,
``stripe.params.checkout.SessionCreateParams``, ...). Walking those definitions gives what Stripe
accepts: the known keys at each level, the required ones, the scalar types and the published enum
values. A key the definition does not have gets Stripe's 400 ``parameter_unknown`` naming the
parameter as Stripe does (``line_items[0][price_data][colour]``), so an integration that sends a
misspelt or retired parameter fails here as it would against Stripe.

Form values arrive as strings; they are converted to the declared types on the way (integers,
booleans, decimals, lists from indexed keys). An empty string stays ``""``: Stripe's "unset".
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ForwardRef, Literal, Union, get_args, get_origin

import typing_extensions
from stripe._request_options import RequestOptions

from .errors import StripeError, invalid, missing_parameter, unknown_parameter

#: Keys of the library's request options, which share the TypedDicts but never go on the wire.
_OPTION_KEYS = frozenset(RequestOptions.__annotations__)
_WRAPPERS = (typing.NotRequired, typing.Required, typing_extensions.NotRequired)


@dataclass(frozen=True)
class _Field:
    annotation: Any
    required: bool


def validate(definition: type, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``raw`` (decoded form values) against ``definition``; return the converted values."""
    return _hash(definition, raw, "")


def _join(path: str, key: str | int) -> str:
    return str(key) if not path else f"{path}[{key}]"


@functools.cache
def _fields(definition: type) -> dict[str, _Field]:
    required = definition.__required_keys__  # type: ignore[attr-defined]
    fields: dict[str, _Field] = {}
    for name, annotation in definition.__annotations__.items():
        if name in _OPTION_KEYS and issubclass(definition, dict):
            continue
        fields[name] = _Field(annotation, name in required)
    return fields


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    """Evaluate the forward references the generated definitions are full of."""
    if isinstance(annotation, str):
        annotation = ForwardRef(annotation)
    if isinstance(annotation, ForwardRef):
        annotation = eval(annotation.__forward_arg__, namespace)  # noqa: S307
    origin = get_origin(annotation)
    if origin in _WRAPPERS:
        return _resolve(get_args(annotation)[0], namespace)
    return annotation


def _hash(definition: type, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"Invalid hash: {path}", param=path)
    fields = _fields(definition)
    converted: dict[str, Any] = {}
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            raise unknown_parameter(_join(path, key))
        converted[key] = _value(field.annotation, item, _join(path, key), _namespace(definition))
    for name, field in fields.items():
        if field.required and name not in value:
            raise missing_parameter(_join(path, name))
    return converted


def _namespace(definition: type) -> dict[str, Any]:
    return vars(sys.modules[definition.__module__])


def _value(annotation: Any, value: Any, path: str, namespace: dict[str, Any]) -> Any:
    annotation = _resolve(annotation, namespace)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _union(get_args(annotation), value, path, namespace)
    if origin is Literal:
        return _enum(get_args(annotation), value, path)
    if origin in (list, typing.List):  # noqa: UP006
        return _list(get_args(annotation)[0], value, path, namespace)
    if origin in (dict, typing.Dict, Mapping) or _is_untyped_object(annotation):  # noqa: UP006
        return _mapping(value, path)
    if typing_extensions.is_typeddict(annotation):
        return _hash(annotation, value, path)
    return _scalar(annotation, value, path)


def _is_untyped_object(annotation: Any) -> bool:
    base = get_origin(annotation) or annotation
    return getattr(base, "__name__", "") == "UntypedStripeObject"


def _union(options: tuple[Any, ...], value: Any, path: str, namespace: dict[str, Any]) -> Any:
    options = tuple(_resolve(option, namespace) for option in options)
    literals = [
        arg for option in options if get_origin(option) is Literal for arg in get_args(option)
    ]
    if value == "" and "" in literals:
        return ""
    enum_values = [literal for literal in literals if literal != ""]
    if enum_values and str in options and isinstance(value, str):
        # ``Literal['a', 'b'] | str``: the library widens enums for forward compatibility, but
        # the pinned version publishes exactly these values (or a bool/int alternative).
        for option in options:
            if option in (bool, int):
                try:
                    return _scalar(option, value, path)
                except StripeError:
                    pass
        return _enum(tuple(enum_values), value, path)
    first_error: StripeError | None = None
    for option in sorted((o for o in options if get_origin(o) is not Literal), key=_rank(value)):
        try:
            return _value(option, value, path, namespace)
        except StripeError as error:
            first_error = first_error or error
    if enum_values:
        return _enum(tuple(enum_values), value, path)
    raise first_error or invalid(f"Invalid value for {path}", param=path)


def _rank(value: Any) -> typing.Callable[[Any], int]:
    """Try the alternative that matches the value's shape first, for the clearest error."""

    def rank(option: Any) -> int:
        container = typing_extensions.is_typeddict(option) or get_origin(option) in (
            list,
            dict,
            Mapping,
        )
        return 0 if container == isinstance(value, dict) else 1

    return rank


def _enum(allowed: tuple[Any, ...], value: Any, path: str) -> Any:
    for option in allowed:
        if isinstance(option, bool):
            if value in ("true", "false") and (value == "true") == option:
                return option
        elif str(option) == value:
            return option
    names = [str(option) for option in allowed]
    listed = ", ".join(names[:-1]) + f", or {names[-1]}" if len(names) > 1 else names[0]
    raise invalid(f"Invalid {path}: must be one of {listed}", param=path)


def _list(item: Any, value: Any, path: str, namespace: dict[str, Any]) -> list[Any]:
    if isinstance(value, dict) and all(key.isdigit() for key in value):
        ordered = [value[key] for key in sorted(value, key=int)]
        return [
            _value(item, element, _join(path, index), namespace)
            for index, element in enumerate(ordered)
        ]
    raise invalid(f"Invalid array: {path}", param=path)


def _mapping(value: Any, path: str) -> Any:
    if value == "":
        return ""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid(f"Invalid hash: {path}", param=path)
    return dict(value)


def _scalar(annotation: Any, value: Any, path: str) -> Any:
    if isinstance(value, dict):
        raise invalid(f"Invalid {getattr(annotation, '__name__', 'value')}: {path}", param=path)
    if annotation is Any:
        return value
    if value == "":
        raise invalid(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' "
            "from your request or supply a non-empty value.",
            param=path,
            code="parameter_invalid_empty",
        )
    if annotation is bool:
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", param=path)
        return value == "true"
    if annotation is int:
        try:
            return int(value)
        except ValueError:
            raise invalid(
                f"Invalid integer: {value}", param=path, code="parameter_invalid_integer"
            ) from None
    if annotation in (float, Decimal):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise invalid(f"Invalid decimal: {value}", param=path) from None
    return value
