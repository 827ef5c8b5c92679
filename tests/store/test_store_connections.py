"""Pooled connections: a connection the server dropped is replaced, not handed out again."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import psycopg
import pytest

from conftest import idle_backend_pids
from meterstack import Engine
from meterstack.errors import StoreUnavailableError
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_connection_dropped_by_the_server_fails_one_request_and_is_replaced(
    open_engine: EngineFactory, store_of: Callable[[Engine], SqlStore], store_url: str
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 1)
    store = store_of(engine)
    with ExitStack() as held:  # three connections, as concurrent requests leave them
        for _ in range(3):
            held.enter_context(store.transaction())
    pids = idle_backend_pids(store)
    with psycopg.connect(store_url.split("?", maxsplit=1)[0], autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(StoreUnavailableError) as lost:
        engine.consume(account.id, "sessions", 2)
    after = [engine.consume(account.id, "sessions", 1) for _ in range(len(pids) + 1)]

    assert isinstance(lost.value.__cause__, psycopg.OperationalError)
    assert (lost.value.http_status, lost.value.code) == (503, "store_unavailable")
    assert len(pids) == 3
    assert [decision.used for decision in after] == [2, 3, 4, 5]


def test_pool_status_counts_the_connections_idle_and_in_use(store_url: str) -> None:
    store = SqlStore(store_url, pool_size=2)
    # On SQLite every unit of work takes the write lock: one at a time per file.
    at_once = 1 if store.backend == "sqlite" else 3
    try:
        before = store.pool_status()
        with ExitStack() as held:
            for _ in range(at_once):
                held.enter_context(store.transaction())
            during = store.pool_status()
        after = store.pool_status()
    finally:
        store.close()

    assert (before.idle, before.in_use, before.keep_idle) == (0, 0, 2)
    assert (during.idle, during.in_use) == (0, at_once)
    # Given back, kept idle up to keep_idle; the third (PostgreSQL) is closed.
    assert (after.idle, after.in_use) == (min(at_once, 2), 0)
