"""Every object the fake serves conforms to the ``stripe`` library's resource classes."""

from __future__ import annotations

from typing import Any

from fakes.stripe import FakeStripeHandle
from fakes.stripe.shapes import conformance


def _everything(fake: FakeStripeHandle) -> None:
    """One of each object the fake makes."""
    client = fake.client()
    customer = client.v1.customers.create(params={"email": "a@example.com", "name": "A"})
    method = fake.add_card(customer.id)
    line: Any = {
        "price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "P"}},
        "quantity": 2,
    }
    paid = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer": customer.id,
            "line_items": [line],
            "payment_intent_data": {"setup_future_usage": "off_session"},
        }
    )
    fake.complete_checkout(paid.id)
    pending = client.v1.checkout.sessions.create(params={"mode": "payment", "line_items": [line]})
    fake.complete_checkout(pending.id, outcome="processing")
    setup = client.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer.id, "currency": "usd"}
    )
    fake.complete_checkout(setup.id)
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 1200, "currency": "usd"}
    )
    client.v1.invoices.pay(invoice.id, params={"payment_method": method["id"]})
    client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 100, "refund_amount": 100}
    )
    fake.open_dispute(fake.objects("charge")[0]["id"])
    client.v1.billing_portal.configurations.create(
        params={"features": {"invoice_history": {"enabled": True}}}
    )
    account = client.v1.accounts.create(
        params={"type": "express", "capabilities": {"transfers": {"requested": True}}}
    )
    fake.complete_onboarding(account.id)
    client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": account.id})
    client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]}
    )


def test_every_object_and_event_matches_its_library_class(fake_stripe: FakeStripeHandle) -> None:
    _everything(fake_stripe)
    objects = fake_stripe.objects()
    kinds = {obj["object"] for obj in objects}
    assert {
        "customer",
        "payment_method",
        "checkout.session",
        "payment_intent",
        "charge",
        "setup_intent",
        "invoice",
        "invoiceitem",
        "invoice_payment",
        "credit_note",
        "refund",
        "dispute",
        "billing_portal.configuration",
        "account",
        "transfer",
        "event",
        "webhook_endpoint",
    } <= kinds
    problems = [problem for obj in objects for problem in conformance(obj)]
    assert problems == []


def test_includable_lists_conform_too(fake_stripe: FakeStripeHandle) -> None:
    _everything(fake_stripe)
    session = next(s for s in fake_stripe.objects("checkout.session") if s["mode"] == "payment")
    invoice = fake_stripe.objects("invoice")[0]
    expanded = [
        fake_stripe.object(session["id"], expand=("line_items",))["line_items"]["data"][0],
        fake_stripe.object(invoice["id"], expand=("payments",))["payments"]["data"][0],
        invoice["lines"]["data"][0],
    ]
    assert [problem for obj in expanded for problem in conformance(obj)] == []
