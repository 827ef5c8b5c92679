"""The operator's own setup in the audit log through the REST doors and the SDK, on a live
service on every backend: webhook endpoints (the operator's and a customer's), marketplace items,
a payout run and a minted dashboard link each name who did it; ``GET /v1/audit`` answers an
operator-wide entry with a null account and filters by a family of kinds."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio

from meterstack import Engine
from meterstack.client import AsyncClient, AuditLogPage, Client
from meterstack.records.audit import AuditEntry

OPERATOR = {"Authorization": "Bearer operator-secret"}
#: A public address: a customer's endpoint may point at it; nothing ever connects to it here.
PUBLIC_HOOK = "https://93.184.215.14/hooks"
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _engine(service: Any) -> Engine:
    engine: Engine = service.app.state.engine
    return engine


def _kind(service: Any, kind: str) -> list[AuditEntry]:
    return _engine(service).audit(kind=kind, limit=200).entries


def test_webhook_endpoint_changes_over_rest_name_the_operator_or_the_customers_key(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    account, customer = signup(service, "starter")
    key_id = _engine(service).api_keys(account)[0].id

    made = service.post(
        "/v1/webhooks/endpoints", json={"url": "http://10.0.0.7/hooks"}, headers=OPERATOR
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()["endpoint"]["id"]
    steps = [
        service.patch(
            f"/v1/webhooks/endpoints/{endpoint}", json={"enabled": False}, headers=OPERATOR
        ),
        service.post(f"/v1/webhooks/endpoints/{endpoint}/rotate-secret", headers=OPERATOR),
        service.delete(f"/v1/webhooks/endpoints/{endpoint}", headers=OPERATOR),
        service.post("/api/billing/webhooks", json={"url": PUBLIC_HOOK}, headers=customer),
        service.post(
            "/api/billing/webhooks", json={"url": "https://127.0.0.1/x"}, headers=customer
        ),
    ]
    assert [answer.status_code for answer in steps] == [200, 200, 200, 201, 422]
    secrets = [made.json()["secret"], steps[1].json()["secret"], steps[3].json()["secret"]]

    log = _kind(service, "webhook.*")
    assert [(e.kind, e.account_id, e.actor.kind, e.actor.id) for e in log] == [
        ("webhook.endpoint_created", account, "customer", key_id),
        ("webhook.endpoint_deleted", None, "operator", "api"),
        ("webhook.secret_rotated", None, "operator", "api"),
        ("webhook.endpoint_updated", None, "operator", "api"),
        ("webhook.endpoint_created", None, "operator", "api"),
    ], "the refused registration wrote nothing"
    answered = service.get("/v1/audit", params={"kind": "webhook.*"}, headers=OPERATOR)
    assert answered.status_code == 200, answered.text
    entries = answered.json()["entries"]
    assert [entry["account_id"] for entry in entries] == [account, None, None, None, None]
    assert not any(secret in answered.text for secret in secrets), "never a secret"
    one_kind = service.get(
        "/v1/audit", params={"kind": "webhook.endpoint_deleted"}, headers=OPERATOR
    ).json()["entries"]
    assert [entry["before"]["url"] for entry in one_kind] == ["http://10.0.0.7/hooks"]
    refused = service.get("/v1/audit", params={"kind": ".*"}, headers=OPERATOR)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_input")


def test_the_sdk_manages_endpoints_and_reads_operator_wide_entries_sync_and_async(
    live_service: Callable[..., Any],
) -> None:
    service = live_service("agentstack")
    base = str(service.base_url)
    with Client(base, "operator-secret") as operator:
        hook = operator.webhooks.create_endpoint("http://10.0.0.8/hooks")
        operator.webhooks.rotate_secret(hook.endpoint.id)
        page = operator.audit(kind="webhook.*")
    assert [(entry.kind, entry.account_id) for entry in page.entries] == [
        ("webhook.secret_rotated", None),
        ("webhook.endpoint_created", None),
    ]
    assert page.entries[1].actor.kind == "operator"
    assert page.entries[1].after is not None
    assert page.entries[1].after["url"] == "http://10.0.0.8/hooks"

    async def read() -> AuditLogPage:
        async with AsyncClient(base, "operator-secret") as remote:
            return await remote.audit(kind="webhook.endpoint_created")

    found = anyio.run(read)
    assert [entry.account_id for entry in found.entries] == [None]


def test_marketplace_items_and_a_payout_run_over_rest_name_the_operator(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("aerostack")
    engine = _engine(service)
    creator, _ = signup(service, "pro")
    buyer, _ = signup(service, "pro")

    made = service.post(
        "/v1/marketplace/items",
        json={"creator_id": creator, "name": "Search", "price": "5.00"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    item = made.json()["id"]
    repriced = service.put(
        f"/v1/marketplace/items/{item}/price", json={"price": "4.00"}, headers=OPERATOR
    )
    too_dear = service.put(
        f"/v1/marketplace/items/{item}/price", json={"price": "10.01"}, headers=OPERATOR
    )
    assert (repriced.status_code, too_dear.status_code) == (200, 422)
    engine.adjust_wallet(buyer, Decimal("100"), "funds")
    for _ in range(4):  # 4 x 3.20 earned: 12.80
        assert engine.charge(buyer, "marketplace_tool_call", item_id=item).allowed
    runs = [service.post("/v1/payouts/run", headers=OPERATOR) for _ in range(2)]
    assert [run.status_code for run in runs] == [200, 200]
    assert [len(run.json()["payouts"]) for run in runs] == [1, 0]

    market = engine.audit(account_id=creator, kind="marketplace.*").entries
    assert [(e.kind, e.actor.id, (e.after or {})["price"]) for e in market] == [
        ("marketplace.price_changed", "api", "4.000000"),
        ("marketplace.item_published", "api", "5.000000"),
    ]
    assert [(e.account_id, e.actor.id) for e in _kind(service, "payout.run_started")] == [
        (None, "api"),
        (None, "api"),
    ]
    [paid] = engine.audit(account_id=creator, kind="payout.*").entries
    assert (paid.kind, paid.actor.id) == ("payout.paid", "api")
    assert paid.after is not None
    assert (paid.after["amount"], paid.after["status"]) == ("12.80", "paid")


def test_a_dashboard_link_minted_over_rest_is_recorded_without_its_token(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("flowstack")
    account, customer = signup(service, "free")
    minted = service.post(f"/v1/accounts/{account}/dashboard-link", headers=OPERATOR)
    refused = service.post(f"/v1/accounts/{account}/dashboard-link", headers=customer)
    missing = service.post("/v1/accounts/acct_nobody/dashboard-link", headers=OPERATOR)
    assert [minted.status_code, refused.status_code, missing.status_code] == [201, 403, 404]

    [entry] = _kind(service, "dashboard.link_minted")
    assert (entry.account_id, entry.actor.kind, entry.actor.id) == (account, "operator", "api")
    assert entry.after is not None
    expires = datetime.fromisoformat(minted.json()["expires_at"])
    assert datetime.fromisoformat(entry.after["expires_at"]) == expires
    token = minted.json()["url"].split("token=")[1]
    assert token not in json.dumps([entry.before, entry.after])
