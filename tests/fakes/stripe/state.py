"""The fake's state: its own clock, the objects by id, and the events they produce.

One Stripe account in test mode. Every object is a JSON object as Stripe would return it (the
fields from ``shapes.complete``), plus private bookkeeping under the ``_fake`` key that is never
served. Requests are handled one at a time on the server's event loop and no handler awaits while
it changes the state, so no lock is needed.
"""

from __future__ import annotations

import copy
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import shapes
from .errors import no_such

JsonObject = dict[str, Any]

API_VERSION = "2026-10-28.endive"
PRIVATE = "_fake"
_ALPHABET = string.ascii_letters + string.digits

#: How an object is named in "No such ..." errors, by its id prefix.
NOUNS = {
    "cus": "customer",
    "cs": "checkout.session",
    "pi": "payment_intent",
    "pm": "PaymentMethod",
    "ch": "charge",
    "seti": "setupintent",
    "in": "invoice",
    "ii": "invoiceitem",
    "inpay": "invoice_payment",
    "cn": "credit_note",
    "re": "refund",
    "du": "dispute",
    "bpc": "configuration",
    "bps": "session",
    "acct": "account",
    "tr": "transfer",
    "evt": "event",
    "we": "webhook_endpoint",
}


class Clock:
    """The fake's own time, in Unix seconds; it moves only when a test advances it."""

    def __init__(self, start: int) -> None:
        self._now = start

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> int:
        if seconds < 0:
            raise ValueError("the fake's clock only moves forward")
        self._now += seconds
        return self._now


def new_id(prefix: str, length: int = 24) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


@dataclass
class Origin:
    """What caused a change: an API request (its id and idempotency key) or the fake itself."""

    request_id: str | None = None
    idempotency_key: str | None = None


EventListener = Callable[[JsonObject], None]


@dataclass
class State:
    clock: Clock
    #: Where the fake is served, for the URLs it hands out (checkout and portal pages...).
    base_url: str = ""
    objects: dict[str, JsonObject] = field(default_factory=dict)
    #: Seconds after a change before search sees it (Stripe: "under a minute").
    search_delay: int = 0
    listeners: list[EventListener] = field(default_factory=list)
    sequence: dict[str, int] = field(default_factory=dict)

    def add(self, obj: JsonObject) -> JsonObject:
        obj.setdefault(PRIVATE, {})
        shapes.complete(obj)
        self.objects[obj["id"]] = obj
        self.touch(obj)
        return obj

    def touch(self, obj: JsonObject) -> None:
        obj[PRIVATE]["searchable_from"] = self.clock.now() + self.search_delay

    def get(self, object_id: str, object_name: str, *, param: str = "id") -> JsonObject:
        obj = self.objects.get(object_id)
        if obj is None or obj.get("object") != object_name or obj.get("deleted"):
            noun = NOUNS.get(object_id.split("_", 1)[0], object_name)
            raise no_such(noun, object_id, param=param)
        return obj

    def all(self, object_name: str) -> Iterator[JsonObject]:
        """Objects of one kind, newest first (Stripe's list order)."""
        for obj in reversed(list(self.objects.values())):
            if obj.get("object") == object_name and not obj.get("deleted"):
                yield obj

    def next_number(self, series: str) -> int:
        self.sequence[series] = self.sequence.get(series, 0) + 1
        return self.sequence[series]

    def emit(
        self,
        event_type: str,
        obj: JsonObject,
        origin: Origin,
        *,
        previous: JsonObject | None = None,
        account: str | None = None,
    ) -> JsonObject:
        """Record an event carrying a snapshot of ``obj`` as it is now, and tell the listeners."""
        data: JsonObject = {"object": public(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event: JsonObject = {
            "id": new_id("evt"),
            "object": "event",
            "account": account,
            "api_version": API_VERSION,
            "context": None,
            "created": self.clock.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": origin.request_id, "idempotency_key": origin.idempotency_key},
            "type": event_type,
        }
        if account is None:
            del event["account"]
        self.add(event)
        for listener in self.listeners:
            listener(event)
        return event


def public(obj: JsonObject) -> JsonObject:
    """A deep copy without the fake's bookkeeping: what Stripe would send."""
    return {key: copy.deepcopy(value) for key, value in obj.items() if key != PRIVATE}


def private(obj: JsonObject) -> JsonObject:
    data: JsonObject = obj.setdefault(PRIVATE, {})
    return data


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value drops a key, ``""`` drops all."""
    if update == "":
        return {}
    merged = dict(current or {})
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
