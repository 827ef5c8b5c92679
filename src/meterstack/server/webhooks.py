"""Outgoing webhooks over HTTP (D28): the operator's ``/v1/webhooks/…`` and each customer's
``/api/billing/webhooks…`` for its own account's endpoints."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query

from meterstack.errors import NotFoundError
from meterstack.server.auth import CustomerDep, EngineDep, OperatorDep, operator_actor
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.webhook_schemas import (
    AttemptList,
    AttemptOut,
    DeletedOut,
    DeliveryList,
    DeliveryOut,
    EndpointBody,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    EventList,
    EventOut,
    EventTypeList,
    OperatorEndpointBody,
    RegisteredOut,
    RotateBody,
    RotatedOut,
    catalogue,
)
from meterstack.services.webhooks.service import MAX_PAGE


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    """No or a wrong key (401), the other side's key (403), the store (503), and the route's
    own: 413 and 422 for a body, 422 for a path or query, 404 for an id, 409 for a state."""
    return errors(401, 403, 503, *statuses)


operator_router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=DoorRoute)
customer_router = APIRouter(
    prefix="/api/billing/webhooks", tags=["webhooks"], route_class=DoorRoute
)
router = APIRouter()

Limit = Query(default=100, ge=1, le=MAX_PAGE)


def _overlap(body: RotateBody | None) -> timedelta | None:
    if body is None or body.overlap_seconds is None:
        return None
    return timedelta(seconds=body.overlap_seconds)


# ---------------------------------------------------------------------- operator


@operator_router.get("/event-types", responses=errors(401, 403))
def operator_event_types(_: OperatorDep) -> EventTypeList:
    """The event catalogue: every type, its payload's JSON Schema and an example."""
    return catalogue()


@operator_router.post("/endpoints", status_code=201, responses=_errors(413, 422, 404))
def create_endpoint(body: OperatorEndpointBody, _: OperatorDep, engine: EngineDep) -> RegisteredOut:
    """An endpoint for one account's events (or every account's); its secret is shown once."""
    return RegisteredOut.of(
        engine.webhooks.endpoints.create(
            body.url,
            account_id=body.account_id,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
            actor=operator_actor(),
        )
    )


@operator_router.get("/endpoints", responses=_errors(422))
def list_endpoints(
    _: OperatorDep, engine: EngineDep, account_id: str | None = Query(None, max_length=80)
) -> EndpointList:
    found = engine.webhooks.endpoints.find(account_id=account_id)
    return EndpointList(endpoints=[EndpointOut.of(endpoint) for endpoint in found])


@operator_router.get("/endpoints/{endpoint_id}", responses=_errors(404, 422))
def get_endpoint(endpoint_id: str, _: OperatorDep, engine: EngineDep) -> EndpointOut:
    return EndpointOut.of(engine.webhooks.endpoints.get(endpoint_id))


@operator_router.patch("/endpoints/{endpoint_id}", responses=_errors(404, 413, 422))
def update_endpoint(
    endpoint_id: str, body: EndpointPatch, _: OperatorDep, engine: EngineDep
) -> EndpointOut:
    changed = engine.webhooks.endpoints.update(
        endpoint_id, **body.model_dump(), actor=operator_actor()
    )
    return EndpointOut.of(changed)


@operator_router.delete("/endpoints/{endpoint_id}", responses=_errors(404, 422))
def delete_endpoint(endpoint_id: str, _: OperatorDep, engine: EngineDep) -> DeletedOut:
    """Delete the endpoint with its secrets and delivery history."""
    engine.webhooks.endpoints.delete(endpoint_id, actor=operator_actor())
    return DeletedOut(id=endpoint_id, deleted=True)


@operator_router.post("/endpoints/{endpoint_id}/rotate-secret", responses=_errors(404, 413, 422))
def rotate_secret(
    endpoint_id: str, _: OperatorDep, engine: EngineDep, body: RotateBody | None = None
) -> RotatedOut:
    """A new secret; the previous one keeps signing for the overlap (both are sent)."""
    return RotatedOut.of(
        engine.webhooks.endpoints.rotate_secret(
            endpoint_id, overlap=_overlap(body), actor=operator_actor()
        )
    )


@operator_router.get("/events", responses=_errors(422))
def list_events(
    _: OperatorDep,
    engine: EngineDep,
    account_id: str | None = Query(None, max_length=80),
    type: str | None = Query(None, max_length=64),
    limit: int = Limit,
) -> EventList:
    """Events in the outbox, newest first."""
    found = engine.webhooks.events(account_id=account_id, event_type=type, limit=limit)
    return EventList(events=[EventOut.of(event) for event in found])


@operator_router.get("/events/{event_id}", responses=_errors(404, 422))
def get_event(event_id: str, _: OperatorDep, engine: EngineDep) -> EventOut:
    return EventOut.of(engine.webhooks.event(event_id))


@operator_router.get("/deliveries", responses=_errors(422))
def list_deliveries(
    _: OperatorDep,
    engine: EngineDep,
    endpoint_id: str | None = Query(None, max_length=80),
    event_id: str | None = Query(None, max_length=80),
    status: str | None = Query(None, max_length=16),
    limit: int = Limit,
) -> DeliveryList:
    found = engine.webhooks.deliveries(
        endpoint_id=endpoint_id, event_id=event_id, status=status, limit=limit
    )
    return DeliveryList(deliveries=[DeliveryOut.of(delivery) for delivery in found])


@operator_router.get("/deliveries/{delivery_id}/attempts", responses=_errors(404, 422))
def list_attempts(delivery_id: str, _: OperatorDep, engine: EngineDep) -> AttemptList:
    """Every attempt of a delivery: status, duration, the answer's start, the error."""
    found = engine.webhooks.attempts(delivery_id)
    return AttemptList(attempts=[AttemptOut.of(attempt) for attempt in found])


@operator_router.post("/deliveries/{delivery_id}/replay", responses=_errors(404, 409, 422))
def replay(delivery_id: str, _: OperatorDep, engine: EngineDep) -> DeliveryOut:
    """Send a failed (or delivered) delivery again now; 409 while it is still pending."""
    return DeliveryOut.of(engine.webhooks.replay(delivery_id))


# ---------------------------------------------------------------------- customer


@customer_router.get("/event-types", responses=_errors())
def customer_event_types(customer: CustomerDep) -> EventTypeList:
    del customer
    return catalogue()


@customer_router.post("", status_code=201, responses=_errors(409, 413, 422))
def customer_create(body: EndpointBody, customer: CustomerDep, engine: EngineDep) -> RegisteredOut:
    """An endpoint for this account's events: https, public addresses only, at most 10."""
    return RegisteredOut.of(
        engine.webhooks.endpoints.create(
            body.url,
            customer=customer.account_id,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
            actor=customer.actor,
        )
    )


@customer_router.get("", responses=_errors())
def customer_list(customer: CustomerDep, engine: EngineDep) -> EndpointList:
    found = engine.webhooks.endpoints.find(customer=customer.account_id)
    return EndpointList(endpoints=[EndpointOut.of(endpoint) for endpoint in found])


@customer_router.get("/events", responses=_errors(422))
def customer_events(
    customer: CustomerDep,
    engine: EngineDep,
    type: str | None = Query(None, max_length=64),
    limit: int = Limit,
) -> EventList:
    """This account's events, newest first."""
    found = engine.webhooks.events(customer=customer.account_id, event_type=type, limit=limit)
    return EventList(events=[EventOut.of(event) for event in found])


@customer_router.get("/{endpoint_id}", responses=_errors(404, 422))
def customer_get(endpoint_id: str, customer: CustomerDep, engine: EngineDep) -> EndpointOut:
    return EndpointOut.of(engine.webhooks.endpoints.get(endpoint_id, customer=customer.account_id))


@customer_router.patch("/{endpoint_id}", responses=_errors(404, 413, 422))
def customer_update(
    endpoint_id: str, body: EndpointPatch, customer: CustomerDep, engine: EngineDep
) -> EndpointOut:
    changed = engine.webhooks.endpoints.update(
        endpoint_id, customer=customer.account_id, **body.model_dump(), actor=customer.actor
    )
    return EndpointOut.of(changed)


@customer_router.delete("/{endpoint_id}", responses=_errors(404, 422))
def customer_delete(endpoint_id: str, customer: CustomerDep, engine: EngineDep) -> DeletedOut:
    engine.webhooks.endpoints.delete(
        endpoint_id, customer=customer.account_id, actor=customer.actor
    )
    return DeletedOut(id=endpoint_id, deleted=True)


@customer_router.post("/{endpoint_id}/rotate-secret", responses=_errors(404, 413, 422))
def customer_rotate(
    endpoint_id: str, customer: CustomerDep, engine: EngineDep, body: RotateBody | None = None
) -> RotatedOut:
    rotated = engine.webhooks.endpoints.rotate_secret(
        endpoint_id, customer=customer.account_id, overlap=_overlap(body), actor=customer.actor
    )
    return RotatedOut.of(rotated)


@customer_router.get("/{endpoint_id}/deliveries", responses=_errors(404, 422))
def customer_deliveries(
    endpoint_id: str,
    customer: CustomerDep,
    engine: EngineDep,
    status: str | None = Query(None, max_length=16),
    limit: int = Limit,
) -> DeliveryList:
    found = engine.webhooks.deliveries(
        endpoint_id=endpoint_id, status=status, customer=customer.account_id, limit=limit
    )
    return DeliveryList(deliveries=[DeliveryOut.of(delivery) for delivery in found])


@customer_router.get(
    "/{endpoint_id}/deliveries/{delivery_id}/attempts", responses=_errors(404, 422)
)
def customer_attempts(
    endpoint_id: str, delivery_id: str, customer: CustomerDep, engine: EngineDep
) -> AttemptList:
    _own_delivery(engine, endpoint_id, delivery_id, customer.account_id)
    found = engine.webhooks.attempts(delivery_id, customer=customer.account_id)
    return AttemptList(attempts=[AttemptOut.of(attempt) for attempt in found])


@customer_router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay", responses=_errors(404, 409, 422)
)
def customer_replay(
    endpoint_id: str, delivery_id: str, customer: CustomerDep, engine: EngineDep
) -> DeliveryOut:
    _own_delivery(engine, endpoint_id, delivery_id, customer.account_id)
    return DeliveryOut.of(engine.webhooks.replay(delivery_id, customer=customer.account_id))


def _own_delivery(engine: EngineDep, endpoint_id: str, delivery_id: str, account_id: str) -> None:
    """The delivery is the customer's and to the endpoint the path names (404 otherwise)."""
    found = engine.webhooks.delivery(delivery_id, customer=account_id)
    if found.endpoint_id != endpoint_id:
        raise NotFoundError(f"no webhook delivery {delivery_id!r}", delivery_id=delivery_id)


router.include_router(operator_router)
router.include_router(customer_router)
