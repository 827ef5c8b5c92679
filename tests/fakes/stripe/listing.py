"""List objects and search results, paginated as Stripe does.

A list is newest first; ``limit`` (1 to 100, default 10) bounds a page, ``starting_after`` /
``ending_before`` take the id of an object on the previous page, and ``has_more`` tells whether
another page exists. Search pages with an opaque ``page`` token from ``next_page`` instead.
"""

from __future__ import annotations

import base64
import operator
from collections.abc import Callable, Iterable
from typing import Any

from .errors import invalid, no_such
from .state import JsonObject, public

Filter = Callable[[JsonObject], bool]


def _limit(params: dict[str, Any]) -> int:
    limit = int(params.get("limit", 10))
    if not 1 <= limit <= 100:
        raise invalid(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            param="limit",
        )
    return limit


def created_filter(value: Any, field: str = "created") -> Filter:
    """``created=123`` or ``created[gte]=…&created[lt]=…``."""
    if value is None:
        return lambda obj: True
    if isinstance(value, int):
        return lambda obj: obj[field] == value
    bounds = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
    checks = [(bounds[op], bound) for op, bound in value.items()]
    return lambda obj: all(check(obj[field], bound) for check, bound in checks)


def matching(params: dict[str, Any], *names: str) -> list[Filter]:
    """Filters for the list parameters that must equal the object's field of the same name."""

    def equal(name: str) -> Filter:
        return lambda obj: bool(obj[name] == params[name])

    return [equal(name) for name in names if name in params]


def list_object(
    items: Iterable[JsonObject], params: dict[str, Any], url: str, filters: Iterable[Filter] = ()
) -> JsonObject:
    tests = [*list(filters), created_filter(params.get("created"))]
    matching = [item for item in items if all(test(item) for test in tests)]
    limit = _limit(params)
    start, stop = 0, len(matching)
    if "starting_after" in params:
        start = _index(matching, params["starting_after"], "starting_after") + 1
    elif "ending_before" in params:
        stop = _index(matching, params["ending_before"], "ending_before")
        start = max(0, stop - limit)
    page = matching[start : min(stop, start + limit)]
    more = start + limit < stop if "ending_before" not in params else start > 0
    return {
        "object": "list",
        "data": [public(item) for item in page],
        "has_more": more,
        "url": url,
    }


def _index(items: list[JsonObject], object_id: str, param: str) -> int:
    for index, item in enumerate(items):
        if item["id"] == object_id:
            return index
    raise no_such("object", object_id, param=param)


def embedded_list(items: list[JsonObject], url: str) -> JsonObject:
    """A list inside an object (``invoice.lines``): the first page, with its total count."""
    return {
        "object": "list",
        "data": [public(item) for item in items[:10]],
        "has_more": len(items) > 10,
        "total_count": len(items),
        "url": url,
    }


def search_result(matching: list[JsonObject], params: dict[str, Any], url: str) -> JsonObject:
    limit = _limit(params)
    start = _page_offset(params.get("page"))
    page = matching[start : start + limit]
    more = start + limit < len(matching)
    result: JsonObject = {
        "object": "search_result",
        "data": [public(item) for item in page],
        "has_more": more,
        "next_page": _page_token(start + limit) if more else None,
        "url": url,
    }
    if "total_count" in params.get("expand", []):
        result["total_count"] = len(matching)
    return result


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        kind, offset = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if kind == "offset":
            return int(offset)
    except ValueError:
        pass
    raise invalid("Invalid page token.", param="page")
