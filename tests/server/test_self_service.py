"""Customer self-service under /api/billing over HTTP (A2, A4, A5, B9, C7, D3, D30): overage
switches, invoices as JSON and PDF, downgrade and resume, storage packs, user API keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from meterstack import Engine, ManualClock

OPERATOR = {"Authorization": "Bearer operator-secret"}
#: The ``signup`` fixture (tests/conftest.py): (account id, customer headers).
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a5_d3_the_customer_switches_overage_for_the_account_a_project_or_a_meter(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    account_id, customer = signup(client, "starter")
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR)
    project_id = project.json()["id"]
    anonymous = client.post("/api/auth/anonymous").json()
    consume = f"/v1/accounts/{account_id}/consume"

    def calls(quantity: int, **extra: str) -> Any:
        body = {"meter": "logic_engine_calls", "quantity": quantity, **extra}
        return client.post(consume, json=body, headers=OPERATOR)

    on = client.put(
        "/api/billing/overage",
        json={"enabled": True, "meter": "logic_engine_calls"},
        headers=customer,
    )
    off_for_project = client.put(
        "/api/billing/overage",
        json={"enabled": False, "project_id": project_id},
        headers=customer,
    )
    filled = calls(50_000)
    over = calls(1)
    project_refused = calls(1, project_id=project_id)
    unknown_project = client.put(
        "/api/billing/overage",
        json={"enabled": True, "project_id": "proj_nope"},
        headers=customer,
    )
    no_payments = client.put(
        "/api/billing/overage",
        json={"enabled": True},
        headers={"Authorization": f"Bearer {anonymous['user_api_key']}"},
    )

    assert on.json() == {
        "success": True,
        "enabled": True,
        "meter": "logic_engine_calls",
        "project_id": None,
    }
    assert off_for_project.status_code == 200
    assert filled.status_code == 200
    assert (over.status_code, over.json()["code"]) == (200, "overage")
    assert _error(project_refused) == (429, "limit_exceeded")  # the project's switch wins (D3)
    assert _error(unknown_project) == (404, "not_found")
    assert _error(no_payments) == (402, "upgrade_required")  # D3


def test_a5_turning_overage_on_needs_a_payment_method_with_a_real_provider(
    live_service: Callable[..., Any], hosted_provider: Any, signup: Signup
) -> None:
    provider = hosted_provider
    client = live_service("agentstack", provider=provider)
    account_id, customer = signup(client, "starter")
    engine: Engine = client.app.state.engine

    refused = client.put("/api/billing/overage", json={"enabled": True}, headers=customer)
    still_off = engine.usage(account_id)["logic_engine_calls"].overage_enabled
    turned_off = client.put("/api/billing/overage", json={"enabled": False}, headers=customer)
    provider.cards.add(account_id)
    accepted = client.put("/api/billing/overage", json={"enabled": True}, headers=customer)

    assert _error(refused) == (402, "payment_method_required")
    assert still_off is False
    assert turned_off.status_code == 200
    assert accepted.status_code == 200
    assert engine.usage(account_id)["logic_engine_calls"].overage_enabled is True


def test_d10_the_customer_lists_and_downloads_its_invoices_as_json_and_pdf(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    _, customer = signup(client, "starter")
    _, other = signup(client, "basic")

    listed = client.get("/api/billing/invoices", headers=customer).json()["invoices"]
    number = listed[0]["number"]
    as_json = client.get(f"/api/billing/invoices/{number}", headers=customer)
    as_pdf = client.get(f"/api/billing/invoices/{number}?format=pdf", headers=customer)
    theirs = client.get(f"/api/billing/invoices/{number}", headers=other)
    unknown = client.get("/api/billing/invoices/INV-999999", headers=customer)

    assert [(item["total"], item["status"]) for item in listed] == [("29.00", "finalized")]
    assert as_json.json()["lines"][0]["amount"] == "29.00"
    assert as_json.json()["lines"][0]["kind"] == "subscription"
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")
    assert _error(theirs) == (404, "not_found")
    assert _error(unknown) == (404, "not_found")


def test_c7_d30_downgrade_at_period_end_and_resume_before_it(
    live_service: Callable[..., Any], clock: ManualClock, signup: Signup
) -> None:
    client = live_service("agentstack")
    account_id, customer = signup(client, "pro")
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))

    downgraded = client.post("/api/billing/downgrade", json={"tier": "basic"}, headers=customer)
    billing = client.get("/api/billing", headers=customer).json()
    resumed = client.post("/api/billing/resume", headers=customer)
    again = client.post("/api/billing/resume", headers=customer)
    upwards = client.post("/api/billing/downgrade", json={"tier": "premium"}, headers=customer)
    not_sold = client.post("/api/billing/downgrade", json={"tier": "anonymous"}, headers=customer)
    client.post("/api/billing/cancel", headers=customer)
    uncancelled = client.post("/api/billing/resume", headers=customer)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    february = client.get("/api/billing", headers=customer).json()

    assert downgraded.json() == {
        "success": True,
        "plan": "pro",
        "pending_plan": "basic",
        "billing_interval": "monthly",
        "effective_at": "2026-02-01T00:00:00+00:00",
    }
    assert (billing["plan_tier"], billing["pending_plan"]) == ("pro", "basic")
    assert resumed.json() == {
        "success": True,
        "plan": "pro",
        "status": "active",
        "pending_plan": None,
    }
    assert _error(again) == (409, "conflict")
    # A well-formed move the account's state refuses is a conflict, as resuming twice is (it
    # was 422, which said the request itself was malformed, and no schema could tell them apart).
    assert _error(upwards) == (409, "conflict")
    assert "checkout" in upwards.json()["error"]["message"]
    assert _error(not_sold) == (403, "plan_not_self_serve")
    assert uncancelled.json()["status"] == "active"
    assert (february["plan_tier"], february["pending_plan"]) == ("pro", None)
    assert client.get(f"/v1/accounts/{account_id}", headers=OPERATOR).json()["plan"] == "pro"


def test_a4_the_customer_buys_storage_packs(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    account_id, customer = signup(client, "starter")
    anonymous = client.post("/api/auth/anonymous").json()

    five = client.post("/api/billing/storage-package?package_size=5gb", headers=customer)
    ten = client.post("/api/billing/storage-package?package_size=10GB", headers=customer)
    odd = client.post("/api/billing/storage-package?package_size=7gb", headers=customer)
    refused = client.post(
        "/api/billing/storage-package?package_size=5gb",
        headers={"Authorization": f"Bearer {anonymous['user_api_key']}"},
    )
    usage = client.get("/api/billing/usage", headers=customer).json()
    granted = client.get(f"/v1/accounts/{account_id}/entitlements", headers=OPERATOR).json()

    assert (five.json()["pack"], five.json()["amount"]) == ("storage_5gb", "0.50")
    assert five.json()["new_limit"] == 5 * 10**8 + 5 * 10**9  # 0.5 GB + 5 GB (A4)
    assert (ten.json()["pack"], ten.json()["amount"]) == ("storage_10gb", "0.90")
    assert _error(odd) == (422, "invalid_input")
    assert "10gb, 25gb, 5gb" in odd.json()["error"]["message"]
    assert _error(refused) == (403, "not_allowed_for_tier")
    assert usage["usage"]["project_storage"]["limit"] == 5 * 10**8 + 15 * 10**9
    json_storage = granted["limits"]["json_storage"]
    assert (json_storage["limit"], json_storage["pack_units"]) == (5 * 10**8, 0)  # never by a pack


def test_a2_the_customer_manages_its_user_api_keys_within_the_plans_limit(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    account_id, customer = signup(client, "starter")  # STARTER: 3 user API keys, 1 in use
    _, other = signup(client, "starter")
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR)
    project_key = client.post(
        f"/v1/accounts/{account_id}/keys",
        json={"project_id": project.json()["id"]},
        headers=OPERATOR,
    ).json()["id"]

    second = client.post("/api/billing/api-keys", json={"name": "ci"}, headers=customer)
    third = client.post("/api/billing/api-keys", json={}, headers=customer)
    fourth = client.post("/api/billing/api-keys", json={}, headers=customer)
    listed = client.get("/api/billing/api-keys", headers=customer)
    new_key = {"Authorization": f"Bearer {second.json()['key']}"}
    works = client.get("/api/billing", headers=new_key)
    theirs = client.delete(f"/api/billing/api-keys/{second.json()['id']}", headers=other)
    not_a_user_key = client.delete(f"/api/billing/api-keys/{project_key}", headers=customer)
    revoked = client.delete(f"/api/billing/api-keys/{second.json()['id']}", headers=customer)
    after = client.get("/api/billing", headers=new_key)
    replaced = client.post("/api/billing/api-keys", json={}, headers=customer)

    assert second.status_code == 201
    assert second.json()["key"].startswith("ask_")
    assert (second.json()["name"], second.json()["kind"]) == ("ci", "user")
    assert third.status_code == 201
    assert _error(fourth) == (429, "limit_exceeded")
    keys = listed.json()["keys"]
    assert len(keys) == 3
    assert {key["kind"] for key in keys} == {"user"}
    assert second.json()["key"] not in listed.text  # shown once only
    assert works.status_code == 200
    assert _error(theirs) == (404, "not_found")
    assert _error(not_a_user_key) == (404, "not_found")
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert replaced.status_code == 201
