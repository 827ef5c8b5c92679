"""A customer's year on Stripe, end to end on the fake, both backends (B4, B8, B10, B11, D13, D29).

Aerostack Free buys Pro yearly through Stripe Checkout; Stripe's webhooks arrive twice each and
out of order; a year later the renewal's card is declined, dunning runs its course down to the
fallback plan, and paying the open invoice restores Pro for the rest of its year.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from stripe_support import APP, StripeWorld, stripe_world

from meterstack import Engine, ManualClock
from meterstack.records.collections import AttemptStatus, CollectionStatus
from meterstack.records.invoicing import InvoiceStatus
from meterstack.rules.decisions import DecisionCode

EngineFactory = Callable[..., Engine]
JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)
JAN_2027 = datetime(2027, 1, 1, tzinfo=UTC)
JAN_2028 = datetime(2028, 1, 1, tzinfo=UTC)


def _move(world: StripeWorld, clock: ManualClock, to: datetime) -> None:
    """Both clocks to ``to``: meterstack's and the fake Stripe's, which signs webhooks."""
    world.fake.advance_clock(to - clock.now())
    clock.set(to)


def _outbox(engine: Engine, account_id: str, event_type: str) -> list[dict[str, Any]]:
    """The ``data`` of the account's outbox events of one type, oldest first."""
    found = engine.webhooks.events(account_id=account_id, event_type=event_type, limit=100)
    return [json.loads(event.body)["data"] for event in reversed(found)]


def _charges(world: StripeWorld) -> list[tuple[int, str]]:
    return [(c["amount"], c["status"]) for c in world.fake.objects("charge")]


def test_b8_b11_d29_free_to_pro_yearly_on_stripe_then_a_declined_renewal_is_dunned_and_restored(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        assert clock.now() == JAN_2026
        account = engine.create_account(plan="free")
        assert engine.subscription(account.id).plan == "free"
        assert engine.stripe_customer_id(account.id) is None

        # Checkout Pro yearly: a Stripe Checkout Session of $441.00; nothing changes until paid.
        checkout = engine.checkout(
            account.id,
            plan="pro",
            interval="yearly",
            success_url=f"{APP}/ok",
            cancel_url=f"{APP}/no",
        )
        [session] = fake.objects("checkout.session")
        assert checkout.url == session["url"]
        customer = engine.stripe_customer_id(account.id)
        assert customer is not None
        assert customer.startswith("cus_")
        assert (session["customer"], session["amount_total"], session["currency"]) == (
            customer,
            44100,
            "usd",
        )
        assert engine.subscription(account.id).plan == "free"
        assert _outbox(engine, account.id, "invoice.paid") == []

        # The buyer pays. Stripe made the payment's events before the session's; they arrive
        # out of that order, the session's first, and each twice.
        fake.complete_checkout(session["id"])
        [completed] = world.events("checkout.session.completed")
        created = world.events()
        paying = ("charge.succeeded", "payment_intent.succeeded")
        payment = [e for e in created if e["type"] in paying]
        assert sorted(e["type"] for e in payment) == list(paying)
        assert created.index(completed) > max(created.index(e) for e in payment)
        deliveries = [completed["id"], *(e["id"] for e in payment)] * 2
        receipts = [world.deliver(event_id) for event_id in deliveries]
        assert [(r.type, r.applied) for r in receipts if r.event_id == completed["id"]] == [
            ("checkout.session.completed", True),
            ("checkout.session.completed", False),
        ]
        assert [r.applied for r in receipts] == [True] + [False] * (len(receipts) - 1)

        # Pro at once, one invoice of $441.00 paid, mirrored on Stripe, charged once.
        subscription = engine.subscription(account.id)
        assert (subscription.plan, subscription.billing_interval, subscription.status) == (
            "pro",
            "yearly",
            "active",
        )
        assert subscription.current_period.end == JAN_2027
        assert engine.get_checkout(checkout.id).status == "paid"
        [upgrade] = [i for i in engine.invoices(account.id) if i.total > 0]
        assert upgrade.number is not None
        assert (upgrade.total, upgrade.status, upgrade.plan) == (
            Decimal("441.00"),
            InvoiceStatus.PAID,
            "pro",
        )
        [twin] = world.twins()
        assert twin["metadata"]["meterstack_invoice"] == upgrade.number
        assert (twin["status"], twin["total"], twin["customer"]) == ("paid", 44100, customer)
        assert _charges(world) == [(44100, "succeeded")]
        assert len(fake.objects("invoice")) == 1
        paid_events = _outbox(engine, account.id, "invoice.paid")
        assert [e["invoice"]["number"] for e in paid_events] == [upgrade.number]
        assert _outbox(engine, account.id, "subscription.updated")[-1]["plan"] == "pro"
        # The upgrade is no collection: it was paid by the checkout.
        assert engine.collections.run().attempted == 0

        # Pro's objects: 5 MCP workspaces (Free allows 3), oldest first.
        workspaces = []
        for _ in range(5):
            clock.advance(timedelta(minutes=1))
            workspaces.append(engine.create_resource(account.id, "mcp_workspaces").id)

        # A year later the renewal is issued; its payment on Stripe is declined four times.
        _move(world, clock, JAN_2027)
        renewals = [i for i in engine.close_period() if i.account_id == account.id]
        [renewal] = [i for i in renewals if i.total > 0]
        assert renewal.number is not None
        number = renewal.number
        assert (renewal.plan, renewal.total, renewal.status) == (
            "pro",
            Decimal("441.00"),
            InvoiceStatus.FINALIZED,
        )
        for _ in range(4):
            fake.decline_next_charge(customer, decline_code="insufficient_funds")

        first = engine.collections.run()
        assert (first.opened, first.attempted, first.failed) == (1, 1, 1)
        subscription = engine.subscription(account.id)
        assert (subscription.plan, subscription.status) == ("pro", "past_due")
        assert engine.check_write(workspaces[4]).allowed  # access kept
        warning = engine.usage(account.id).payment_warning
        assert warning is not None
        assert (warning.status, warning.invoice_number) == ("past_due", number)
        assert warning.next_attempt_at == JAN_2027 + timedelta(days=3)
        assert engine.invoice(number).status is InvoiceStatus.FINALIZED
        twins = {t["metadata"]["meterstack_invoice"]: t for t in world.twins()}
        assert set(twins) == {upgrade.number, number}
        assert (twins[number]["status"], twins[number]["total"]) == ("open", 44100)
        assert twins[number]["metadata"]["meterstack_attempt"] == "1"
        assert _charges(world) == [(44100, "succeeded"), (44100, "failed")]
        failed = _outbox(engine, account.id, "invoice.payment_failed")
        assert [e["attempt"] for e in failed] == [1]
        assert "insufficient_funds" in failed[0]["reason"]
        updated = _outbox(engine, account.id, "subscription.updated")[-1]
        assert (updated["change"], updated["status"]) == ("past_due", "past_due")
        # Stripe's own report of the failed attempt, delivered twice, changes nothing more.
        stripe_failed = world.events("invoice.payment_failed")
        assert len(stripe_failed) == 1
        receipts = [world.deliver(stripe_failed[0]["id"]) for _ in range(2)]
        assert [(r.used, r.applied) for r in receipts] == [(True, False), (True, False)]
        assert engine.subscription(account.id).status == "past_due"
        assert len(_outbox(engine, account.id, "invoice.payment_failed")) == 1

        # Retries 3, 5 and 7 days after the first failure, and none between.
        made: list[int] = []
        for day in range(1, 8):
            _move(world, clock, JAN_2027 + timedelta(days=day))
            if engine.collections.run().attempted:
                made.append(day)
            if day < 7:
                assert engine.subscription(account.id).plan == "pro"
                assert engine.check_write(workspaces[4]).allowed
        assert made == [3, 5, 7]
        assert _charges(world) == [(44100, "succeeded")] + [(44100, "failed")] * 4
        assert len(world.twins()) == 2  # the retries paid the same Stripe invoice, never a new one
        failed = _outbox(engine, account.id, "invoice.payment_failed")
        assert [e["attempt"] for e in failed] == [1, 2, 3, 4]
        assert failed[-1]["next_attempt_at"] is None

        # After the last failure: the fallback plan, read-only beyond its limits (D13).
        subscription = engine.subscription(account.id)
        assert (subscription.plan, subscription.status) == ("free", "past_due")
        writable = [engine.check_write(resource_id).allowed for resource_id in workspaces]
        assert writable == [True, True, True, False, False]
        refused = engine.check_write(workspaces[3])
        assert (refused.code, refused.http_status) == (DecisionCode.READ_ONLY, 403)
        assert len(engine.resources(account.id, "mcp_workspaces")) == 5
        warning = engine.usage(account.id).payment_warning
        assert warning is not None
        assert (warning.status, warning.restores_plan, warning.attempts) == ("fallback", "pro", 4)
        assert _outbox(engine, account.id, "subscription.updated")[-1]["change"] == (
            "unpaid_fallback"
        )
        assert engine.invoice(number).status is InvoiceStatus.FINALIZED
        assert fake.object(twins[number]["id"])["status"] == "open"

        # The card works again; the operator's retry pays the open invoice on Stripe.
        _move(world, clock, JAN_2027 + timedelta(days=20))
        view = engine.collections.collect(number)
        assert view.collection.status is CollectionStatus.PAID
        assert [a.status for a in view.attempts] == [AttemptStatus.FAILED] * 4 + [
            AttemptStatus.PAID
        ]
        assert engine.invoice(number).status is InvoiceStatus.PAID
        assert fake.object(twins[number]["id"])["status"] == "paid"
        assert _charges(world) == [(44100, "succeeded")] + [(44100, "failed")] * 4 + [
            (44100, "succeeded")
        ]
        assert len(fake.objects("invoice")) == 2

        # Pro restored for the rest of its year, every object writable again.
        subscription = engine.subscription(account.id)
        assert (subscription.plan, subscription.billing_interval, subscription.status) == (
            "pro",
            "yearly",
            "active",
        )
        assert subscription.current_period.start == JAN_2027
        assert subscription.current_period.end == JAN_2028
        assert all(engine.check_write(resource_id).allowed for resource_id in workspaces)
        assert engine.usage(account.id).payment_warning is None
        paid_events = _outbox(engine, account.id, "invoice.paid")
        assert [e["invoice"]["number"] for e in paid_events] == [upgrade.number, number]
        restored = _outbox(engine, account.id, "subscription.updated")[-1]
        assert (restored["change"], restored["plan"], restored["status"]) == (
            "payment_recovered",
            "pro",
            "active",
        )

        # Stripe's report of that payment, delivered twice, changes nothing more.
        [stripe_paid] = [
            e
            for e in world.events("invoice.paid")
            if e["data"]["object"]["id"] == twins[number]["id"]
        ]
        receipts = [world.deliver(stripe_paid["id"]) for _ in range(2)]
        assert [(r.used, r.applied) for r in receipts] == [(True, False), (True, False)]
        assert len(_outbox(engine, account.id, "invoice.paid")) == 2
        assert engine.subscription(account.id).plan == "pro"
        assert engine.collections.run().attempted == 0
