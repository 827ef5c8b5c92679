"""Quota enforcement for any ASGI app: one hold per request, committed when the response is done.

::

    app = MeteringMiddleware(
        app,
        engine_or_client=Engine.open("sqlite:///billing.db", catalog="flowstack"),
        meter="sessions",
        account_of=account_of_request,  # scope -> account id, or None to let it through
    )

For each HTTP request whose account ``account_of`` names, a hold of ``quantity`` is placed
before the app runs (D6). A refused hold answers the error shape of meterstack's service
(``{"error": {"code", "message", "details"}}``, the decision's status, ``Retry-After`` on 429)
and the app is not called. Otherwise the app's response gets ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` headers, and the hold is settled once the app
returns: committed when a complete response with a status below 500 went out; released
otherwise (the app raised before finishing its response, the exception then re-raised, or it
answered a server error), as the customer got nothing worth a session. A request that holds its
unit always finishes, even if the limit is reached meanwhile; only new requests are refused (C5).

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
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
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
Metering = Engine | Client | AsyncClient

T = TypeVar("T")
_log = logging.getLogger(__name__)


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
    or below it: ``/health`` exempts ``/health`` and ``/health/live``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine_or_client: Metering,
        meter: str,
        account_of: AccountOf,
        quantity: int = 1,
        exempt_paths: Iterable[str] = (),
    ) -> None:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValueError(f"quantity must be a whole number of at least 1, got {quantity!r}")
        self.app = app
        self.meter = meter
        self.quantity = quantity
        self._metering = engine_or_client
        self._account_of = account_of
        self._exempt = tuple(path.rstrip("/") or "/" for path in exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_exempt(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        account_id = self._account_of(scope)
        if inspect.isawaitable(account_id):
            account_id = await account_id
        if account_id is None:
            await self.app(scope, receive, send)
            return
        outcome = await self._reserve(account_id)
        if isinstance(outcome, _Refusal):
            await _answer(send, outcome)
            return
        await self._run(scope, receive, send, outcome)

    def _is_exempt(self, path: str) -> bool:
        return any(
            path == exempt or path.startswith(exempt.rstrip("/") + "/") for exempt in self._exempt
        )

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
                await self._settle(hold, commit=complete and status < 500)

    # ------------------------------------------------------------------ the three backends

    async def _reserve(self, account_id: str) -> _Hold | _Refusal:
        try:
            if isinstance(self._metering, Engine):
                reservation = await _in_thread(
                    self._metering.reserve, account_id, self.meter, self.quantity
                )
                decision = reservation.decision
                assert decision is not None
                if reservation.id is None:
                    return _Refusal(
                        decision.http_status, refusal_body(decision), rate_limit_headers(decision)
                    )
                return _Hold(reservation.id, decision)
            if isinstance(self._metering, AsyncClient):
                hold = await self._metering.reserve(account_id, self.meter, self.quantity)
            else:
                hold = await _in_thread(
                    self._metering.reserve, account_id, self.meter, self.quantity
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
                self.meter,
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


async def _answer(send: Send, refusal: _Refusal) -> None:
    payload = json.dumps(refusal.body, separators=(",", ":"), default=str).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
