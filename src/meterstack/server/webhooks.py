"""Outgoing webhooks over HTTP (D28): the operator's ``/v1/webhooks/…`` and each customer's
``/api/billing/webhooks…`` for its own account's endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from meterstack.errors import NotFoundError
from meterstack.server.auth import CustomerDep, EngineDep, OperatorDep
from meterstack.server.errors import ERROR_SCHEMA
from meterstack.webhooks.catalogue import CATALOGUE
from meterstack.webhooks.endpoints import RegisteredEndpoint, RotatedSecret
from meterstack.webhooks.model import MAX_ROTATION_OVERLAP, Attempt, Delivery, Endpoint
from meterstack.webhooks.model import WebhookEvent as OutboxEvent
from meterstack.webhooks.service import MAX_PAGE, event_json


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return dict.fromkeys((401, 422, 503, *statuses), ERROR_SCHEMA)


operator_router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
customer_router = APIRouter(prefix="/api/billing/webhooks", tags=["webhooks"])
router = APIRouter()

Limit = Query(default=100, ge=1, le=MAX_PAGE)
Url = Field(min_length=1, max_length=2000)


class EndpointBody(BaseModel):
    url: str = Url
    event_types: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool = True


class OperatorEndpointBody(EndpointBody):
    #: The account whose events it receives; none = every account's.
    account_id: str | None = Field(default=None, max_length=80)


class EndpointPatch(BaseModel):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class RotateBody(BaseModel):
    #: How long the previous secret keeps signing too; the operator's default when absent.
    overlap_seconds: int | None = Field(
        default=None, ge=0, le=int(MAX_ROTATION_OVERLAP.total_seconds())
    )


class EndpointOut(BaseModel):
    id: str
    owner: str
    account_id: str | None
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointOut:
        return cls(
            id=endpoint.id,
            owner=str(endpoint.owner),
            account_id=endpoint.account_id,
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            description=endpoint.description,
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class RegisteredOut(BaseModel):
    endpoint: EndpointOut
    #: The ``whsec_`` signing secret, shown this once.
    secret: str

    @classmethod
    def of(cls, registered: RegisteredEndpoint) -> RegisteredOut:
        return cls(endpoint=EndpointOut.of(registered.endpoint), secret=registered.secret)


class DeletedOut(BaseModel):
    id: str
    deleted: bool


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]


class RotatedOut(BaseModel):
    endpoint_id: str
    secret: str
    previous_expires_at: datetime

    @classmethod
    def of(cls, rotated: RotatedSecret) -> RotatedOut:
        return cls(
            endpoint_id=rotated.endpoint_id,
            secret=rotated.secret,
            previous_expires_at=rotated.previous_expires_at,
        )


class EventOut(BaseModel):
    """An event as its receivers get it."""

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: OutboxEvent) -> EventOut:
        return cls.model_validate(event_json(event))


class EventList(BaseModel):
    events: list[EventOut]


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    endpoint_id: str
    account_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            endpoint_id=delivery.endpoint_id,
            account_id=delivery.account_id,
            event_type=delivery.event_type,
            status=str(delivery.status),
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    succeeded: bool

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            number=attempt.number,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            status_code=attempt.status_code,
            response_excerpt=attempt.response_excerpt,
            error=attempt.error,
            succeeded=attempt.succeeded,
        )


class AttemptList(BaseModel):
    attempts: list[AttemptOut]


class EventTypeOut(BaseModel):
    type: str
    description: str
    #: The JSON Schema of the event's ``data``.
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")
    example: dict[str, Any]


class EventTypeList(BaseModel):
    event_types: list[EventTypeOut]


def _catalogue() -> EventTypeList:
    return EventTypeList(
        event_types=[
            EventTypeOut(
                type=spec.name,
                description=spec.description,
                schema=spec.payload.model_json_schema(),
                example=dict(spec.example),
            )
            for spec in CATALOGUE.values()
        ]
    )


def _overlap(body: RotateBody | None) -> timedelta | None:
    if body is None or body.overlap_seconds is None:
        return None
    return timedelta(seconds=body.overlap_seconds)


# ---------------------------------------------------------------------- operator


@operator_router.get("/event-types", responses=_errors())
def operator_event_types(_: OperatorDep) -> EventTypeList:
    """The event catalogue: every type, its payload's JSON Schema and an example."""
    return _catalogue()


@operator_router.post("/endpoints", status_code=201, responses=_errors(404))
def create_endpoint(body: OperatorEndpointBody, _: OperatorDep, engine: EngineDep) -> RegisteredOut:
    """An endpoint for one account's events (or every account's); its secret is shown once."""
    return RegisteredOut.of(
        engine.webhooks.endpoints.create(
            body.url,
            account_id=body.account_id,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
        )
    )


@operator_router.get("/endpoints", responses=_errors())
def list_endpoints(
    _: OperatorDep, engine: EngineDep, account_id: str | None = Query(None, max_length=80)
) -> EndpointList:
    found = engine.webhooks.endpoints.find(account_id=account_id)
    return EndpointList(endpoints=[EndpointOut.of(endpoint) for endpoint in found])


@operator_router.get("/endpoints/{endpoint_id}", responses=_errors(404))
def get_endpoint(endpoint_id: str, _: OperatorDep, engine: EngineDep) -> EndpointOut:
    return EndpointOut.of(engine.webhooks.endpoints.get(endpoint_id))


@operator_router.patch("/endpoints/{endpoint_id}", responses=_errors(404))
def update_endpoint(
    endpoint_id: str, body: EndpointPatch, _: OperatorDep, engine: EngineDep
) -> EndpointOut:
    return EndpointOut.of(engine.webhooks.endpoints.update(endpoint_id, **body.model_dump()))


@operator_router.delete("/endpoints/{endpoint_id}", responses=_errors(404))
def delete_endpoint(endpoint_id: str, _: OperatorDep, engine: EngineDep) -> DeletedOut:
    """Delete the endpoint with its secrets and delivery history."""
    engine.webhooks.endpoints.delete(endpoint_id)
    return DeletedOut(id=endpoint_id, deleted=True)


@operator_router.post("/endpoints/{endpoint_id}/rotate-secret", responses=_errors(404))
def rotate_secret(
    endpoint_id: str, _: OperatorDep, engine: EngineDep, body: RotateBody | None = None
) -> RotatedOut:
    """A new secret; the previous one keeps signing for the overlap (both are sent)."""
    return RotatedOut.of(
        engine.webhooks.endpoints.rotate_secret(endpoint_id, overlap=_overlap(body))
    )


@operator_router.get("/events", responses=_errors(404))
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


@operator_router.get("/events/{event_id}", responses=_errors(404))
def get_event(event_id: str, _: OperatorDep, engine: EngineDep) -> EventOut:
    return EventOut.of(engine.webhooks.event(event_id))


@operator_router.get("/deliveries", responses=_errors())
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


@operator_router.get("/deliveries/{delivery_id}/attempts", responses=_errors(404))
def list_attempts(delivery_id: str, _: OperatorDep, engine: EngineDep) -> AttemptList:
    """Every attempt of a delivery: status, duration, the answer's start, the error."""
    found = engine.webhooks.attempts(delivery_id)
    return AttemptList(attempts=[AttemptOut.of(attempt) for attempt in found])


@operator_router.post("/deliveries/{delivery_id}/replay", responses=_errors(404, 409))
def replay(delivery_id: str, _: OperatorDep, engine: EngineDep) -> DeliveryOut:
    """Send a failed (or delivered) delivery again now; 409 while it is still pending."""
    return DeliveryOut.of(engine.webhooks.replay(delivery_id))


# ---------------------------------------------------------------------- customer

_CUSTOMER = (403, 404)


@customer_router.get("/event-types", responses=_errors(403))
def customer_event_types(customer: CustomerDep) -> EventTypeList:
    del customer
    return _catalogue()


@customer_router.post("", status_code=201, responses=_errors(*_CUSTOMER, 409))
def customer_create(body: EndpointBody, customer: CustomerDep, engine: EngineDep) -> RegisteredOut:
    """An endpoint for this account's events: https, public addresses only, at most 10."""
    return RegisteredOut.of(
        engine.webhooks.endpoints.create(
            body.url,
            customer=customer.account_id,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
        )
    )


@customer_router.get("", responses=_errors(*_CUSTOMER))
def customer_list(customer: CustomerDep, engine: EngineDep) -> EndpointList:
    found = engine.webhooks.endpoints.find(customer=customer.account_id)
    return EndpointList(endpoints=[EndpointOut.of(endpoint) for endpoint in found])


@customer_router.get("/events", responses=_errors(*_CUSTOMER))
def customer_events(
    customer: CustomerDep,
    engine: EngineDep,
    type: str | None = Query(None, max_length=64),
    limit: int = Limit,
) -> EventList:
    """This account's events, newest first."""
    found = engine.webhooks.events(customer=customer.account_id, event_type=type, limit=limit)
    return EventList(events=[EventOut.of(event) for event in found])


@customer_router.get("/{endpoint_id}", responses=_errors(*_CUSTOMER))
def customer_get(endpoint_id: str, customer: CustomerDep, engine: EngineDep) -> EndpointOut:
    return EndpointOut.of(engine.webhooks.endpoints.get(endpoint_id, customer=customer.account_id))


@customer_router.patch("/{endpoint_id}", responses=_errors(*_CUSTOMER))
def customer_update(
    endpoint_id: str, body: EndpointPatch, customer: CustomerDep, engine: EngineDep
) -> EndpointOut:
    changed = engine.webhooks.endpoints.update(
        endpoint_id, customer=customer.account_id, **body.model_dump()
    )
    return EndpointOut.of(changed)


@customer_router.delete("/{endpoint_id}", responses=_errors(*_CUSTOMER))
def customer_delete(endpoint_id: str, customer: CustomerDep, engine: EngineDep) -> DeletedOut:
    engine.webhooks.endpoints.delete(endpoint_id, customer=customer.account_id)
    return DeletedOut(id=endpoint_id, deleted=True)


@customer_router.post("/{endpoint_id}/rotate-secret", responses=_errors(*_CUSTOMER))
def customer_rotate(
    endpoint_id: str, customer: CustomerDep, engine: EngineDep, body: RotateBody | None = None
) -> RotatedOut:
    rotated = engine.webhooks.endpoints.rotate_secret(
        endpoint_id, customer=customer.account_id, overlap=_overlap(body)
    )
    return RotatedOut.of(rotated)


@customer_router.get("/{endpoint_id}/deliveries", responses=_errors(*_CUSTOMER))
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
    "/{endpoint_id}/deliveries/{delivery_id}/attempts", responses=_errors(*_CUSTOMER)
)
def customer_attempts(
    endpoint_id: str, delivery_id: str, customer: CustomerDep, engine: EngineDep
) -> AttemptList:
    _own_delivery(engine, endpoint_id, delivery_id, customer.account_id)
    found = engine.webhooks.attempts(delivery_id, customer=customer.account_id)
    return AttemptList(attempts=[AttemptOut.of(attempt) for attempt in found])


@customer_router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay", responses=_errors(*_CUSTOMER, 409)
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
