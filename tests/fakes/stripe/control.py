"""The control API: what tests do that on Stripe a buyer, a bank or time would do.

Under ``/_fake/``, a path Stripe does not have, taking and answering JSON. Errors have Stripe's
shape. ``handle.FakeStripeHandle`` wraps every route in a Python method.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .errors import StripeError, invalid
from .render import render
from .resources import checkout_outcomes, connect, customers, disputes, events
from .routing import Call
from .state import Origin, private, public

if TYPE_CHECKING:
    from .app import FakeStripe


def _fake(request: Request) -> FakeStripe:
    fake: FakeStripe = request.app.state.fake
    return fake


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    body: dict[str, Any] = await request.json()
    return body


def _errors(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            answer = await handler(request, _fake(request), await _body(request))
        except StripeError as error:
            return JSONResponse(error.body(), error.status)
        except KeyError as error:
            return JSONResponse(invalid(f"Missing field {error}").body(), 400)
        return answer if isinstance(answer, Response) else JSONResponse(answer)

    return wrapped


@_errors
async def _complete_checkout(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    outcome = body.get("outcome", "paid")
    if outcome not in ("paid", "processing"):
        raise invalid("outcome is paid or processing", param="outcome")
    session = checkout_outcomes.complete(
        fake.state, request.path_params["id"], outcome=outcome, card=body.get("card", "visa")
    )
    return public(session)


@_errors
async def _settle_checkout(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    session = checkout_outcomes.settle(
        fake.state, request.path_params["id"], succeeded=bool(body["succeeded"])
    )
    return public(session)


@_errors
async def _add_card(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    customer = fake.state.get(request.path_params["id"], "customer")
    method = customers.new_card(fake.state, body.get("card", "visa"))
    customers.attach(Call(fake.state, Origin()), method, customer)
    if body.get("default", True):
        customer["invoice_settings"]["default_payment_method"] = method["id"]
    return public(method)


@_errors
async def _decline_next(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    customer = fake.state.get(request.path_params["id"], "customer")
    queued = private(customer).setdefault("declines", [])
    queued.append(body.get("decline_code", "generic_decline"))
    return {"customer": customer["id"], "queued_declines": list(queued)}


@_errors
async def _open_dispute(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    dispute = disputes.open_dispute(
        fake.state,
        request.path_params["id"],
        reason=body.get("reason", "fraudulent"),
        amount=body.get("amount"),
    )
    return public(dispute)


@_errors
async def _close_dispute(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    return public(
        disputes.close_dispute(fake.state, request.path_params["id"], won=bool(body["won"]))
    )


@_errors
async def _onboard(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    return public(connect.complete_onboarding(fake.state, request.path_params["id"]))


@_errors
async def _clock(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    if request.method == "POST":
        fake.advance(int(body["seconds"]))
    return {"now": fake.state.clock.now()}


@_errors
async def _object(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    obj = fake.state.objects.get(request.path_params["id"])
    if obj is None:
        raise StripeError(
            404, f"No such object: {request.path_params['id']}", code="resource_missing"
        )
    return render(fake.state, obj, request.query_params.getlist("expand"))


@_errors
async def _objects(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    kind = request.query_params.get("object")
    return [
        public(obj) for obj in fake.state.objects.values() if kind is None or obj["object"] == kind
    ]


@_errors
async def _add_endpoint(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    endpoint = events.new_endpoint(
        fake.state, body["url"], body.get("events", ["*"]), connect=bool(body.get("connect", False))
    )
    return public(endpoint) | {"secret": private(endpoint)["secret"]}


@_errors
async def _deliver(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    deliveries = await fake.webhooks.deliver(
        event_ids=body.get("events"),
        reverse=body.get("order") == "reversed",
        repeat=int(body.get("repeat", 1)),
    )
    return [dataclasses.asdict(delivery) for delivery in deliveries]


@_errors
async def _redeliver(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    deliveries = await fake.webhooks.redeliver(request.path_params["id"], body.get("endpoint"))
    return [dataclasses.asdict(delivery) for delivery in deliveries]


@_errors
async def _signed(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    payload, signature = fake.webhooks.signed(
        request.path_params["id"], request.query_params["endpoint"]
    )
    return {"payload": payload.decode(), "signature": signature}


@_errors
async def _pending(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    return [{"event": event, "endpoint": endpoint} for event, endpoint in fake.webhooks.pending]


@_errors
async def _requests(request: Request, fake: FakeStripe, body: dict[str, Any]) -> Any:
    return [dataclasses.asdict(logged) for logged in fake.requests]


async def _hosted_page(request: Request) -> Response:
    """A plain page where Stripe would host checkout or the portal: it names what it is for."""
    return HTMLResponse(
        f"<!doctype html><title>Fake Stripe</title><p>Fake Stripe page for {request.url.path}</p>"
    )


ROUTES = [
    Route("/_fake/checkout/sessions/{id}/complete", _complete_checkout, methods=["POST"]),
    Route("/_fake/checkout/sessions/{id}/settle", _settle_checkout, methods=["POST"]),
    Route("/_fake/customers/{id}/cards", _add_card, methods=["POST"]),
    Route("/_fake/customers/{id}/decline_next", _decline_next, methods=["POST"]),
    Route("/_fake/charges/{id}/dispute", _open_dispute, methods=["POST"]),
    Route("/_fake/disputes/{id}/close", _close_dispute, methods=["POST"]),
    Route("/_fake/accounts/{id}/onboard", _onboard, methods=["POST"]),
    Route("/_fake/clock", _clock, methods=["GET", "POST"]),
    Route("/_fake/objects/{id}", _object, methods=["GET"]),
    Route("/_fake/objects", _objects, methods=["GET"]),
    Route("/_fake/webhook_endpoints", _add_endpoint, methods=["POST"]),
    Route("/_fake/webhooks/deliver", _deliver, methods=["POST"]),
    Route("/_fake/webhooks/pending", _pending, methods=["GET"]),
    Route("/_fake/events/{id}/redeliver", _redeliver, methods=["POST"]),
    Route("/_fake/events/{id}/signed", _signed, methods=["GET"]),
    Route("/_fake/requests", _requests, methods=["GET"]),
    Route("/c/pay/{id}", _hosted_page, methods=["GET"]),
    Route("/p/session/{id}", _hosted_page, methods=["GET"]),
    Route("/i/{path:path}", _hosted_page, methods=["GET"]),
    Route("/setup/e/{path:path}", _hosted_page, methods=["GET"]),
]
