"""Inputs that used to break the service, or to be read as something else, are refused at the door
with a precise 4xx in the one error shape, and change nothing (D15, bounds, NUL, sizes, order)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from meterstack.bounds import MAX_QUANTITY

OPERATOR = {"Authorization": "Bearer operator-secret"}


def _account(client: Any, plan: str = "starter") -> str:
    created = client.post("/v1/accounts", json={"plan": plan}, headers=OPERATOR)
    assert created.status_code == 201, created.text
    account_id: str = created.json()["id"]
    return account_id


def _used(client: Any, account_id: str, item: str = "api_calls") -> int:
    usage = client.get(f"/v1/accounts/{account_id}/usage", headers=OPERATOR).json()
    used: int = usage["items"][item]["used"]
    return used


def _refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, body
    return error


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_strict_types_a_quantity_is_a_json_integer(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    url = f"/v1/accounts/{account_id}/consume"

    for quantity in (True, "5", 2.0):
        answer = client.post(
            url, json={"meter": "api_calls", "quantity": quantity}, headers=OPERATOR
        )
        error = _refused(answer, 422, "invalid_input")
        assert error["message"].startswith("quantity:"), error
    assert _used(client, account_id) == 0
    assert (
        client.post(url, json={"meter": "api_calls", "quantity": 2}, headers=OPERATOR).json()[
            "used"
        ]
        == 2
    )

    # In a batch, each event is read the same way, and a malformed one is its own error only.
    batch = client.post(
        "/v1/usage/batch",
        json={
            "events": [
                {"account_id": account_id, "meter": "api_calls", "quantity": "5"},
                {"account_id": account_id, "meter": "api_calls", "quantity": 3},
                {"account_id": account_id, "meter": "api_calls", "quantity": True},
            ]
        },
        headers=OPERATOR,
    ).json()["results"]
    assert [set(result) for result in batch] == [{"error"}, {"decision"}, {"error"}]
    assert batch[0]["error"]["code"] == "invalid_input"
    assert batch[1]["decision"]["used"] == 5
    assert _used(client, account_id) == 5


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_d15_money_in_requests_is_a_decimal_string(live_service: Callable[..., Any]) -> None:
    client = live_service("aerostack")
    account_id = _account(client)
    url = f"/v1/accounts/{account_id}/limits"

    for grace in (12.5, 12, True):
        answer = client.put(
            url,
            json={"item": "api_requests", "limit": 100, "grace_percent": grace},
            headers=OPERATOR,
        )
        error = _refused(answer, 422, "invalid_input")
        assert error["message"].startswith("grace_percent:"), error
    entitlements = client.get(f"/v1/accounts/{account_id}/entitlements", headers=OPERATOR).json()
    assert entitlements["limits"]["api_requests"]["limit"] == 500_000  # nothing changed

    written = client.put(
        url, json={"item": "api_requests", "limit": 100, "grace_percent": "12.5"}, headers=OPERATOR
    )
    assert written.status_code == 200, written.text
    limits = client.get(f"/v1/accounts/{account_id}/entitlements", headers=OPERATOR).json()
    assert limits["limits"]["api_requests"]["grace_percent"] == "12.5"
    assert limits["limits"]["api_requests"]["hard_limit"] == 113  # 100 + 12.5 %, rounded up


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_unknown_fields_are_refused_not_ignored(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    url = f"/v1/accounts/{account_id}/consume"

    # A misspelt idempotency key, ignored, would count a retry twice.
    body = {"meter": "api_calls", "quantity": 4, "idempotency_kye": "retry-1"}
    error = _refused(client.post(url, json=body, headers=OPERATOR), 422, "invalid_input")
    assert "idempotency_kye" in error["message"]
    customer_body = {"enabled": True, "meters": ["api_calls"]}
    created = client.post("/v1/accounts", json={"plan": "starter"}, headers=OPERATOR).json()
    customer = {"Authorization": f"Bearer {created['user_api_key']}"}
    answer = client.put("/api/billing/overage", json=customer_body, headers=customer)
    _refused(answer, 422, "invalid_input")
    assert _used(client, account_id) == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_body_over_the_routes_size_is_413_in_the_error_shape(
    live_service: Callable[..., Any],
) -> None:
    client = live_service(
        "agentstack", max_body_bytes=2048, body_limits={"POST /v1/usage/batch": 8192}
    )
    account_id = _account(client)
    padding = "x" * 3000
    too_large = {"meter": "api_calls", "project_id": padding}

    error = _refused(
        client.post(f"/v1/accounts/{account_id}/consume", json=too_large, headers=OPERATOR),
        413,
        "body_too_large",
    )
    assert error["details"] == {"limit": 2048}
    # Without a length announced (a chunked body), the size is counted as it arrives.
    chunks = iter([b'{"meter": "api_calls", "name": "', b"x" * 4000, b'"}'])
    answer = client.post(
        f"/v1/accounts/{account_id}/projects",
        content=chunks,
        headers={**OPERATOR, "Content-Type": "application/json"},
    )
    _refused(answer, 413, "body_too_large")
    # The batch route has a size of its own.
    events = [
        {"account_id": account_id, "meter": "api_calls", "idempotency_key": f"k{n}"}
        for n in range(60)
    ]
    batch = client.post("/v1/usage/batch", json={"events": events}, headers=OPERATOR)
    assert batch.status_code == 200, batch.text
    assert _used(client, account_id) == 60


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_body_over_1_mib_is_413_by_default(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    events = [{"account_id": account_id, "meter": "api_calls", "project_id": "p" * 80}] * 1000
    body = {"events": events, "padding": "x" * (1024 * 1024)}
    _refused(client.post("/v1/usage/batch", json=body, headers=OPERATOR), 413, "body_too_large")
    assert _used(client, account_id) == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_body_that_is_not_utf8_gets_the_error_shape(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    for raw in (b'{"meter": "api_\xff\xfecalls"}', '{"meter": "api_calls"}'.encode("utf-16")):
        answer = client.post(
            f"/v1/accounts/{account_id}/consume",
            content=raw,
            headers={**OPERATOR, "Content-Type": "application/json"},
        )
        error = _refused(answer, 422, "invalid_input")
        assert "UTF-8" in error["message"]
    assert _used(client, account_id) == 0


def test_nul_characters_in_ids_keys_idempotency_keys_and_paths_are_422(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    url = f"/v1/accounts/{account_id}/consume"
    bodies = [
        {"meter": "api_calls", "idempotency_key": "retry\x00-1"},
        {"meter": "api_\x00calls"},
        {"meter": "api_calls", "project_id": "prj\x00"},
        {"meter": "api_calls", "api_key_id": "\x00"},
        {"meter": "api_calls", "requires": ["analytics\x00"]},
    ]
    for body in bodies:
        error = _refused(client.post(url, json=body, headers=OPERATOR), 422, "invalid_input")
        assert "NUL" in error["message"]
    batch = client.post(
        "/v1/usage/batch",
        json={
            "events": [{"account_id": account_id, "meter": "api_calls", "idempotency_key": "\x00"}]
        },
        headers=OPERATOR,
    )
    _refused(batch, 422, "invalid_input")
    for path in (
        f"/v1/accounts/{account_id}%00/consume",
        f"/v1/accounts/{account_id}%00",
        f"/v1/accounts/{account_id}/usage?project_id=%00",
        "/v1/accounts/%00/dashboard-link",
    ):
        method = "GET" if "usage" in path or path.endswith("%00") else "POST"
        answer = client.request(method, path, json={"meter": "api_calls"}, headers=OPERATOR)
        _refused(answer, 422, "invalid_input")
    created = client.post("/v1/accounts", json={"plan": "starter"}, headers=OPERATOR).json()
    customer = {"Authorization": f"Bearer {created['user_api_key']}"}
    answer = client.post("/api/billing/api-keys", json={"name": "ci\x00"}, headers=customer)
    _refused(answer, 422, "invalid_input")
    convert = {
        "user_api_key": "anon_ask_\x00",
        "name": "N",
        "email": "n@example.com",
        "password": "long enough",
    }
    _refused(client.post("/api/auth/convert-anonymous", json=convert), 422, "invalid_input")
    assert _used(client, account_id) == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_bounds_integers_beyond_10_15_are_refused_at_the_door(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    too_big = (MAX_QUANTITY + 1, 2**63, 10**30)
    for value in too_big:
        requests = [
            ("POST", "consume", {"meter": "api_calls", "quantity": value}),
            ("POST", "reserve", {"meter": "api_calls", "quantity": value}),
            ("PUT", "limits", {"item": "api_calls", "limit": value}),
            ("POST", "gauges/project_storage", {"level": value}),
            ("POST", "gauges/project_storage", {"delta": value}),
            ("POST", "gauges/project_storage", {"delta": -value}),
            ("POST", "keys", {"quotas": {"api_calls": value}}),
        ]
        for method, route, body in requests:
            answer = client.request(
                method, f"/v1/accounts/{account_id}/{route}", json=body, headers=OPERATOR
            )
            error = _refused(answer, 422, "invalid_input")
            assert "less than or equal to 1000000000000000" in error["message"] or (
                "greater than or equal to -1000000000000000" in error["message"]
            ), error
    at_the_bound = client.put(
        f"/v1/accounts/{account_id}/limits",
        json={"item": "api_calls", "limit": MAX_QUANTITY},
        headers=OPERATOR,
    )
    assert at_the_bound.status_code == 200, at_the_bound.text
    assert _used(client, account_id) == 0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_body_is_parsed_after_authentication(live_service: Callable[..., Any]) -> None:
    client = live_service("agentstack")
    account_id = _account(client)
    junk = {"Content-Type": "application/json"}
    for headers in ({}, {"Authorization": "Bearer wrong-key"}):
        for raw in (b"{not json", b"\xff\xfe", b'{"meter": 5, "quantity": "lots"}'):
            for path in (f"/v1/accounts/{account_id}/consume", "/api/billing/api-keys"):
                answer = client.post(path, content=raw, headers={**junk, **headers})
                assert answer.status_code == 401, (path, raw, answer.text)
                assert answer.json()["error"]["code"] in {"unauthenticated", "invalid_api_key"}
    # A body too large from an anonymous caller is not even read.
    answer = client.post(
        f"/v1/accounts/{account_id}/consume", content=b" " * (1024 * 1024 + 100), headers=junk
    )
    assert answer.status_code == 401
