"""The Stripe client meterstack builds from its settings, spoken to the fake Stripe."""

from __future__ import annotations

import pytest

from fakes.stripe import serve
from meterstack.services.payments.stripe_client import (
    STRIPE_API_BASE,
    StripeSettings,
    stripe_client,
)


def test_b11_settings_come_from_the_environment() -> None:
    settings = StripeSettings.from_environment(
        {"STRIPE_API_KEY": "sk_test_1", "STRIPE_WEBHOOK_SECRET": "whsec_1"}
    )
    assert settings.api_base == STRIPE_API_BASE
    assert "sk_test_1" not in repr(settings)
    with pytest.raises(ValueError, match="STRIPE_WEBHOOK_SECRET"):
        StripeSettings.from_environment({"STRIPE_API_KEY": "sk_test_1"})


def test_b11_the_client_talks_to_the_configured_base() -> None:
    with serve() as fake:
        settings = StripeSettings(fake.api_key, "whsec_unused", api_base=fake.url)
        customer = stripe_client(settings).v1.customers.create(params={"email": "a@b.example"})
        assert fake.object(customer.id)["email"] == "a@b.example"
