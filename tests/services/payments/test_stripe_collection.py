"""Invoices mirrored and collected on the fake Stripe, reloads, the portal, minor units
(D10, D21, D29, B10)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from stripe_support import stripe_settings

from fakes.stripe import FakeStripeHandle, serve
from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.records.payments import CustomerDetails
from meterstack.services.payments.stripe_amounts import from_stripe_amount, to_stripe_amount
from meterstack.services.payments.stripe_provider import StripeProvider

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Directory:
    """The provider's customer directory, kept in a dict (the store's is tested end to end)."""

    def __init__(self) -> None:
        self.kept: dict[str, str] = {}
        self.known: dict[str, CustomerDetails] = {}
        self.sent: dict[str, CustomerDetails] = {}

    def customer_id(self, account_id: str) -> str | None:
        return self.kept.get(account_id)

    def remember(self, account_id: str, customer_id: str) -> str:
        return self.kept.setdefault(account_id, customer_id)

    def details(self, account_id: str) -> CustomerDetails:
        return self.known.get(account_id, CustomerDetails())

    def sent_details(self, account_id: str) -> CustomerDetails | None:
        return self.sent.get(account_id)

    def details_sent(self, account_id: str, details: CustomerDetails) -> None:
        self.sent[account_id] = details


@pytest.fixture
def fake() -> Iterator[FakeStripeHandle]:
    with serve(start=NOW) as handle:
        yield handle


@pytest.fixture
def provider(fake: FakeStripeHandle) -> StripeProvider:
    settings = stripe_settings(fake, "whsec_unused")
    return StripeProvider(settings, Directory(), return_url="https://app.example/billing")


def _invoice(number: str, currency: str, *amounts: str) -> Invoice:
    lines = tuple(
        InvoiceLine(
            position=position,
            kind="overage",
            description=f"Line {position}",
            item=None,
            quantity=Decimal(1),
            unit_price=Decimal(amount),
            amount=Decimal(amount),
        )
        for position, amount in enumerate(amounts, start=1)
    )
    return Invoice(
        id=f"inv_{number}",
        number=number,
        account_id="acct_1",
        status=InvoiceStatus.FINALIZED,
        currency=currency,
        period_key="2026-02",
        period_start=NOW - timedelta(days=28),
        period_end=NOW,
        created_at=NOW,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
    )


def _with_card(fake: FakeStripeHandle, provider: StripeProvider) -> str:
    customer = provider.customer_for("acct_1")
    fake.add_card(customer)
    return customer


def test_d10_amounts_are_stripe_minor_units_per_currency() -> None:
    assert to_stripe_amount(Decimal("441.00"), "USD") == 44100
    assert to_stripe_amount(Decimal("0.07"), "EUR") == 7
    assert to_stripe_amount(Decimal("5000"), "JPY") == 5000
    assert to_stripe_amount(Decimal("-12.50"), "USD") == -1250
    assert from_stripe_amount(44100, "usd") == Decimal("441.00")
    assert from_stripe_amount(5000, "jpy") == Decimal("5000")
    with pytest.raises(ValueError, match="minor units"):
        to_stripe_amount(Decimal("5000.5"), "JPY")
    with pytest.raises(ValueError, match="minor units"):
        to_stripe_amount(Decimal("1.005"), "USD")


def test_d29_a_jpy_invoice_is_mirrored_and_collected_in_yen(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    customer = _with_card(fake, provider)
    invoice = _invoice("INV-000042", "JPY", "4980", "20")

    collected = provider.collect_invoice(invoice, 1)

    assert (collected.paid, collected.key) == (True, "INV-000042:attempt-1")
    [twin] = fake.objects("invoice")
    assert (twin["currency"], twin["total"], twin["amount_paid"]) == ("jpy", 5000, 5000)
    assert (twin["customer"], twin["status"], twin["auto_advance"]) == (customer, "paid", False)
    assert twin["metadata"]["meterstack_invoice"] == "INV-000042"
    lines = fake.object(twin["id"], expand=("lines",))["lines"]["data"]
    assert sorted(line["amount"] for line in lines) == [20, 4980]
    assert [c["amount"] for c in fake.objects("charge")] == [5000]
    assert [c["currency"] for c in fake.objects("charge")] == ["jpy"]


def test_d29_a_retry_days_later_finds_the_first_collection_and_charges_nothing(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    _with_card(fake, provider)
    invoice = _invoice("INV-000043", "USD", "441.00")
    assert provider.collect_invoice(invoice, 1).paid
    assert provider.collect_invoice(invoice, 1).paid  # the same attempt again
    fake.advance_clock(timedelta(days=3))  # Stripe has forgotten every idempotency key
    assert provider.collect_invoice(invoice, 2).paid

    assert len(fake.objects("invoice")) == 1
    assert [c["amount"] for c in fake.objects("charge")] == [44100]


def test_d29_a_declined_attempt_is_an_outcome_and_the_next_one_pays(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    customer = _with_card(fake, provider)
    invoice = _invoice("INV-000044", "USD", "49.00", "12.50")
    fake.decline_next_charge(customer, decline_code="insufficient_funds")

    declined = provider.collect_invoice(invoice, 1)
    assert (declined.paid, declined.key) == (False, "INV-000044:attempt-1")
    assert declined.reason is not None
    assert "insufficient_funds" in declined.reason
    [twin] = fake.objects("invoice")
    assert (twin["status"], twin["total"]) == ("open", 6150)
    assert twin["metadata"]["meterstack_attempt"] == "1"

    fake.advance_clock(timedelta(days=3))
    assert provider.collect_invoice(invoice, 2).paid
    assert fake.object(twin["id"])["status"] == "paid"
    assert [c["status"] for c in fake.objects("charge")] == ["failed", "succeeded"]


def test_d29_without_a_card_nothing_is_charged(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    outcome = provider.collect_invoice(_invoice("INV-000045", "USD", "10.00"), 1)
    assert (outcome.paid, outcome.reason) == (False, "no payment method on file")
    assert provider.has_payment_method("acct_1") is False
    assert fake.objects("charge") == []


def test_d21_a_reload_is_collected_once_per_key(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    _with_card(fake, provider)
    assert provider.has_payment_method("acct_1")
    first = provider.collect("acct_1", Decimal("25.00"), "USD", "reload-7")
    again = provider.collect("acct_1", Decimal("25.00"), "USD", "reload-7")
    fake.advance_clock(timedelta(days=2))
    later = provider.collect("acct_1", Decimal("25.00"), "USD", "reload-7")

    assert (first.paid, again.paid, later.paid) == (True, True, True)
    assert [c["amount"] for c in fake.objects("charge")] == [2500]


def test_b4_one_customer_per_account_made_on_first_need(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    first = provider.customer_for("acct_1")
    assert provider.customer_for("acct_1") == first
    # A directory that lost the id (the first attempt failed to keep it) finds it on Stripe.
    forgetful = StripeProvider(provider.settings, Directory(), return_url=provider.return_url)
    assert forgetful.customer_for("acct_1") == first
    assert provider.customer_for("acct_2") != first
    customers = fake.objects("customer")
    assert sorted(c["metadata"]["meterstack_account"] for c in customers) == ["acct_1", "acct_2"]


def test_b4_the_customer_carries_the_accounts_email_and_name_and_their_changes(
    fake: FakeStripeHandle,
) -> None:
    directory = Directory()
    settings = stripe_settings(fake, "whsec_unused")
    provider = StripeProvider(settings, directory, return_url="https://app.example/billing")
    directory.known["acct_1"] = CustomerDetails("ops@aerostack.example", "Aerostack Ops")
    directory.known["acct_2"] = CustomerDetails(None, None)
    made = provider.customer_for("acct_1")
    anonymous = provider.customer_for("acct_2")
    customer = fake.object(made)
    assert (customer["email"], customer["name"]) == ("ops@aerostack.example", "Aerostack Ops")
    assert (fake.object(anonymous)["email"], fake.object(anonymous)["name"]) == (None, None)

    def updates() -> list[str]:
        return [
            r["path"]
            for r in fake.requests()
            if r["method"] == "POST" and r["path"].startswith("/v1/customers/")
        ]

    provider.customer_for("acct_1")
    assert updates() == []  # nothing changed: nothing sent
    directory.known["acct_2"] = CustomerDetails("new@aerostack.example", "Registered")
    assert provider.customer_for("acct_2") == anonymous
    assert provider.customer_for("acct_2") == anonymous
    assert updates() == [f"/v1/customers/{anonymous}"]  # sent once
    updated = fake.object(anonymous)
    assert (updated["email"], updated["name"]) == ("new@aerostack.example", "Registered")
    # A directory that lost the id finds the customer and gives it the details it lacks.
    forgetful = Directory()
    forgetful.known["acct_2"] = CustomerDetails("later@aerostack.example", None)
    again = StripeProvider(settings, forgetful, return_url=provider.return_url)
    assert again.customer_for("acct_2") == anonymous
    updated = fake.object(anonymous)
    assert (updated["email"], updated["name"]) == ("later@aerostack.example", "Registered")


def test_b10_the_portal_manages_cards_and_invoices_not_plans(
    fake: FakeStripeHandle, provider: StripeProvider
) -> None:
    customer = provider.customer_for("acct_1")
    url = provider.portal_url("acct_1")
    again = StripeProvider(provider.settings, Directory(), return_url=provider.return_url)
    again.portal_url("acct_1")

    [session, _] = fake.objects("billing_portal.session")
    assert url == session["url"]
    assert (session["customer"], session["return_url"]) == (customer, provider.return_url)
    [configuration] = fake.objects("billing_portal.configuration")
    features = configuration["features"]
    assert features["payment_method_update"]["enabled"] is True
    assert features["invoice_history"]["enabled"] is True
    assert features["subscription_update"]["enabled"] is False
    assert features["subscription_cancel"]["enabled"] is False
    assert session["configuration"] == configuration["id"]
