"""Dunning over HTTP and the SDK (D29): the operator's collections door, the customer's usage
warning, the subscription's status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from meterstack import ManualClock
from meterstack.client import Client
from meterstack.services.payments.local import LocalProvider

OPERATOR = {"Authorization": "Bearer operator-secret"}
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]
JAN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d29_past_due_over_http_then_collected_by_the_operator(
    live_service: Callable[..., Any], signup: Signup, clock: ManualClock
) -> None:
    clock.set(JAN)
    provider = LocalProvider(decline_collections=True)
    client = live_service("aerostack", provider=provider)
    account_id, customer = signup(client, "pro")
    engine = client.app.state.engine
    engine.collections.run()

    usage = client.get("/api/billing/usage", headers=customer)
    billing = client.get("/api/billing", headers=customer)
    listed = client.get(f"/v1/accounts/{account_id}/collections", headers=OPERATOR)
    sdk = Client(str(client.base_url), customer["Authorization"].removeprefix("Bearer "))
    warning = sdk.usage().payment_warning
    sdk.close()
    link = client.post(f"/v1/accounts/{account_id}/dashboard-link", headers=OPERATOR)
    assert link.status_code == 201, link.text
    with httpx.Client(base_url=str(client.base_url), follow_redirects=True) as browser:
        overview = browser.get(link.json()["url"])

    assert usage.status_code == 200, usage.text
    shown = usage.json()["payment_warning"]
    assert (shown["status"], shown["amount_due"], shown["attempts"]) == ("past_due", "49.00", 1)
    assert shown["next_attempt_at"] == (JAN + timedelta(days=3)).isoformat()
    assert usage.json()["tier"] == "pro"
    assert billing.json()["status"] == "past_due"
    collection = listed.json()["collections"][0]
    number = collection["invoice_number"]
    assert (collection["status"], collection["attempts_made"]) == ("past_due", 1)
    assert collection["attempts"][0]["key"] == f"{number}:attempt-1"
    assert warning is not None
    assert (warning.invoice_number, warning.amount_due) == (number, Decimal("49.00"))
    assert overview.status_code == 200
    assert "status past_due" in overview.text
    assert f"The payment of invoice {number} (49.00 USD) failed" in overview.text

    provider.decline_collections = False
    collected = client.post(f"/v1/invoices/{number}/collect", headers=OPERATOR)
    again = client.post(f"/v1/invoices/{number}/collect", headers=OPERATOR)
    after = client.get("/api/billing/usage", headers=customer)

    assert collected.status_code == 200, collected.text
    assert collected.json()["status"] == "paid"
    assert [a["status"] for a in collected.json()["attempts"]] == ["failed", "paid"]
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert after.json()["payment_warning"] is None
    assert client.get("/api/billing", headers=customer).json()["status"] == "active"
