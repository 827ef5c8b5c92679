"""Dunning's collections made on the fake Stripe, on both backends (D10, D29)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from stripe_support import StripeWorld, stripe_world

from meterstack import Engine, ManualClock
from meterstack.records.invoicing import InvoiceStatus

EngineFactory = Callable[..., Engine]
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def _move(world: StripeWorld, clock: ManualClock, to: datetime) -> None:
    """Both clocks to ``to``: meterstack's and the fake Stripe's, which signs webhooks."""
    world.fake.advance_clock(to - clock.now())
    clock.set(to)


def test_d29_a_declined_renewal_is_past_due_and_paid_by_the_retry_on_stripe(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock) as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="pro")
        engine.portal_url(account.id)  # the customer opens the portal and adds a card
        customer = engine.stripe_customer_id(account.id)
        assert customer is not None
        fake.add_card(customer)
        opening = engine.collections.run()
        assert (opening.opened, opening.paid) == (1, 1)

        _move(world, clock, FEB)
        [renewal] = [i for i in engine.close_period() if i.account_id == account.id]
        assert renewal.total == Decimal("49.00")
        fake.decline_next_charge(customer, decline_code="insufficient_funds")
        first = engine.collections.run()
        assert (first.attempted, first.failed) == (1, 1)
        assert engine.subscription(account.id).status == "past_due"
        # Stripe's report of the same failed attempt changes nothing more.
        for event in world.events("invoice.payment_failed"):
            world.deliver(event["id"])
        assert engine.subscription(account.id).status == "past_due"

        _move(world, clock, FEB + timedelta(days=3))
        assert engine.collections.run().paid == 1
        for event in world.events("invoice.paid"):
            world.deliver(event["id"])

        assert engine.invoice(str(renewal.number)).status is InvoiceStatus.PAID
        assert (engine.subscription(account.id).plan, engine.subscription(account.id).status) == (
            "pro",
            "active",
        )
        twins = {t["metadata"]["meterstack_invoice"]: t for t in world.twins()}
        assert twins[str(renewal.number)]["status"] == "paid"
        assert twins[str(renewal.number)]["total"] == 4900
        assert twins[str(renewal.number)]["metadata"]["meterstack_attempt"] == "2"
        charges = [(c["amount"], c["status"]) for c in fake.objects("charge")]
        assert charges == [(4900, "succeeded"), (4900, "failed"), (4900, "succeeded")]
