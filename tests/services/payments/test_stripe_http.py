"""The Stripe provider through the HTTP service: checkout, Stripe's deliveries to
``POST /webhooks/stripe``, the billing answer and the portal (B4, B8, B10, B11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stripe_support import APP, stripe_settings

from fakes.stripe import serve
from meterstack import ManualClock
from meterstack.server import provider_of
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.stripe_provider import StripeAccount


def test_b11_stripe_delivers_to_the_service_and_the_plan_changes_once(
    live_service: Callable[..., Any],
    signup: Callable[[Any, str], tuple[str, dict[str, str]]],
    clock: ManualClock,
) -> None:
    with serve(start=clock.now()) as fake:
        endpoint = fake.add_webhook_endpoint("http://127.0.0.1:9/webhooks/stripe")
        account = StripeAccount(stripe_settings(fake, endpoint.secret), return_url=f"{APP}/b")
        service = live_service("aerostack", provider=account, return_url_origins=(APP,))
        fake.client().v1.webhook_endpoints.update(
            endpoint.id, params={"url": f"{service.base_url}/webhooks/stripe"}
        )
        account_id, headers = signup(service, "free")
        billing = service.get("/api/billing", headers=headers).json()
        assert (billing["stripe_customer_id"], billing["stripe_subscription_id"]) == (None, None)

        answer = service.post(
            "/api/billing/checkout",
            json={"tier": "pro", "billing_interval": "yearly", "success_url": f"{APP}/ok"},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        [session] = fake.objects("checkout.session")
        assert answer.json()["url"] == session["url"]
        fake.complete_checkout(session["id"])
        deliveries = fake.deliver(reverse=True, repeat=2)

        assert deliveries
        assert {d["status"] for d in deliveries} == {200}
        billing = service.get("/api/billing", headers=headers).json()
        assert (billing["plan_tier"], billing["billing_interval"]) == ("pro", "yearly")
        assert billing["stripe_customer_id"] == session["customer"]
        assert billing["stripe_subscription_id"] is None
        invoices = service.get("/api/billing/invoices", headers=headers).json()["invoices"]
        assert [(i["total"], i["status"]) for i in invoices if i["total"] != "0.00"] == [
            ("441.00", "paid")
        ]

        portal = service.get("/api/billing/portal", headers=headers)
        assert portal.status_code == 200, portal.text
        [portal_session] = fake.objects("billing_portal.session")
        assert portal.json()["url"] == portal_session["url"]
        assert portal_session["customer"] == session["customer"]
        assert account_id


def test_b11_a_bad_signature_is_400_in_the_error_shape_and_changes_nothing(
    live_service: Callable[..., Any],
    signup: Callable[[Any, str], tuple[str, dict[str, str]]],
    clock: ManualClock,
) -> None:
    with serve(start=clock.now()) as fake:
        endpoint = fake.add_webhook_endpoint("http://127.0.0.1:9/webhooks/stripe")
        account = StripeAccount(stripe_settings(fake, endpoint.secret), return_url=f"{APP}/b")
        service = live_service("aerostack", provider=account, return_url_origins=(APP,))
        _, headers = signup(service, "free")
        service.post("/api/billing/checkout", json={"tier": "pro"}, headers=headers)
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        [completed] = fake.events("checkout.session.completed")
        payload, signature = fake.signed_event(completed["id"], endpoint.id)

        forged = service.post(
            "/webhooks/stripe",
            content=payload.replace(b'"paid"', b'"paid" '),
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )
        unsigned = service.post("/webhooks/stripe", content=payload)

        for answer in (forged, unsigned):
            assert answer.status_code == 400
            assert answer.json()["error"]["code"] == "invalid_signature"
        assert service.get("/api/billing", headers=headers).json()["plan_tier"] == "free"
        genuine = service.post(
            "/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature}
        )
        assert genuine.status_code == 200
        assert genuine.json()["applied"] is True
        assert service.get("/api/billing", headers=headers).json()["plan_tier"] == "pro"


def test_b11_the_stripe_door_is_404_when_payments_are_not_stripes(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("aerostack")
    answer = service.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_b11_the_settings_choose_stripe_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_from_env")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")
    chosen = provider_of(ServerSettings(payments="stripe", public_url="https://svc.example"))
    assert isinstance(chosen, StripeAccount)
    assert (chosen.settings.api_key, chosen.settings.webhook_secret) == (
        "sk_test_from_env",
        "whsec_from_env",
    )
    assert (chosen.settings.api_base, chosen.return_url) == (
        "http://127.0.0.1:9",
        "https://svc.example",
    )
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET")
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
        provider_of(ServerSettings(payments="stripe", public_url="https://svc.example"))


def test_b11_b10_the_operator_sees_disputes_and_mirrors_stripe_does_not_have_yet(
    live_service: Callable[..., Any],
    signup: Callable[[Any, str], tuple[str, dict[str, str]]],
    clock: ManualClock,
) -> None:
    operator = {"Authorization": "Bearer operator-secret"}
    with serve(start=clock.now()) as fake:
        endpoint = fake.add_webhook_endpoint("http://127.0.0.1:9/webhooks/stripe")
        account = StripeAccount(stripe_settings(fake, endpoint.secret), return_url=f"{APP}/b")
        service = live_service("aerostack", provider=account, return_url_origins=(APP,))
        fake.client().v1.webhook_endpoints.update(
            endpoint.id, params={"url": f"{service.base_url}/webhooks/stripe"}
        )
        account_id, headers = signup(service, "free")
        service.post("/api/billing/checkout", json={"tier": "pro"}, headers=headers)
        [session] = fake.objects("checkout.session")
        fake.complete_checkout(session["id"])
        fake.deliver()
        mirrors = service.get("/v1/invoice-mirrors", headers=operator)
        assert (mirrors.status_code, mirrors.json()) == (200, {"mirrors": []})

        [charge] = fake.objects("charge")
        dispute = fake.open_dispute(charge["id"])
        assert {d["status"] for d in fake.deliver()} == {200}
        answer = service.get(f"/v1/accounts/{account_id}/disputes", headers=operator)
        assert answer.status_code == 200, answer.text
        [shown] = answer.json()["disputes"]
        assert (shown["id"], shown["status"], shown["source"], shown["amount"]) == (
            dispute["id"],
            "open",
            "invoice",
            f"{charge['amount'] / 100:.2f}",
        )
        assert shown["closed_at"] is None
        missing = service.get("/v1/accounts/acct_nobody/disputes", headers=operator)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        refused = service.get(f"/v1/accounts/{account_id}/disputes", headers=headers)
        assert refused.status_code == 403
