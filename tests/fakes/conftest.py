"""Fixtures for the fake Stripe: the fake itself, and a webhook receiver to deliver to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.receiver import WebhookReceiver, serve_receiver
from fakes.stripe import FakeStripeHandle, serve


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripeHandle]:
    with serve() as handle:
        yield handle


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with serve_receiver() as receiver:
        yield receiver
