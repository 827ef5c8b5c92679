"""The SDK and the middleware end to end against a live service on loopback (C1, C4, C5, D4)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest

from meterstack.client import AsyncClient, Client, QuotaExceededError
from meterstack.middleware import MeteringMiddleware, Receive, Scope, Send

OPERATOR_KEY = "operator-secret"


def test_c4_c5_the_sdk_against_a_live_service(live_service: Callable[..., Any]) -> None:
    service = live_service("flowstack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="free")
        decisions = [operator.consume(account.id, "sessions", 1) for _ in range(20)]
        with pytest.raises(QuotaExceededError) as refused:
            operator.consume(account.id, "sessions", 6)
    with Client(base, account.user_api_key) as customer:
        usage = customer.get_usage()
        tier = customer.get_tier_info()

    assert decisions[-1].used == 20
    assert refused.value.code == "limit_exceeded"
    assert (refused.value.details["current_usage"], refused.value.details["limit"]) == (20, 25)
    assert (usage.sessions_used, usage.sessions_limit, usage.sessions_remaining) == (20, 25, 5)
    assert usage.usage_percentage == Decimal("80.00")
    assert usage.is_near_limit
    assert usage.can_make_requests
    assert usage.tier == "free"
    assert (tier.current_tier, tier.can_use_managed) == ("free", False)


def test_c4_sessions_remaining_counts_open_holds(live_service: Callable[..., Any]) -> None:
    service = live_service("flowstack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="free")
        operator.consume(account.id, "sessions", 24)
        operator.reserve(account.id, "sessions", 1)  # a request in flight
        with pytest.raises(QuotaExceededError):
            operator.consume(account.id, "sessions", 1)
    with Client(base, account.user_api_key) as customer:
        usage = customer.get_usage()
        served = service.get(
            "/api/billing/usage", headers={"Authorization": f"Bearer {account.user_api_key}"}
        ).json()["usage"]["sessions"]

    assert (usage.sessions_used, usage.sessions_limit, usage.sessions_remaining) == (24, 25, 0)
    assert usage["sessions"].held == 1
    assert usage.usage_percentage == Decimal("100.00")
    assert not usage.can_make_requests
    assert (served["held"], served["remaining"], served["can_make_requests"]) == (1, 0, False)


def test_c4_can_make_requests_in_the_grace_zone(live_service: Callable[..., Any]) -> None:
    service = live_service("aerostack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="free")  # 50,000 requests, grace to 55,000
        operator.consume(account.id, "api_requests", 50_100)
        with Client(base, account.user_api_key) as customer:
            usage = customer.get_usage("api_requests")
        admitted = operator.consume(account.id, "api_requests", 1)
        operator.consume(account.id, "api_requests", 54_999 - 50_101)
        with Client(base, account.user_api_key) as customer:
            last = customer.get_usage("api_requests")
        final = operator.consume(account.id, "api_requests", 1)
        with Client(base, account.user_api_key) as customer:
            full = customer.get_usage("api_requests")

    assert (usage.used, usage.limit, usage.remaining) == (50_100, 50_000, 0)
    assert usage["api_requests"].hard_limit == 55_000
    assert usage.can_make_requests
    assert (admitted.allowed, admitted.code) == (True, "grace")
    assert (last.used, last.can_make_requests) == (54_999, True)
    assert final.used == 55_000
    assert not full.can_make_requests  # at the hard limit: the next one is refused (B7)


def test_the_async_sdk_against_a_live_service(live_service: Callable[..., Any]) -> None:
    service = live_service("agentstack")
    base = str(service.base_url)

    async def scenario() -> tuple[int, int]:
        async with AsyncClient(base, OPERATOR_KEY) as operator:
            account = await operator.create_account(plan="starter")
            first = await operator.consume(account.id, "api_calls", 5, idempotency_key="k-1")
            again = await operator.consume(account.id, "api_calls", 5, idempotency_key="k-1")
            return first.used, again.used

    assert anyio.run(scenario) == (5, 5)  # D7: the same key counts once


def test_c1_c5_the_middleware_with_a_remote_client(live_service: Callable[..., Any]) -> None:
    service = live_service("flowstack")
    base = str(service.base_url)
    with Client(base, OPERATOR_KEY) as operator:
        account = operator.create_account(plan="free")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        del scope, receive
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"answered"})

    async def scenario() -> list[httpx.Response]:
        async with AsyncClient(base, OPERATOR_KEY) as remote:
            guarded = MeteringMiddleware(
                app,
                engine_or_client=remote,
                meter="sessions",
                account_of=lambda scope: account.id,
            )
            transport = httpx.ASGITransport(app=guarded)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return [await client.post("/chat") for _ in range(26)]

    responses = anyio.run(scenario)

    assert [response.status_code for response in responses[:25]] == [200] * 25
    assert responses[24].headers["RateLimit-Remaining"] == "0"
    assert responses[25].status_code == 429
    assert responses[25].json()["error"]["code"] == "limit_exceeded"
    with Client(base, OPERATOR_KEY) as operator:
        assert operator.account_usage(account.id).items["sessions"].used == 25
