"""Stripe's search query language, for the fields the fake's searchable resources publish.

A query is clauses joined by ``AND`` or by ``OR`` (not both): ``field:value`` (exact, case
insensitive), ``field~value`` (substring, at least 3 characters), ``field>n`` / ``<`` / ``>=`` /
``<=`` on numbers, a leading ``-`` negates, and ``metadata['key']:'value'`` reads metadata.
``null`` matches a missing value. Objects become searchable ``State.search_delay`` seconds after
they change, as Stripe's index lags its writes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import invalid
from .state import PRIVATE, JsonObject

#: The query fields each searchable resource publishes (Stripe's "Supported query fields").
FIELDS: dict[str, dict[str, str]] = {
    "customers": {"created": "number", "email": "string", "name": "string", "phone": "string"},
    "invoices": {
        "created": "number",
        "currency": "string",
        "customer": "string",
        "number": "string",
        "receipt_number": "string",
        "status": "string",
        "subscription": "string",
        "total": "number",
    },
    "payment_intents": {
        "amount": "number",
        "created": "number",
        "currency": "string",
        "customer": "string",
        "status": "string",
    },
    "charges": {
        "amount": "number",
        "created": "number",
        "currency": "string",
        "customer": "string",
        "disputed": "boolean",
        "payment_intent": "string",
        "refunded": "boolean",
        "status": "string",
    },
}

_CLAUSE = re.compile(
    r"""^(?P<neg>-)?
    (?:metadata\[(?P<q>['"])(?P<key>.+?)(?P=q)\]|(?P<field>[a-z_.]+))
    (?P<op>:|~|>=|<=|>|<)
    (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)$""",
    re.VERBOSE,
)
_SPLIT = re.compile(r"\s+(AND|OR)\s+")


@dataclass(frozen=True)
class _Clause:
    negated: bool
    path: tuple[str, ...]
    op: str
    value: str | float | None
    kind: str

    def matches(self, obj: JsonObject) -> bool:
        actual: Any = obj
        for part in self.path:
            actual = actual.get(part) if isinstance(actual, dict) else None
        return self._test(actual) != self.negated

    def _test(self, actual: Any) -> bool:
        if self.value is None:
            return actual is None or actual == ""
        if actual is None:
            return False
        if self.kind == "number":
            return _compare(float(actual), self.op, float(self.value))
        text, wanted = str(actual).lower(), str(self.value).lower()
        if self.kind == "boolean":
            text = "true" if actual is True else "false"
        return wanted in text if self.op == "~" else text == wanted


def _compare(actual: float, op: str, wanted: float) -> bool:
    return {
        ":": actual == wanted,
        ">": actual > wanted,
        "<": actual < wanted,
        ">=": actual >= wanted,
        "<=": actual <= wanted,
    }[op]


def parse(query: str, resource: str) -> Callable[[JsonObject], bool]:
    pieces = _SPLIT.split(query.strip())
    clauses = [_clause(piece, resource) for piece in pieces[::2]]
    joins = set(pieces[1::2])
    if len(joins) > 1:
        raise invalid("Queries cannot mix AND and OR.", param="query")
    if joins == {"OR"}:
        return lambda obj: any(clause.matches(obj) for clause in clauses)
    return lambda obj: all(clause.matches(obj) for clause in clauses)


def _clause(text: str, resource: str) -> _Clause:
    match = _CLAUSE.match(text)
    if match is None:
        raise invalid(f"Invalid query: could not parse `{text}`.", param="query")
    value_text = match.group("value")
    value: str | float | None = _unquote(value_text)
    if match.group("key") is not None:
        return _Clause(
            bool(match.group("neg")),
            ("metadata", match.group("key")),
            match.group("op"),
            value,
            "string",
        )
    field = match.group("field")
    kind = FIELDS[resource].get(field)
    if kind is None:
        raise invalid(
            f"Field `{field}` is an unsupported search field for resource `{resource}`.",
            param="query",
        )
    if value_text == "null":
        value = None
    elif kind == "number":
        try:
            value = float(str(value))
        except ValueError:
            raise invalid(f"Invalid query: `{field}` takes a number.", param="query") from None
    if match.group("op") == "~" and (not isinstance(value, str) or len(value) < 3):
        raise invalid("Substring search needs at least 3 characters.", param="query")
    return _Clause(bool(match.group("neg")), (field,), match.group("op"), value, kind)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def run(objects: Iterable[JsonObject], query: str, resource: str, now: int) -> list[JsonObject]:
    matcher = parse(query, resource)
    return [
        obj for obj in objects if obj[PRIVATE].get("searchable_from", 0) <= now and matcher(obj)
    ]
