"""The HTTP service's contract over real HTTP on loopback, on SQLite and PostgreSQL
(B4–B10, A5, A6, A7, B7, D15)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import psycopg
import pytest

from conftest import idle_backend_pids
from meterstack import Engine, ManualClock
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
OPERATOR = {"Authorization": "Bearer operator-secret"}


def _account(client: Any, plan: str) -> tuple[str, dict[str, str]]:
    created = client.post("/v1/accounts", json={"plan": plan}, headers=OPERATOR)
    assert created.status_code == 201
    body = created.json()
    return body["id"], {"Authorization": f"Bearer {body['user_api_key']}"}


def test_b4_b5_b6_customer_endpoints_have_the_seed_shapes(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("aerostack")
    account_id, customer = _account(client, "starter")
    client.post(
        f"/v1/accounts/{account_id}/consume",
        json={"meter": "api_requests", "quantity": 1200},
        headers=OPERATOR,
    )

    billing = client.get("/api/billing", headers=customer).json()
    plans = client.get("/api/billing/plans", headers=customer).json()
    usage = client.get("/api/billing/usage", headers=customer).json()

    assert billing["plan_tier"] == "starter"
    assert billing["billing_interval"] == "monthly"
    assert (billing["stripe_customer_id"], billing["stripe_subscription_id"]) == (None, None)
    assert billing["current_period_start"].endswith("+00:00")
    starter = next(plan for plan in plans["plans"] if plan["tier"] == "starter")
    assert starter["price"] == {"monthly": "19.00", "yearly": "171.00"}
    enterprise = next(plan for plan in plans["plans"] if plan["tier"] == "enterprise")
    assert enterprise["price"] is None
    assert enterprise["limits"]["api_requests"] is None  # unlimited is null (D15)
    assert re.fullmatch(r"\d{4}-\d{2}", usage["period"])
    assert usage["usage"]["api_requests"] == {
        "used": 1200,
        "limit": 500_000,
        "held": 0,
        "remaining": 498_800,
        "hard_limit": 575_000,  # B7: Starter's 15 % grace
        "is_near_limit": False,
        "overage_enabled": False,
        "can_make_requests": True,  # C4
    }
    assert usage["resource_counts"]["projects"] == {"limit": 5, "used": 0}


def test_a5_overage_off_answers_429_with_headers_and_the_decision(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account_id, _ = _account(client, "starter")
    url = f"/v1/accounts/{account_id}/consume"

    allowed = client.post(
        url, json={"meter": "logic_engine_calls", "quantity": 50_000}, headers=OPERATOR
    )
    refused = client.post(
        url, json={"meter": "logic_engine_calls", "quantity": 1}, headers=OPERATOR
    )
    client.put(f"/v1/accounts/{account_id}/overage", json={"enabled": True}, headers=OPERATOR)
    overage = client.post(
        url, json={"meter": "logic_engine_calls", "quantity": 1}, headers=OPERATOR
    )

    assert allowed.status_code == 200
    assert allowed.headers["RateLimit-Limit"] == "50000"
    assert allowed.headers["RateLimit-Remaining"] == "0"
    assert int(allowed.headers["RateLimit-Reset"]) > 0
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert (error["details"]["current_usage"], error["details"]["limit"]) == (50_000, 50_000)
    assert int(refused.headers["Retry-After"]) > 0
    assert (overage.status_code, overage.json()["code"], overage.json()["overage_units"]) == (
        200,
        "overage",
        1,
    )


def test_b7_grace_then_403_over_http(live_service: Callable[..., Any]) -> None:
    client = live_service("aerostack")
    account_id, _ = _account(client, "free")
    url = f"/v1/accounts/{account_id}/consume"

    grace = client.post(url, json={"meter": "api_requests", "quantity": 55_000}, headers=OPERATOR)
    past = client.post(url, json={"meter": "api_requests", "quantity": 1}, headers=OPERATOR)

    assert (grace.status_code, grace.json()["code"]) == (200, "grace")
    assert grace.json()["warnings"]
    assert (past.status_code, past.json()["error"]["code"]) == (403, "hard_limit_exceeded")


def test_every_v1_route_refuses_a_customer_key(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id, customer = _account(client, "starter")
    paths = client.app.openapi()["paths"]

    statuses = {}
    for template, operations in paths.items():
        if not template.startswith("/v1"):
            continue
        path = re.sub(r"\{[a-z_]+\}", account_id, template)
        for method in operations:
            statuses[f"{method} {template}"] = client.request(
                method.upper(), path, headers=customer, json={}
            ).status_code

    assert len(statuses) >= 25
    assert set(statuses.values()) == {403}, statuses


def test_ids_of_another_account_answer_404(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    mine, _ = _account(client, "starter")
    theirs, _ = _account(client, "starter")
    project = client.post(f"/v1/accounts/{theirs}/projects", json={}, headers=OPERATOR).json()

    deleted = client.delete(f"/v1/accounts/{mine}/resources/{project['id']}", headers=OPERATOR)
    missing = client.get("/v1/accounts/acct_nope/usage", headers=OPERATOR)

    assert deleted.status_code == 404
    assert deleted.json()["error"]["code"] == "not_found"
    assert missing.status_code == 404


def test_b8_the_checkout_flow_through_the_local_pages(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    _, customer = _account(client, "starter")

    started = client.post(
        "/api/billing/checkout",
        json={
            "tier": "pro",
            "billing_interval": "monthly",
            "success_url": f"{client.base_url}/health",
        },
        headers=customer,
    )
    page = client.get(started.json()["url"])
    before = client.get("/api/billing", headers=customer).json()["plan_tier"]
    form = re.search(r"action='([^']+)'", page.text)
    assert form is not None
    paid = client.post(form.group(1))
    after = client.get("/api/billing", headers=customer).json()["plan_tier"]

    assert page.status_code == 200
    assert "PRO plan" in page.text
    assert before == "starter"
    assert paid.status_code == 200  # followed the redirect to the success URL
    assert after == "pro"


def test_a6_pack_endpoints_and_b9_b10(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    _, customer = _account(client, "starter")

    bought = client.post("/api/billing/logic-engine-package?package_size=medium", headers=customer)
    wrong = client.post("/api/billing/api-calls-package?package_size=huge", headers=customer)
    cancelled = client.post("/api/billing/cancel", headers=customer)
    portal = client.get("/api/billing/portal", headers=customer)

    assert bought.status_code == 200
    assert (bought.json()["amount"], bought.json()["new_limit"]) == ("20.00", 100_000)
    assert bought.json()["invoice_number"].startswith("INV-")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "invalid_input")
    assert "large, medium, small" in wrong.json()["error"]["message"]
    assert cancelled.json()["success"] is True
    assert client.get(portal.json()["url"]).status_code == 200
    unsigned = portal.json()["url"].split("?")[0]
    assert client.get(unsigned).status_code == 404  # an account id alone opens nothing


def test_a7_d19_anonymous_then_converted_over_http(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")

    anonymous = client.post("/api/auth/anonymous").json()
    key = {"Authorization": f"Bearer {anonymous['user_api_key']}"}
    usage = client.get("/api/billing/usage", headers=key)
    converted = client.post(
        "/api/auth/convert-anonymous",
        json={
            "user_api_key": anonymous["user_api_key"],
            "name": "Ada",
            "email": "ada@example.com",
            "password": "correct horse battery",
        },
    ).json()
    old_key = client.get("/api/billing", headers=key)
    new_key = client.get(
        "/api/billing", headers={"Authorization": f"Bearer {converted['user_api_key']}"}
    )

    assert anonymous["user_api_key"].startswith("anon_ask_")
    assert anonymous["tier"] == "anonymous"
    assert usage.status_code == 200
    assert (converted["account_id"], converted["tier"]) == (anonymous["account_id"], "free")
    assert old_key.status_code == 401
    assert new_key.json()["plan_tier"] == "free"


def test_malformed_input_is_422_with_the_field_path(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id, _ = _account(client, "starter")

    bad = client.post(
        f"/v1/accounts/{account_id}/consume",
        json={"meter": "api_calls", "quantity": 0},
        headers=OPERATOR,
    )
    no_key = client.get("/api/billing")

    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["problems"][0]["path"] == "quantity"
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] in {"unauthenticated", "invalid_api_key"}


def test_d19_a_platform_jwt_names_the_account(live_service: Callable[..., Any]) -> None:
    client = live_service(
        "aerostack", jwt_key="platform-secret-for-tests-only-32b", jwt_audience="billing"
    )
    account_id, _ = _account(client, "pro")
    expires = datetime.now(UTC) + timedelta(minutes=5)

    def token(**claims: Any) -> dict[str, str]:
        body = {"account_id": account_id, "aud": "billing", "exp": expires, **claims}
        signed = jwt.encode(body, claims.pop("key", "platform-secret-for-tests-only-32b"))
        return {"Authorization": f"Bearer {signed}"}

    good = client.get("/api/billing", headers=token())
    wrong_audience = client.get("/api/billing", headers=token(aud="other"))
    expired = client.get("/api/billing", headers=token(exp=datetime.now(UTC) - timedelta(1)))
    forged = client.get("/api/billing", headers=token(key="another-secret-of-32-bytes-long!"))

    assert (good.status_code, good.json()["plan_tier"]) == (200, "pro")
    assert [r.status_code for r in (wrong_audience, expired, forged)] == [401, 401, 401]
    operator_route = client.get(f"/v1/accounts/{account_id}", headers=token())
    assert (operator_route.status_code, operator_route.json()["error"]["code"]) == (
        401,
        "invalid_api_key",
    )


def test_a_project_key_reaches_only_its_project(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id, _ = _account(client, "starter")
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR).json()
    key = client.post(
        f"/v1/accounts/{account_id}/keys", json={"project_id": project["id"]}, headers=OPERATOR
    ).json()["key"]

    billing = client.get("/api/billing", headers={"Authorization": f"Bearer {key}"})
    operator = client.get(f"/v1/accounts/{account_id}", headers={"Authorization": f"Bearer {key}"})

    assert (billing.status_code, billing.json()["error"]["code"]) == (403, "forbidden")
    assert operator.status_code == 403


def test_a8_the_operator_lists_an_accounts_keys_without_their_text(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account_id, customer = _account(client, "pro")
    project = client.post(f"/v1/accounts/{account_id}/projects", json={}, headers=OPERATOR).json()
    issued = client.post(
        f"/v1/accounts/{account_id}/keys",
        json={"project_id": project["id"], "modules": ["analytics"]},
        headers=OPERATOR,
    ).json()

    every = client.get(f"/v1/accounts/{account_id}/keys", headers=OPERATOR)
    of_project = client.get(
        f"/v1/accounts/{account_id}/keys", params={"project_id": project["id"]}, headers=OPERATOR
    )
    as_customer = client.get(f"/v1/accounts/{account_id}/keys", headers=customer)

    assert every.status_code == 200
    kinds = sorted((key["kind"], key["project_id"] or "") for key in every.json()["keys"])
    assert kinds == [("project", project["id"]), ("user", "")]
    (listed,) = of_project.json()["keys"]
    assert (listed["id"], listed["prefix"], listed["modules"]) == (
        issued["id"],
        issued["prefix"],
        ["analytics"],
    )
    assert issued["key"] not in every.text
    assert as_customer.status_code in (401, 403)


def test_the_rest_of_the_operator_api_over_http(live_service: Callable[..., Any]) -> None:
    client = live_service("aerostack")
    account_id, _ = _account(client, "starter")
    base = f"/v1/accounts/{account_id}"

    def post(path: str, body: dict[str, Any]) -> Any:
        return client.post(path, json=body, headers=OPERATOR)

    check = post(f"{base}/check", {"meter": "api_requests", "quantity": 10})
    hold = post(f"{base}/reserve", {"meter": "ai_tokens", "quantity": 100, "ttl": 60}).json()
    committed = post(f"/v1/reservations/{hold['reservation_id']}/commit", {"quantity": 80})
    other = post(f"{base}/reserve", {"meter": "ai_tokens", "quantity": 5}).json()
    released = post(f"/v1/reservations/{other['reservation_id']}/release", {})
    batch = post(
        "/v1/usage/batch",
        {
            "events": [
                {"account_id": account_id, "meter": "api_requests", "quantity": 2},
                {"account_id": account_id, "meter": "nope"},
            ]
        },
    ).json()
    user = post(f"{base}/end-users", {"name": "u1"})
    gauge = post(f"{base}/gauges/storage", {"level": 1000})
    lease = post(f"{base}/leases", {"item": "realtime_connections"}).json()
    lease_end = post(f"/v1/leases/{lease['lease_id']}/release", {})
    limit = client.put(
        f"{base}/limits",
        json={"item": "api_requests", "limit": 5, "grace_percent": "0"},
        headers=OPERATOR,
    )
    over = post(f"{base}/consume", {"meter": "api_requests", "quantity": 10})
    upgraded = post(f"{base}/subscription", {"plan": "pro"}).json()
    invoices = client.get(f"{base}/invoices", headers=OPERATOR).json()["invoices"]
    number = invoices[0]["number"]
    as_html = client.get(f"/v1/invoices/{number}?format=html", headers=OPERATOR)
    as_pdf = client.get(f"/v1/invoices/{number}?format=pdf", headers=OPERATOR)
    closed = post("/v1/periods/close", {}).json()
    usage = client.get(f"{base}/usage", headers=OPERATOR).json()

    assert (check.status_code, check.json()["code"], check.json()["used"]) == (200, "ok", 10)
    assert hold["decision"]["held"] == 100
    assert (committed.json()["used"], committed.json()["held"]) == (80, 0)
    assert released.json()["status"] == "released"
    assert "decision" in batch["results"][0]
    assert batch["results"][1]["error"]["code"] == "invalid_input"
    assert user.status_code == 201
    assert gauge.json()["used"] == 1000
    assert lease_end.json()["status"] == "released"
    assert limit.json() == {"success": True}
    assert (over.status_code, over.json()["error"]["code"]) == (429, "limit_exceeded")
    assert upgraded["immediate"] is True
    assert upgraded["plan"] == "pro"
    assert invoices[0]["total"] == "19.00"  # the opening invoice, a decimal string (D15)
    assert as_html.text.startswith("<!DOCTYPE html>")
    assert as_pdf.content.startswith(b"%PDF-")
    assert closed["created"] == 0  # the period has not ended
    assert usage["items"]["api_requests"]["used"] == 2
    assert usage["plan"] == "pro"


def test_d19_anonymous_sign_ups_are_rate_limited_per_client_address(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("agentstack", anonymous_per_hour=2)

    first, second, third = (client.post("/api/auth/anonymous") for _ in range(3))
    clock.advance(timedelta(hours=1))
    later = client.post("/api/auth/anonymous")

    assert [first.status_code, second.status_code] == [201, 201]
    assert (third.status_code, third.json()["error"]["code"]) == (429, "rate_limited")
    assert later.status_code == 201


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_d7_a_lost_database_connection_is_503_store_unavailable_and_a_retry_succeeds(
    live_service: Callable[..., Any], store_of: Callable[[Engine], SqlStore], store_url: str
) -> None:
    client = live_service("flowstack")
    account_id, _ = _account(client, "free")
    url = f"/v1/accounts/{account_id}/consume"
    body = {"meter": "sessions", "quantity": 1, "idempotency_key": "retry-me"}
    engine: Engine = client.app.state.engine
    pids = idle_backend_pids(store_of(engine))
    with psycopg.connect(store_url.split("?", maxsplit=1)[0], autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    lost = client.post(url, json=body, headers=OPERATOR)
    retried = client.post(url, json=body, headers=OPERATOR)
    again = client.post(url, json=body, headers=OPERATOR)

    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "store_unavailable")
    assert lost.headers["Retry-After"] == "1"
    assert (retried.status_code, retried.json()["used"]) == (200, 1)
    assert (again.json()["used"], again.json()["replayed"]) == (1, True)
