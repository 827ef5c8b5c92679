"""Collection of finalized invoices and dunning, end to end on both backends (D10, D13, D29)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import NotFoundError
from meterstack.records.collections import AttemptStatus, CollectionStatus
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.records.payments import INVOICE_PAID, PaymentEvent
from meterstack.rules.decisions import DecisionCode
from meterstack.services.collections.service import NotChargeableError
from meterstack.services.payments.local import LocalProvider

EngineFactory = Callable[..., Engine]
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def _deposit(engine: Engine, provider: LocalProvider, account_id: str, amount: str) -> None:
    """A wallet deposit through the local provider's checkout, as a customer pays it."""
    checkout = engine.deposit(account_id, Decimal(amount))
    engine.pay_checkout(checkout.id, provider.checkout_secret(checkout.id))


def _events(engine: Engine, account_id: str, event_type: str) -> list[dict[str, Any]]:
    """The ``data`` of the account's outbox events of one type, oldest first."""
    found = engine.webhooks.events(account_id=account_id, event_type=event_type, limit=100)
    return [json.loads(event.body)["data"] for event in reversed(found)]


def _renewal(engine: Engine, account_id: str) -> Invoice:
    closed = engine.close_period()
    mine = [invoice for invoice in closed if invoice.account_id == account_id]
    assert len(mine) == 1
    return mine[0]


def _pro_account_with_objects(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> tuple[str, list[str]]:
    """An Aerostack Pro account with 5 MCP workspaces (Free has 3) and $20 in its wallet, whose
    opening invoice was collected."""
    clock.set(JAN)
    account = engine.create_account(plan="pro")
    workspaces = []
    for _ in range(5):
        clock.advance(timedelta(minutes=1))  # oldest first: the first three stay writable
        workspaces.append(engine.create_resource(account.id, "mcp_workspaces").id)
    _deposit(engine, provider, account.id, "20.00")
    report = engine.collections.run()
    assert (report.opened, report.paid) == (1, 1)
    return account.id, workspaces


def test_d29_a_renewal_that_fails_is_past_due_then_retried_then_falls_back_until_paid(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider()
    engine = open_engine("aerostack", provider=provider)
    account_id, workspaces = _pro_account_with_objects(engine, provider, clock)
    clock.set(FEB)
    renewal = _renewal(engine, account_id)
    assert renewal.total == Decimal("49.00")
    assert renewal.number is not None
    provider.decline_collections = True

    first = engine.collections.run()
    subscription = engine.subscription(account_id)
    usage = engine.usage(account_id)
    # D29: past due, access kept (Pro's limits, every object writable), with a warning.
    assert (first.attempted, first.failed) == (1, 1)
    assert (subscription.status, subscription.plan) == ("past_due", "pro")
    assert engine.check_write(workspaces[4]).allowed
    assert usage.payment_warning is not None
    assert usage.payment_warning.status == "past_due"
    assert usage.payment_warning.invoice_number == renewal.number
    assert usage.payment_warning.next_attempt_at == FEB + timedelta(days=3)
    assert "4 February 2026" in usage.payment_warning.message
    assert engine.invoice(renewal.number).status is InvoiceStatus.FINALIZED
    failed = _events(engine, account_id, "invoice.payment_failed")
    assert [(e["attempt"], e["reason"]) for e in failed] == [
        (1, "card_declined: the decline switch is on")
    ]
    updates = _events(engine, account_id, "subscription.updated")
    assert (updates[-1]["change"], updates[-1]["status"]) == ("past_due", "past_due")

    # Retries 3, 5 and 7 days after the first failure, on the injected clock; nothing between.
    made: list[int] = []
    for day in range(1, 8):
        clock.set(FEB + timedelta(days=day))
        if engine.collections.run().attempted:
            made.append(day)
        if day < 7:
            assert engine.subscription(account_id).plan == "pro"
    assert made == [3, 5, 7]

    # After the last failure: the fallback plan, what exceeds it read-only (D13), data,
    # wallet and history kept.
    subscription = engine.subscription(account_id)
    assert (subscription.plan, subscription.status) == ("free", "past_due")
    writable = [engine.check_write(resource_id).allowed for resource_id in workspaces]
    assert writable == [True, True, True, False, False]
    refused = engine.check_write(workspaces[3])
    assert (refused.code, refused.http_status) == (DecisionCode.READ_ONLY, 403)
    assert len(engine.resources(account_id, "mcp_workspaces")) == 5
    assert engine.wallet(account_id).balance == Decimal("20.00")
    assert [i.number for i in engine.invoices(account_id)][-1] == renewal.number
    warning = engine.usage(account_id).payment_warning
    assert warning is not None
    assert (warning.status, warning.restores_plan, warning.attempts) == ("fallback", "pro", 4)
    failed = _events(engine, account_id, "invoice.payment_failed")
    assert [e["attempt"] for e in failed] == [1, 2, 3, 4]
    assert failed[-1]["next_attempt_at"] is None
    assert _events(engine, account_id, "subscription.updated")[-1]["change"] == "unpaid_fallback"
    # Nothing more is tried once dunning ended.
    clock.set(FEB + timedelta(days=20))
    assert engine.collections.run().attempted == 0

    # Paying the open invoice (the operator's retry, the card fixed) restores Pro for the rest
    # of its period.
    provider.decline_collections = False
    view = engine.collections.collect(renewal.number)
    subscription = engine.subscription(account_id)
    assert view.collection.status is CollectionStatus.PAID
    assert [a.status for a in view.attempts] == [AttemptStatus.FAILED] * 4 + [AttemptStatus.PAID]
    assert engine.invoice(renewal.number).status is InvoiceStatus.PAID
    assert (subscription.plan, subscription.status) == ("pro", "active")
    assert subscription.current_period.end == datetime(2026, 3, 1, tzinfo=UTC)
    assert all(engine.check_write(resource_id).allowed for resource_id in workspaces)
    assert engine.usage(account_id).payment_warning is None
    assert _events(engine, account_id, "invoice.paid")[-1]["invoice"]["number"] == renewal.number
    restored = _events(engine, account_id, "subscription.updated")[-1]
    assert (restored["change"], restored["plan"], restored["status"]) == (
        "payment_recovered",
        "pro",
        "active",
    )
    # The next period renews Pro as usual, and is collected.
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    march = _renewal(engine, account_id)
    assert (march.plan, march.total) == ("pro", Decimal("49.00"))
    assert engine.collections.run().paid == 1


def test_d29_a_providers_paid_event_ends_dunning_and_restores_the_plan(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider(decline_collections=True)
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="pro")
    for day in (0, 3, 5, 7):
        clock.set(JAN + timedelta(days=day))
        engine.collections.run()
    opening = engine.invoices(account.id)[0]
    assert opening.number is not None
    assert engine.subscription(account.id).plan == "free"

    event = PaymentEvent(
        "evt_paid_1", INVOICE_PAID, {"invoice_number": opening.number, "attempt": 5}
    )
    outcome = engine.apply_payment_event(event)
    again = engine.apply_payment_event(event)

    assert (outcome.applied, again.applied) == (True, False)
    assert engine.subscription(account.id).plan == "pro"
    assert engine.invoice(opening.number).status is InvoiceStatus.PAID
    view = engine.collections.view(opening.number)
    assert view.collection.status is CollectionStatus.PAID
    assert [(a.number, a.worker) for a in view.attempts][-1] == (5, "event")
    assert len(_events(engine, account.id, "invoice.paid")) == 1


def test_d29_an_operator_marking_the_invoice_paid_ends_dunning(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider(decline_collections=True)
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="starter")
    engine.collections.run()
    number = engine.invoices(account.id)[0].number
    assert number is not None
    assert engine.subscription(account.id).status == "past_due"

    engine.pay_invoice(number)

    assert engine.subscription(account.id).status == "active"
    assert engine.collections.view(number).collection.status is CollectionStatus.PAID
    clock.set(JAN + timedelta(days=3))
    assert engine.collections.run().attempted == 0


def test_d29_invoices_without_an_amount_due_or_a_way_to_pay_are_not_attempted(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider()
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    free = engine.create_account(plan="free")
    pro = engine.create_account(plan="pro")
    clock.set(FEB)
    engine.close_period()

    report = engine.collections.run()

    # Free's invoice is $0.00: nothing is collected for it; Pro's opening and renewal are.
    assert (report.opened, report.paid) == (2, 2)
    assert engine.collections.of_account(free.id) == []
    assert [v.collection.status for v in engine.collections.of_account(pro.id)] == [
        CollectionStatus.PAID,
        CollectionStatus.PAID,
    ]


class NoCardProvider(LocalProvider):
    """A provider with no payment method on file for anyone."""

    def has_payment_method(self, account_id: str) -> bool:
        del account_id
        return False


def test_d29_an_account_without_a_payment_method_is_not_attempted_nor_dunned(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack", provider=NoCardProvider())
    clock.set(JAN)
    account = engine.create_account(plan="pro")

    report = engine.collections.run()
    (view,) = engine.collections.of_account(account.id)
    number = view.collection.invoice_number

    assert (report.opened, report.attempted, report.skipped) == (1, 0, 1)
    assert view.attempts == ()
    assert view.collection.status is CollectionStatus.DUE
    assert view.collection.next_attempt_at == JAN + timedelta(days=1)
    assert engine.subscription(account.id).status == "active"
    with pytest.raises(NotChargeableError):
        engine.collections.collect(number)
    with pytest.raises(NotFoundError):
        engine.collections.collect("INV-999999")
    # Looked at again a day later, still without attempting.
    clock.set(JAN + timedelta(days=1))
    assert engine.collections.run().skipped == 1


def test_d29_a_yearly_plan_restored_after_a_fallback_keeps_its_paid_year(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider(decline_collections=True)
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="pro", interval="yearly")
    # Its year's fee is first attempted in February, so dunning falls in another month.
    for day in (0, 3, 5, 7):
        clock.set(FEB + timedelta(days=day))
        engine.collections.run()
    opening = engine.invoices(account.id)[0]
    assert opening.number is not None
    assert opening.total == Decimal("441.00")
    assert engine.subscription(account.id).plan == "free"

    provider.decline_collections = False
    clock.set(FEB + timedelta(days=10))
    engine.collections.collect(opening.number)
    subscription = engine.subscription(account.id)

    assert (subscription.plan, subscription.billing_interval) == ("pro", "yearly")
    assert subscription.current_period.start == JAN
    assert subscription.current_period.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_d25_d29_a_failed_collection_fires_the_payment_failed_alert_once_and_paying_resolves_it(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    provider = LocalProvider(decline_collections=True)
    engine = open_engine("aerostack", provider=provider)
    clock.set(JAN)
    account = engine.create_account(plan="starter")
    alert = engine.create_alert(account.id, "payment_failed")
    engine.collections.run()  # the opening invoice's first attempt fails
    clock.set(JAN + timedelta(days=3))
    engine.collections.run()  # and its first retry: the alert has fired already
    number = engine.invoices(account.id)[0].number
    assert number is not None

    fired = engine.alert(account.id, alert.id)
    assert (fired.status, fired.value) == ("triggered", number)
    assert fired.triggered_at == JAN
    assert len(_events(engine, account.id, "alert.triggered")) == 1

    engine.pay_invoice(number)

    resolved = engine.alert(account.id, alert.id)
    assert resolved.status == "armed"
    assert resolved.resolved_at == JAN + timedelta(days=3)
    [event] = _events(engine, account.id, "alert.resolved")
    assert (event["alert_id"], event["kind"], event["reason"]) == (
        alert.id,
        "payment_failed",
        "paid",
    )
