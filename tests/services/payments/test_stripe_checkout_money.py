"""What a Checkout Session paid, afterwards, on the fake Stripe and both backends: refunds of a
checkout-paid invoice through the session's PaymentIntent, an upgrade the account's credit pays
without a session, and the mirror of a paid invoice retried until Stripe has it (B8, B10, D10)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from stripe_support import APP, StripeWorld, stripe_world

from meterstack import Engine, ManualClock
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.services.invoicing.purchases import PACK_INVOICE
from meterstack.services.payments.stripe_client import StripeSettings, stripe_client
from meterstack.services.payments.stripe_provider import StripeProvider
from meterstack.services.payments.stripe_refunds import REFUND_KEY

EngineFactory = Callable[..., Engine]
#: Where no Stripe answers (the discard port on loopback: connections are refused).
UNREACHABLE = "http://127.0.0.1:9"


def _provider(world: StripeWorld) -> StripeProvider:
    provider = world.engine.payment_provider
    assert isinstance(provider, StripeProvider)
    return provider


def _paid_upgrade(world: StripeWorld, account_id: str, plan: str = "pro") -> Invoice:
    """An upgrade paid by card on Stripe's checkout, its webhook delivered; its invoice."""
    world.engine.checkout(account_id, plan=plan, success_url=f"{APP}/ok")
    [session] = [
        s for s in world.fake.objects("checkout.session") if s["metadata"]["meterstack_purpose"]
    ][-1:]
    world.fake.complete_checkout(session["id"])
    [completed] = [
        e
        for e in world.events("checkout.session.completed")
        if e["data"]["object"]["id"] == session["id"]
    ]
    assert world.deliver(completed["id"]).applied
    [invoice] = [i for i in world.engine.invoices(account_id) if i.plan == plan and i.total > 0]
    assert invoice.status is InvoiceStatus.PAID
    return invoice


def _announced(engine: Engine, account_id: str, event_type: str) -> list[dict[str, Any]]:
    """The ``data`` of the account's outbox events of a type, oldest first."""
    events = engine.webhooks.events(account_id=account_id, event_type=event_type)
    return [json.loads(e.body)["data"] for e in reversed(events)]


def _intent_of(world: StripeWorld, account_id: str) -> str:
    customer = world.engine.stripe_customer_id(account_id)
    [charge] = [c for c in world.fake.objects("charge") if c["customer"] == customer]
    return str(charge["payment_intent"])


# ---------------------------------------------------------------------- refunds


def test_b8_voiding_a_checkout_paid_invoice_refunds_the_sessions_payment(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        invoice = _paid_upgrade(world, account.id)
        assert invoice.number is not None
        intent = _intent_of(world, account.id)

        note = engine.credit_invoice(invoice.number, Decimal("10.00"), "a day of outage")
        assert (note.refund.status, note.refund.payment) == ("refunded", intent)
        voided = engine.void_invoice(invoice.number)
        assert voided.status is InvoiceStatus.VOID

        refunds = fake.objects("refund")
        total = int(invoice.total * 100)
        assert sorted(r["amount"] for r in refunds) == sorted([1000, total - 1000])
        assert {r["payment_intent"] for r in refunds} == {intent}
        recorded = engine.credit_notes(invoice.number)
        assert [r.status for r in recorded] == ["refunded", "refunded"]
        assert {r["metadata"][REFUND_KEY] for r in refunds} == {r.id for r in recorded}
        [charge] = fake.objects("charge")
        assert (charge["amount_refunded"], charge["refunded"]) == (total, True)
        assert fake.objects("credit_note") == []  # the twin was paid out of band: no charge
        # The platform's subscribers hear of each refund once (D28).
        announced = _announced(engine, account.id, "refund.succeeded")
        assert [(d["refund_id"], d["amount"], d["status"]) for d in announced] == [
            (r.id, str(r.amount.quantize(Decimal("0.01"))), "refunded") for r in recorded
        ]
        assert announced[0] == {
            "account_id": account.id,
            "refund_id": note.refund.id,
            "source": "invoice",
            "reference": invoice.number,
            "amount": "10.00",
            "currency": "USD",
            "status": "refunded",
            "attempt": 1,
            "reason": "a day of outage",
            "failure": None,
        }
        assert _announced(engine, account.id, "refund.failed") == []


def test_b8_a_checkout_refund_stripe_could_not_make_is_sent_again_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        invoice = _paid_upgrade(world, account.id)
        assert invoice.number is not None
        provider = _provider(world)
        reachable = provider.client
        provider.client = stripe_client(
            StripeSettings("sk_test_down", "whsec_x", api_base=UNREACHABLE, max_network_retries=0)
        )
        engine.void_invoice(invoice.number)
        [pending] = engine.credit_notes(invoice.number)
        assert pending.status == "pending"
        assert pending.failure is not None
        assert "Stripe did not complete" in pending.failure

        provider.client = reachable
        fake.advance_clock(timedelta(hours=25))  # Stripe forgot any key of the first attempt
        clock.advance(timedelta(hours=25))
        [sent] = engine.send_refunds()
        assert (sent.id, sent.status, sent.attempts) == (pending.id, "refunded", 2)
        assert engine.send_refunds() == []
        [failed] = _announced(engine, account.id, "refund.failed")
        assert (failed["refund_id"], failed["attempt"], failed["status"]) == (
            pending.id,
            1,
            "pending",
        )
        assert failed["failure"] == pending.failure
        [succeeded] = _announced(engine, account.id, "refund.succeeded")
        assert (succeeded["refund_id"], succeeded["attempt"]) == (pending.id, 2)
        assert [r["amount"] for r in fake.objects("refund")] == [int(invoice.total * 100)]


def test_a6_refunding_a_pack_bought_through_checkout_refunds_its_payment(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock, catalog="agentstack") as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="pro")
        pack = engine.pack_for(account.id, "project_storage", "5gb")
        checkout = engine.purchase_pack(account.id, pack)
        [session] = fake.objects("checkout.session")
        assert session["client_reference_id"] == getattr(checkout, "id", None)
        fake.complete_checkout(session["id"])
        [completed] = world.events("checkout.session.completed")
        assert world.deliver(completed["id"]).applied
        [invoice] = [i for i in engine.invoices(account.id) if i.kind == PACK_INVOICE]
        assert invoice.number is not None

        engine.void_invoice(invoice.number)
        [refund] = fake.objects("refund")
        assert (refund["amount"], refund["payment_intent"]) == (
            int(invoice.total * 100),
            _intent_of(world, account.id),
        )
        [recorded] = engine.credit_notes(invoice.number)
        assert recorded.status == "refunded"


# ---------------------------------------------------------------------- upgrade paid by credit


def test_d10_an_upgrade_the_credit_pays_changes_the_plan_without_a_session(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="starter", interval="yearly")
        clock.set(datetime(2026, 2, 1, tzinfo=UTC))  # most of the paid year left: credit
        engine.change_plan(account.id, "pro", "monthly")
        credit = engine.subscription(account.id).account_credit
        assert credit > 0
        clock.set(datetime(2026, 2, 15, tzinfo=UTC))

        checkout = engine.checkout(account.id, plan="business", success_url=f"{APP}/ok")

        assert checkout.status == "paid"
        assert checkout.url == f"{APP}/ok"
        assert fake.objects("checkout.session") == []  # Stripe takes no zero payment
        assert engine.subscription(account.id).plan == "business"
        [upgrade] = [i for i in engine.invoices(account.id) if i.plan == "business"]
        assert (upgrade.total, upgrade.status) == (Decimal("0.00"), InvoiceStatus.PAID)
        assert engine.subscription(account.id).account_credit < credit
        assert world.twins() == []  # nothing due, nothing mirrored
        assert engine.pending_invoice_mirrors() == []


# ---------------------------------------------------------------------- mirrors


def test_b10_a_mirror_stripe_failed_to_make_is_retried_by_collections_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        engine.checkout(account.id, plan="pro")
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        [completed] = world.events("checkout.session.completed")
        provider = _provider(world)
        reachable = provider.client
        provider.client = stripe_client(
            StripeSettings("sk_test_down", "whsec_x", api_base=UNREACHABLE, max_network_retries=0)
        )

        assert world.deliver(completed["id"]).applied  # the payment stands
        assert engine.subscription(account.id).plan == "pro"
        [pending] = engine.pending_invoice_mirrors()
        assert (pending.status, pending.attempts) == ("pending", 1)
        assert pending.failure is not None
        assert "Stripe did not complete" in pending.failure
        assert world.twins() == []

        provider.client = reachable
        engine.collections.run()
        assert engine.pending_invoice_mirrors() == []
        [twin] = world.twins()
        [invoice] = [i for i in engine.invoices(account.id) if i.total > 0]
        assert (twin["metadata"]["meterstack_invoice"], twin["status"]) == (
            invoice.number,
            "paid",
        )
        engine.collections.run()
        assert engine.send_invoice_mirrors() == []
        assert len(world.twins()) == 1  # never mirrored twice
        assert [c["amount"] for c in fake.objects("charge")] == [int(invoice.total * 100)]
