"""The audit log's values: who acts (:class:`Actor`), what one change left (:class:`AuditEntry`).

Plain values, importing only the pure layers: the store persists them, every door builds an
actor and reads entries.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, get_args

from meterstack.errors import InvalidInputError

#: Who can act: the operator (REST operator key, CLI, console), a customer (by API key or
#: platform token), a customer's dashboard session, the service itself (a scheduled change, a
#: payment confirmed by the provider), and a program using the engine directly.
ActorKind = Literal["operator", "customer", "dashboard", "system", "python"]
ACTOR_KINDS: tuple[str, ...] = get_args(ActorKind)
#: The longest reason an actor may give.
MAX_REASON = 500
#: The longest actor id and kind of change kept.
MAX_ACTOR_ID = 200
MAX_KIND = 64
#: A kind filter ending in this matches the family of kinds before it (``webhook.*``).
FAMILY = ".*"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change, and the reason they gave (if any).

    ``id`` says which one of its kind: an API key's id for a customer, a dashboard session's
    handle, the door an operator came through (``api``, ``cli:<user>``, ``console``), what the
    service was doing for ``system`` (``schedule``, ``payments``).
    """

    kind: ActorKind
    id: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS:
            raise InvalidInputError(
                f"actor kind must be one of {', '.join(ACTOR_KINDS)}, got {self.kind!r}"[:300],
                field="actor",
            )
        if self.id is not None and (not isinstance(self.id, str) or len(self.id) > MAX_ACTOR_ID):
            raise InvalidInputError(
                f"an actor id is a text of at most {MAX_ACTOR_ID} characters", field="actor"
            )
        if self.reason is not None and (
            not isinstance(self.reason, str) or len(self.reason) > MAX_REASON
        ):
            raise InvalidInputError(
                f"a reason is a text of at most {MAX_REASON} characters", field="reason"
            )

    def because(self, reason: str | None) -> Actor:
        """The same actor giving ``reason`` (blank or None: no reason)."""
        text = reason.strip() if isinstance(reason, str) else reason
        return dataclasses.replace(self, reason=text or None)

    @classmethod
    def operator(cls, via: str, reason: str | None = None) -> Actor:
        return cls("operator", via).because(reason)

    @classmethod
    def customer(cls, key_id: str | None) -> Actor:
        """A customer's API request: its key's id, or ``token`` for a platform JWT."""
        return cls("customer", key_id or "token")

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls("system", what)


#: A program calling the engine itself: the default actor of every audited call.
PYTHON = Actor("python")
#: A downgrade or cancellation taking effect at its time.
SCHEDULE = Actor.system("schedule")
#: A payment the provider confirmed (a checkout completed).
PAYMENTS = Actor.system("payments")
#: An auto-reload the provider paid (D21).
AUTO_RELOAD = Actor.system("auto_reload")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change of an account's billing (or of the operator's own setup), recorded in the
    transaction that made it."""

    id: str
    #: The account changed; None for an operator-wide change (an endpoint receiving every
    #: account's events, a payout run).
    account_id: str | None
    #: What changed: ``plan.changed``, ``limit.set``, ``key.revoked``… (docs/audit.md).
    kind: str
    actor: Actor
    #: The clock's time of the change.
    at: datetime
    #: What the changed part was before, and is after (JSON objects; None when it did not exist).
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def reason(self) -> str | None:
        return self.actor.reason


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Entries newest first; ``next_before`` reads the next (older) page, None at the oldest."""

    entries: list[AuditEntry]
    next_before: str | None


def plain(value: Any) -> Any:
    """``value`` as JSON data: money and numbers as decimal strings where they are Decimal,
    instants in ISO 8601, dataclasses as objects, tuples as lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, Sequence | frozenset | set):
        items = [plain(item) for item in value]
        return items if isinstance(value, Sequence) else sorted(items, key=str)
    raise TypeError(f"cannot keep {type(value).__name__} in the audit log")


def encode_state(value: Mapping[str, Any] | None) -> str | None:
    """A before/after object as the store keeps it (JSON text, keys sorted)."""
    return None if value is None else json.dumps(plain(value), sort_keys=True)


def decode_state(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    decoded: dict[str, Any] = json.loads(text)
    return decoded
