"""The request and response shapes of the webhook doors (D28), typed for OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from meterstack.records.webhooks import MAX_ROTATION_OVERLAP, Attempt, Delivery, Endpoint
from meterstack.records.webhooks import WebhookEvent as OutboxEvent
from meterstack.server.bodies import Body
from meterstack.services.webhooks.catalogue import CATALOGUE
from meterstack.services.webhooks.endpoints import RegisteredEndpoint, RotatedSecret
from meterstack.services.webhooks.service import event_json


class EndpointBody(Body):
    url: str = Field(min_length=1, max_length=2000)
    event_types: list[str] = Field(default_factory=list, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool = True


class OperatorEndpointBody(EndpointBody):
    #: The account whose events it receives; none = every account's.
    account_id: str | None = Field(default=None, max_length=80)


class EndpointPatch(Body):
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    event_types: list[str] | None = Field(default=None, max_length=50)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None


class RotateBody(Body):
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


def catalogue() -> EventTypeList:
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
