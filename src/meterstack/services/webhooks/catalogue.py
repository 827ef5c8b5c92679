"""The event catalogue: every event type meterstack announces, and the schema of its ``data``.

A payload associated with an event type always has the same schema (Standard Webhooks, "event
types"); this module is the one place that says which.
:func:`~meterstack.services.webhooks.outbox.publish` validates every payload against it before
the event is written, so a receiver never sees a shape this catalogue does not declare. Money is
a decimal string and times are ISO 8601 UTC (D15).

Every body has the same envelope::

    {"id": "msg_…", "type": "invoice.paid", "timestamp": "2026-02-01T00:00:00+00:00", "data": {…}}

``id`` is also the ``webhook-id`` header (the same on every retry, for deduplication) and
``timestamp`` is when the event happened, on the engine's clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from meterstack.errors import InvalidInputError


class Payload(BaseModel):
    """Base of every event's ``data``: all of them name the account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str


AlertKind = Literal[
    "usage_percent",
    "usage_units",
    "current_charges",
    "wallet_balance",
    "grace_entered",
    "limit_reached",
    "payment_failed",
]


class AlertTriggered(Payload):
    alert_id: str
    kind: AlertKind
    #: The meter the alert watches; None for money alerts and payment failures.
    meter: str | None
    #: The threshold crossed: a percentage, units or money, as a decimal string.
    threshold: str | None
    #: The value that crossed it.
    value: str | None
    period: str


class AlertResolved(Payload):
    alert_id: str
    kind: AlertKind
    meter: str | None
    threshold: str | None
    period: str
    #: What made the condition stop holding: ``new_period``, ``limit_raised``, ``deposit``…
    reason: str


class BudgetExceeded(Payload):
    mode: Literal["soft", "hard"]
    budget: Decimal
    #: Estimated monthly cost (soft) or the charges a refused request would have reached (hard).
    amount: Decimal
    #: The share of the budget reached, as a percentage.
    percent: Decimal
    currency: str
    period: str


class InvoiceSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    number: str | None
    status: str
    currency: str
    total: Decimal
    period: str
    period_start: datetime
    period_end: datetime
    plan: str
    created_at: datetime


class InvoiceCreated(Payload):
    invoice: InvoiceSummary


class InvoicePaid(Payload):
    invoice: InvoiceSummary


class InvoicePaymentFailed(Payload):
    invoice: InvoiceSummary
    #: The attempt that failed (from 1) and the provider's reason.
    attempt: int
    reason: str
    #: When the invoice is tried again (D29); None after the last attempt, when the account
    #: moves to the fallback plan until the invoice is paid.
    next_attempt_at: datetime | None


SubscriptionChange = Literal[
    "upgraded",
    "downgrade_scheduled",
    "cancel_scheduled",
    "resumed",
    "downgraded",
    "cancelled",
    # Dunning (D29): an invoice's collection failed (access is kept), its last attempt failed
    # (the account moved to the fallback plan), or it was paid (the plan is back, or dunning
    # ended before a fallback).
    "past_due",
    "unpaid_fallback",
    "payment_recovered",
]


SubscriptionStatus = Literal["active", "cancelling", "past_due"]


class PendingSubscriptionChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["downgrade", "cancel"]
    plan: str
    billing_interval: str
    effective_at: datetime


class SubscriptionUpdated(Payload):
    change: SubscriptionChange
    plan: str
    billing_interval: str
    #: ``past_due`` while an invoice of the account is in dunning (D29).
    status: SubscriptionStatus
    #: A downgrade or cancellation waiting for the period's end; None when none waits.
    pending: PendingSubscriptionChange | None


class WalletLowBalance(Payload):
    balance: Decimal
    threshold: Decimal
    currency: str


class WalletReloadFailed(Payload):
    amount: Decimal
    currency: str
    reason: str


class RefundUpdated(Payload):
    refund_id: str
    #: What is given back: a wallet ``deposit`` (``reference``: its ledger entry) or a paid
    #: ``invoice`` (``reference``: its number; a credit note or its void).
    source: Literal["deposit", "invoice"]
    reference: str
    amount: Decimal
    currency: str
    #: ``refunded`` once the provider gave it back; ``pending`` while it is asked again.
    status: Literal["pending", "refunded"]
    #: The provider's attempt this event reports, from 1.
    attempt: int
    #: Why the money is given back (a credit note's reason), when one was given.
    reason: str | None
    #: Why the attempt did not refund it (``refund.failed``); None when it did.
    failure: str | None


class DisputeUpdated(Payload):
    dispute_id: str
    #: The payment disputed: a wallet ``deposit`` (``reference``: its checkout), an automatic
    #: ``reload`` (its id) or an ``invoice``'s payment (its number).
    source: Literal["deposit", "reload", "invoice"]
    reference: str
    amount: Decimal
    currency: str
    #: ``open`` while the bank decides, then ``won`` (the payment stands) or ``lost``.
    status: Literal["open", "won", "lost"]
    #: What a lost dispute changed: ``wallet_debited`` (the balance gave the amount back, the
    #: rest is owed), ``invoice_uncollectible`` (the invoice is unpaid again and the account on
    #: the fallback plan until it is paid); None otherwise.
    outcome: Literal["wallet_debited", "invoice_uncollectible"] | None


class UsageLimitReached(Payload):
    meter: str
    used: int
    limit: int
    period: str


@dataclass(frozen=True)
class EventSpec:
    name: str
    description: str
    payload: type[Payload]
    #: A ``data`` example (validated by the tests against ``payload``).
    example: Mapping[str, Any]


_ACCOUNT = "acct_5f1c2a9e0b7d4c3a8e6f1b2d"
_INVOICE = {
    "id": "inv_0c6e1f5a9b2d4e7f8a1c3b5d",
    "number": "INV-000042",
    "status": "finalized",
    "currency": "USD",
    "total": "29.00",
    "period": "2026-01",
    "period_start": "2026-01-01T00:00:00+00:00",
    "period_end": "2026-02-01T00:00:00+00:00",
    "plan": "starter",
    "created_at": "2026-02-01T00:00:00+00:00",
}

_REFUND = {
    "account_id": _ACCOUNT,
    "refund_id": "rf_3b8c1d6e9f2a4b7c0d5e8f1a",
    "source": "invoice",
    "reference": "INV-000042",
    "amount": "10.00",
    "currency": "USD",
    "status": "refunded",
    "attempt": 1,
    "reason": "a day of outage",
    "failure": None,
}
_DISPUTE = {
    "account_id": _ACCOUNT,
    "dispute_id": "du_1Qx4Zk2eZvKYlo2C8h6s3d9f",
    "source": "invoice",
    "reference": "INV-000042",
    "amount": "29.00",
    "currency": "USD",
    "status": "open",
    "outcome": None,
}

CATALOGUE: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec(
            "alert.triggered",
            "An alert's condition started to hold (once per crossing).",
            AlertTriggered,
            {
                "account_id": _ACCOUNT,
                "alert_id": "alrt_7a2b9c4d1e6f3a8b5c0d2e4f",
                "kind": "usage_percent",
                "meter": "sessions",
                "threshold": "90",
                "value": "90.1",
                "period": "2026-01-15",
            },
        ),
        EventSpec(
            "alert.resolved",
            "An alert's condition stopped holding; it may fire again.",
            AlertResolved,
            {
                "account_id": _ACCOUNT,
                "alert_id": "alrt_7a2b9c4d1e6f3a8b5c0d2e4f",
                "kind": "usage_percent",
                "meter": "sessions",
                "threshold": "90",
                "period": "2026-01-15",
                "reason": "new_period",
            },
        ),
        EventSpec(
            "budget.exceeded",
            "The account's estimated or actual monthly cost passed its budget.",
            BudgetExceeded,
            {
                "account_id": _ACCOUNT,
                "mode": "hard",
                "budget": "10.00",
                "amount": "10.01",
                "percent": "100.1",
                "currency": "USD",
                "period": "2026-01",
            },
        ),
        EventSpec(
            "invoice.created",
            "An invoice was finalized: a period's close, an opening fee, an upgrade, a pack.",
            InvoiceCreated,
            {"account_id": _ACCOUNT, "invoice": _INVOICE},
        ),
        EventSpec(
            "invoice.paid",
            "An invoice was paid.",
            InvoicePaid,
            {"account_id": _ACCOUNT, "invoice": {**_INVOICE, "status": "paid"}},
        ),
        EventSpec(
            "invoice.payment_failed",
            "An attempt to collect an invoice failed: the subscription is past due and the "
            "invoice is tried again 3, 5 and 7 days after the first failure, then the account "
            "moves to the fallback plan until it is paid.",
            InvoicePaymentFailed,
            {
                "account_id": _ACCOUNT,
                "invoice": _INVOICE,
                "attempt": 1,
                "reason": "card_declined",
                "next_attempt_at": "2026-02-04T00:00:00+00:00",
            },
        ),
        EventSpec(
            "subscription.updated",
            "A plan changed, or a downgrade or cancellation was scheduled or withdrawn.",
            SubscriptionUpdated,
            {
                "account_id": _ACCOUNT,
                "change": "cancel_scheduled",
                "plan": "pro",
                "billing_interval": "monthly",
                "status": "cancelling",
                "pending": {
                    "kind": "cancel",
                    "plan": "free",
                    "billing_interval": "monthly",
                    "effective_at": "2026-02-01T00:00:00+00:00",
                },
            },
        ),
        EventSpec(
            "wallet.low_balance",
            "The wallet's balance fell below the account's threshold.",
            WalletLowBalance,
            {"account_id": _ACCOUNT, "balance": "4.75", "threshold": "5.00", "currency": "USD"},
        ),
        EventSpec(
            "wallet.reload_failed",
            "An automatic reload of the wallet could not be collected.",
            WalletReloadFailed,
            {
                "account_id": _ACCOUNT,
                "amount": "20.00",
                "currency": "USD",
                "reason": "card_declined",
            },
        ),
        EventSpec(
            "refund.succeeded",
            "The provider gave money back: a deposit's refund, a credit note or a void of a "
            "paid invoice.",
            RefundUpdated,
            _REFUND,
        ),
        EventSpec(
            "refund.failed",
            "An attempt at a refund did not go through (the provider refused it or did not "
            "answer); it stays pending and is asked again.",
            RefundUpdated,
            {
                **_REFUND,
                "status": "pending",
                "failure": "Stripe did not complete the request: charge_disputed",
            },
        ),
        EventSpec(
            "dispute.opened",
            "The cardholder's bank disputes a payment; nothing changes until it is decided.",
            DisputeUpdated,
            _DISPUTE,
        ),
        EventSpec(
            "dispute.closed",
            "A dispute was decided: won (the payment stands) or lost (the money went back to "
            "the cardholder, and what it paid for is taken back).",
            DisputeUpdated,
            {**_DISPUTE, "status": "lost", "outcome": "invoice_uncollectible"},
        ),
        EventSpec(
            "usage.limit_reached",
            "A meter reached the account's limit for the period.",
            UsageLimitReached,
            {
                "account_id": _ACCOUNT,
                "meter": "api_calls",
                "used": 100000,
                "limit": 100000,
                "period": "2026-01",
            },
        ),
    )
}

EVENT_TYPES = tuple(CATALOGUE)


def spec_of(event_type: str) -> EventSpec:
    spec = CATALOGUE.get(event_type)
    if spec is None:
        raise InvalidInputError(
            f"unknown event type {event_type!r}; the catalogue has " + ", ".join(EVENT_TYPES),
            event_type=event_type,
        )
    return spec


def check_event_types(event_types: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """An endpoint's filter: known types only, each once, in catalogue order."""
    for event_type in event_types:
        spec_of(event_type)
    return tuple(name for name in EVENT_TYPES if name in set(event_types))


def payload_of(event_type: str, data: Payload | Mapping[str, Any]) -> Payload:
    """``data`` checked against the event type's schema."""
    spec = spec_of(event_type)
    if isinstance(data, Payload):
        if not isinstance(data, spec.payload):
            raise InvalidInputError(
                f"{event_type} carries {spec.payload.__name__}, not {type(data).__name__}"
            )
        return data
    try:
        return spec.payload.model_validate(dict(data))
    except ValidationError as error:
        raise InvalidInputError(
            f"invalid {event_type} payload: {error.errors()[0]['msg']}",
            event_type=event_type,
        ) from None


def envelope(event_id: str, event_type: str, occurred_at: datetime, data: Payload) -> str:
    """The exact body of the event: compact JSON, the bytes that are signed and sent."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "timestamp": occurred_at.isoformat(),
            "data": data.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )
