"""The webhook doors over real HTTP: the operator's /v1/webhooks and a customer's own (D28)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from standardwebhooks import Webhook
from webhook_receiver import Receiver, serving

from meterstack.client import AsyncClient, Client, NotFoundError

OPERATOR = {"Authorization": "Bearer operator-secret"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as made:
        yield made


def test_d28_operator_and_customer_manage_endpoints_and_see_attempts(
    live_service: Callable[..., Any], receiver: Receiver
) -> None:
    client = live_service("agentstack")
    created = client.post("/v1/accounts", json={"plan": "pro"}, headers=OPERATOR).json()
    customer = {"Authorization": f"Bearer {created['user_api_key']}"}

    hook = client.post(
        "/v1/webhooks/endpoints",
        json={"url": receiver.url, "event_types": ["subscription.updated"]},
        headers=OPERATOR,
    )
    private = client.post(
        "/api/billing/webhooks", json={"url": "https://169.254.169.254/x"}, headers=customer
    )
    unknown = client.post(
        "/v1/webhooks/endpoints",
        json={"url": receiver.url, "event_types": ["invoice.lost"]},
        headers=OPERATOR,
    )
    client.post("/api/billing/cancel", headers=customer)
    events = client.get("/api/billing/webhooks/events", headers=customer).json()["events"]
    client.app.state.engine.webhooks.deliver()
    deliveries = client.get("/v1/webhooks/deliveries", headers=OPERATOR).json()["deliveries"]
    attempts = client.get(
        f"/v1/webhooks/deliveries/{deliveries[0]['id']}/attempts", headers=OPERATOR
    ).json()["attempts"]
    replayed = client.post(
        f"/v1/webhooks/deliveries/{deliveries[0]['id']}/replay", headers=OPERATOR
    )
    again = client.post(f"/v1/webhooks/deliveries/{deliveries[0]['id']}/replay", headers=OPERATOR)
    endpoint_id = hook.json()["endpoint"]["id"]
    hidden = client.get(f"/api/billing/webhooks/{endpoint_id}", headers=customer)
    rotated = client.post(
        f"/v1/webhooks/endpoints/{endpoint_id}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=OPERATOR,
    )
    disabled = client.patch(
        f"/v1/webhooks/endpoints/{endpoint_id}", json={"enabled": False}, headers=OPERATOR
    )
    catalogue = client.get("/api/billing/webhooks/event-types", headers=customer).json()

    assert hook.status_code == 201
    assert hook.json()["secret"].startswith("whsec_")
    assert (private.status_code, private.json()["error"]["code"]) == (422, "unsafe_webhook_url")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "invalid_input")
    assert [event["type"] for event in events] == ["subscription.updated", "invoice.created"]
    assert events[0]["data"]["change"] == "cancel_scheduled"
    (request,) = receiver.requests
    assert (
        Webhook(hook.json()["secret"]).verify(request.body, request.headers)["id"]
        == (events[0]["id"])
    )
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("succeeded", 1)]
    assert [(a["number"], a["status_code"], a["succeeded"]) for a in attempts] == [(1, 200, True)]
    assert (replayed.status_code, replayed.json()["status"]) == (200, "pending")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")
    assert hidden.status_code == 404
    assert rotated.json()["secret"] != hook.json()["secret"]
    assert disabled.json()["enabled"] is False
    assert {t["type"] for t in catalogue["event_types"]} >= {"invoice.paid", "alert.triggered"}


def test_d28_a_customer_registers_its_own_endpoint_over_http(
    live_service: Callable[..., Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERSTACK_WEBHOOKS_ALLOW_PRIVATE", "1")  # a receiver on loopback
    client = live_service("agentstack")
    created = client.post("/v1/accounts", json={"plan": "pro"}, headers=OPERATOR).json()
    customer = {"Authorization": f"Bearer {created['user_api_key']}"}
    other = client.post("/v1/accounts", json={"plan": "pro"}, headers=OPERATOR).json()
    stranger = {"Authorization": f"Bearer {other['user_api_key']}"}

    made = client.post("/api/billing/webhooks", json={"url": receiver.url}, headers=customer)
    endpoint_id = made.json()["endpoint"]["id"]
    client.post("/api/billing/cancel", headers=customer)
    client.post("/api/billing/cancel", headers=stranger)
    client.app.state.engine.webhooks.deliver()
    mine = client.get(f"/api/billing/webhooks/{endpoint_id}/deliveries", headers=customer)
    delivery_id = mine.json()["deliveries"][0]["id"]
    attempts = client.get(
        f"/api/billing/webhooks/{endpoint_id}/deliveries/{delivery_id}/attempts", headers=customer
    )
    theirs = client.get(f"/api/billing/webhooks/{endpoint_id}/deliveries", headers=stranger)
    deleted = client.delete(f"/api/billing/webhooks/{endpoint_id}", headers=customer)
    listed = client.get("/api/billing/webhooks", headers=customer).json()

    assert made.status_code == 201
    assert made.json()["endpoint"]["owner"] == "customer"
    assert made.json()["endpoint"]["account_id"] == created["id"]
    bodies = [Webhook(made.json()["secret"]).verify(r.body, r.headers) for r in receiver.requests]
    assert {body["data"]["account_id"] for body in bodies} == {created["id"]}
    assert attempts.json()["attempts"][0]["succeeded"] is True
    assert theirs.status_code == 404
    assert deleted.json() == {"id": endpoint_id, "deleted": True}
    assert listed == {"endpoints": []}


def test_d28_the_sdk_manages_webhooks_sync_and_async(
    live_service: Callable[..., Any], receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERSTACK_WEBHOOKS_ALLOW_PRIVATE", "1")
    service = live_service("agentstack")
    base = str(service.base_url)
    with Client(base, "operator-secret") as operator:
        account = operator.create_account("pro")
        hook = operator.webhooks.create_endpoint(receiver.url, event_types=["invoice.created"])
        with Client(base, account.user_api_key) as customer:
            own = customer.billing_webhooks.create_endpoint(receiver.url, description="mine")
            with pytest.raises(NotFoundError):
                customer.billing_webhooks.endpoint(hook.endpoint.id)
            service.app.state.engine.webhooks.deliver()
            (mine,) = customer.billing_webhooks.deliveries(endpoint_id=own.endpoint.id)
            (attempt,) = customer.billing_webhooks.attempts(mine.id, endpoint_id=own.endpoint.id)
            events = customer.billing_webhooks.events()
        deliveries = operator.webhooks.deliveries(endpoint_id=hook.endpoint.id)
        replayed = operator.webhooks.replay(deliveries[0].id)
        rotated = operator.webhooks.rotate_secret(hook.endpoint.id, overlap_seconds=60)
        disabled = operator.webhooks.update_endpoint(hook.endpoint.id, enabled=False)
        operator.webhooks.delete_endpoint(own.endpoint.id)
        left = operator.webhooks.endpoints(account_id=account.id)

    async def listed() -> list[str]:
        async with AsyncClient(base, "operator-secret") as client:
            return [endpoint.id for endpoint in await client.webhooks.endpoints()]

    assert own.endpoint.owner == "customer"
    assert own.secret.startswith("whsec_")
    assert (mine.status, attempt.status_code) == ("succeeded", 200)
    assert [event.type for event in events] == ["invoice.created"]
    assert events[0].data["account_id"] == account.id
    assert [d.status for d in deliveries] == ["succeeded"]
    assert replayed.status == "pending"
    assert rotated.secret != hook.secret
    assert disabled.enabled is False
    assert left == []
    assert anyio.run(listed) == [hook.endpoint.id]
