"""The audit log through the REST doors and the SDK, on a live service: an operator's change and
a customer's each write exactly one entry naming who made it; a refused request writes none;
``GET /v1/audit`` filters, pages and refuses as it declares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from meterstack import Engine
from meterstack.client import AsyncClient, AuditLogPage, Client, MeterstackClientError
from meterstack.records.audit import AuditEntry

OPERATOR = {"Authorization": "Bearer operator-secret"}
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _engine(service: Any) -> Engine:
    engine: Engine = service.app.state.engine
    return engine


def _log(service: Any, account_id: str) -> list[AuditEntry]:
    return _engine(service).audit(account_id=account_id, limit=200).entries


def test_an_operator_change_over_rest_writes_one_entry_with_its_reason(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    account, _ = signup(service, "starter")
    known = len(_log(service, account))

    answer = service.put(
        f"/v1/accounts/{account}/limits",
        json={"item": "api_calls", "limit": 250_000, "reason": "contract amendment 3"},
        headers=OPERATOR,
    )

    assert answer.status_code == 200, answer.text
    log = _log(service, account)
    assert len(log) == known + 1
    entry = log[0]
    assert (entry.kind, entry.actor.kind, entry.actor.id) == ("limit.set", "operator", "api")
    assert entry.reason == "contract amendment 3"
    assert entry.after is not None
    assert entry.after["override"] == {"limit": 250_000, "grace_percent": None}

    cancelled = service.post(
        f"/v1/accounts/{account}/subscription/cancel",
        params={"reason": "asked by phone"},
        headers=OPERATOR,
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (_log(service, account)[0].kind, _log(service, account)[0].reason) == (
        "subscription.cancelled",
        "asked by phone",
    )


def test_a_refused_rest_request_writes_nothing(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    account, customer = signup(service, "free")
    known = _log(service, account)

    refusals = [
        service.put(
            f"/v1/accounts/{account}/limits",
            json={"item": "no_such_item", "limit": 5},
            headers=OPERATOR,
        ),
        service.put(
            f"/v1/accounts/{account}/limits",
            json={"item": "api_calls", "limit": 5, "reason": "x" * 501},
            headers=OPERATOR,
        ),
        service.post("/api/billing/resume", headers=customer),
        service.delete("/api/billing/api-keys/key_nope", headers=customer),
    ]

    assert [answer.status_code for answer in refusals] == [422, 422, 409, 404]
    assert _log(service, account) == known


def test_a_customer_change_over_rest_names_the_key_it_came_with(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    account, customer = signup(service, "starter")
    key_id = _engine(service).api_keys(account)[0].id
    known = len(_log(service, account))

    answer = service.put(
        "/api/billing/overage", json={"enabled": True, "meter": "api_calls"}, headers=customer
    )

    assert answer.status_code == 200, answer.text
    log = _log(service, account)
    assert len(log) == known + 1
    assert (log[0].kind, log[0].actor.kind, log[0].actor.id) == (
        "overage.switched",
        "customer",
        key_id,
    )
    assert log[0].before == {"meter": "api_calls", "project_id": None, "enabled": None}
    assert log[0].after == {"meter": "api_calls", "project_id": None, "enabled": True}


def test_get_audit_filters_pages_and_refuses(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    first, customer = signup(service, "starter")
    second, _ = signup(service, "starter")
    for limit in (1000, 2000, 3000):
        for account in (first, second):
            service.put(
                f"/v1/accounts/{account}/limits",
                json={"item": "api_calls", "limit": limit},
                headers=OPERATOR,
            )

    page = service.get(
        "/v1/audit", params={"account_id": first, "kind": "limit.set", "limit": 2}, headers=OPERATOR
    )
    assert page.status_code == 200, page.text
    body = page.json()
    assert [entry["after"]["override"]["limit"] for entry in body["entries"]] == [3000, 2000]
    assert {entry["account_id"] for entry in body["entries"]} == {first}
    assert body["entries"][0]["actor"] == {"kind": "operator", "id": "api"}
    older = service.get(
        "/v1/audit",
        params={"account_id": first, "kind": "limit.set", "before": body["next_before"]},
        headers=OPERATOR,
    ).json()
    assert [entry["after"]["override"]["limit"] for entry in older["entries"]] == [1000]
    assert older["next_before"] is None

    everything = service.get("/v1/audit", params={"limit": 200}, headers=OPERATOR).json()
    assert {entry["account_id"] for entry in everything["entries"]} == {first, second}

    assert service.get("/v1/audit", headers=customer).status_code == 403
    assert service.get("/v1/audit").status_code == 401
    missing = service.get("/v1/audit", params={"account_id": "acct_nope"}, headers=OPERATOR)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    for junk in ({"before": "abc"}, {"limit": "0"}, {"kind": ""}):
        assert service.get("/v1/audit", params=junk, headers=OPERATOR).status_code == 422


def test_the_sdk_reads_the_log_sync_and_async(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    service = live_service("agentstack")
    account, customer = signup(service, "starter")
    service.post("/api/billing/api-keys", json={"name": "ci"}, headers=customer).raise_for_status()
    base = str(service.base_url)

    with Client(base, "operator-secret") as operator:
        page = operator.audit(account_id=account, limit=1)
        assert [entry.kind for entry in page.entries] == ["key.created"]
        assert page.entries[0].actor.kind == "customer"
        assert page.entries[0].after is not None
        assert page.entries[0].after["name"] == "ci"
        rest = operator.audit(account_id=account, before=page.next_before)
        assert "account.created" in [entry.kind for entry in rest.entries]
        with pytest.raises(MeterstackClientError) as refused:
            operator.audit(account_id="acct_nope")
        assert refused.value.status == 404

    async def read() -> AuditLogPage:
        async with AsyncClient(base, "operator-secret") as remote:
            return await remote.audit(account_id=account, kind="key.created")

    found = anyio.run(read)
    assert [entry.kind for entry in found.entries] == ["key.created", "key.created"]
    assert [entry.actor.kind for entry in found.entries] == ["customer", "operator"]
