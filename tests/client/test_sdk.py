"""The SDK against the service's documented answers, faked at the HTTP boundary."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from meterstack.client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    InvalidRequestError,
    MeterstackClientError,
    NotAllowedError,
    NotFoundError,
    QuotaExceededError,
    ServiceUnavailableError,
    UpgradeRequiredError,
)
from meterstack.rules.decisions import Decision, DecisionCode

BASE = "http://meterstack.test"
NOW = datetime(2026, 1, 10, tzinfo=UTC)
PERIOD_END = datetime(2026, 2, 1, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def decision(**changes: Any) -> dict[str, Any]:
    """A decision as the service answers it (``Decision.to_dict``)."""
    fields: dict[str, Any] = {
        "allowed": True,
        "code": DecisionCode.OK,
        "http_status": 200,
        "meter": "sessions",
        "quantity": 1,
        "used": 11,
        "held": 0,
        "limit": 25,
        "hard_limit": 25,
        "remaining": 14,
        "overage_units": 0,
        "warnings": (),
        "as_of": NOW,
        "period": "2026-01-01",
        "scope": "account",
        "message": "ok",
        "period_end": PERIOD_END,
    }
    fields.update(changes)
    return Decision(**fields).to_dict()


def error(status: int, code: str, details: dict[str, Any] | None = None, **headers: str) -> Any:
    body = {"error": {"code": code, "message": f"refused: {code}", "details": details or {}}}
    return httpx.Response(status, json=body, headers=headers)


def client(handler: Handler, *, retries: int = 2, key: str = "operator-key") -> Client:
    return Client(
        BASE, key, retries=retries, transport=httpx.MockTransport(handler), retry_backoff=0
    )


def async_client(handler: Handler, *, retries: int = 2) -> AsyncClient:
    transport = httpx.MockTransport(handler)
    return AsyncClient(BASE, "user-key", retries=retries, transport=transport, retry_backoff=0)


def sent(request: httpx.Request) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.content)
    return body


class Recorder:
    """Answers with ``answers`` in turn (the last one repeats) and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


# ---------------------------------------------------------------------- operator API


def test_create_account_sends_the_operator_key() -> None:
    service = Recorder(
        httpx.Response(
            201,
            json={
                "id": "acct_1",
                "plan": "free",
                "billing_interval": "monthly",
                "user_api_key": "ask_secret",
            },
        )
    )

    account = client(service).create_account("free", email="ada@example.com")

    request = service.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/accounts")
    assert request.headers["Authorization"] == "Bearer operator-key"
    assert sent(request) == {"plan": "free", "email": "ada@example.com"}
    assert (account.id, account.plan, account.user_api_key) == ("acct_1", "free", "ask_secret")
    assert "ask_secret" not in repr(account)


def test_consume_returns_the_decision_and_sends_an_idempotency_key() -> None:
    service = Recorder(httpx.Response(200, json=decision(used=12, remaining=13)))

    answer = client(service).consume("acct_1", "sessions", 1, project_id="prj_1")

    body = sent(service.requests[0])
    assert service.requests[0].url.path == "/v1/accounts/acct_1/consume"
    assert body["meter"] == "sessions"
    assert body["quantity"] == 1
    assert body["project_id"] == "prj_1"
    assert len(body["idempotency_key"]) == 36
    assert answer.allowed
    assert (answer.used, answer.limit, answer.remaining) == (12, 25, 13)
    assert answer.period_end == PERIOD_END


def test_d7_retries_on_503_send_the_same_idempotency_key() -> None:
    service = Recorder(
        httpx.Response(503, text="unavailable"),
        httpx.Response(503, text="unavailable"),
        httpx.Response(200, json=decision()),
    )

    answer = client(service, retries=2).consume("acct_1", "sessions")

    keys = {sent(request)["idempotency_key"] for request in service.requests}
    assert len(service.requests) == 3
    assert len(keys) == 1
    assert answer.allowed


def test_d7_a_given_idempotency_key_is_kept_through_timeouts() -> None:
    service = Recorder(httpx.ReadTimeout("slow"), httpx.Response(200, json=decision(replayed=True)))

    answer = client(service).consume("acct_1", "sessions", idempotency_key="req-42")

    assert [sent(request)["idempotency_key"] for request in service.requests] == [
        "req-42",
        "req-42",
    ]
    assert answer.replayed


def test_retries_are_bounded() -> None:
    service = Recorder(httpx.Response(502, text="bad gateway"))

    with pytest.raises(ServiceUnavailableError) as raised:
        client(service, retries=1).consume("acct_1", "sessions")

    assert len(service.requests) == 2
    assert raised.value.status == 502
    assert raised.value.code == "http_502"


def test_connection_refused_is_retried_even_for_a_new_account() -> None:
    service = Recorder(
        httpx.ConnectError("refused"),
        httpx.Response(
            201,
            json={
                "id": "acct_1",
                "plan": "free",
                "billing_interval": "monthly",
                "user_api_key": "k",
            },
        ),
    )

    assert client(service).create_account("free").id == "acct_1"
    assert len(service.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503, text="unavailable"), httpx.ReadTimeout("slow")],
    ids=["503", "read-timeout"],
)
def test_a_commit_the_service_may_have_seen_is_not_sent_twice(
    failure: httpx.Response | Exception,
) -> None:
    service = Recorder(failure, httpx.Response(200, json=decision()))

    with pytest.raises(ServiceUnavailableError):
        client(service).commit("rsv_1")

    assert len(service.requests) == 1


def test_unreachable_service() -> None:
    service = Recorder(httpx.ConnectError("refused"))

    with pytest.raises(ServiceUnavailableError) as raised:
        client(service, retries=2).account_usage("acct_1")

    assert len(service.requests) == 3
    assert raised.value.status is None
    assert raised.value.code == "service_unreachable"


def test_reserve_commit_release() -> None:
    held = decision(held=1, used=11, remaining=13, reservation_id="rsv_1")
    service = Recorder(
        httpx.Response(
            200,
            json={
                "reservation_id": "rsv_1",
                "expires_at": "2026-01-10T00:05:00+00:00",
                "decision": held,
            },
        ),
        httpx.Response(200, json=decision(used=12, remaining=13, reservation_id="rsv_1")),
        httpx.Response(200, json={"reservation_id": "rsv_1", "status": "released"}),
    )
    sdk = client(service)

    hold = sdk.reserve("acct_1", "sessions", ttl=60)
    committed = sdk.commit(hold.reservation_id, 1)
    released = sdk.release("rsv_1")

    paths = [request.url.path for request in service.requests]
    assert paths == [
        "/v1/accounts/acct_1/reserve",
        "/v1/reservations/rsv_1/commit",
        "/v1/reservations/rsv_1/release",
    ]
    assert sent(service.requests[0])["ttl"] == 60
    assert "idempotency_key" in sent(service.requests[0])
    assert sent(service.requests[1]) == {"quantity": 1}
    assert hold.expires_at == datetime(2026, 1, 10, 0, 5, tzinfo=UTC)
    assert hold.decision.held == 1
    assert committed.used == 12
    assert (released.reservation_id, released.status) == ("rsv_1", "released")


def test_account_usage() -> None:
    service = Recorder(
        httpx.Response(
            200,
            json={
                "account_id": "acct_1",
                "plan": "free",
                "period": "2026-01-01",
                "period_start": "2026-01-01T00:00:00+00:00",
                "period_end": "2026-02-01T00:00:00+00:00",
                "items": {
                    "sessions": {
                        "kind": "meter",
                        "used": 20,
                        "held": 1,
                        "limit": 25,
                        "hard_limit": 25,
                        "remaining": 4,
                        "percent": "84.00",
                        "is_near_limit": True,
                        "overage_units": 0,
                        "overage_enabled": False,
                    },
                    "projects": {
                        "kind": "resource",
                        "used": 2,
                        "held": 0,
                        "limit": None,
                        "hard_limit": None,
                        "remaining": None,
                        "percent": None,
                        "is_near_limit": False,
                        "overage_units": 0,
                        "overage_enabled": False,
                    },
                },
            },
        )
    )

    report = client(service).account_usage("acct_1")

    assert report.period_end == PERIOD_END
    assert report["sessions"].percent == Decimal("84.00")
    assert report["sessions"].held == 1
    assert report["projects"].limit is None
    assert report["projects"].percent is None


# ---------------------------------------------------------------------- errors (D4, C5)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "limit_exceeded", QuotaExceededError),
        (403, "hard_limit_exceeded", QuotaExceededError),
        (402, "upgrade_required", UpgradeRequiredError),
        (403, "not_allowed_for_tier", NotAllowedError),
        # The code decides, whatever the status says.
        (429, "upgrade_required", UpgradeRequiredError),
        (422, "idempotency_key_reused", ConflictError),
        (401, "invalid_api_key", AuthenticationError),
        (404, "not_found", NotFoundError),
        (409, "idempotency_key_reused", ConflictError),
        (409, "reservation_expired", ConflictError),
        (422, "invalid_input", InvalidRequestError),
        # Unknown codes: the status names the family, or none.
        (401, "token_expired", AuthenticationError),
        (409, "some_new_conflict", ConflictError),
        (403, "read_only", MeterstackClientError),
        (403, "forbidden", MeterstackClientError),
    ],
)
def test_d4_errors_are_mapped_by_code(
    status: int, code: str, expected: type[MeterstackClientError]
) -> None:
    service = Recorder(error(status, code, {"id": "x"}))

    with pytest.raises(MeterstackClientError) as raised:
        client(service).consume("acct_1", "sessions")

    assert type(raised.value) is expected
    assert raised.value.code == code
    assert raised.value.status == status
    assert raised.value.message == f"refused: {code}"
    assert raised.value.details == {"id": "x"}
    assert len(service.requests) == 1, "a refusal is never retried"


def test_c5_quota_exceeded_carries_current_usage_and_limit() -> None:
    refused = decision(
        allowed=False,
        code=DecisionCode.LIMIT_EXCEEDED,
        http_status=429,
        used=25,
        remaining=0,
        message="sessions: 25 used, 1 more would pass the limit 25",
    )
    details = {**refused, "current_usage": 25, "limit": 25}
    service = Recorder(error(429, "limit_exceeded", details, **{"Retry-After": "1900800"}))

    with pytest.raises(QuotaExceededError) as raised:
        client(service).consume("acct_1", "sessions")

    assert raised.value.details["current_usage"] == 25
    assert raised.value.details["limit"] == 25
    assert raised.value.retry_after == 1900800
    assert raised.value.decision is not None
    assert raised.value.decision.code is DecisionCode.LIMIT_EXCEEDED
    assert raised.value.decision.reset_seconds == 1900800


def test_an_answer_that_is_not_the_error_shape() -> None:
    service = Recorder(httpx.Response(418, text="<html>teapot</html>"))

    with pytest.raises(MeterstackClientError) as raised:
        client(service).consume("acct_1", "sessions")

    assert (raised.value.code, raised.value.status) == ("http_418", 418)
    assert raised.value.decision is None


# ---------------------------------------------------------------------- customer API (C4)


def usage_answer(meters: dict[str, Any], tier: str = "free", **extra: Any) -> httpx.Response:
    body = {"tier": tier, "period": "2026-01-01", "usage": meters, "resource_counts": {}, **extra}
    return httpx.Response(200, json=body)


def test_c4_flowstack_usage_names() -> None:
    service = Recorder(usage_answer({"sessions": {"used": 20, "limit": 25}}))

    usage = client(service, key="ask_customer").get_usage()

    assert service.requests[0].url.path == "/api/billing/usage"
    assert service.requests[0].headers["Authorization"] == "Bearer ask_customer"
    assert usage.tier == "free"
    assert (usage.sessions_used, usage.sessions_limit, usage.sessions_remaining) == (20, 25, 5)
    assert usage.usage_percentage == Decimal("80.00")
    assert usage.is_near_limit
    assert usage.can_make_requests
    assert usage.current_charges == Decimal("0.00")
    assert f"{usage.usage_percentage:.1f}%" == "80.0%"
    assert f"${usage.current_charges:.2f}" == "$0.00"


@pytest.mark.parametrize(
    ("used", "limit", "percentage", "near", "can", "remaining"),
    [
        (0, 25, "0.00", False, True, 25),
        (19, 25, "76.00", False, True, 6),
        (1, 3, "33.33", False, True, 2),
        (2, 3, "66.67", False, True, 1),
        (160, 200, "80.00", True, True, 40),
        (25, 25, "100.00", True, False, 0),
        (0, 0, "100.00", True, False, 0),
        (7, None, "0.00", False, True, None),
    ],
)
def test_c4_percentage_near_limit_and_can_make_requests(
    used: int,
    limit: int | None,
    percentage: str,
    near: bool,
    can: bool,
    remaining: int | None,
) -> None:
    service = Recorder(usage_answer({"sessions": {"used": used, "limit": limit}}))

    usage = client(service).usage()

    assert usage.usage_percentage == Decimal(percentage)
    assert usage.is_near_limit is near
    assert usage.can_make_requests is can
    assert usage.sessions_remaining == remaining


def test_c4_session_names_exist_only_with_a_sessions_meter() -> None:
    meters = {
        "api_requests": {"used": 45_000, "limit": 50_000},
        "ai_tokens": {"used": 10, "limit": None},
    }
    service = Recorder(usage_answer(meters, tier="starter", current_charges="12.50"))

    usage = client(service).usage()

    assert not hasattr(usage, "sessions_used")
    assert usage.primary_meter == "api_requests", "the meter nearest its limit"
    assert usage.usage_percentage == Decimal("90.00")
    assert usage["ai_tokens"].remaining is None
    assert usage.current_charges == Decimal("12.50")


def test_usage_of_a_chosen_meter_and_resource_counts() -> None:
    meters = {
        "api_requests": {"used": 10, "limit": 100, "current_charges": "1.25"},
        "ai_tokens": {"used": 90, "limit": 100, "current_charges": "0.75"},
    }
    counts = {"projects": {"limit": 3, "used": 2}}
    service = Recorder(usage_answer(meters, resource_counts=counts))

    usage = client(service).usage(meter="api_requests")

    assert usage.usage_percentage == Decimal("10.00")
    assert usage.current_charges == Decimal("2.00")
    assert usage.resource_counts["projects"].used == 2


def plans_answer() -> httpx.Response:
    def plan(tier: str, managed: bool | None, monthly: str | None) -> dict[str, Any]:
        features = {} if managed is None else {"managed_models": managed}
        return {
            "tier": tier,
            "name": tier.title(),
            "price": None if monthly is None else {"monthly": monthly, "yearly": None},
            "limits": {"sessions": 25},
            "grace_percent": "0",
            "features": features,
        }

    plans = [plan("free", False, "0.00"), plan("hobbyist", True, "15.00"), plan("solo", None, None)]
    return httpx.Response(200, json={"plans": plans})


def billing_answer(tier: str) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "plan_tier": tier,
            "status": "active",
            "billing_interval": "monthly",
            "stripe_customer_id": None,
            "stripe_subscription_id": None,
            "current_period_start": "2026-01-01T00:00:00+00:00",
            "current_period_end": "2026-02-01T00:00:00+00:00",
        },
    )


@pytest.mark.parametrize(
    ("tier", "managed"), [("free", False), ("hobbyist", True), ("solo", False)]
)
def test_c3_c4_tier_info(tier: str, managed: bool) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/billing/plans":
            return plans_answer()
        return billing_answer(tier)

    info = client(handle).get_tier_info()

    assert info.current_tier == tier
    assert info.can_use_managed is managed
    assert info["current_tier"] == tier
    assert info["can_use_managed"] is managed


def test_billing_and_plans_keep_money_decimal() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/billing/plans":
            return plans_answer()
        return billing_answer("hobbyist")

    sdk = client(handle)
    billing = sdk.billing()
    plans = sdk.plans()

    assert billing.stripe_customer_id is None
    assert billing.current_period_end == PERIOD_END
    assert plans[1].price is not None
    assert plans[1].price.monthly == Decimal("15.00")
    assert plans[2].price is None


# ---------------------------------------------------------------------- the async face


@pytest.mark.anyio
async def test_d7_async_retries_on_503_with_the_same_idempotency_key() -> None:
    service = Recorder(
        httpx.Response(503, text="unavailable"), httpx.Response(200, json=decision())
    )

    async with async_client(service) as sdk:
        answer = await sdk.consume("acct_1", "sessions")

    keys = {sent(request)["idempotency_key"] for request in service.requests}
    assert (len(service.requests), len(keys)) == (2, 1)
    assert answer.allowed


@pytest.mark.anyio
async def test_d4_async_errors_are_mapped_by_code() -> None:
    service = Recorder(error(403, "not_allowed_for_tier"))

    async with async_client(service) as sdk:
        with pytest.raises(NotAllowedError):
            await sdk.reserve("acct_1", "sessions")


@pytest.mark.anyio
async def test_c4_async_usage_and_tier_info() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/billing/usage":
            return usage_answer({"sessions": {"used": 25, "limit": 25}})
        if request.url.path == "/api/billing/plans":
            return plans_answer()
        return billing_answer("free")

    async with async_client(handle) as sdk:
        usage = await sdk.get_usage()
        info = await sdk.get_tier_info()

    assert (usage.sessions_used, usage.sessions_remaining) == (25, 0)
    assert not usage.can_make_requests
    assert info.current_tier == "free"
    assert not info.can_use_managed
