"""The values of outgoing webhooks: endpoints, outbox events, deliveries and their attempts."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address

#: host, port -> the addresses the name resolves to.
Resolver = Callable[[str, int], list[IPv4Address | IPv6Address]]


class Owner(StrEnum):
    """Who registered an endpoint: the platform's operator, or a customer for its own account."""

    OPERATOR = "operator"
    CUSTOMER = "customer"


class DeliveryStatus(StrEnum):
    """pending -> succeeded | failed; a failed (or succeeded) delivery may be replayed."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Endpoint:
    id: str
    owner: Owner
    #: The account whose events it receives; None = every account's (operator endpoints only).
    account_id: str | None
    url: str
    #: The event types it receives; empty = every type.
    event_types: tuple[str, ...]
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    def receives(self, event_type: str, account_id: str, occurred_at: datetime) -> bool:
        """Whether an event goes to this endpoint: its account and type, once registered."""
        return (
            self.enabled
            and (self.account_id is None or self.account_id == account_id)
            and (not self.event_types or event_type in self.event_types)
            and occurred_at >= self.created_at
        )


@dataclass(frozen=True)
class EndpointSecret:
    """One signing secret of an endpoint; the newest signs alone once the others lapse."""

    seq: int
    secret: str
    created_at: datetime
    #: When a rotated-out secret stops signing; None for the current one.
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class WebhookEvent:
    """One event in the outbox, with the exact body every endpoint receives (signed as is)."""

    id: str
    type: str
    account_id: str
    occurred_at: datetime
    body: str


@dataclass(frozen=True)
class Delivery:
    """One event on its way to one endpoint."""

    id: str
    event_id: str
    endpoint_id: str
    account_id: str
    event_type: str
    status: DeliveryStatus
    #: Attempts started so far, replays included.
    attempts: int
    #: When the next attempt is due (None once succeeded or failed).
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a delivery, as it went."""

    delivery_id: str
    number: int
    #: On the engine's clock.
    started_at: datetime
    duration_ms: int
    #: None when no answer came (refused address, timeout, connection error).
    status_code: int | None
    #: The start of the answer's body (at most ``RESPONSE_EXCERPT`` characters).
    response_excerpt: str | None
    error: str | None
    succeeded: bool
    worker: str


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a worker leased for one attempt, with what it needs to send it."""

    delivery: Delivery
    event: WebhookEvent
    endpoint: Endpoint
    secrets: tuple[EndpointSecret, ...]
    #: The number this attempt will be recorded with.
    attempt: int
    #: Attempts counted towards the retry schedule (those before the last replay are not).
    scheduled_attempt: int


#: Customers may register at most this many endpoints per account.
MAX_CUSTOMER_ENDPOINTS = 10
#: A delivery attempt's total timeout, connection included.
DELIVERY_TIMEOUT = 10.0
#: The most of an answer's body a worker reads; the rest is never received.
MAX_RESPONSE_BYTES = 64 * 1024
#: The most of an answer's body kept with the attempt.
RESPONSE_EXCERPT = 1024
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class WebhookPolicy:
    """The operator's settings for outgoing webhooks.

    ``allow_private_targets`` lets customer endpoints use plain http and loopback or private
    addresses: for tests and demos on one machine, never for a service customers reach.
    ``resolver`` replaces the system's name resolution (a resolver of your own, or a test's).
    """

    allow_private_targets: bool = False
    rotation_overlap: timedelta = DEFAULT_ROTATION_OVERLAP
    max_customer_endpoints: int = MAX_CUSTOMER_ENDPOINTS
    timeout: float = DELIVERY_TIMEOUT
    max_response_bytes: int = MAX_RESPONSE_BYTES
    resolver: Resolver | None = None

    @classmethod
    def from_environment(cls) -> WebhookPolicy:
        """``METERSTACK_WEBHOOKS_ALLOW_PRIVATE=1`` allows private targets."""
        flag = os.environ.get("METERSTACK_WEBHOOKS_ALLOW_PRIVATE", "").strip().lower()
        return cls(allow_private_targets=flag in {"1", "true", "yes", "on"})
