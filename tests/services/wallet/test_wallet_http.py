"""The wallet over HTTP (B2, D20, D21, D24, D30): the customer's and the operator's doors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from meterstack import ManualClock

OPERATOR = {"Authorization": "Bearer operator-secret"}
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _pay(client: Any, url: str) -> None:
    """Pay a local checkout as its buyer does: the Pay button of its page."""
    parts = urlsplit(url)
    secret = parse_qs(parts.query)["secret"][0]
    paid = client.post(f"{parts.path}/pay", params={"secret": secret}, follow_redirects=False)
    assert paid.status_code in (200, 303), paid.text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_b2_d24_deposit_charge_and_history_over_http(
    live_service: Callable[..., Any], signup: Signup, clock: ManualClock
) -> None:
    client = live_service("aerostack")
    account_id, customer = signup(client, "pro")
    base = str(client.base_url)

    made = client.post(
        "/api/billing/wallet/deposit",
        json={"amount": "10.00", "success_url": f"{base}/thanks"},
        headers=customer,
    )
    assert made.status_code == 200, made.text
    assert made.json()["amount"] == "10.00"
    page = client.get(urlsplit(made.json()["url"]).path + "?" + urlsplit(made.json()["url"]).query)
    assert "wallet deposit of 10.00 USD" in page.text
    _pay(client, made.json()["url"])
    _pay(client, made.json()["url"])  # the page paid again: credited once
    assert client.get("/api/billing/wallet", headers=customer).json()["balance"] == "10.000000"

    charged = client.post(
        f"/v1/accounts/{account_id}/wallet/charge",
        json={"operation": "bot_message", "quantity": 1000, "idempotency_key": "k1"},
        headers=OPERATOR,
    )
    assert charged.status_code == 200, charged.text
    assert (charged.json()["price"], charged.json()["balance"]) == ("2.000000", "8.000000")
    refused = client.post(
        f"/v1/accounts/{account_id}/wallet/charge",
        json={"operation": "agent_execution", "quantity": 801},
        headers=OPERATOR,
    )
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "insufficient_balance"
    assert (error["details"]["balance"], error["details"]["price"]) == ("8.000000", "8.010000")
    changed = client.post(
        f"/v1/accounts/{account_id}/wallet/charge",
        json={"operation": "agent_execution", "max_price": "0.001"},
        headers=OPERATOR,
    )
    assert (changed.status_code, changed.json()["error"]["code"]) == (409, "price_changed")

    adjusted = client.post(
        f"/v1/accounts/{account_id}/wallet/adjust",
        json={"amount": "-1.00", "reason": "correction"},
        headers=OPERATOR,
    )
    assert adjusted.json()["balance"] == "7.000000"
    history = client.get(
        "/api/billing/wallet/transactions", params={"limit": 2}, headers=customer
    ).json()
    assert [entry["kind"] for entry in history["transactions"]] == ["adjustment", "charge"]
    older = client.get(
        "/api/billing/wallet/transactions",
        params={"limit": 2, "before": history["next_before"]},
        headers=customer,
    ).json()
    assert [entry["kind"] for entry in older["transactions"]] == ["deposit"]
    assert older["next_before"] is None
    usage = client.get("/api/billing/usage", headers=customer).json()
    assert usage["wallet_balance"] == "7.000000"

    # The period's statement: its wallet section lists the spend by operation, beside the lines.
    clock.advance(timedelta(days=31))
    closed = client.post("/v1/periods/close", headers=OPERATOR)
    assert closed.status_code == 200, closed.text
    listed = client.get("/api/billing/invoices", headers=customer).json()["invoices"]
    # January's opening fee, then its close (oldest first): the close is the statement.
    opening, number = [found["number"] for found in listed if found["period"] == "2026-01"]
    fee = client.get(f"/api/billing/invoices/{opening}", headers=customer).json()
    assert fee["wallet_spend"] == []
    statement = client.get(f"/api/billing/invoices/{number}", headers=customer).json()
    assert statement["wallet_spend"] == [
        {"operation": "bot_message", "quantity": 1000, "amount": "2.000000"}
    ]
    assert Decimal(statement["total"]) == sum(
        Decimal(line["amount"]) for line in statement["lines"]
    )


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d21_d24_d30_bad_wallet_requests_are_precise_4xx(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("aerostack")
    account_id, customer = signup(client, "pro")
    for body, status in (
        ({"amount": "4.99"}, 422),
        ({"amount": "10.005"}, 422),
        ({"amount": 10.0}, 422),
        ({"amount": "10.00", "success_url": "https://evil.example/"}, 422),
        ({"amount": "10.00", "cancel_url": "javascript:alert(1)"}, 422),
    ):
        answer = client.post("/api/billing/wallet/deposit", json=body, headers=customer)
        assert answer.status_code == status, (body, answer.text)
    reload = client.put(
        "/api/billing/wallet/auto-reload",
        json={"threshold": "5.00", "amount": "1.00"},
        headers=customer,
    )
    assert reload.status_code == 422  # below the minimum deposit (D21)
    ok = client.put(
        "/api/billing/wallet/auto-reload",
        json={"threshold": "5.00", "target": "25.00"},
        headers=customer,
    )
    assert ok.json() == {"enabled": True, "threshold": "5.00", "amount": None, "target": "25.00"}
    wallet = client.get("/api/billing/wallet", headers=customer).json()
    assert wallet["auto_reload"]["target"] == "25.00"
    unknown = client.post(
        f"/v1/accounts/{account_id}/wallet/charge",
        json={"operation": "teleport"},
        headers=OPERATOR,
    )
    assert unknown.status_code == 422
    nobody = client.post(
        "/v1/accounts/acct_nobody/wallet/charge",
        json={"operation": "bot_message"},
        headers=OPERATOR,
    )
    assert nobody.status_code == 404
    assert client.get("/api/billing/wallet").status_code == 401


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a8_d24_an_anonymous_account_cannot_deposit_over_http(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    anonymous = client.post("/api/auth/anonymous").json()
    key = {"Authorization": f"Bearer {anonymous['user_api_key']}"}
    refused = client.post("/api/billing/wallet/deposit", json={"amount": "10.00"}, headers=key)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_allowed_for_tier")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d23_marketplace_items_and_payouts_over_http(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("aerostack")
    buyer, _ = signup(client, "pro")
    creator, _ = signup(client, "pro")
    client.post(
        f"/v1/accounts/{buyer}/wallet/adjust",
        json={"amount": "50.00", "reason": "funds"},
        headers=OPERATOR,
    )
    made = client.post(
        "/v1/marketplace/items",
        json={"creator_id": creator, "name": "Search", "price": "5.00"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    item = made.json()["id"]
    too_dear = client.put(
        f"/v1/marketplace/items/{item}/price", json={"price": "10.01"}, headers=OPERATOR
    )
    assert too_dear.status_code == 422
    own = client.post(
        f"/v1/accounts/{creator}/wallet/charge",
        json={"operation": "marketplace_tool_call", "item_id": item},
        headers=OPERATOR,
    )
    assert (own.status_code, own.json()["error"]["code"]) == (403, "own_item")
    for _ in range(3):
        sold = client.post(
            f"/v1/accounts/{buyer}/wallet/charge",
            json={"operation": "marketplace_tool_call", "item_id": item},
            headers=OPERATOR,
        )
        assert sold.status_code == 200, sold.text
    listed = client.get(f"/v1/marketplace/creators/{creator}/items", headers=OPERATOR).json()
    assert [entry["id"] for entry in listed["items"]] == [item]

    run = client.post("/v1/payouts/run", headers=OPERATOR).json()
    again = client.post("/v1/payouts/run", headers=OPERATOR).json()
    earnings = client.get(f"/v1/marketplace/creators/{creator}/earnings", headers=OPERATOR)

    assert [(payout["creator_id"], payout["amount"]) for payout in run["payouts"]] == [
        (creator, "12.00")
    ]
    assert again == {"payouts": []}
    kinds = [entry["kind"] for entry in earnings.json()["transactions"]]
    assert kinds == ["payout", "creator_credit", "creator_credit", "creator_credit"]
