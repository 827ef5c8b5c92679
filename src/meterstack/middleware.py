"""Quota enforcement for any ASGI app: one hold per request, committed when the response is done.

::

    app = MeteringMiddleware(
        app,
        engine_or_client=Engine.open("sqlite:///billing.db", catalog="flowstack"),
        meter="sessions",
        account_of=account_of_request,  # scope -> account id, or None to let it through
    )

Routes may each declare what they need (``routes={"/v1/chat": Route(meter="sessions",
requires=("managed_models",)), "/v1/pay": Route(module="payments")}``): the meter they count
(none for a route that only checks), the features the account's tier must grant (A8, C3) and the
module the request's API key must be allowed (A8 service caps, the key named by ``key_of``). A
path takes the route of the longest prefix it is equal to or below; other paths count ``meter``.
The features are decided in the same call as the hold, and a refusal answers the decision's own
status (402 ``upgrade_required``, 403 ``not_allowed_for_tier``, 403 ``module_not_allowed``).

For each HTTP request whose account ``account_of`` names, a hold of the route's quantity is
placed before the app runs (D6). A refused hold answers the error shape of meterstack's service
(``{"error": {"code", "message", "details"}}``, the decision's status, ``Retry-After`` on 429)
and the app is not called. Otherwise the app's response gets ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` headers, and the hold is settled once the app
returns: committed when the app processed the request (C1: a complete response whose status is
in ``counted_statuses``, by default 200–399); released otherwise: the app raised before finishing
its response (the exception is then re-raised), or answered a status outside the set, such as a
404 for a path it does not serve, a 422 for a body it could not read, a 401 from its own
authentication or a server error, as the customer got nothing worth a session. A request that
holds its unit always finishes, even if the limit is reached meanwhile; only new requests are
refused (C5).

With an in-process :class:`~meterstack.Engine`, whose methods block on the database, every call
runs in a worker thread (``anyio.to_thread``) so that a request waiting for a write lock never
stalls the event loop. A remote :class:`~meterstack.client.Client` is called the same way, and an
:class:`~meterstack.client.AsyncClient` is awaited directly.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from meterstack.answers import rate_limit_headers, refusal_body
from meterstack.client import AsyncClient, Client, MeterstackClientError
from meterstack.engine import Engine
from meterstack.errors import MeterstackError
from meterstack.rules.decisions import Decision

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AccountOf = Callable[[Scope], str | Awaitable[str | None] | None]
#: Names the request's API key id (for module checks); None when it came without one.
KeyOf = Callable[[Scope], str | Awaitable[str | None] | None]
Metering = Engine | Client | AsyncClient

T = TypeVar("T")
_log = logging.getLogger(__name__)

#: The statuses of a request the app processed, which counts as a session (C1): success and
#: redirects. A client error (404, 422…) or a server error releases the hold instead.
PROCESSED_STATUSES: Container[int] = range(200, 400)


@dataclass(frozen=True)
class Route:
    """What requests on one route need.

    ``meter``: the meter each request counts ``quantity`` of (None: it counts nothing, only the
    checks apply). ``requires``: features the account's tier must grant. ``module``: the module
    the request's API key must be allowed by its service caps (checked when ``key_of`` names a
    key; a user key carries no caps).
    """

    meter: str | None = None
    quantity: int = 1
    requires: tuple[str, ...] = ()
    module: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"quantity must be a whole number, got {self.quantity!r}")
        if self.quantity < 1:
            raise ValueError(f"quantity must be at least 1, got {self.quantity!r}")
        if isinstance(self.requires, str):
            raise ValueError(f"requires must be a tuple of feature names, got {self.requires!r}")


@dataclass(frozen=True)
class _Refusal:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class _Hold:
    reservation_id: str
    decision: Decision


class MeteringMiddleware:
    """Place a hold per identified request; refuse at the limit; settle when the response ends.

    ``account_of(scope)`` names the request's account (sync or async); None lets the request
    through unmetered, as do non-HTTP scopes and ``exempt_paths`` (a path equal to one of them
    or below it: ``/health`` exempts ``/health`` and ``/health/live``). ``routes`` declares
    per path prefix what a request needs (:class:`Route`); ``key_of(scope)`` names the
    request's API key id for module checks. ``counted_statuses`` are the response statuses
    that count the request (C1; :data:`PROCESSED_STATUSES`, 200–399, by default): a hold is
    committed only when the app's complete response has one of them, and released otherwise.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine_or_client: Metering,
        account_of: AccountOf,
        meter: str | None = None,
        quantity: int = 1,
        exempt_paths: Iterable[str] = (),
        routes: Mapping[str, Route] | None = None,
        key_of: KeyOf | None = None,
        counted_statuses: Container[int] = PROCESSED_STATUSES,
    ) -> None:
        self.app = app
        self.counted_statuses = counted_statuses
        self.meter = meter
        self.quantity = quantity
        self._default = Route(meter=meter, quantity=quantity)
        self._routes = sorted(
            ((_prefix(path), route) for path, route in (routes or {}).items()),
            key=lambda entry: len(entry[0]),
            reverse=True,
        )
        self._metering = engine_or_client
        self._account_of = account_of
        self._key_of = key_of
        self._exempt = tuple(_prefix(path) for path in exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        route = self._route(path) if scope["type"] == "http" else None
        if route is None or _below_any(path, self._exempt):
            await self.app(scope, receive, send)
            return
        account_id = await _maybe_await(self._account_of(scope))
        if account_id is None:
            await self.app(scope, receive, send)
            return
        refusal = await self._check(scope, account_id, route)
        if refusal is not None:
            await _answer(send, refusal)
            return
        if route.meter is None:
            await self.app(scope, receive, send)
            return
        outcome = await self._reserve(account_id, route)
        if isinstance(outcome, _Refusal):
            await _answer(send, outcome)
            return
        await self._run(scope, receive, send, outcome)

    def _route(self, path: str) -> Route | None:
        """The route of the longest declared prefix, else the default; None: nothing to do."""
        route = next(
            (route for prefix, route in self._routes if _below_any(path, (prefix,))),
            self._default,
        )
        if route.meter is None and not route.requires and route.module is None:
            return None
        return route

    async def _check(self, scope: Scope, account_id: str, route: Route) -> _Refusal | None:
        """The module a key must be allowed, and (for a route counting nothing) the features."""
        try:
            if route.module is not None and self._key_of is not None:
                key_id = await _maybe_await(self._key_of(scope))
                if key_id is not None:
                    refused = await self._ask(
                        "require_module", "check_module", key_id, route.module
                    )
                    if refused is not None:
                        return refused
            if route.meter is None:
                for feature in route.requires:
                    refused = await self._ask(
                        "require_feature", "check_feature", account_id, feature
                    )
                    if refused is not None:
                        return refused
        except MeterstackError as error:
            return _Refusal(error.http_status, {"error": error.to_dict()}, {})
        except MeterstackClientError as error:
            return _client_refusal(error)
        return None

    async def _ask(self, engine_call: str, client_call: str, *args: str) -> _Refusal | None:
        """One check on any backend: None when allowed, the refusal otherwise.

        The engine answers a refused decision; a client raises it, caught by the caller.
        """
        metering = self._metering
        if isinstance(metering, AsyncClient):
            decision: Decision = await getattr(metering, client_call)(*args)
        else:
            name = engine_call if isinstance(metering, Engine) else client_call
            decision = await _in_thread(getattr(metering, name), *args)
        if decision.allowed:
            return None
        return _Refusal(decision.http_status, refusal_body(decision), rate_limit_headers(decision))

    async def _run(self, scope: Scope, receive: Receive, send: Send, hold: _Hold) -> None:
        extra = [
            (name.lower().encode(), value.encode())
            for name, value in rate_limit_headers(hold.decision).items()
        ]
        status = 500
        complete = False

        async def metered_send(message: Message) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, receive, metered_send)
        finally:
            # Settled even when the request is cancelled (the client went away).
            with anyio.CancelScope(shield=True):
                await self._settle(hold, commit=complete and status in self.counted_statuses)

    # ------------------------------------------------------------------ the three backends

    async def _reserve(self, account_id: str, route: Route) -> _Hold | _Refusal:
        assert route.meter is not None
        args = (account_id, route.meter, route.quantity)
        metering = self._metering
        try:
            if isinstance(metering, Engine):
                reservation = await _in_thread(
                    functools.partial(metering.reserve, *args, requires=route.requires)
                )
                decision = reservation.decision
                assert decision is not None
                if reservation.id is None:
                    return _Refusal(
                        decision.http_status, refusal_body(decision), rate_limit_headers(decision)
                    )
                return _Hold(reservation.id, decision)
            if isinstance(metering, AsyncClient):
                hold = await metering.reserve(*args, requires=route.requires)
            else:
                hold = await _in_thread(
                    functools.partial(metering.reserve, *args, requires=route.requires)
                )
            return _Hold(hold.reservation_id, hold.decision)
        except MeterstackError as error:
            return _Refusal(error.http_status, {"error": error.to_dict()}, {})
        except MeterstackClientError as error:
            return _client_refusal(error)

    async def _settle(self, hold: _Hold, *, commit: bool) -> None:
        """Commit or release the hold; a failure is logged, as the response has gone already."""
        metering = self._metering
        try:
            if not isinstance(metering, AsyncClient):
                settle = metering.commit if commit else metering.release
                await _in_thread(settle, hold.reservation_id)
            elif commit:
                await metering.commit(hold.reservation_id)
            else:
                await metering.release(hold.reservation_id)
        except Exception:
            # A hold that lapsed (a request past the meter's longest hold, C6) lands here too.
            _log.exception(
                "could not %s hold %s of %s",
                "commit" if commit else "release",
                hold.reservation_id,
                hold.decision.meter,
            )


def _client_refusal(error: MeterstackClientError) -> _Refusal:
    """The service's refusal passed on as it came; an unreachable service answers 503."""
    decision = error.decision
    headers = rate_limit_headers(decision) if decision is not None else {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    if error.status is None:
        _log.error("metering service unreachable: %s", error.message)
    return _Refusal(error.status or 503, body, headers)


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(functools.partial(function, *args))


async def _maybe_await(value: str | Awaitable[str | None] | None) -> str | None:
    if inspect.isawaitable(value):
        return await value
    return value


def _prefix(path: str) -> str:
    return path.rstrip("/") or "/"


def _below_any(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or below one (``/a`` covers ``/a/b``)."""
    return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)


async def _answer(send: Send, refusal: _Refusal) -> None:
    payload = json.dumps(refusal.body, separators=(",", ":"), default=str).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
