"""Packs bought through Stripe Checkout on the fake Stripe, both backends (A6, D11, B11): a
payment-mode session of the pack's price, the capacity granted once whatever the deliveries
and their order, and nothing granted for a completion that is not paid yet."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from stripe_support import StripeWorld, stripe_world

from meterstack import Engine, ManualClock
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.records.payments import Checkout

EngineFactory = Callable[..., Engine]

#: AgentStack's small logic engine package: +10,000 calls every period, $5.00 once (A6).
PACK = "logic_engine_small"
METER = "logic_engine_calls"
STARTER_LIMIT = 50_000


def _limit(engine: Engine, account_id: str) -> int | None:
    return engine.usage(account_id).items[METER].limit


def _paid(engine: Engine, account_id: str) -> list[Invoice]:
    return [
        invoice
        for invoice in engine.invoices(account_id)
        if invoice.total > 0 and invoice.status is InvoiceStatus.PAID
    ]


def _bought(world: StripeWorld, account_id: str) -> tuple[Checkout, str]:
    """A customer's purchase of the pack: a hosted checkout on Stripe; its session's id."""
    bought = world.engine.purchase_pack(account_id, PACK)
    assert isinstance(bought, Checkout)  # Stripe needs the buyer on its page first (D11)
    [session] = world.fake.objects("checkout.session")
    return bought, session["id"]


def test_a6_d11_a_pack_bought_on_stripe_checkout_is_its_price_and_raises_the_limit_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock, catalog="agentstack") as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="starter").id
        checkout, session_id = _bought(world, account)

        [session] = fake.objects("checkout.session")
        assert checkout.url == session["url"]
        customer = engine.stripe_customer_id(account)
        assert customer is not None
        assert (session["customer"], session["client_reference_id"]) == (customer, checkout.id)
        # One-time payment of the pack's price in minor units: $5.00 is 500 cents.
        assert (session["mode"], session["amount_total"], session["currency"]) == (
            "payment",
            500,
            "usd",
        )
        assert _limit(engine, account) == STARTER_LIMIT  # nothing until paid
        assert _paid(engine, account) == []

        fake.complete_checkout(session_id)
        # Every event twice, in reverse order: the payment's events before the completion.
        deliveries = [e["id"] for e in reversed(world.events()) for _ in range(2)]
        assert world.events()[-1]["type"] == "checkout.session.completed"
        receipts = [world.deliver(event_id) for event_id in deliveries]

        completed = [r for r in receipts if r.type == "checkout.session.completed"]
        assert [r.applied for r in completed] == [True, False]
        assert sum(r.applied for r in receipts) == 1
        assert _limit(engine, account) == STARTER_LIMIT + 10_000
        [invoice] = _paid(engine, account)
        assert invoice.total == Decimal("5.00")
        assert [line.derivation["pack"] for line in invoice.lines] == [PACK]
        assert engine.get_checkout(checkout.id).status == "paid"
        # The card was charged once, by the checkout.
        assert [c["amount"] for c in fake.objects("charge")] == [500]

        # Delivered yet again later: the capacity is granted once, one invoice is paid.
        for event in world.events():
            assert not world.deliver(event["id"]).applied
        assert _limit(engine, account) == STARTER_LIMIT + 10_000
        assert len(_paid(engine, account)) == 1


def test_a6_b11_an_unpaid_pack_completion_changes_nothing_until_the_debit_succeeds(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    with stripe_world(open_engine, clock, catalog="agentstack") as world:
        engine, fake = world.engine, world.fake
        account = engine.create_account(plan="starter").id
        checkout, session_id = _bought(world, account)

        fake.complete_checkout(session_id, outcome="processing")  # a bank debit, not paid yet
        [completed] = world.events("checkout.session.completed")
        for _ in range(2):
            receipt = world.deliver(completed["id"])
            assert receipt.applied is False
        assert _limit(engine, account) == STARTER_LIMIT
        assert _paid(engine, account) == []
        assert engine.get_checkout(checkout.id).status == "open"

        fake.settle_checkout(session_id, succeeded=True)
        [succeeded] = world.events("checkout.session.async_payment_succeeded")
        assert world.deliver(succeeded["id"]).applied
        assert world.deliver(succeeded["id"]).applied is False
        assert world.deliver(completed["id"]).applied is False
        assert _limit(engine, account) == STARTER_LIMIT + 10_000
        [invoice] = _paid(engine, account)
        assert invoice.total == Decimal("5.00")
