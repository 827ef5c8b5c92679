"""Shared fixtures: the injected clock and a real store on every backend.

PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) are real. Without them the
tests that need them skip with the reason, unless ``METERSTACK_REQUIRE_SERVICES=1`` (as in CI),
where a missing service fails the run instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from fakes.serving import Running, start_server
from meterstack import Engine, ManualClock
from meterstack.server import create_app
from meterstack.server.settings import ServerSettings
from meterstack.services.payments.local import LocalProvider
from meterstack.store.ports import Store
from meterstack.store.sql import SqlStore

POSTGRES_URL = os.environ.get(
    "METERSTACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("METERSTACK_REQUIRE_SERVICES") == "1"
START = datetime(2026, 1, 1, tzinfo=UTC)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if _reachable("127.0.0.1", 5432):
        return
    message = "PostgreSQL is not reachable at 127.0.0.1:5432"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} and METERSTACK_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meterstack.db'}"
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


#: The catalogs that every schema created and dropped by a test leaves dead rows in.
_CHURNED_CATALOGS = (
    "pg_attribute",
    "pg_class",
    "pg_constraint",
    "pg_depend",
    "pg_index",
    "pg_type",
)


@pytest.fixture(scope="session", autouse=True)
def _vacuum_postgres_catalogs() -> Iterator[None]:
    """Each PostgreSQL test has its own schema; at the end, vacuum what their drops left.

    Without it a server whose autovacuum is off (or lags) bloats its catalogs run after run,
    until every statement that consults them, and every benchmark, is several times slower.
    A plain VACUUM takes no lock that other sessions' work would wait for.
    """
    yield
    if not _reachable("127.0.0.1", 5432):
        return
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        for catalog in _CHURNED_CATALOGS:
            connection.execute(f"VACUUM pg_catalog.{catalog}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A store on an empty database, as the services see it: through its ports.

    The store's contract suite (tests/store) runs once per implementation of the ports: SQLite
    and PostgreSQL today, through ``store_url``; another backend is one more parameter there.
    """
    implementation = SqlStore(store_url)
    yield implementation
    implementation.close()


EngineFactory = Callable[..., Engine]


@pytest.fixture
def open_engine(store_url: str, clock: ManualClock) -> Iterator[EngineFactory]:
    """Open engines on the test's database (closed at the end); catalog by name or path."""
    opened: list[Engine] = []

    def factory(catalog: str = "agentstack", **options: object) -> Engine:
        options.setdefault("clock", clock)
        engine = Engine.open(store_url, catalog=catalog, **options)  # type: ignore[arg-type]
        opened.append(engine)
        return engine

    yield factory
    for engine in opened:
        engine.close()


class HostedProvider:
    """A provider whose buyer pays on a hosted page and whose cards are charged later, as
    Stripe's are: the one external thing faked, at its boundary."""

    needs_buyer_present = True

    def __init__(self) -> None:
        #: Accounts with a card on file.
        self.cards: set[str] = set()

    def checkout_url(self, checkout_id: str) -> str:
        return f"https://pay.example/{checkout_id}"

    def portal_url(self, account_id: str) -> str:
        return f"https://pay.example/portal/{account_id}"

    def has_payment_method(self, account_id: str) -> bool:
        return account_id in self.cards


@pytest.fixture
def hosted_provider() -> HostedProvider:
    return HostedProvider()


class LiveService(httpx.Client):
    """An HTTP client of a live service, with the app it serves."""

    app: FastAPI


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_service(open_engine: EngineFactory) -> Iterator[Callable[..., LiveService]]:
    """Serve an engine on uvicorn in a thread on loopback, and talk to it over HTTP."""
    servers: list[tuple[Running, LiveService]] = []

    def make(catalog: str, provider: Any = None, **settings: Any) -> LiveService:
        """``settings`` are the service's; ``payments`` is ``local`` unless set to None, or
        ``provider`` is another payment provider."""
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        options = {
            "operator_key": "operator-secret",
            "public_url": base,
            "payments": "local",
            **settings,
        }
        config = ServerSettings(**options)
        if provider is None and config.payments == "local":
            provider = LocalProvider(base)
        engine = open_engine(
            catalog, provider=provider, return_url_origins=config.return_url_origins
        )
        app = create_app(engine, config)
        running = start_server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        client = LiveService(base_url=base, follow_redirects=True, timeout=30)
        client.app = app
        servers.append((running, client))
        return client

    yield make
    for running, client in servers:
        client.close()
        running.stop()


@pytest.fixture
def signup() -> Callable[[Any, str], tuple[str, dict[str, str]]]:
    """``signup(client, plan)``: an account made through a live service's operator API, and
    the Authorization header of its first user key."""

    def make(client: Any, plan: str) -> tuple[str, dict[str, str]]:
        created = client.post(
            "/v1/accounts",
            json={"plan": plan},
            headers={"Authorization": "Bearer operator-secret"},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        return body["id"], {"Authorization": f"Bearer {body['user_api_key']}"}

    return make
