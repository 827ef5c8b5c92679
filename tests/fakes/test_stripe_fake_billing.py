"""Invoices, collection, refunds, credit notes, disputes and the portal on the fake Stripe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe

from fakes.stripe import FakeStripeHandle, expanded


def _customer_with_card(
    fake: FakeStripeHandle, client: stripe.StripeClient
) -> tuple[stripe.Customer, str]:
    customer = client.v1.customers.create(params={"email": "ops@aerostack.example"})
    method = fake.add_card(customer.id)
    return customer, method["id"]


def _mirrored_invoice(
    client: stripe.StripeClient, customer: str, *, currency: str = "usd", **extra: Any
) -> stripe.Invoice:
    params: Any = {
        "customer": customer,
        "currency": currency,
        "auto_advance": False,
        "collection_method": "charge_automatically",
        "metadata": {"meterstack_invoice": "INV-2026-0001"},
    } | extra
    invoice = client.v1.invoices.create(params=params)
    client.v1.invoice_items.create(
        params={
            "customer": customer,
            "invoice": invoice.id,
            "amount": 44100 if currency == "usd" else 5000,
            "currency": currency,
            "description": "Pro, yearly",
        }
    )
    return client.v1.invoices.add_lines(
        invoice.id,
        params={
            "lines": [
                {
                    "description": "Tokens over the allowance",
                    "price_data": {
                        "currency": currency,
                        "unit_amount": 150 if currency == "usd" else 15,
                        "product_data": {"name": "Tokens"},
                    },
                    "quantity": 3,
                }
            ]
        },
    )


def test_an_invoice_is_drafted_finalized_and_paid_off_session(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    draft = _mirrored_invoice(client, customer.id)
    assert (draft.status, draft.total, draft.amount_due) == ("draft", 44550, 44550)
    assert len(draft.lines.data) == 2
    assert draft.number is None

    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert opened.status == "open"
    assert opened.number == f"{customer.invoice_prefix}-0001"
    assert opened.next_payment_attempt is None  # auto_advance is off: no attempt of Stripe's

    paid = client.v1.invoices.pay(
        draft.id, params={"payment_method": method, "off_session": True, "expand": ["payments"]}
    )
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 44550, 0)
    assert paid.payments is not None
    payment = paid.payments.data[0]
    assert (payment.status, payment.amount_paid) == ("paid", 44550)
    intent = client.v1.payment_intents.retrieve(
        str(payment.payment.payment_intent), params={"expand": ["latest_charge"]}
    )
    assert expanded(intent.latest_charge, stripe.Charge).amount == 44550
    types = [e["type"] for e in fake_stripe.events()]
    assert {"invoice.finalized", "invoice.paid", "invoice.payment_succeeded"} <= set(types)
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(draft.id)


def test_a_declined_attempt_leaves_the_invoice_open_until_paid(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    invoice = _mirrored_invoice(client, customer.id)
    client.v1.invoices.finalize_invoice(invoice.id)
    fake_stripe.decline_next_charge(customer.id, decline_code="insufficient_funds")

    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    assert declined.value.http_status == 402
    assert (declined.value.code, declined.value.error and declined.value.error.decline_code) == (
        "card_declined",
        "insufficient_funds",
    )
    assert declined.value.error is not None
    intent = declined.value.error.payment_intent
    assert intent is not None
    assert (intent.status, intent.last_payment_error and intent.last_payment_error.code) == (
        "requires_payment_method",
        "card_declined",
    )
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count, after.attempted) == ("open", 1, True)
    failed = fake_stripe.events("invoice.payment_failed")
    assert [e["data"]["object"]["id"] for e in failed] == [invoice.id]

    retried = client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    assert (retried.status, retried.attempt_count) == ("paid", 2)
    intents = {p["payment"]["payment_intent"] for p in fake_stripe.objects("invoice_payment")}
    assert len(intents) == 1  # every attempt confirms the invoice's one PaymentIntent


def test_a_declining_card_and_a_missing_method(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={})
    invoice = _mirrored_invoice(client, customer.id)
    with pytest.raises(stripe.InvalidRequestError, match="no attached payment source"):
        client.v1.invoices.pay(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).status == "open"  # pay finalized it
    failing = fake_stripe.add_card(customer.id, card="chargeCustomerFail")
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)  # the customer's default method
    with pytest.raises(stripe.CardError):
        client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    assert failing["card"]["last4"] == "0341"


def test_void_and_search_by_metadata(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer, _ = _customer_with_card(fake_stripe, client)
    first = _mirrored_invoice(client, customer.id)
    client.v1.invoices.finalize_invoice(first.id)
    voided = client.v1.invoices.void_invoice(first.id)
    assert voided.status == "void"
    second = _mirrored_invoice(client, customer.id, metadata={"meterstack_invoice": "INV-2"})

    found = client.v1.invoices.search(
        params={"query": "metadata['meterstack_invoice']:'INV-2026-0001' AND status:'void'"}
    )
    assert [i.id for i in found.data] == [first.id]
    drafts = client.v1.invoices.list(params={"customer": customer.id, "status": "draft"})
    assert [i.id for i in drafts.data] == [second.id]
    with pytest.raises(stripe.InvalidRequestError, match="only void open or uncollectible"):
        client.v1.invoices.void_invoice(second.id)
    deleted = client.v1.invoices.delete(second.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.retrieve(second.id)


def test_auto_advance_finalizes_and_charges_on_the_fakes_clock(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer, _ = _customer_with_card(fake_stripe, client)
    invoice = _mirrored_invoice(client, customer.id, auto_advance=True)
    fake_stripe.advance_clock(timedelta(minutes=59))
    assert client.v1.invoices.retrieve(invoice.id).status == "draft"
    fake_stripe.advance_clock(timedelta(minutes=1))
    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    fake_stripe.advance_clock(timedelta(hours=1))
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_a_credit_note_on_a_paid_invoice_refunds_the_charge(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    invoice = _mirrored_invoice(client, customer.id)
    client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    with pytest.raises(stripe.InvalidRequestError, match="must equal the credit note amount"):
        client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 450})
    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 450, "refund_amount": 450, "reason": "duplicate"}
    )
    assert (note.type, note.status, note.total) == ("post_payment", "issued", 450)
    charge = fake_stripe.objects("charge")[0]
    refreshed = client.v1.charges.retrieve(charge["id"])
    assert (refreshed.amount_refunded, refreshed.refunded) == (450, False)
    refund = client.v1.refunds.retrieve(str(note.refunds[0].refund))
    assert refund.amount == 450
    rest = client.v1.refunds.create(params={"charge": charge["id"]})
    assert rest.amount == 44100
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.refunds.create(params={"charge": charge["id"]})
    assert again.value.code == "charge_already_refunded"


def test_a_credit_note_on_an_open_invoice_lowers_what_is_due(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    invoice = _mirrored_invoice(client, customer.id)
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 550})
    lowered = client.v1.invoices.retrieve(invoice.id)
    assert (lowered.amount_due, lowered.pre_payment_credit_notes_amount) == (44000, 550)
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    assert paid.amount_paid == 44000


def test_disputes_open_and_close_through_events(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": method,
            "confirm": True,
            "off_session": True,
        }
    )
    dispute = fake_stripe.open_dispute(str(intent.latest_charge))
    assert (dispute["status"], dispute["amount"], dispute["payment_intent"]) == (
        "needs_response",
        2000,
        intent.id,
    )
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refused.value.code == "charge_disputed"
    lost = client.v1.disputes.close(dispute["id"])
    assert lost.status == "lost"
    types = [e["type"] for e in fake_stripe.events() if e["type"].startswith("charge.dispute")]
    assert types == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]
    other = fake_stripe.open_dispute(
        str(
            client.v1.payment_intents.create(
                params={
                    "amount": 900,
                    "currency": "usd",
                    "customer": customer.id,
                    "payment_method": method,
                    "confirm": True,
                }
            ).latest_charge
        )
    )
    assert fake_stripe.close_dispute(other["id"], won=True)["status"] == "won"
    assert (
        fake_stripe.events("charge.dispute.funds_reinstated")[0]["data"]["object"]["id"]
        == (other["id"])
    )


def test_zero_decimal_currencies_pass_through_in_their_minor_unit(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer, method = _customer_with_card(fake_stripe, client)
    invoice = _mirrored_invoice(client, customer.id, currency="jpy")
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": method})
    assert (paid.currency, paid.total, paid.amount_paid) == ("jpy", 5045, 5045)
    charge = fake_stripe.objects("charge")[0]
    assert (charge["currency"], charge["amount"]) == ("jpy", 5045)  # yen, not hundredths
    with pytest.raises(stripe.InvalidRequestError) as small:
        client.v1.payment_intents.create(params={"amount": 49, "currency": "jpy"})
    assert small.value.code == "amount_too_small"


def test_the_portal_needs_a_configuration_and_keeps_its_features(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={})
    with pytest.raises(stripe.InvalidRequestError, match="default configuration"):
        client.v1.billing_portal.sessions.create(params={"customer": customer.id})
    configuration = client.v1.billing_portal.configurations.create(
        params={
            "features": {
                "invoice_history": {"enabled": True},
                "payment_method_update": {"enabled": True},
                "subscription_update": {"enabled": False},
                "subscription_cancel": {"enabled": False},
            },
            "default_return_url": "https://app.example/billing",
        }
    )
    features = configuration.features
    assert features.invoice_history.enabled
    assert features.payment_method_update.enabled
    assert not features.subscription_update.enabled
    assert not features.customer_update.enabled
    session = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "configuration": configuration.id}
    )
    assert session.id.startswith("bps_")
    assert session.url.startswith(fake_stripe.url)
    assert session.return_url == "https://app.example/billing"
