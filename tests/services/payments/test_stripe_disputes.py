"""Disputes of every payment meterstack takes on Stripe, on the fake Stripe and both backends:
an invoice paid by a checkout or collected off-session, an automatic reload; each recorded,
decided once whatever the order of its events, and announced to the platform's webhook
subscribers (B11, D21, D28, D29)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from stripe_support import APP, StripeWorld, stripe_world

from meterstack import Engine, ManualClock
from meterstack.errors import ConflictError
from meterstack.records.invoicing import Invoice, InvoiceStatus

EngineFactory = Callable[..., Engine]


def _deliver_all(world: StripeWorld, event_type: str) -> list[bool]:
    return [world.deliver(e["id"]).applied for e in world.events(event_type)]


def _announced(engine: Engine, account_id: str, event_type: str) -> list[dict[str, Any]]:
    events = engine.webhooks.events(account_id=account_id, event_type=event_type)
    return [json.loads(e.body)["data"] for e in reversed(events)]


def _checkout_upgrade(world: StripeWorld, account_id: str) -> Invoice:
    world.engine.checkout(account_id, plan="pro", success_url=f"{APP}/ok")
    [session] = world.fake.objects("checkout.session")
    world.fake.complete_checkout(session["id"])
    assert _deliver_all(world, "checkout.session.completed") == [True]
    [invoice] = [i for i in world.engine.invoices(account_id) if i.plan == "pro" and i.total > 0]
    return invoice


def _charge(world: StripeWorld, account_id: str, amount: int) -> dict[str, Any]:
    customer = world.engine.stripe_customer_id(account_id)
    [charge] = [
        c
        for c in world.fake.objects("charge")
        if c["customer"] == customer and c["amount"] == amount
    ]
    return charge


def test_b11_d29_a_lost_dispute_of_a_checkout_paid_invoice_unpays_it_until_paid_again(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        invoice = _checkout_upgrade(world, account.id)
        assert invoice.number is not None
        total = int(invoice.total * 100)
        dispute = fake.open_dispute(_charge(world, account.id, total)["id"])

        assert _deliver_all(world, "charge.dispute.created") == [True]
        [opened] = engine.disputes(account.id)
        assert (opened.id, opened.status, opened.source, opened.reference) == (
            dispute["id"],
            "open",
            "invoice",
            invoice.number,
        )
        assert opened.amount == invoice.total
        # While the bank decides, the customer keeps what was paid for.
        assert engine.subscription(account.id).plan == "pro"
        assert engine.invoice(invoice.number).status is InvoiceStatus.PAID

        fake.close_dispute(dispute["id"], won=False)
        assert _deliver_all(world, "charge.dispute.closed") == [True]
        assert _deliver_all(world, "charge.dispute.closed") == [False]  # once
        assert _deliver_all(world, "charge.dispute.created") == [False]

        assert engine.invoice(invoice.number).status is InvoiceStatus.UNCOLLECTIBLE
        assert engine.subscription(account.id).plan == "free"  # D29's fallback plan
        assert [d.status for d in engine.disputes(account.id)] == ["lost"]
        [collection] = engine.collections.of_account(account.id)
        assert collection.collection.status == "fallback"
        assert collection.collection.next_attempt_at is None  # the disputed card is not retried
        assert fake.objects("refund") == []
        assert [c["amount"] for c in fake.objects("charge")] == [total]

        assert _announced(engine, account.id, "dispute.opened") == [
            {
                "account_id": account.id,
                "dispute_id": dispute["id"],
                "source": "invoice",
                "reference": invoice.number,
                "amount": str(invoice.total),
                "currency": "USD",
                "status": "open",
                "outcome": None,
            }
        ]
        [closed] = _announced(engine, account.id, "dispute.closed")
        assert (closed["status"], closed["outcome"]) == ("lost", "invoice_uncollectible")
        changes = [d["change"] for d in _announced(engine, account.id, "subscription.updated")]
        assert changes[-1] == "unpaid_fallback"

        with pytest.raises(ConflictError, match="disputed and lost"):
            engine.collections.collect(invoice.number)  # Stripe's twin says paid: no retry
        assert engine.invoice(invoice.number).status is InvoiceStatus.UNCOLLECTIBLE
        engine.pay_invoice(invoice.number)  # the customer paid it another way
        assert engine.subscription(account.id).plan == "pro"  # restored for its period


def test_b11_a_won_dispute_of_an_invoice_leaves_it_paid(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        invoice = _checkout_upgrade(world, account.id)
        assert invoice.number is not None
        dispute = fake.open_dispute(_charge(world, account.id, int(invoice.total * 100))["id"])
        fake.close_dispute(dispute["id"], won=True)
        # The decision is delivered before the opening: both are recorded, in order.
        assert _deliver_all(world, "charge.dispute.closed") == [True]
        assert _deliver_all(world, "charge.dispute.created") == [False]

        assert engine.invoice(invoice.number).status is InvoiceStatus.PAID
        assert engine.subscription(account.id).plan == "pro"
        [recorded] = engine.disputes(account.id)
        assert recorded.status == "won"
        assert [d["status"] for d in _announced(engine, account.id, "dispute.opened")] == ["open"]
        [closed] = _announced(engine, account.id, "dispute.closed")
        assert (closed["status"], closed["outcome"]) == ("won", None)


def test_d29_a_lost_dispute_of_an_invoice_collected_off_session_finds_it_by_its_twin(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="pro")
        engine.deposit(account.id, Decimal("5.00"), success_url=f"{APP}/ok")  # saves the card
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        assert _deliver_all(world, "checkout.session.completed") == [True]
        clock.advance(timedelta(days=31))
        fake.advance_clock(timedelta(days=31))
        [invoice] = [i for i in engine.close_period() if i.account_id == account.id]
        assert invoice.number is not None
        engine.collections.run()
        assert engine.invoice(invoice.number).status is InvoiceStatus.PAID
        [twin] = [t for t in world.twins() if t["metadata"]["meterstack_invoice"] == invoice.number]
        [paid] = [p for p in fake.objects("invoice_payment") if p["invoice"] == twin["id"]]
        intent = paid["payment"]["payment_intent"]
        [charge] = [c for c in fake.objects("charge") if c["payment_intent"] == intent]

        dispute = fake.open_dispute(charge["id"])
        fake.close_dispute(dispute["id"], won=False)
        assert _deliver_all(world, "charge.dispute.created") == [True]
        assert _deliver_all(world, "charge.dispute.closed") == [True]

        [recorded] = engine.disputes(account.id)
        assert (recorded.source, recorded.reference, recorded.status) == (
            "invoice",
            invoice.number,
            "lost",
        )
        assert engine.invoice(invoice.number).status is InvoiceStatus.UNCOLLECTIBLE
        assert engine.subscription(account.id).plan == "free"
        assert engine.wallet(account.id).balance == 5  # the deposit was not disputed


def test_d21_a_lost_dispute_of_a_reload_takes_the_credited_balance_back(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="pro")
        engine.deposit(account.id, Decimal("10.00"), success_url=f"{APP}/ok")
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        assert _deliver_all(world, "checkout.session.completed") == [True]
        engine.set_auto_reload(account.id, threshold=Decimal("5.00"), amount=Decimal("20.00"))
        crossing = engine.charge(account.id, "agent_execution", 600)  # 10.00 -> 4.00: reload
        assert crossing.reload_id is not None
        [reload] = engine.wallet_reloads(account.id)
        assert reload.status == "paid"
        assert engine.wallet(account.id).balance == Decimal("24.00")
        engine.charge(account.id, "agent_execution", 1000)  # $10.00 of the reload spent

        dispute = fake.open_dispute(_charge(world, account.id, 2000)["id"])
        fake.close_dispute(dispute["id"], won=False)
        assert _deliver_all(world, "charge.dispute.closed") == [True]
        assert _deliver_all(world, "charge.dispute.closed") == [False]

        view = engine.wallet(account.id)
        assert (view.balance, view.settings.owed) == (Decimal(0), Decimal(6))
        assert engine.charge(account.id, "bot_message").code == "wallet_suspended"
        [recorded] = engine.disputes(account.id)
        assert (recorded.source, recorded.reference, recorded.amount, recorded.status) == (
            "reload",
            reload.id,
            Decimal(20),
            "lost",
        )
        [closed] = _announced(engine, account.id, "dispute.closed")
        assert (closed["source"], closed["outcome"]) == ("reload", "wallet_debited")
