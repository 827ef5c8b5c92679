"""Typed results of the SDK's webhook calls (D28), read from the service's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    #: ``operator`` or ``customer``.
    owner: str
    #: None: every account's events (an operator endpoint).
    account_id: str | None
    url: str
    #: Empty: every type.
    event_types: tuple[str, ...]
    description: str | None
    enabled: bool
    created_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookEndpoint:
        return cls(
            id=data["id"],
            owner=data["owner"],
            account_id=data.get("account_id"),
            url=data["url"],
            event_types=tuple(data.get("event_types") or ()),
            description=data.get("description"),
            enabled=bool(data["enabled"]),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True)
class RegisteredWebhook:
    """A new endpoint and its ``whsec_`` secret (shown once: store it now)."""

    endpoint: WebhookEndpoint
    secret: str = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegisteredWebhook:
        return cls(WebhookEndpoint.from_json(data["endpoint"]), data["secret"])


@dataclass(frozen=True)
class RotatedWebhookSecret:
    endpoint_id: str
    secret: str = field(repr=False)
    #: Until then the previous secret signs too.
    previous_expires_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RotatedWebhookSecret:
        return cls(data["endpoint_id"], data["secret"], _time(data.get("previous_expires_at")))


@dataclass(frozen=True)
class WebhookEvent:
    """An event as receivers get it: ``{id, type, timestamp, data}``."""

    id: str
    type: str
    timestamp: datetime
    data: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookEvent:
        return cls(
            data["id"], data["type"], datetime.fromisoformat(data["timestamp"]), data["data"]
        )


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    event_id: str
    endpoint_id: str
    event_type: str
    #: ``pending``, ``succeeded`` or ``failed``.
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookDelivery:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            endpoint_id=data["endpoint_id"],
            event_type=data["event_type"],
            status=data["status"],
            attempts=data["attempts"],
            next_attempt_at=_time(data.get("next_attempt_at")),
            last_status_code=data.get("last_status_code"),
            last_error=data.get("last_error"),
        )


@dataclass(frozen=True)
class WebhookAttempt:
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    succeeded: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookAttempt:
        return cls(
            number=data["number"],
            started_at=datetime.fromisoformat(data["started_at"]),
            duration_ms=data["duration_ms"],
            status_code=data.get("status_code"),
            response_excerpt=data.get("response_excerpt"),
            error=data.get("error"),
            succeeded=bool(data["succeeded"]),
        )
