"""The outbox: events written in the transaction that caused them (D28).

A service that causes an event calls :func:`publish` with its own open transaction, so the event
is exactly as durable as its cause: both commit or neither does, and nothing is lost between a
commit and a send (a crash there leaves the event in the outbox, and a worker delivers it after
the restart). Publishing is one INSERT (through ``tx.outbox``) and sends nothing; delivery workers
fan events out to endpoints and send them later (``webhooks.delivery``).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from meterstack.errors import InvalidInputError
from meterstack.records.webhooks import WebhookEvent
from meterstack.services.webhooks.catalogue import Payload, envelope, payload_of
from meterstack.store.ports import UnitOfWork

EventData = Payload | Mapping[str, Any]


class _Stamps:
    """Strictly increasing microsecond stamps for this process."""

    def __init__(self) -> None:
        self.last = 0
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.last = max(self.last + 1, time.time_ns() // 1000)
            return self.last


_STAMPS = _Stamps()


def sortable_id(prefix: str) -> str:
    """A unique id that sorts in the order this process made it (microseconds, then random).

    Events of one transaction share their time; their ids keep the order they were published
    in, so workers send them in that order where they can (delivery order is not guaranteed).
    """
    return f"{prefix}_{_STAMPS.next():014x}{secrets.token_hex(8)}"


def new_message_id() -> str:
    """A ``webhook-id``: unique, the same on every retry, without the ``.`` signing forbids."""
    return sortable_id("msg")


def publish(
    tx: UnitOfWork, event_type: str, account_id: str, data: EventData, *, at: datetime
) -> WebhookEvent:
    """Write one event to the outbox in ``tx``; its payload is checked against the catalogue.

    ``at`` is when it happened, on the engine's clock. ``data`` is the type's payload model, or
    a mapping of its fields (``account_id`` may be left out).
    """
    return publish_many(tx, [(event_type, account_id, data)], at=at)[0]


def publish_many(
    tx: UnitOfWork, events: Sequence[tuple[str, str, EventData]], *, at: datetime
) -> list[WebhookEvent]:
    """:func:`publish` for several events, in one statement."""
    written = [_event(event_type, account_id, data, at) for event_type, account_id, data in events]
    if written:
        tx.outbox.insert_events(written)
    return written


def _event(event_type: str, account_id: str, data: EventData, at: datetime) -> WebhookEvent:
    if not isinstance(data, Payload):
        data = {"account_id": account_id, **data}
    payload = payload_of(event_type, data)
    if payload.account_id != account_id:
        raise InvalidInputError(
            f"the {event_type} payload names account {payload.account_id!r}, not {account_id!r}"
        )
    event_id = new_message_id()
    return WebhookEvent(
        event_id, event_type, account_id, at, envelope(event_id, event_type, at, payload)
    )
