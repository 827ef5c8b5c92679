"""Money moved on Stripe, on both backends, against the fake Stripe spoken to by the real
library: Connect onboarding and payouts (B11, D23), deposit refunds (D24), credit notes of paid
invoices, lost disputes, and amounts in a zero-decimal currency."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from fakes.stripe import FakeStripeHandle, serve
from fakes.stripe.handle import WebhookEndpoint
from meterstack import Engine, ManualClock
from meterstack.records.payments import (
    Collected,
    PaymentEvent,
    PayoutRequest,
    RefundRequest,
)
from meterstack.services.payments.stripe_client import StripeSettings, stripe_client
from meterstack.services.payments.stripe_connect import PAYOUT_KEY, connect_account
from meterstack.services.payments.stripe_connect import pay_out as transfer_payout
from meterstack.services.payments.stripe_provider import StripeAccount, StripeProvider
from meterstack.services.payments.stripe_refunds import REFUND_KEY, refund_payment

PUBLIC = "https://app.aerostack.example"
EngineFactory = Callable[..., Engine]
#: Nothing listens here: the tests post the fake's signed events to the engine themselves.
UNUSED = "http://127.0.0.1:9/webhooks/stripe"
#: Where no Stripe answers (the discard port on loopback: connections are refused).
UNREACHABLE = "http://127.0.0.1:9"


@dataclass
class Stripe:
    fake: FakeStripeHandle
    engine: Engine
    account: WebhookEndpoint
    connect: WebhookEndpoint

    @property
    def provider(self) -> StripeProvider:
        provider = self.engine.payment_provider
        assert isinstance(provider, StripeProvider)
        return provider

    def deliver(self, event_type: str, *, reverse: bool = False) -> list[Any]:
        """Post the fake's events of a type to the engine, signed as Stripe signs them."""
        events = self.fake.events(event_type)
        receipts = []
        for event in reversed(events) if reverse else events:
            endpoint = self.connect if event.get("account") else self.account
            payload, signature = self.fake.signed_event(event["id"], endpoint.id)
            receipts.append(self.engine.receive_stripe_webhook(payload, signature))
        return receipts

    def deposit(self, account_id: str, amount: str) -> str:
        """A deposit paid by card on Stripe's checkout; its ledger entry."""
        checkout = self.engine.deposit(account_id, Decimal(amount), success_url=f"{PUBLIC}/ok")
        [session] = [
            s
            for s in self.fake.objects("checkout.session")
            if s["client_reference_id"] == checkout.id
        ]
        self.fake.complete_checkout(session["id"])
        self.deliver("checkout.session.completed")
        [entry] = [
            e
            for e in self.engine.wallet_transactions(account_id).entries
            if e.kind == "deposit" and e.reference == checkout.id
        ]
        return entry.id

    def charge_of(self, account_id: str) -> dict[str, Any]:
        customer = self.engine.stripe_customer_id(account_id)
        charges = [c for c in self.fake.objects("charge") if c["customer"] == customer]
        assert len(charges) == 1
        return charges[0]


@pytest.fixture
def stripe_money(open_engine: EngineFactory, clock: ManualClock) -> Iterator[Stripe]:
    with serve(start=clock.now()) as fake:
        account = fake.add_webhook_endpoint(UNUSED)
        connect = fake.add_webhook_endpoint(UNUSED, connect=True)
        settings = StripeSettings(
            fake.api_key,
            account.secret,
            api_base=fake.url,
            max_network_retries=0,
            connect_webhook_secret=connect.secret,
        )
        engine = open_engine(
            "aerostack",
            provider=StripeAccount(settings, return_url=f"{PUBLIC}/billing"),
            return_url_origins=[PUBLIC],
        )
        yield Stripe(fake, engine, account, connect)


def _creator_with_earnings(stripe: Stripe, amount: str = "5.00", calls: int = 3) -> str:
    engine = stripe.engine
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal(amount))
    for _ in range(calls):
        assert engine.charge(buyer.id, "marketplace_tool_call", item_id=tool.id).allowed
    return creator.id


def _onboard(stripe: Stripe, creator_id: str) -> str:
    url = stripe.engine.onboarding_link(
        creator_id, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done"
    )
    assert url.startswith(stripe.fake.url)
    known = stripe.engine.creator_account(creator_id)
    assert known is not None
    assert known.payouts_enabled is False
    stripe.fake.complete_onboarding(known.provider_account)
    return known.provider_account


# ---------------------------------------------------------------------- Connect payouts


def test_b11_d23_a_creator_is_paid_once_by_two_overlapping_payout_runs(
    stripe_money: Stripe,
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    creator = _creator_with_earnings(stripe)  # $12.00 earned
    url = engine.onboarding_link(
        creator, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done"
    )
    again = engine.onboarding_link(
        creator, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done"
    )
    assert url != again  # a fresh link each time, one account
    assert len(stripe.fake.objects("account")) == 1
    assert engine.run_payouts() == []  # not onboarded: the earnings wait
    assert stripe.fake.objects("transfer") == []

    known = engine.creator_account(creator)
    assert known is not None
    stripe.fake.complete_onboarding(known.provider_account)
    [receipt] = stripe.deliver("account.updated")
    assert (receipt.used, receipt.applied) == (True, True)
    assert [r.applied for r in stripe.deliver("account.updated")] == [False]  # once
    assert engine.creator_account(creator).payouts_enabled is True  # type: ignore[union-attr]

    provider = stripe.provider
    paying = provider.pay_out
    overlapping: list[object] = []

    def pay_out_while_another_run_starts(request: PayoutRequest) -> Collected:
        if not overlapping:
            overlapping.append(engine.run_payouts())
        return paying(request)

    provider.pay_out = pay_out_while_another_run_starts  # type: ignore[method-assign]
    [paid] = engine.run_payouts()
    assert overlapping == [[]]
    assert engine.run_payouts() == []
    [transfer] = stripe.fake.objects("transfer")
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        1200,
        "usd",
        known.provider_account,
    )
    assert (transfer["transfer_group"], transfer["metadata"][PAYOUT_KEY]) == (paid.id, paid.id)
    assert engine.earnings(creator) == 0


def test_d23_a_retry_after_stripe_forgot_the_key_finds_the_transfer_by_its_group(
    stripe_money: Stripe, clock: ManualClock
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    creator = _creator_with_earnings(stripe)
    account = _onboard(stripe, creator)
    stripe.deliver("account.updated")
    provider = stripe.provider
    paying = provider.pay_out

    def transfer_then_die(request: PayoutRequest) -> Collected:
        paying(request)
        raise ConnectionResetError("the run died before it recorded the transfer")

    # A run transferred it, then died before recording that it had.
    provider.pay_out = transfer_then_die  # type: ignore[method-assign]
    with pytest.raises(ConnectionResetError):
        engine.run_payouts()
    provider.pay_out = paying  # type: ignore[method-assign]
    [made] = stripe.fake.objects("transfer")
    assert made["destination"] == account
    assert engine.earnings(creator) == 0  # taken by the pending payout
    stripe.fake.advance_clock(timedelta(hours=25))  # Stripe forgets the idempotency key
    clock.advance(timedelta(hours=25))

    [settled] = engine.run_payouts()
    assert (settled.id, settled.attempts) == (made["transfer_group"], 2)
    assert len(stripe.fake.objects("transfer")) == 1
    transfers = [r for r in stripe.fake.requests() if r["path"] == "/v1/transfers"]
    # The first attempt listed the group and transferred; the retry listed it and found it.
    assert [r["method"] for r in transfers] == ["GET", "POST", "GET"]


def test_d23_a_transfer_stripe_refuses_leaves_the_payout_pending(stripe_money: Stripe) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    creator = _creator_with_earnings(stripe)
    engine.onboarding_link(creator, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done")
    known = engine.creator_account(creator)
    assert known is not None
    # meterstack believes the account can be paid, Stripe does not (onboarding unfinished).
    engine.apply_payment_event(
        PaymentEvent(
            "evt_early",
            "creator.updated",
            {"provider_account": known.provider_account, "payouts_enabled": True},
        )
    )
    assert engine.run_payouts() == []
    assert stripe.fake.objects("transfer") == []
    assert engine.earnings(creator) == 0  # taken by the pending payout, not lost

    stripe.fake.complete_onboarding(known.provider_account)
    [paid] = engine.run_payouts()
    assert (paid.amount, paid.attempts) == (Decimal(12), 2)
    [transfer] = stripe.fake.objects("transfer")
    assert transfer["transfer_group"] == paid.id


# ---------------------------------------------------------------------- refunds (D24)


def test_d24_a_deposit_refund_is_a_stripe_refund_of_the_unspent_balance(
    stripe_money: Stripe,
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    account = engine.create_account(plan="pro")
    entry = stripe.deposit(account.id, "20.00")
    assert engine.wallet(account.id).balance == 20
    assert [r.applied for r in stripe.deliver("checkout.session.completed")] == [False]
    engine.charge(account.id, "agent_execution", 500)  # $5.00 spent

    assert engine.refund_deposit(entry, Decimal("15.00")) == 0
    [refund] = stripe.fake.objects("refund")
    charge = stripe.charge_of(account.id)
    assert (refund["amount"], refund["charge"], refund["status"]) == (
        1500,
        charge["id"],
        "succeeded",
    )
    [recorded] = engine.refunds("deposit", entry)
    assert refund["metadata"][REFUND_KEY] == recorded.id
    assert recorded.status == "refunded"
    assert recorded.payment == charge["payment_intent"]


def test_d24_a_refund_retried_after_stripe_forgot_the_key_is_not_made_twice(
    stripe_money: Stripe,
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    account = engine.create_account(plan="pro")
    entry = stripe.deposit(account.id, "10.00")
    intent = stripe.charge_of(account.id)["payment_intent"]
    request = RefundRequest(account.id, "deposit", intent, Decimal("4.00"), "USD", "rf_1")
    assert refund_payment(stripe.provider.client, request).paid
    stripe.fake.advance_clock(timedelta(hours=25))
    again = RefundRequest(account.id, "deposit", intent, Decimal("4.00"), "USD", "rf_1", 2)
    assert refund_payment(stripe.provider.client, again).paid
    assert [r["amount"] for r in stripe.fake.objects("refund")] == [400]
    assert engine.wallet(account.id).balance == 10  # the direct calls moved no ledger money
    assert entry


def test_b11_a_credit_note_of_a_paid_invoice_refunds_its_stripe_charge(
    stripe_money: Stripe, clock: ManualClock
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    account = engine.create_account(plan="pro")
    stripe.deposit(account.id, "5.00")  # saves the card
    clock.advance(timedelta(days=31))
    stripe.fake.advance_clock(timedelta(days=31))
    [invoice] = [i for i in engine.close_period() if i.account_id == account.id]
    assert invoice.number is not None
    assert stripe.provider.collect_invoice(invoice, 1).paid
    engine.pay_invoice(invoice.number)

    note = engine.credit_invoice(invoice.number, Decimal("10.00"), "an outage")
    assert note.refund.status == "refunded"
    [credit] = stripe.fake.objects("credit_note")
    assert (credit["amount"], credit["type"], credit["memo"]) == (1000, "post_payment", "an outage")
    assert credit["metadata"][REFUND_KEY] == note.refund.id
    engine.void_invoice(invoice.number)
    refunded = sorted(r["amount"] for r in stripe.fake.objects("refund"))
    total = int(invoice.total * 100)
    assert refunded == sorted([1000, total - 1000])
    assert len(stripe.fake.objects("credit_note")) == 2


# ---------------------------------------------------------------------- disputes


def test_b11_d24_a_lost_dispute_on_a_spent_deposit_zeroes_the_wallet_and_suspends_it(
    stripe_money: Stripe,
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    account = engine.create_account(plan="pro")
    stripe.deposit(account.id, "20.00")
    assert engine.charge(account.id, "agent_execution", 1500).allowed  # $15.00 spent
    dispute = stripe.fake.open_dispute(stripe.charge_of(account.id)["id"])
    stripe.deliver("charge.dispute.created")
    assert engine.wallet(account.id).balance == 5  # open: nothing decided yet
    stripe.fake.close_dispute(dispute["id"], won=False)
    [lost] = stripe.deliver("charge.dispute.closed")
    assert (lost.used, lost.applied) == (True, True)
    assert [r.applied for r in stripe.deliver("charge.dispute.closed", reverse=True)] == [False]

    view = engine.wallet(account.id)
    assert (view.balance, view.settings.owed) == (Decimal(0), Decimal(15))
    assert engine.charge(account.id, "bot_message").code == "wallet_suspended"
    stripe.deposit(account.id, "20.00")
    view = engine.wallet(account.id)
    assert (view.balance, view.settings.owed) == (Decimal(5), Decimal(0))
    assert engine.charge(account.id, "bot_message").allowed


def test_b11_a_won_dispute_is_recorded_and_takes_nothing(stripe_money: Stripe) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    account = engine.create_account(plan="pro")
    checkout = stripe.deposit(account.id, "10.00")
    dispute = stripe.fake.open_dispute(stripe.charge_of(account.id)["id"])
    stripe.fake.close_dispute(dispute["id"], won=True)
    # The decision arrives first: the dispute is recorded as opened, then won.
    assert [r.applied for r in stripe.deliver("charge.dispute.closed")] == [True]
    assert [r.applied for r in stripe.deliver("charge.dispute.created")] == [False]
    assert engine.wallet(account.id).balance == 10
    assert engine.wallet(account.id).settings.owed == 0
    [recorded] = engine.disputes(account.id)
    assert (recorded.id, recorded.status, recorded.source, recorded.amount) == (
        dispute["id"],
        "won",
        "deposit",
        Decimal(10),
    )
    assert checkout


# ---------------------------------------------------------------------- minor units


def test_b11_a_payout_and_a_refund_in_yen_are_sent_in_yen(stripe_money: Stripe) -> None:
    stripe = stripe_money
    client = stripe.provider.client
    account = connect_account(client, "cr_jpy", "jp@example.com")
    stripe.fake.complete_onboarding(account)
    request = PayoutRequest("cr_jpy", Decimal("1500"), "JPY", "po_jpy", destination=account)
    assert transfer_payout(client, request).paid
    [transfer] = stripe.fake.objects("transfer")
    assert (transfer["amount"], transfer["currency"]) == (1500, "jpy")
    assert connect_account(client, "cr_jpy", None) == account  # found by its metadata
    with pytest.raises(ValueError, match="minor units"):
        transfer_payout(
            client, PayoutRequest("cr_jpy", Decimal("1500.5"), "JPY", "po_bad", destination=account)
        )


def test_d23_d24_stripe_unreachable_leaves_payouts_and_refunds_pending_then_sent_once(
    stripe_money: Stripe,
) -> None:
    stripe, engine = stripe_money, stripe_money.engine
    creator = _creator_with_earnings(stripe)
    _onboard(stripe, creator)
    stripe.deliver("account.updated")
    account = engine.create_account(plan="pro")
    entry = stripe.deposit(account.id, "10.00")
    provider = stripe.provider
    reachable = provider.client
    provider.client = stripe_client(
        StripeSettings("sk_test_down", "whsec_x", api_base=UNREACHABLE, max_network_retries=0)
    )

    assert engine.run_payouts() == []  # no error: the payout waits for the next run
    assert engine.refund_deposit(entry) == 0
    [pending] = engine.refunds("deposit", entry)
    assert pending.status == "pending"
    assert pending.failure is not None
    assert "Stripe did not complete the request" in pending.failure

    provider.client = reachable
    [paid] = engine.run_payouts()
    assert paid.attempts == 2
    [sent] = engine.send_refunds()
    assert (sent.id, sent.status, sent.attempts) == (pending.id, "refunded", 2)
    assert len(stripe.fake.objects("transfer")) == 1
    assert [r["amount"] for r in stripe.fake.objects("refund")] == [1000]
