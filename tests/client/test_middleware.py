"""The ASGI middleware against a tiny app and a real engine (C5): holds, refusals, headers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from meterstack import Engine, ManualClock
from meterstack.answers import refusal_body
from meterstack.client import AsyncClient, Client
from meterstack.middleware import MeteringMiddleware, Receive, Scope, Send
from meterstack.rules.decisions import Decision

pytestmark = pytest.mark.anyio

EngineFactory = Callable[..., Engine]
#: The injected clock's start (tests/conftest.py).
START = datetime(2026, 1, 1, tzinfo=UTC)
#: A FlowStack account created at START renews on its anniversary, 1 February (D8).
PERIOD_SECONDS = int(timedelta(days=31).total_seconds())


#: Paths TinyApp answers with a status of their own.
STATUSES = {"/fail": 500, "/missing": 404, "/invalid": 422, "/moved": 303, "/created": 201}


class TinyApp:
    """``/slow`` waits for ``gate``; ``/boom`` raises; the paths of ``STATUSES`` answer their
    status; else 200 ``ok``."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = anyio.Event()
        self.gate = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        path = scope["path"]
        if path == "/boom":
            raise RuntimeError("the app failed")
        if path == "/slow":
            self.started.set()
            await self.gate.wait()
        status = STATUSES.get(path, 200)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def account_header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-account":
            return str(value.decode())
    return None


@pytest.fixture
def engine(open_engine: EngineFactory) -> Engine:
    return open_engine("flowstack")


@pytest.fixture
def tiny() -> TinyApp:
    return TinyApp()


def metered(
    app: TinyApp, metering: Engine | Client | AsyncClient, **options: Any
) -> MeteringMiddleware:
    options.setdefault("account_of", account_header)
    return MeteringMiddleware(app, engine_or_client=metering, meter="sessions", **options)


@pytest.fixture
async def http(tiny: TinyApp, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=metered(tiny, engine, exempt_paths=["/health"]))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        yield client


def sessions(engine: Engine, account_id: str) -> tuple[int, int]:
    item = engine.usage(account_id).items["sessions"]
    return item.used, item.held


async def test_c5_free_account_26th_session_refused_with_429_and_error_shape(
    http: httpx.AsyncClient, tiny: TinyApp, engine: Engine
) -> None:
    account = engine.create_account("free")
    for number in range(1, 26):
        response = await http.get("/chat", headers={"x-account": account.id})
        assert response.status_code == 200
        assert response.text == "ok"
        assert response.headers["RateLimit-Limit"] == "25"
        assert response.headers["RateLimit-Remaining"] == str(25 - number)
        assert response.headers["RateLimit-Reset"] == str(PERIOD_SECONDS)

    refused = await http.get("/chat", headers={"x-account": account.id})

    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(PERIOD_SECONDS)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["content-type"] == "application/json"
    error = refused.json()["error"]
    assert error["code"] == "limit_exceeded"
    assert error["message"] == "sessions: 25 used, 1 more would pass the limit 25"
    assert error["details"]["current_usage"] == 25
    assert error["details"]["limit"] == 25
    assert error["details"]["allowed"] is False
    assert tiny.calls == 25, "a refused request never reaches the app"
    assert sessions(engine, account.id) == (25, 0)


async def test_c5_usage_resets_at_the_next_billing_cycle(
    http: httpx.AsyncClient, engine: Engine, clock: ManualClock
) -> None:
    account = engine.create_account("free")
    engine.consume(account.id, "sessions", 25)
    assert (await http.get("/chat", headers={"x-account": account.id})).status_code == 429

    clock.set(START + timedelta(days=31))
    response = await http.get("/chat", headers={"x-account": account.id})

    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "24"
    assert response.headers["RateLimit-Reset"] == str(int(timedelta(days=28).total_seconds()))


async def test_c5_request_in_flight_finishes_when_the_limit_is_reached_meanwhile(
    http: httpx.AsyncClient, tiny: TinyApp, engine: Engine
) -> None:
    account = engine.create_account("free")
    engine.consume(account.id, "sessions", 23)
    headers = {"x-account": account.id}
    answers: dict[str, httpx.Response] = {}

    async def slow() -> None:
        answers["slow"] = await http.get("/slow", headers=headers)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(slow)
        await tiny.started.wait()
        assert sessions(engine, account.id) == (23, 1), "the slow request holds its session"
        answers["last"] = await http.get("/chat", headers=headers)
        answers["refused"] = await http.get("/chat", headers=headers)
        tiny.gate.set()

    assert answers["last"].status_code == 200
    assert answers["refused"].status_code == 429
    assert answers["refused"].json()["error"]["details"]["held"] == 1
    assert answers["slow"].status_code == 200
    assert answers["slow"].text == "ok"
    assert answers["slow"].headers["RateLimit-Remaining"] == "1"
    assert sessions(engine, account.id) == (25, 0)


async def test_hold_released_when_the_app_raises(http: httpx.AsyncClient, engine: Engine) -> None:
    account = engine.create_account("free")

    with pytest.raises(RuntimeError, match="the app failed"):
        await http.get("/boom", headers={"x-account": account.id})

    assert sessions(engine, account.id) == (0, 0)


async def test_hold_released_when_the_app_answers_a_server_error(
    http: httpx.AsyncClient, engine: Engine
) -> None:
    account = engine.create_account("free")

    response = await http.get("/fail", headers={"x-account": account.id})

    assert response.status_code == 500
    assert sessions(engine, account.id) == (0, 0)


async def test_c1_only_requests_the_app_processed_count_as_sessions(
    http: httpx.AsyncClient, engine: Engine
) -> None:
    account = engine.create_account("free")
    headers = {"x-account": account.id}

    answers = {path: (await http.get(path, headers=headers)).status_code for path in STATUSES}
    processed = (await http.get("/chat", headers=headers)).status_code

    assert answers == STATUSES
    assert processed == 200
    assert sessions(engine, account.id) == (3, 0)  # /created, /moved and /chat; none held


async def test_c1_the_counted_statuses_are_configurable(tiny: TinyApp, engine: Engine) -> None:
    account = engine.create_account("free")
    app = metered(tiny, engine, counted_statuses={200, 404})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        for path in ("/chat", "/missing", "/invalid", "/created"):
            await client.get(path, headers={"x-account": account.id})

    assert sessions(engine, account.id) == (2, 0)  # /chat and /missing


async def test_requests_without_an_account_or_on_exempt_paths_pass_untouched(
    http: httpx.AsyncClient, tiny: TinyApp, engine: Engine
) -> None:
    account = engine.create_account("free")
    engine.consume(account.id, "sessions", 25)

    anonymous = await http.get("/chat")
    health = await http.get("/health/live", headers={"x-account": account.id})

    assert (anonymous.status_code, health.status_code) == (200, 200)
    assert "RateLimit-Limit" not in anonymous.headers
    assert "RateLimit-Limit" not in health.headers
    assert tiny.calls == 2
    assert sessions(engine, account.id) == (25, 0)


async def test_async_account_of_and_quantity(tiny: TinyApp, engine: Engine) -> None:
    account = engine.create_account("free")

    async def account_of(scope: Scope) -> str | None:
        return account.id

    app = metered(tiny, engine, account_of=account_of, quantity=5)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        answers = [(await client.get("/chat")).status_code for _ in range(6)]

    assert answers == [200, 200, 200, 200, 200, 429]
    assert sessions(engine, account.id) == (25, 0)


async def test_unknown_account_answers_the_error_shape(
    http: httpx.AsyncClient, tiny: TinyApp
) -> None:
    response = await http.get("/chat", headers={"x-account": "acct_missing"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert tiny.calls == 0


def test_quantity_must_be_a_positive_whole_number(tiny: TinyApp, engine: Engine) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        metered(tiny, engine, quantity=0)


# ---------------------------------------------------------------------- through the SDK


def service_of(engine: Engine) -> httpx.MockTransport:
    """The three operator routes the middleware calls, answered by a real engine."""

    def handle(request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        if parts[-1] == "reserve":
            body = json.loads(request.content)
            hold = engine.reserve(parts[2], body["meter"], body["quantity"])
            assert hold.decision is not None
            if hold.id is None:
                retry = {"Retry-After": str(hold.decision.reset_seconds)}
                return httpx.Response(429, json=refusal_body(hold.decision), headers=retry)
            return httpx.Response(200, json=reservation_json(hold.id, hold.decision))
        if parts[-1] == "commit":
            return httpx.Response(200, json=engine.commit(parts[2]).to_dict())
        released = engine.release(parts[2])
        return httpx.Response(200, json={"reservation_id": released.id, "status": released.status})

    return httpx.MockTransport(handle)


def reservation_json(reservation_id: str, decision: Decision) -> dict[str, Any]:
    return {
        "reservation_id": reservation_id,
        "expires_at": decision.extra["expires_at"],
        "decision": decision.to_dict(),
    }


@pytest.mark.parametrize("face", ["async", "sync"])
async def test_c5_through_the_sdk(tiny: TinyApp, engine: Engine, face: str) -> None:
    account = engine.create_account("free")
    engine.consume(account.id, "sessions", 24)
    service = service_of(engine)
    remote = (
        AsyncClient("http://meterstack.test", "operator-key", transport=service)
        if face == "async"
        else Client("http://meterstack.test", "operator-key", transport=service)
    )
    transport = httpx.ASGITransport(app=metered(tiny, remote))
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
        failed = await http.get("/fail", headers={"x-account": account.id})
        last = await http.get("/chat", headers={"x-account": account.id})
        refused = await http.get("/chat", headers={"x-account": account.id})

    assert failed.status_code == 500, "released: the session is still there"
    assert last.status_code == 200
    assert last.headers["RateLimit-Remaining"] == "0"
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(PERIOD_SECONDS)
    assert refused.json()["error"]["details"]["current_usage"] == 25
    assert sessions(engine, account.id) == (25, 0)
    if isinstance(remote, AsyncClient):
        await remote.aclose()
    else:
        remote.close()


async def test_unreachable_service_answers_503(tiny: TinyApp) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    remote = AsyncClient(
        "http://meterstack.test", "key", transport=httpx.MockTransport(down), retry_backoff=0
    )
    transport = httpx.ASGITransport(app=metered(tiny, remote))
    async with remote, httpx.AsyncClient(transport=transport, base_url="http://app.test") as http:
        response = await http.get("/chat", headers={"x-account": "acct_1"})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unreachable"
    assert tiny.calls == 0
