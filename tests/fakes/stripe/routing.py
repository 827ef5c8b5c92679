"""The table of endpoints: each one's method, path, parameter definition and handler.

A handler receives the call (the state and what caused it) and the validated parameters, and
returns the object to answer with; the app renders it with the request's ``expand[]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import listing, search
from .state import JsonObject, Origin, State

Params = dict[str, Any]


@dataclass
class Call:
    state: State
    origin: Origin
    #: Ids taken from the path, by the template's names (``{invoice}``).
    ids: dict[str, str] = field(default_factory=dict)

    def emit(self, event_type: str, obj: JsonObject, **options: Any) -> JsonObject:
        return self.state.emit(event_type, obj, self.origin, **options)


Handler = Callable[[Call, Params], JsonObject]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    definition: type
    handler: Handler
    pattern: re.Pattern[str]

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.template.split("/") if not part.startswith("{"))


class Routes:
    """Collects the routes of one resource module with a decorator."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, definition: type) -> Callable[[Handler], Handler]:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        pattern = re.compile(f"^{regex}$")

        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, template, definition, handler, pattern))
            return handler

        return register

    def retrieve(self, template: str, definition: type, object_name: str) -> None:
        """``GET /v1/things/{thing}``: the object, or 404 ``resource_missing``."""
        (name,) = re.findall(r"\{(\w+)\}", template)

        def handler(call: Call, params: Params) -> JsonObject:
            return call.state.get(call.ids[name], object_name)

        self.add("get", template, definition)(handler)

    def list(self, template: str, definition: type, object_name: str, *fields: str) -> None:
        """``GET /v1/things``: a page, filtered by the listed parameters naming equal fields."""

        def handler(call: Call, params: Params) -> JsonObject:
            filters = listing.matching(params, *fields)
            return listing.list_object(call.state.all(object_name), params, template, filters)

        self.add("get", template, definition)(handler)

    def search(self, template: str, definition: type, object_name: str, resource: str) -> None:
        """``GET /v1/things/search``: Stripe's query language over the resource's fields."""

        def handler(call: Call, params: Params) -> JsonObject:
            now = call.state.clock.now()
            found = search.run(call.state.all(object_name), params["query"], resource, now)
            return listing.search_result(found, params, template)

        self.add("get", template, definition)(handler)


def match(routes: list[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request; a literal segment beats a placeholder (``/search``, ``{id}``)."""
    found = [
        (route, found.groupdict())
        for route in routes
        if route.method == method and (found := route.pattern.match(path))
    ]
    if not found:
        return None
    return max(found, key=lambda pair: pair[0].literal_segments)
