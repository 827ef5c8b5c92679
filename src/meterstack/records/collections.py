"""Collections as the store keeps them: one per finalized invoice with an amount due, and every
attempt made to collect it (D10, D29). Plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class CollectionStatus(StrEnum):
    """due -> paid | past_due; past_due -> paid | fallback; fallback -> paid; any open one ->
    closed (the invoice was voided or settled outside collection)."""

    #: No attempt has failed: the next one is due at ``next_attempt_at``.
    DUE = "due"
    #: An attempt failed: access is kept with a warning, retries are scheduled (D29).
    PAST_DUE = "past_due"
    #: Every attempt failed: the account is on the fallback plan until the invoice is paid.
    FALLBACK = "fallback"
    PAID = "paid"
    #: The invoice was voided, or paid without collection: nothing more to do.
    CLOSED = "closed"


#: Collections still owed: the runner tries the first two, the customer is warned about both.
OPEN = (CollectionStatus.DUE, CollectionStatus.PAST_DUE, CollectionStatus.FALLBACK)
#: Collections in dunning: the subscription is ``past_due``.
DUNNING = (CollectionStatus.PAST_DUE, CollectionStatus.FALLBACK)


class AttemptStatus(StrEnum):
    #: Made, its outcome not known yet (a runner crashed, or the provider reports it later).
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class Collection:
    invoice_number: str
    account_id: str
    status: CollectionStatus
    #: The amount due and its currency (the invoice's total).
    amount: Decimal
    currency: str
    #: Attempts made so far (the last one's number).
    attempts: int
    #: When the next attempt is due; None once nothing more will be tried.
    next_attempt_at: datetime | None
    first_failed_at: datetime | None
    last_reason: str | None
    #: When the account moved to the fallback plan, and the plan and interval paying restores.
    fallback_at: datetime | None
    restore_plan: str | None
    restore_interval: str | None
    created_at: datetime
    updated_at: datetime
    settled_at: datetime | None = None


@dataclass(frozen=True)
class CollectionAttempt:
    invoice_number: str
    number: int
    #: The idempotency key the provider was given: the invoice number and this number.
    key: str
    status: AttemptStatus
    reason: str | None
    started_at: datetime
    settled_at: datetime | None
    #: The runner that made it (host, process, random suffix); ``event`` when only a
    #: provider's event reported it; ``operator`` for a retry asked for by hand.
    worker: str


@dataclass(frozen=True)
class CollectionClaim:
    """An attempt a runner leased: it alone may make it until ``until``."""

    invoice_number: str
    account_id: str
    attempt: int
    #: True when the attempt was made before and its outcome was never recorded (a runner
    #: crashed): it is asked again under the same key, so nothing is charged twice.
    again: bool
    until: datetime
