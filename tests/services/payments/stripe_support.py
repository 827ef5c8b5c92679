"""An engine on the Stripe provider, talking to the fake Stripe, and webhooks handed to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fakes.stripe import FakeStripeHandle, serve
from fakes.stripe.handle import WebhookEndpoint
from meterstack import Engine, ManualClock
from meterstack.services.payments.stripe_client import StripeSettings
from meterstack.services.payments.stripe_provider import StripeAccount
from meterstack.services.payments.stripe_webhooks import WebhookReceipt

APP = "https://app.example"
EngineFactory = Callable[..., Engine]


@dataclass
class StripeWorld:
    engine: Engine
    fake: FakeStripeHandle
    endpoint: WebhookEndpoint
    settings: StripeSettings

    def deliver(self, event_id: str) -> WebhookReceipt:
        """One delivery of the event, signed as Stripe signs it, to the engine."""
        payload, signature = self.fake.signed_event(event_id, self.endpoint.id)
        return self.engine.receive_stripe_webhook(payload, signature)

    def events(self, *types: str) -> list[dict[str, Any]]:
        return [event for event in self.fake.events() if not types or event["type"] in types]

    def twins(self) -> list[dict[str, Any]]:
        """The Stripe invoices mirroring meterstack's."""
        return [
            invoice
            for invoice in self.fake.objects("invoice")
            if "meterstack_invoice" in invoice["metadata"]
        ]


def stripe_settings(fake: FakeStripeHandle, secret: str) -> StripeSettings:
    return StripeSettings(fake.api_key, secret, api_base=fake.url, max_network_retries=0)


@contextmanager
def stripe_world(
    open_engine: EngineFactory, clock: ManualClock, catalog: str = "aerostack"
) -> Iterator[StripeWorld]:
    """The fake Stripe on the engine's clock, a webhook endpoint, and the engine on Stripe."""
    with serve(start=clock.now()) as fake:
        endpoint = fake.add_webhook_endpoint("http://127.0.0.1:9/webhooks/stripe")
        settings = stripe_settings(fake, endpoint.secret)
        engine = open_engine(
            catalog,
            provider=StripeAccount(settings, return_url=f"{APP}/billing"),
            return_url_origins=[APP],
        )
        yield StripeWorld(engine, fake, endpoint, settings)
