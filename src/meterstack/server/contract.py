"""What every route of the REST API promises: the one error shape, the statuses it declares, and
the order in which a request is read (who calls, then what they sent).

A route declares the error statuses it can really return with :func:`errors`; the OpenAPI
document lists those and nothing else, and tests/server/test_declared_errors.py sends each route
a request for every status it declares (and schemathesis checks that no other one appears).

Routes are :class:`DoorRoute`: before FastAPI reads a body, the caller is authenticated, so that
junk from an anonymous caller is 401 rather than a parsing error that tells what the route
expects. Then the body is read up to the route's size (413 beyond), decoded as UTF-8 and parsed
once; a NUL character in the body, a path parameter or the query is refused (422) here, for
every route, because the store cannot keep one (PostgreSQL refuses it inside a transaction).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from meterstack.errors import InvalidInputError, MeterstackError
from meterstack.server import auth
from meterstack.server.errors import ErrorOut

#: What each status means on this API, as the OpenAPI document says it.
_MEANING = {
    401: "no credentials, or credentials that are wrong, malformed or revoked",
    402: "an upgrade (or a payment method) is needed first",
    403: "not allowed to this caller, this tier, or past a hard limit",
    404: "no such object, or one that belongs to another account",
    409: "a conflict with the object's state, or an idempotency key reused",
    413: "the request body is larger than this route accepts",
    422: "malformed input; details.problems names each offending field",
    429: "a limit is reached, or too many requests",
    503: "the database (or the payment provider) cannot do the work now; retry",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: exactly the error statuses it can return, in one shape."""
    return {
        status: {"model": ErrorOut, "description": _MEANING[status]}
        for status in sorted(set(statuses))
    }


class BodyTooLargeError(MeterstackError):
    code = "body_too_large"
    http_status = 413


class DoorRoute(APIRoute):
    """A route whose request is read in the order above; FastAPI's handler then finds the body
    already read and parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        caller = _caller_of(self.dependant)
        reads_body = self.body_field is not None
        route = f"{min(self.methods or {'GET'})} {self.path_format}"

        async def gated(request: Request) -> Response:
            if caller is not None:
                await _authenticate(request, caller)
            for value in (*request.path_params.values(), *request.query_params.values()):
                _refuse_nul(value, "the address")
            if reads_body:
                await _read_body(request, _body_limit(request, route))
            return await handler(request)

        return gated


def _caller_of(dependant: Dependant) -> Callable[..., Any] | None:
    """The authentication the route depends on (the operator's, or a customer's), if any."""
    for call in _calls(dependant):
        if call is auth.operator or call is auth.customer:
            found: Callable[..., Any] = call
            return found
    return None


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


async def _authenticate(request: Request, caller: Callable[..., Any]) -> None:
    credentials = await auth.bearer(request)
    if caller is auth.operator:
        await auth.operator(request, credentials)
    else:
        # Looking the key up is a store call: in a worker thread, as FastAPI runs it.
        found = await run_in_threadpool(auth.customer, request, credentials)
        request.scope[auth.CUSTOMER_SCOPE_KEY] = found


def _body_limit(request: Request, route: str) -> int:
    settings = auth.settings_of(request)
    return settings.body_limits.get(route, settings.max_body_bytes)


async def _read_body(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette keeps the body it read here, and FastAPI's handler reads it from there.
    request._body = body
    if not body or not _is_json(request.headers.get("content-type", "")):
        return
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(
            f"body: not UTF-8 (byte {error.start}); JSON bodies are UTF-8 text"
        ) from None
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise InvalidInputError("body: nested too deeply") from None
    except ValueError:
        return  # FastAPI answers with the position of the error
    _refuse_nul(parsed, "the body")
    request._json = parsed


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _refuse_nul(value: object, where: str) -> None:
    """A NUL character anywhere in ``value`` (strings, keys, nested lists and objects)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidInputError(f"{where} holds a NUL character, which is not accepted")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _too_large(limit: int) -> BodyTooLargeError:
    return BodyTooLargeError(f"the request body is larger than {limit} bytes", limit=limit)
