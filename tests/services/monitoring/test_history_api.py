"""Usage history and exports over HTTP (D27, D9, A2, A11), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from meterstack import ManualClock
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.server.history import csv_cell, usage_csv

OPERATOR = {"Authorization": "Bearer operator-secret"}


def _account(client: Any, plan: str) -> tuple[str, dict[str, str]]:
    created = client.post("/v1/accounts", json={"plan": plan}, headers=OPERATOR)
    assert created.status_code == 201
    body = created.json()
    return body["id"], {"Authorization": f"Bearer {body['user_api_key']}"}


def _consume(client: Any, account: str, quantity: int, project: str | None = None) -> None:
    answer = client.post(
        f"/v1/accounts/{account}/consume",
        json={"meter": "api_calls", "quantity": quantity, "project_id": project},
        headers=OPERATOR,
    )
    assert answer.status_code == 200, answer.text


def test_d27_d9_free_is_refused_8_days_back_and_pro_reads_90(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("agentstack")
    free, free_key = _account(client, "free")
    pro, pro_key = _account(client, "pro")
    _consume(client, pro, 40)
    _consume(client, free, 3)
    clock.advance(timedelta(days=90, hours=8))
    _consume(client, pro, 2)
    today = clock.now().replace(hour=0)

    def history(key: dict[str, str], days_back: int) -> Any:
        start = (today - timedelta(days=days_back)).isoformat()
        return client.get("/api/billing/usage/history", params={"from": start}, headers=key)

    refused = history(free_key, 8)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "beyond_retention"
    assert error["details"]["retention_days"] == 7
    assert error["details"]["earliest"] == (today - timedelta(days=7)).isoformat()
    assert history(free_key, 7).status_code == 200

    read = history(pro_key, 90)
    assert read.status_code == 200
    body = read.json()
    assert body["retention_days"] == 90
    assert body["granularity"] == "day"
    assert body["from"] == (today - timedelta(days=90)).isoformat()
    assert [(b["start"][:10], b["meter"], b["used"]) for b in body["buckets"]] == [
        ("2026-01-01", "api_calls", 40),
        ("2026-04-01", "api_calls", 2),
    ]
    assert history(pro_key, 91).status_code == 403

    hourly = client.get(
        "/api/billing/usage/history",
        params={"granularity": "hour", "meter": "api_calls"},
        headers=pro_key,
    ).json()
    assert [(b["start"], b["used"]) for b in hourly["buckets"]] == [
        ("2026-04-01T08:00:00+00:00", 2)
    ]
    bad = client.get(
        "/api/billing/usage/history", params={"granularity": "minute"}, headers=pro_key
    )
    assert bad.status_code == 422


def test_a11_the_project_breakdown_is_the_operators_only(
    live_service: Callable[..., Any],
) -> None:
    client = live_service("agentstack")
    account, key = _account(client, "pro")
    projects = [
        client.post(f"/v1/accounts/{account}/projects", json={}, headers=OPERATOR).json()["id"]
        for _ in range(2)
    ]
    _consume(client, account, 5, projects[0])
    _consume(client, account, 7, projects[1])

    customer = client.get("/api/billing/usage/history", headers=key).json()
    assert [(b["meter"], b["used"]) for b in customer["buckets"]] == [("api_calls", 12)]
    assert all("project_id" not in bucket for bucket in customer["buckets"])
    asked = client.get(
        "/api/billing/usage/history", params={"by_project": "true"}, headers=key
    ).json()
    assert all("project_id" not in bucket for bucket in asked["buckets"])  # not a customer's
    assert client.get(f"/v1/accounts/{account}/usage/history", headers=key).status_code == 403

    url = f"/v1/accounts/{account}/usage/history"
    operator = client.get(url, params={"by_project": "true"}, headers=OPERATOR).json()
    assert sorted((b["project_id"], b["used"]) for b in operator["buckets"]) == sorted(
        [(projects[0], 5), (projects[1], 7)]
    )
    whole = client.get(url, params={"from": "2020-01-01T00:00:00Z"}, headers=OPERATOR)
    assert whole.status_code == 200  # operators read without a window
    assert [b["project_id"] for b in whole.json()["buckets"]] == [None]


def test_a2_d27_an_export_counts_one_of_the_plans_exports_per_period(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("agentstack")
    free, key = _account(client, "free")  # 1 export a month (A2)
    _consume(client, free, 3)
    clock.advance(timedelta(hours=2))

    first = client.get("/api/billing/usage/export", params={"format": "csv"}, headers=key)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/csv")
    assert first.text == "start,meter,used,byok\n2026-01-01T00:00:00+00:00,api_calls,3,0\n"
    again = client.get("/api/billing/usage/export", params={"format": "json"}, headers=key)
    assert again.status_code == 429
    assert again.json()["error"]["code"] == "limit_exceeded"
    assert again.json()["error"]["details"]["meter"] == "analytics_exports"
    usage = client.get("/api/billing/usage", headers=key).json()
    assert usage["usage"]["analytics_exports"]["used"] == 1

    # Beyond the window nothing is exported, and nothing is counted.
    clock.advance(timedelta(days=31))  # February: a new period, a new export
    old = client.get(
        "/api/billing/usage/export", params={"from": "2026-01-01T00:00:00Z"}, headers=key
    )
    assert old.status_code == 403
    exported = client.get("/api/billing/usage/export", params={"format": "json"}, headers=key)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"].endswith('.json"')
    assert exported.json()["buckets"] == []
    assert client.get("/api/billing/usage/export", headers=key).status_code == 429


def test_d27_csv_cells_that_a_spreadsheet_would_run_are_escaped() -> None:
    for formula in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("api_calls") == "api_calls"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bucket = UsageBucket("=cmd|' /C calc'!A0", None, Granularity.DAY, start, 1, 0)
    assert usage_csv([bucket]).splitlines()[1] == (
        "2026-01-01T00:00:00+00:00,'=cmd|' /C calc'!A0,1,0"
    )
