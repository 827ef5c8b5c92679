"""A hung database (not a stopped one) answers 503 ``store_unavailable`` within the timeout.

Before, a PostgreSQL server that stopped answering left every request waiting on its socket,
until every worker thread was taken and ``/health`` too. The store bounds the wait for a
connection, a lock, a statement and the whole unit of work (5 s by default; short here), and
``/health`` answers within a second from its own probe. The hang is a loopback proxy this test
controls that stops relaying; the shared server is never paused.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import uvicorn

from conftest import POSTGRES_URL, _free_port, require_postgres
from fakes.serving import start_server
from fakes.stalling_proxy import StallingProxy, stalling_proxy
from meterstack import Engine, ManualClock
from meterstack.errors import InvalidInputError, StoreUnavailableError
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
from meterstack.store.dialect import parse_store_url

pytestmark = pytest.mark.postgres
#: The store's timeout in these tests (seconds); the default is 5.
TIMEOUT = 1.0


@pytest.fixture
def schema() -> Iterator[str]:
    require_postgres()
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def proxy() -> Iterator[StallingProxy]:
    address = urlsplit(POSTGRES_URL)
    with stalling_proxy((address.hostname or "127.0.0.1", address.port or 5432)) as running:
        yield running


def _through(proxy: StallingProxy, schema: str) -> str:
    address = urlsplit(POSTGRES_URL)
    netloc = address.netloc.replace(f"{address.hostname}:{address.port}", f"127.0.0.1:{proxy.port}")
    return f"{address.scheme}://{netloc}{address.path}?schema={schema}"


def test_store_timeouts_default_to_5_s_and_the_url_sets_them() -> None:
    assert parse_store_url("postgresql://h/db").timeout == 5.0
    assert parse_store_url("sqlite:///x.db").timeout == 5.0
    assert parse_store_url("postgresql://h/db?timeout=0.5&schema=s").timeout == 0.5
    with pytest.raises(InvalidInputError, match="timeout"):
        parse_store_url("postgresql://h/db?timeout=0")


def test_hung_database_fails_requests_with_503_within_the_timeout_and_recovers(
    proxy: StallingProxy, schema: str, clock: ManualClock
) -> None:
    engine = Engine.open(
        _through(proxy, schema), catalog="agentstack", clock=clock, store_timeout=TIMEOUT
    )
    try:
        account = engine.create_account(plan="pro")
        assert engine.consume(account.id, "api_calls", 1).allowed
        proxy.stall()
        # A connection of the pool, whose statement never reaches the server.
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as hung:
            engine.consume(account.id, "api_calls", 1)
        waited = time.monotonic() - started
        assert hung.value.code == "store_unavailable"
        assert hung.value.details["reason"] == "timeout"
        # A new connection (the broken ones were dropped): connecting is bounded too.
        with pytest.raises(StoreUnavailableError):
            engine.usage(account.id)
        assert not engine.store_available()
        assert waited < 5  # the deadline the store promises, not a measure of speed

        proxy.resume()
        assert engine.consume(account.id, "api_calls", 1).used == 2
        assert engine.store_available()
    finally:
        proxy.resume()
        engine.close()


def test_a_lock_held_past_the_timeout_is_503_and_changes_nothing(
    proxy: StallingProxy, schema: str, clock: ManualClock
) -> None:
    engine = Engine.open(
        _through(proxy, schema), catalog="agentstack", clock=clock, store_timeout=TIMEOUT
    )
    try:
        account = engine.create_account(plan="pro")
        engine.consume(account.id, "api_calls", 1)
        with psycopg.connect(POSTGRES_URL, options=f"-csearch_path={schema}") as holder:
            holder.execute("SELECT * FROM counters WHERE account_id = %s FOR UPDATE", [account.id])
            with pytest.raises(StoreUnavailableError):
                engine.consume(account.id, "api_calls", 1)
            holder.rollback()
        assert engine.usage(account.id).items["api_calls"].used == 1
    finally:
        engine.close()


def test_hung_database_over_http_503_with_retry_after_and_health_within_1_s(
    proxy: StallingProxy, schema: str, clock: ManualClock
) -> None:
    url = _through(proxy, schema)
    settings = ServerSettings(
        database_url=url, operator_key="operator-secret", store_timeout=TIMEOUT
    )
    engine = Engine.open(url, catalog="agentstack", clock=clock, store_timeout=TIMEOUT)
    port = _free_port()
    app = create_app(engine, settings)
    running = start_server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    operator = {"Authorization": "Bearer operator-secret"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert client.get("/health").json()["store"] == "ok"
            account = client.post("/v1/accounts", json={"plan": "pro"}, headers=operator).json()
            consume = f"/v1/accounts/{account['id']}/consume"
            assert client.post(consume, json={"meter": "api_calls"}, headers=operator).is_success

            proxy.stall()
            # Requests that wait for the store, on the service's threads, while /health probes.
            waiting = [
                threading.Thread(
                    target=lambda: client.post(
                        consume, json={"meter": "api_calls"}, headers=operator
                    )
                )
                for _ in range(4)
            ]
            for request in waiting:
                request.start()
            health = client.get("/health", timeout=1.5)  # answers within a second
            refused = client.post(consume, json={"meter": "api_calls"}, headers=operator)
            for request in waiting:
                request.join()

            assert health.status_code == 503
            assert health.json() == {
                "status": "unavailable",
                "backend": "postgresql",
                "store": "unavailable",
            }
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "store_unavailable"
            assert refused.headers["Retry-After"]

            proxy.resume()
            assert client.post(consume, json={"meter": "api_calls"}, headers=operator).is_success
    finally:
        proxy.resume()
        running.stop()
        engine.close()
