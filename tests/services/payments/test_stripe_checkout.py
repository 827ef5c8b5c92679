"""Checkouts, deposits and webhooks end to end on the fake Stripe, both backends (B4, B8, B11)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
from stripe_support import APP, stripe_world

from meterstack import Engine, ManualClock
from meterstack.errors import InvalidSignatureError, PaymentMethodRequiredError
from meterstack.records.invoicing import InvoiceStatus

EngineFactory = Callable[..., Engine]


def test_b8_b11_free_to_pro_yearly_is_paid_on_stripe_and_applied_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(
            plan="free", email="ops@aerostack.example", name="Aerostack Ops"
        )
        assert engine.stripe_customer_id(account.id) is None  # D15: null until made

        checkout = engine.checkout(
            account.id,
            plan="pro",
            interval="yearly",
            success_url=f"{APP}/ok",
            cancel_url=f"{APP}/no",
        )
        [session] = fake.objects("checkout.session")
        assert checkout.url == session["url"]
        assert checkout.url.startswith(f"{fake.url}/c/pay/")
        assert engine.get_checkout(checkout.id).url == session["url"]
        customer = engine.stripe_customer_id(account.id)
        assert customer is not None
        assert customer.startswith("cus_")
        assert (session["customer"], session["client_reference_id"]) == (customer, checkout.id)
        made = fake.object(customer)  # receipts and the portal say who pays
        assert (made["email"], made["name"]) == ("ops@aerostack.example", "Aerostack Ops")
        assert (session["mode"], session["amount_total"], session["currency"]) == (
            "payment",
            44100,
            "usd",
        )
        assert engine.subscription(account.id).plan == "free"  # nothing changes until paid

        fake.complete_checkout(session["id"])
        # Every event, in reverse order and twice each: the payment's events come first.
        deliveries = [e["id"] for e in reversed(world.events()) for _ in range(2)]
        receipts = [world.deliver(event_id) for event_id in deliveries]

        completed = [r for r in receipts if r.type == "checkout.session.completed"]
        assert [r.applied for r in completed] == [True, False]
        assert sum(r.applied for r in receipts) == 1
        subscription = engine.subscription(account.id)
        assert (subscription.plan, subscription.billing_interval) == ("pro", "yearly")
        [invoice] = [i for i in engine.invoices(account.id) if i.total > 0]
        assert (invoice.total, invoice.status) == (Decimal("441.00"), InvoiceStatus.PAID)
        [twin] = world.twins()
        assert twin["metadata"]["meterstack_invoice"] == invoice.number
        assert (twin["status"], twin["total"], twin["customer"]) == ("paid", 44100, customer)
        # The card was paid once, by the checkout; the mirror charged nothing more.
        charges = fake.objects("charge")
        assert [c["amount"] for c in charges] == [44100]
        assert twin["amount_paid_off_stripe"] == 44100
        # The card is saved for off-session charges (later invoices, reloads).
        saved = [m for m in fake.objects("payment_method") if m["customer"] == customer]
        assert len(saved) == 1


def test_b8_an_unpaid_completion_changes_nothing_until_the_debit_succeeds(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        engine.checkout(account.id, plan="pro", interval="monthly")
        [session] = fake.objects("checkout.session")

        fake.complete_checkout(session["id"], outcome="processing")
        [completed] = world.events("checkout.session.completed")
        receipt = world.deliver(completed["id"])
        assert (receipt.used, receipt.applied) == (True, False)
        assert engine.subscription(account.id).plan == "free"

        fake.settle_checkout(session["id"], succeeded=True)
        [succeeded] = world.events("checkout.session.async_payment_succeeded")
        assert world.deliver(succeeded["id"]).applied
        assert world.deliver(completed["id"]).applied is False
        assert engine.subscription(account.id).plan == "pro"


def test_b8_a_failed_debit_closes_the_checkout_and_buys_nothing(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        checkout = engine.checkout(account.id, plan="pro")
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"], outcome="processing")
        fake.settle_checkout(session["id"], succeeded=False)
        receipts = [world.deliver(e["id"]) for e in world.events()]

        assert [r.type for r in receipts if r.applied] == ["checkout.session.async_payment_failed"]
        assert engine.get_checkout(checkout.id).status == "failed"
        assert engine.subscription(account.id).plan == "free"
        assert [i for i in engine.invoices(account.id) if i.total > 0] == []


def test_d24_a_deposit_of_20_through_stripe_credits_the_wallet_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="pro")
        checkout = engine.deposit(account.id, Decimal("20.00"))
        [session] = fake.objects("checkout.session")
        assert checkout.url == session["url"]
        assert session["amount_total"] == 2000
        assert engine.wallet(account.id).balance == 0

        fake.complete_checkout(session["id"])
        for event in world.events() * 3:
            world.deliver(event["id"])
        fake.redeliver(world.events("checkout.session.completed")[0]["id"])

        assert engine.wallet(account.id).balance == Decimal("20.00")
        assert engine.get_checkout(checkout.id).status == "paid"


def test_b11_a_forged_or_replayed_webhook_changes_nothing(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        engine.checkout(account.id, plan="pro")
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        [completed] = world.events("checkout.session.completed")
        payload, signature = fake.signed_event(completed["id"], world.endpoint.id)

        forged = json.loads(payload)
        forged["data"]["object"]["client_reference_id"] = "cs_someone_else"
        other_secret = stripe.WebhookSignature._compute_signature(
            f"{signature.split(',')[0][2:]}.{payload.decode()}", "whsec_not_ours"
        )
        attempts = [
            (json.dumps(forged).encode(), signature),  # the payload changed
            (payload, f"{signature.split(',')[0]},v1={other_secret}"),  # another secret
            (payload, None),  # no signature
            (payload, "t=abc,v1=zz"),  # not a signature
        ]
        for body, header in attempts:
            with pytest.raises(InvalidSignatureError) as refused:
                engine.receive_stripe_webhook(body, header)
            assert refused.value.http_status == 400
        clock.advance(timedelta(minutes=6))  # beyond the 5 minutes' tolerance: a replay
        with pytest.raises(InvalidSignatureError, match="replay"):
            engine.receive_stripe_webhook(payload, signature)

        assert engine.subscription(account.id).plan == "free"
        assert world.twins() == []


def test_b11_events_meterstack_does_not_use_are_acknowledged(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        customer = world.fake.client().v1.customers.create(params={"email": "x@y.example"})
        [created] = world.events("customer.created")
        receipt = world.deliver(created["id"])
        assert (receipt.event_id, receipt.used, receipt.applied) == (
            created["id"],
            False,
            False,
        )
        assert customer.id.startswith("cus_")


def test_d10_what_a_checkout_took_beyond_the_proration_is_kept_as_account_credit(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="starter")
        world.fake.advance_clock(timedelta(days=10))
        clock.advance(timedelta(days=10))
        engine.checkout(account.id, plan="pro")
        [session] = fake.objects("checkout.session")
        quoted = Decimal(session["amount_total"]) / 100
        # The buyer pays 12 hours later: the month has less left, the settlement is lower.
        world.fake.advance_clock(timedelta(hours=12))
        clock.advance(timedelta(hours=12))
        fake.complete_checkout(session["id"])
        [completed] = world.events("checkout.session.completed")
        assert world.deliver(completed["id"]).applied

        [upgrade] = [i for i in engine.invoices(account.id) if i.plan == "pro"]
        assert upgrade.total == quoted  # the invoice says what the card paid
        [excess] = [line for line in upgrade.lines if line.kind == "account_credit"]
        assert Decimal(0) < excess.amount < Decimal("0.60")
        assert engine.subscription(account.id).account_credit == excess.amount
        [twin] = world.twins()
        assert twin["total"] == session["amount_total"]


def test_a5_overage_on_stripe_needs_the_card_a_checkout_saved(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock, catalog="agentstack") as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="free")
        with pytest.raises(PaymentMethodRequiredError):
            engine.switch_overage(account.id, True)
        engine.checkout(account.id, plan="starter")
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        world.deliver(world.events("checkout.session.completed")[0]["id"])

        engine.switch_overage(account.id, True)  # the card the checkout saved is on file
        assert engine.subscription(account.id).plan == "starter"
