"""Entitlements on the HTTP doors (A8, A10, A12, C3, D4, B5): feature, module and payment
checks, the entitlements listing, metered requests that require a feature, the public price list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meterstack import Engine

OPERATOR = {"Authorization": "Bearer operator-secret"}
#: The ``signup`` fixture (tests/conftest.py): (account id, customer headers).
Signup = Callable[[Any, str], tuple[str, dict[str, str]]]


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a8_a12_d4_feature_checks_over_http(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    starter, _ = signup(client, "starter")
    anonymous = client.post("/api/auth/anonymous").json()["account_id"]

    def check(account_id: str, feature: str, body: dict[str, str] | None = None) -> Any:
        path = f"/v1/accounts/{account_id}/features/{feature}/check"
        return client.post(path, json=body, headers=OPERATOR)

    audit = check(starter, "audit_logs")
    webhooks = check(starter, "webhooks")
    payments = check(anonymous, "payments")
    level = check(starter, "analytics", {"level": "nope"})
    unknown = check(starter, "teleport")
    missing = check("acct_nope", "webhooks")

    assert _error(audit) == (402, "upgrade_required")
    assert audit.json()["error"]["details"]["extra"]["upgrade_to"] == "pro"
    assert (webhooks.status_code, webhooks.json()["allowed"], webhooks.json()["code"]) == (
        200,
        True,
        "ok",
    )
    assert _error(payments) == (403, "not_allowed_for_tier")  # "Disabled" on ANONYMOUS
    assert payments.json()["error"]["details"]["extra"]["upgrade_to"] == "free"
    assert _error(level) == (422, "invalid_input")
    assert _error(unknown) == (422, "invalid_input")
    assert _error(missing) == (404, "not_found")


def test_a8_a_keys_module_check_over_http(live_service: Callable[..., Any], signup: Signup) -> None:
    client = live_service("agentstack")
    account_id, _ = signup(client, "starter")
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR)
    capped = client.post(
        f"/v1/accounts/{account_id}/keys",
        json={"project_id": project.json()["id"], "modules": ["analytics"]},
        headers=OPERATOR,
    ).json()["id"]

    refused = client.post(f"/v1/keys/{capped}/modules/payments/check", headers=OPERATOR)
    allowed = client.post(f"/v1/keys/{capped}/modules/analytics/check", headers=OPERATOR)
    unknown = client.post(f"/v1/keys/{capped}/modules/teleport/check", headers=OPERATOR)

    assert _error(refused) == (403, "module_not_allowed")
    assert refused.json()["error"]["details"]["extra"]["modules"] == ["analytics"]
    assert (allowed.status_code, allowed.json()["allowed"]) == (200, True)
    assert _error(unknown) == (422, "invalid_input")


def test_a10_the_payment_check_asks_the_tier_then_the_keys_caps(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    account_id, _ = signup(client, "starter")
    other_id, _ = signup(client, "starter")
    anonymous = client.post("/api/auth/anonymous").json()["account_id"]
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR)
    capped = client.post(
        f"/v1/accounts/{account_id}/keys",
        json={"project_id": project.json()["id"], "modules": ["scheduler"]},
        headers=OPERATOR,
    ).json()["id"]

    def check(account: str, body: dict[str, str] | None = None) -> Any:
        return client.post(f"/v1/accounts/{account}/payments/check", json=body, headers=OPERATOR)

    plain = check(account_id)
    on_anonymous = check(anonymous)
    by_capped_key = check(account_id, {"api_key_id": capped})
    by_anothers_key = check(other_id, {"api_key_id": capped})

    assert (plain.status_code, plain.json()["meter"]) == (200, "payments")
    assert _error(on_anonymous) == (403, "not_allowed_for_tier")
    assert _error(by_capped_key) == (403, "module_not_allowed")
    assert _error(by_anothers_key) == (404, "not_found")


def test_a2_a8_d14_d16_the_entitlements_of_an_account_with_overrides(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("agentstack")
    engine: Engine = client.app.state.engine
    account_id, _ = signup(client, "starter")
    client.put(
        f"/v1/accounts/{account_id}/limits",
        json={"item": "api_calls", "limit": 300_000},
        headers=OPERATOR,
    )
    engine.set_feature(account_id, "audit_logs", True)
    engine.grant_pack(account_id, "storage_5gb")

    listed = client.get(f"/v1/accounts/{account_id}/entitlements", headers=OPERATOR)
    body = listed.json()

    assert listed.status_code == 200
    assert (body["plan"], body["plan_name"]) == ("starter", "STARTER")
    assert set(body["features"]) == set(engine.catalog.features)
    assert body["features"]["audit_logs"] == {
        "name": engine.catalog.features["audit_logs"].name,
        "value": True,
        "granted": True,
        "levels": None,
        "overridden": True,
    }
    assert body["features"]["white_label"]["granted"] is False
    assert set(body["limits"]) == set(engine.catalog.items)
    assert body["limits"]["api_calls"]["limit"] == 300_000
    assert body["limits"]["api_calls"]["overridden"] is True
    assert body["limits"]["user_api_keys"]["limit"] == 3  # A2: "User API Keys" on STARTER
    storage = body["limits"]["project_storage"]
    assert (storage["pack_units"], storage["limit"]) == (5 * 10**9, 5 * 10**9 + 5 * 10**8)
    assert (body["analytics_retention_days"], body["analytics_exports"]) == (30, 5)
    assert (body["support"], body["uptime_sla_percent"]) == ("Priority", "99.5")
    assert body["payments"] is True


def test_c3_a_managed_model_session_on_free_is_refused_403_in_one_call_over_http(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("flowstack")
    free, _ = signup(client, "free")
    hobbyist, _ = signup(client, "hobbyist")
    body = {"meter": "sessions", "quantity": 1, "requires": ["managed_models"]}

    consumed = client.post(f"/v1/accounts/{free}/consume", json=body, headers=OPERATOR)
    held = client.post(f"/v1/accounts/{free}/reserve", json=body, headers=OPERATOR)
    checked = client.post(f"/v1/accounts/{free}/check", json=body, headers=OPERATOR)
    byok = client.post(f"/v1/accounts/{free}/consume", json={"meter": "sessions"}, headers=OPERATOR)
    managed = client.post(f"/v1/accounts/{hobbyist}/consume", json=body, headers=OPERATOR)
    unknown = client.post(
        f"/v1/accounts/{hobbyist}/consume",
        json={**body, "requires": ["teleport"]},
        headers=OPERATOR,
    )
    usage = client.get(f"/v1/accounts/{free}/usage", headers=OPERATOR).json()

    for refused in (consumed, held, checked):
        assert _error(refused) == (403, "not_allowed_for_tier")
        details = refused.json()["error"]["details"]
        assert (details["meter"], details["extra"]["feature"]) == ("sessions", "managed_models")
        assert details["extra"]["upgrade_to"] == "hobbyist"  # the plan that has it
    assert (byok.status_code, byok.json()["used"]) == (200, 1)
    assert usage["items"]["sessions"]["used"] == 1  # the refused ones recorded nothing
    assert usage["items"]["sessions"]["held"] == 0
    assert (managed.status_code, managed.json()["used"]) == (200, 1)
    assert _error(unknown) == (422, "invalid_input")


def test_c3_a_batch_event_that_requires_a_lacking_feature_is_refused_alone_over_http(
    live_service: Callable[..., Any], signup: Signup
) -> None:
    client = live_service("flowstack")
    free, _ = signup(client, "free")
    events = [
        {"account_id": free, "meter": "sessions", "requires": ["managed_models"]},
        {"account_id": free, "meter": "sessions"},
        {"account_id": free, "meter": "sessions", "requires": ["teleport"]},
        {"account_id": free, "meter": "sessions", "requires": "managed_models"},
    ]

    response = client.post("/v1/usage/batch", json={"events": events}, headers=OPERATOR)
    usage = client.get(f"/v1/accounts/{free}/usage", headers=OPERATOR).json()

    assert response.status_code == 200
    refused, admitted, unknown, malformed = response.json()["results"]
    decision = refused["decision"]
    assert (decision["allowed"], decision["http_status"], decision["code"]) == (
        False,
        403,
        "not_allowed_for_tier",
    )
    assert (decision["meter"], decision["extra"]["feature"]) == ("sessions", "managed_models")
    assert decision["extra"]["upgrade_to"] == "hobbyist"
    assert (admitted["decision"]["allowed"], admitted["decision"]["used"]) == (True, 1)
    assert unknown["error"]["code"] == "invalid_input"
    assert "teleport" in unknown["error"]["message"]
    assert malformed["error"]["code"] == "invalid_input"
    assert usage["items"]["sessions"]["used"] == 1  # only the event that needed nothing counted


def test_b5_the_price_list_is_public_with_support_sla_retention_and_exports(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")

    listed = client.get("/api/billing/plans")
    plans = {plan["tier"]: plan for plan in listed.json()["plans"]}

    assert listed.status_code == 200
    assert listed.json()["currency"] == "USD"
    starter = plans["starter"]
    assert starter["price"] == {"monthly": "29.00", "yearly": None}
    assert (starter["support"], starter["uptime_sla_percent"]) == ("Priority", "99.5")
    assert (starter["analytics_retention_days"], starter["analytics_exports"]) == (30, 5)
    assert starter["limits"]["user_api_keys"] == 3
    enterprise = plans["enterprise"]
    assert (enterprise["price"], enterprise["self_serve"]) == (None, False)
    assert (enterprise["analytics_retention_days"], enterprise["support"]) == (None, "Dedicated")
    assert plans["anonymous"]["payments"] is False
