"""What the billing services announce: invoices and subscription changes, as catalogue events.

Each function is called with the caller's open transaction, at the point where the change is
made, so the event commits with it (``outbox.publish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from meterstack.money import in_currency_places
from meterstack.records.collections import DUNNING
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.records.payments import MoneyRefund, PaymentDispute
from meterstack.services.webhooks.catalogue import (
    DisputeUpdated,
    InvoiceCreated,
    InvoicePaid,
    InvoicePaymentFailed,
    InvoiceSummary,
    PendingSubscriptionChange,
    RefundUpdated,
    SubscriptionChange,
    SubscriptionStatus,
    SubscriptionUpdated,
)
from meterstack.services.webhooks.outbox import EventData, publish, publish_many
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import PendingChange


def announce_invoices(tx: UnitOfWork, invoices: Sequence[Invoice], at: datetime) -> None:
    """``invoice.created`` for each finalized invoice, and ``invoice.paid`` for those paid."""
    events: list[tuple[str, str, EventData]] = []
    for invoice in invoices:
        summary = _summary(invoice)
        events.append(
            (
                "invoice.created",
                invoice.account_id,
                InvoiceCreated(account_id=invoice.account_id, invoice=summary),
            )
        )
        if invoice.status is InvoiceStatus.PAID:
            events.append(
                (
                    "invoice.paid",
                    invoice.account_id,
                    InvoicePaid(account_id=invoice.account_id, invoice=summary),
                )
            )
    publish_many(tx, events, at=at)


def announce_invoice_status(
    tx: UnitOfWork, invoice: Invoice, status: InvoiceStatus, at: datetime
) -> None:
    """``invoice.paid`` when an invoice moves to paid; other moves announce nothing yet."""
    if status is not InvoiceStatus.PAID:
        return
    paid = _summary(invoice).model_copy(update={"status": str(status)})
    publish(
        tx,
        "invoice.paid",
        invoice.account_id,
        InvoicePaid(account_id=invoice.account_id, invoice=paid),
        at=at,
    )


def announce_subscription(
    tx: UnitOfWork, account_id: str, change: SubscriptionChange, at: datetime
) -> None:
    """``subscription.updated`` with the account's plan and any change waiting, as of now."""
    _publish_subscription(tx, account_id, change, tx.subscriptions.pending(account_id), at)


def _publish_subscription(
    tx: UnitOfWork,
    account_id: str,
    change: SubscriptionChange,
    waiting: PendingChange | None,
    at: datetime,
) -> None:
    account = tx.accounts.get(account_id)
    assert account is not None
    publish(
        tx,
        "subscription.updated",
        account_id,
        SubscriptionUpdated(
            account_id=account_id,
            change=change,
            plan=account.plan_id,
            billing_interval=account.billing_interval,
            status=subscription_status(tx, account_id, waiting),
            pending=None
            if waiting is None
            else PendingSubscriptionChange(
                kind="cancel" if waiting.kind == "cancel" else "downgrade",
                plan=waiting.plan_id,
                billing_interval=waiting.billing_interval,
                effective_at=waiting.effective_at,
            ),
        ),
        at=at,
    )


def subscription_status(
    tx: UnitOfWork, account_id: str, waiting: PendingChange | None
) -> SubscriptionStatus:
    """``past_due`` while an invoice of the account is in dunning (D29), ``cancelling`` while a
    cancellation waits, else ``active``."""
    if any(c.status in DUNNING for c in tx.collections.open_of_account(account_id)):
        return "past_due"
    return "cancelling" if waiting is not None and waiting.kind == "cancel" else "active"


def announce_payment_failed(
    tx: UnitOfWork,
    invoice: Invoice,
    attempt: int,
    reason: str,
    next_attempt_at: datetime | None,
    at: datetime,
) -> None:
    """``invoice.payment_failed``: one attempt of the invoice's collection failed (D29)."""
    publish(
        tx,
        "invoice.payment_failed",
        invoice.account_id,
        InvoicePaymentFailed(
            account_id=invoice.account_id,
            invoice=_summary(invoice),
            attempt=attempt,
            reason=reason,
            next_attempt_at=next_attempt_at,
        ),
        at=at,
    )


def announce_resumed(tx: UnitOfWork, account_id: str, at: datetime) -> None:
    """Called just before a waiting change is withdrawn: ``subscription.updated`` (resumed)
    with no change pending, or nothing when none was waiting (a resume that changes nothing)."""
    if tx.subscriptions.pending(account_id) is None:
        return
    _publish_subscription(tx, account_id, "resumed", None, at)


def announce_applied(tx: UnitOfWork, account_id: str, change: PendingChange) -> None:
    """A downgrade or cancellation took effect, at its own instant."""
    kind: SubscriptionChange = "cancelled" if change.kind == "cancel" else "downgraded"
    announce_subscription(tx, account_id, kind, change.effective_at)


def _summary(invoice: Invoice) -> InvoiceSummary:
    return InvoiceSummary(
        id=invoice.id,
        number=invoice.number,
        status=str(invoice.status),
        currency=invoice.currency,
        total=invoice.total,
        period=invoice.period_key,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        plan=invoice.plan,
        created_at=invoice.created_at,
    )


def announce_refund(
    tx: UnitOfWork, refund: MoneyRefund, attempt: int, failure: str | None, at: datetime
) -> None:
    """``refund.succeeded`` when the provider gave the refund back (once: its settling write
    is conditional), ``refund.failed`` for an attempt that did not (``failure`` says why)."""
    publish(
        tx,
        "refund.failed" if failure is not None else "refund.succeeded",
        refund.account_id,
        RefundUpdated(
            account_id=refund.account_id,
            refund_id=refund.id,
            source="invoice" if refund.source == "invoice" else "deposit",
            reference=refund.reference,
            amount=in_currency_places(refund.amount, refund.currency),
            currency=refund.currency,
            status="pending" if failure is not None else "refunded",
            attempt=attempt,
            reason=refund.reason,
            failure=failure,
        ),
        at=at,
    )


def announce_dispute(tx: UnitOfWork, dispute: PaymentDispute, outcome: str | None) -> None:
    """``dispute.opened`` or ``dispute.closed`` (won or lost), once per change of the dispute's
    status, dated when it changed."""
    closed = dispute.status != "open"
    at = dispute.closed_at if closed and dispute.closed_at is not None else dispute.opened_at
    publish(
        tx,
        "dispute.closed" if closed else "dispute.opened",
        dispute.account_id,
        DisputeUpdated.model_validate(
            {
                "account_id": dispute.account_id,
                "dispute_id": dispute.id,
                "source": dispute.source,
                "reference": dispute.reference,
                "amount": in_currency_places(dispute.amount, dispute.currency),
                "currency": dispute.currency,
                "status": dispute.status,
                "outcome": outcome,
            }
        ),
        at=at,
    )
