"""The HTTP face of the fake: Stripe's v1 API, then the test-only control API under ``/_fake``.

A request goes through what Stripe does before an endpoint runs (the secret key, the API
version, the route, the form decoding, the idempotency key, the parameter definitions), then the
endpoint, then ``expand[]``. Only what ran is saved under its idempotency key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from . import control, resources
from .errors import StripeError
from .form import decode
from .idempotency import IdempotencyKeys, SavedResponse, fingerprint
from .params import validate
from .render import render
from .routing import Call, match
from .state import API_VERSION, Clock, Origin, State, new_id
from .webhooks import Webhooks


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    status: int
    idempotency_key: str | None
    replayed: bool


@dataclass
class FakeStripe:
    """Everything one fake Stripe account holds."""

    api_key: str
    state: State
    keys: IdempotencyKeys
    webhooks: Webhooks
    requests: list[LoggedRequest] = field(default_factory=list)

    @classmethod
    def create(
        cls, api_key: str, start: int, base_url: str = "", *, search_delay: int = 0
    ) -> FakeStripe:
        state = State(Clock(start), base_url=base_url, search_delay=search_delay)
        return cls(api_key, state, IdempotencyKeys(state.clock), Webhooks(state))

    def advance(self, seconds: int) -> int:
        now = self.state.clock.advance(seconds)
        for tick in resources.TICKS:
            tick(self.state)
        return now


def _api_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        return base64.b64decode(credentials).decode().split(":", 1)[0]
    raise StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the "
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
        "YOUR_SECRET_KEY').",
    )


def _check_request(fake: FakeStripe, request: Request) -> str:
    api_key = _api_key(request)
    if api_key != fake.api_key:
        raise StripeError(401, f"Invalid API Key provided: {api_key[:8]}****{api_key[-4:]}")
    version = request.headers.get("stripe-version", API_VERSION)
    if version != API_VERSION:
        raise StripeError(
            400,
            f"The fake Stripe serves API version {API_VERSION} only; this "
            f"request asked for {version}.",
        )
    if "stripe-account" in request.headers:
        raise StripeError(
            400, "The fake Stripe does not act on connected accounts (Stripe-Account header)."
        )
    return api_key


async def _api(request: Request) -> Response:
    fake: FakeStripe = request.app.state.fake
    request_id = new_id("req", 14)
    key = request.headers.get("idempotency-key") if request.method == "POST" else None
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    if key:
        headers["Idempotency-Key"] = key
    try:
        status, body, replayed = await _handle(fake, request, request_id, key)
    except StripeError as error:
        status, body, replayed = error.status, error.body(request_id), None
    if replayed is not None:
        headers.update({"Idempotent-Replayed": "true", "Original-Request": replayed})
    fake.requests.append(
        LoggedRequest(request.method, request.url.path, status, key, replayed is not None)
    )
    return Response(
        body if isinstance(body, bytes) else json.dumps(body, indent=2).encode(),
        status,
        headers,
        "application/json",
    )


async def _handle(
    fake: FakeStripe, request: Request, request_id: str, key: str | None
) -> tuple[int, Any, str | None]:
    """(status, body, original request id if replayed); raises what fails before the endpoint."""
    api_key = _check_request(fake, request)
    method, path = request.method.lower(), request.url.path
    found = match(resources.ROUTES, method, path)
    if found is None:
        raise StripeError(
            404,
            f"Unrecognized request URL ({request.method}: {path}). Please "
            "see https://stripe.com/docs or we can help at "
            "https://support.stripe.com/.",
        )
    route, ids = found
    encoded = (await request.body()).decode() if method == "post" else request.url.query
    raw = decode(encoded)
    request_fingerprint = fingerprint(method, path, raw)
    if key:
        saved = fake.keys.replay(api_key, key, request_fingerprint)
        if saved is not None:
            return saved.status, saved.body, saved.request_id
    params = validate(route.definition, raw)
    call = Call(fake.state, Origin(request_id, key), ids)
    try:
        status, body = 200, render(fake.state, route.handler(call, params), params.get("expand"))
    except StripeError as error:
        status, body = error.status, error.body(request_id)
    encoded_body = json.dumps(body, indent=2).encode()
    if key:
        fake.keys.save(
            api_key,
            key,
            SavedResponse(
                request_fingerprint, status, encoded_body, request_id, fake.state.clock.now()
            ),
        )
    return status, encoded_body, None


def create_app(fake: FakeStripe) -> Starlette:
    app = Starlette(
        routes=[
            *control.ROUTES,
            StarletteRoute("/v1/{path:path}", _api, methods=["GET", "POST", "DELETE"]),
        ]
    )
    app.state.fake = fake
    return app
