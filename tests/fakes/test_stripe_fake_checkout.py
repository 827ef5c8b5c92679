"""Checkout on the fake Stripe, driven by the real ``stripe`` library, and its webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from fakes.receiver import WebhookReceiver
from fakes.stripe import FakeStripeControlError, FakeStripeHandle, expanded, serve


def _pro_checkout(client: stripe.StripeClient, customer: str, **extra: Any) -> Any:
    params: Any = {
        "mode": "payment",
        "customer": customer,
        "client_reference_id": "acct_aerostack",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 44100,
                    "product_data": {"name": "Pro, yearly"},
                },
                "quantity": 1,
            }
        ],
        "payment_intent_data": {
            "setup_future_usage": "off_session",
            "metadata": {"meterstack_checkout": "chk_1"},
        },
        "metadata": {"meterstack_checkout": "chk_1"},
        "success_url": "https://app.example/billing?done=1",
        "cancel_url": "https://app.example/billing",
    }
    return client.v1.checkout.sessions.create(params=params | extra)


def _events(receiver: WebhookReceiver, secret: str) -> list[Any]:
    return [
        stripe.Webhook.construct_event(item.body.decode(), item.signature, secret)
        for item in receiver.received
    ]


def test_paid_checkout_saves_the_card_and_sends_signed_events(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    endpoint = fake_stripe.add_webhook_endpoint(webhook_receiver.url)
    customer = client.v1.customers.create(params={"email": "ops@aerostack.example"})
    session = _pro_checkout(client, customer.id)
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.payment_intent) == (
        "open",
        "unpaid",
        None,
    )
    assert session.amount_total == 44100
    assert session.url.startswith(fake_stripe.url)

    fake_stripe.complete_checkout(session.id)
    deliveries = fake_stripe.deliver()

    assert {d["status"] for d in deliveries} == {200}
    events = _events(webhook_receiver, endpoint.secret)
    types = [event.type for event in events]
    assert types[-1] == "checkout.session.completed"
    assert {"payment_intent.succeeded", "charge.succeeded", "payment_method.attached"} <= set(types)
    completed = events[-1].data.object
    assert completed.payment_status == "paid"
    assert completed.customer == customer.id
    assert completed.metadata["meterstack_checkout"] == "chk_1"
    assert events[-1].request.id is None  # the buyer did this, not an API call

    paid = client.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.payment_method", "line_items"]}
    )
    intent = expanded(paid.payment_intent, stripe.PaymentIntent)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 44100, "usd")
    assert intent.setup_future_usage == "off_session"
    assert expanded(intent.payment_method, stripe.PaymentMethod).customer == customer.id
    assert intent.metadata["meterstack_checkout"] == "chk_1"
    assert paid.line_items is not None
    assert paid.line_items.data[0].description == "Pro, yearly"


def test_a_forged_or_stale_signature_does_not_verify(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    endpoint = fake_stripe.add_webhook_endpoint(webhook_receiver.url)
    client.v1.customers.create(params={"email": "a@example.com"})
    fake_stripe.deliver()
    item = webhook_receiver.received[0]

    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(item.body.decode(), item.signature, "whsec_forged")
    tampered = item.body.replace(b"a@example.com", b"b@example.com")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(tampered.decode(), item.signature, endpoint.secret)


def test_signatures_carry_the_fakes_clock() -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with serve(start=an_hour_ago) as fake:
        endpoint = fake.add_webhook_endpoint("http://127.0.0.1:9/unused")
        fake.client().v1.customers.create(params={})
        event = fake.events("customer.created")[0]
        payload, signature = fake.signed_event(event["id"], endpoint.id)
    assert signature.startswith(f"t={int(an_hour_ago.timestamp())},v1=")
    with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
        stripe.Webhook.construct_event(payload.decode(), signature, endpoint.secret)
    verified = stripe.Webhook.construct_event(
        payload.decode(), signature, endpoint.secret, tolerance=2 * 60 * 60
    )
    assert verified.id == event["id"]


def test_an_unpaid_completion_settles_later_succeeded_or_failed(
    fake_stripe: FakeStripeHandle,
) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    first = _pro_checkout(client, customer.id)
    second = _pro_checkout(client, customer.id)

    completed = fake_stripe.complete_checkout(first.id, outcome="processing")
    assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")
    intent = client.v1.payment_intents.retrieve(completed["payment_intent"])
    assert intent.status == "processing"

    settled = fake_stripe.settle_checkout(first.id, succeeded=True)
    assert settled["payment_status"] == "paid"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"

    fake_stripe.complete_checkout(second.id, outcome="processing")
    failed = fake_stripe.settle_checkout(second.id, succeeded=False)
    assert failed["payment_status"] == "unpaid"

    types = [event["type"] for event in fake_stripe.events()]
    assert types.count("checkout.session.completed") == 2
    assert "checkout.session.async_payment_succeeded" in types
    assert "checkout.session.async_payment_failed" in types
    unpaid = next(e for e in fake_stripe.events("checkout.session.completed"))
    assert unpaid["data"]["object"]["payment_status"] == "unpaid"


def test_setup_mode_saves_a_card_without_charging(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "customer": customer.id,
            "currency": "usd",
            "success_url": "https://app.example/ok",
        }
    )
    assert session.payment_status == "no_payment_required"
    fake_stripe.complete_checkout(session.id)
    done = client.v1.checkout.sessions.retrieve(session.id, params={"expand": ["setup_intent"]})
    setup = expanded(done.setup_intent, stripe.SetupIntent)
    assert setup.status == "succeeded"
    methods = client.v1.customers.payment_methods.list(customer.id)
    assert [m.id for m in methods.data] == [setup.payment_method]
    assert fake_stripe.events("charge.succeeded") == []


def test_sessions_expire_by_request_or_after_a_day(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={})
    expired = client.v1.checkout.sessions.expire(_pro_checkout(client, customer.id).id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError, match="status in"):
        client.v1.checkout.sessions.expire(expired.id)

    left = _pro_checkout(client, customer.id)
    fake_stripe.advance_clock(timedelta(hours=23))
    assert client.v1.checkout.sessions.retrieve(left.id).status == "open"
    fake_stripe.advance_clock(timedelta(hours=1))
    assert client.v1.checkout.sessions.retrieve(left.id).status == "expired"
    assert len(fake_stripe.events("checkout.session.expired")) == 2
    with pytest.raises(FakeStripeControlError, match="expired"):
        fake_stripe.complete_checkout(left.id)


def test_checkout_refuses_what_stripe_refuses(fake_stripe: FakeStripeHandle) -> None:
    client = fake_stripe.client()
    customer = client.v1.customers.create(params={})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.create(params={"success_url": "https://x.example"})
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "mode")
    with pytest.raises(stripe.InvalidRequestError) as no_lines:
        client.v1.checkout.sessions.create(params={"mode": "payment", "customer": customer.id})
    assert no_lines.value.param == "line_items"
    with pytest.raises(stripe.InvalidRequestError) as unknown_customer:
        _pro_checkout(client, "cus_missing")
    assert (unknown_customer.value.http_status, unknown_customer.value.code) == (
        404,
        "resource_missing",
    )
    with pytest.raises(stripe.InvalidRequestError) as enum:
        _pro_checkout(client, customer.id, mode="donation")
    assert enum.value.param == "mode"
    assert "must be one of payment, setup, or subscription" in str(enum.value)


def test_deliveries_can_repeat_reverse_and_retry(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    endpoint = fake_stripe.add_webhook_endpoint(
        webhook_receiver.url, events=("checkout.session.completed", "payment_intent.succeeded")
    )
    customer = client.v1.customers.create(params={})
    fake_stripe.complete_checkout(_pro_checkout(client, customer.id).id)
    assert len(fake_stripe.pending_deliveries()) == 2  # only the subscribed types

    webhook_receiver.status = 500
    failed = fake_stripe.deliver()
    assert [d["status"] for d in failed] == [500, 500]
    assert len(fake_stripe.pending_deliveries()) == 2  # still owed, as Stripe retries

    webhook_receiver.status = 200
    webhook_receiver.received.clear()
    fake_stripe.deliver(reverse=True, repeat=2)
    received = [e.type for e in _events(webhook_receiver, endpoint.secret)]
    assert received == ["checkout.session.completed"] * 2 + ["payment_intent.succeeded"] * 2
    assert fake_stripe.pending_deliveries() == []
    completed = fake_stripe.events("checkout.session.completed")[0]
    assert fake_stripe.object(completed["id"])["pending_webhooks"] == 0

    fake_stripe.redeliver(completed["id"])
    assert _events(webhook_receiver, endpoint.secret)[-1].id == completed["id"]


def test_chosen_events_are_delivered_in_the_order_given(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    endpoint = fake_stripe.add_webhook_endpoint(webhook_receiver.url)
    first = client.v1.customers.create(params={"name": "first"})
    second = client.v1.customers.create(params={"name": "second"})
    created = {e["data"]["object"]["id"]: e["id"] for e in fake_stripe.events("customer.created")}
    fake_stripe.deliver(events=[created[second.id], created[first.id]])
    names = [e.data.object.name for e in _events(webhook_receiver, endpoint.secret)]
    assert names == ["second", "first"]
