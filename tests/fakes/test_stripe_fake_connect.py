"""Connect on the fake Stripe: Express onboarding, transfers grouped by ``transfer_group``."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from fakes.receiver import WebhookReceiver
from fakes.stripe import FakeStripeHandle


def _creator(client: stripe.StripeClient) -> stripe.Account:
    return client.v1.accounts.create(
        params={
            "type": "express",
            "country": "US",
            "email": "creator@example.com",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"meterstack_creator": "cr_1"},
        }
    )


def test_an_express_account_is_onboarded_then_paid_by_transfer(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    connect = fake_stripe.add_webhook_endpoint(webhook_receiver.url, connect=True)
    account = _creator(client)
    assert (account.type, account.charges_enabled, account.payouts_enabled) == (
        "express",
        False,
        False,
    )
    link = client.v1.account_links.create(
        params={
            "account": account.id,
            "type": "account_onboarding",
            "refresh_url": "https://app.example/creators/refresh",
            "return_url": "https://app.example/creators/done",
        }
    )
    assert link.url.startswith(fake_stripe.url)
    assert link.expires_at > link.created
    with pytest.raises(stripe.InvalidRequestError, match="account_update"):
        client.v1.account_links.create(params={"account": account.id, "type": "account_update"})

    payout: Any = {
        "amount": 1250,
        "currency": "usd",
        "destination": account.id,
        "transfer_group": "payout_2026_01_cr_1",
        "metadata": {"meterstack_payout": "po_1"},
    }
    with pytest.raises(stripe.InvalidRequestError) as not_ready:
        client.v1.transfers.create(params=payout)
    assert not_ready.value.param == "destination"

    fake_stripe.complete_onboarding(account.id)
    fake_stripe.deliver()
    updated = [
        stripe.Webhook.construct_event(item.body.decode(), item.signature, connect.secret)
        for item in webhook_receiver.received
    ]
    assert [(e.type, e.account) for e in updated] == [("account.updated", account.id)]
    assert updated[0].data.object.payouts_enabled is True

    transfer = client.v1.transfers.create(params=payout)
    assert (transfer.amount, transfer.destination, transfer.reversed) == (1250, account.id, False)
    client.v1.transfers.create(params=payout | {"transfer_group": "payout_2026_01_cr_2"})
    grouped = client.v1.transfers.list(params={"transfer_group": "payout_2026_01_cr_1"})
    assert [t.id for t in grouped.data] == [transfer.id]
    assert grouped.data[0].metadata["meterstack_payout"] == "po_1"


def test_account_endpoints_do_not_get_connect_events(
    fake_stripe: FakeStripeHandle, webhook_receiver: WebhookReceiver
) -> None:
    client = fake_stripe.client()
    fake_stripe.add_webhook_endpoint(webhook_receiver.url)
    account = _creator(client)
    fake_stripe.complete_onboarding(account.id)
    assert fake_stripe.pending_deliveries() == []
    assert len(fake_stripe.events("account.updated")) == 1
