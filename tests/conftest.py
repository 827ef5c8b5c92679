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
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from fakes import invoice_checks
from fakes.serving import Running, start_server
from meterstack import Engine, ManualClock
from meterstack.catalog.loader import LoadedCatalog, load_catalog
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


@pytest.fixture
def unratable(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Account ids whose period close fails as a rating fault (``ArithmeticError: rating
    fault``), through the invoice check every engine opened in the test reads from
    ``METERSTACK_INVOICE_CHECK``: the CLI's and a live service's too."""
    monkeypatch.setenv("METERSTACK_INVOICE_CHECK", invoice_checks.SPEC)
    yield invoice_checks.UNRATABLE
    invoice_checks.UNRATABLE.clear()


def idle_backend_pids(store: SqlStore) -> list[int]:
    """The PostgreSQL backends of the store's idle connections: as many units of work as it
    has idle connections, open at once, take exactly those (none is opened anew)."""
    idle = store.pool_status().idle
    with ExitStack() as held:
        units = [held.enter_context(store.transaction()) for _ in range(idle)]
        pids = [int(tx.sql.one("SELECT pg_backend_pid()")[0]) for tx in units]
    assert store.pool_status().idle == idle
    return pids


EngineFactory = Callable[..., Engine]
#: ``store_of(engine)``: the store a test's ``open_engine`` built and handed to that engine.
StoreOf = Callable[[Engine], SqlStore]


@pytest.fixture
def engine_stores() -> dict[int, SqlStore]:
    return {}


@pytest.fixture
def open_engine(
    store_url: str, clock: ManualClock, engine_stores: dict[int, SqlStore]
) -> Iterator[EngineFactory]:
    """Open engines on the test's database (closed at the end); catalog by name or path.

    The test owns each engine's store: it opens it and hands it to ``Engine.on``, so that a
    test reading the database behind the engine asks ``store_of(engine)`` for it.
    ``wrap_store=FaultyStore`` (``fakes.faulty_store``) hands the engine the store wrapped.
    """
    opened: list[Engine] = []

    def factory(
        catalog: str | LoadedCatalog = "agentstack",
        *,
        wrap_store: Callable[[SqlStore], Store] | None = None,
        **options: object,
    ) -> Engine:
        options.setdefault("clock", clock)
        store = SqlStore(store_url)
        handed = store if wrap_store is None else wrap_store(store)
        try:
            engine = Engine.on(handed, catalog=_loaded(catalog), **options)  # type: ignore[arg-type]
        except BaseException:
            store.close()
            raise
        opened.append(engine)
        engine_stores[id(engine)] = store
        return engine

    yield factory
    for engine in opened:
        engine.close()


def _loaded(catalog: str | LoadedCatalog) -> LoadedCatalog:
    return catalog if isinstance(catalog, LoadedCatalog) else load_catalog(catalog)


@pytest.fixture
def store_of(engine_stores: dict[int, SqlStore]) -> StoreOf:
    """The store under an engine from ``open_engine`` (or a live service's engine)."""

    def of(engine: Engine) -> SqlStore:
        return engine_stores[id(engine)]

    return of


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
    """An HTTP client of a live service, with the app it serves and the provider it was given
    (the local one the fixture made, unless the test gave its own; None without payments)."""

    app: FastAPI
    provider: Any


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_service(open_engine: EngineFactory) -> Iterator[Callable[..., LiveService]]:
    """Serve an engine on uvicorn in a thread on loopback, and talk to it over HTTP."""
    servers: list[tuple[Running, LiveService]] = []

    def make(
        catalog: str,
        provider: Any = None,
        *,
        wrap_store: Callable[[SqlStore], Store] | None = None,
        **settings: Any,
    ) -> LiveService:
        """``settings`` are the service's; ``payments`` is ``local`` unless set to None, or
        ``provider`` is another payment provider; ``wrap_store`` is ``open_engine``'s."""
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
            catalog,
            wrap_store=wrap_store,
            provider=provider,
            return_url_origins=config.return_url_origins,
        )
        app = create_app(engine, config)
        running = start_server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        client = LiveService(base_url=base, follow_redirects=True, timeout=30)
        client.app = app
        client.provider = provider
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
