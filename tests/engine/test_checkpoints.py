"""SQLite checkpoints run on the store's own thread, not inside a request's commit."""

from __future__ import annotations

import gc
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from meterstack import Engine, UsageEvent
from meterstack.catalog.loader import load_catalog
from meterstack.store.checkpoints import BACKSTOP_PAGES, Checkpointer
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll a background thread's progress (its interval is real time, not the test clock)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _log_frames(path: Path) -> tuple[int, int]:
    """(frames in the write-ahead log, frames of it already copied into the database)."""
    with sqlite3.connect(path) as connection:
        # A PASSIVE checkpoint of nothing new only reports the log's state.
        _, log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(log), int(copied)


def _engine_on(url: str) -> tuple[Engine, SqlStore]:
    """An engine on a store this test opened itself."""
    store = SqlStore(url)
    return Engine.on(store, catalog=load_catalog("agentstack")), store


def test_commits_leave_checkpoints_to_the_store_thread(tmp_path: Path) -> None:
    path = tmp_path / "meterstack.db"
    engine, store = _engine_on(f"sqlite:///{path}")
    try:
        checkpointer = store.checkpointer
        assert checkpointer is not None
        with store.transaction() as tx:
            backstop = tx.sql.one("PRAGMA wal_autocheckpoint")[0]
        account = engine.create_account(plan="pro")
        runs = checkpointer.runs
        for n in range(20):
            engine.consume_many(
                [UsageEvent(account.id, "api_calls", 1, None, f"k-{n}-{i}") for i in range(50)]
            )

        assert backstop == BACKSTOP_PAGES
        assert _wait_until(lambda: checkpointer.runs > runs + 1)
        log, copied = _log_frames(path)
        assert log > 0
        assert copied == log
        assert engine.usage(account.id)["api_calls"].used == 1000
    finally:
        engine.close()
    assert checkpointer.started == 1
    assert not checkpointer.running


def test_a_memory_store_has_no_checkpoint_thread() -> None:
    engine, store = _engine_on("sqlite://")
    try:
        assert store.checkpointer is None
        account = engine.create_account(plan="pro")
        assert engine.consume(account.id, "api_calls", 1).allowed
    finally:
        engine.close()


def test_a_checkpointer_that_cannot_open_the_database_stops_quietly(tmp_path: Path) -> None:
    def unopenable() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    checkpointer = Checkpointer(unopenable, interval=0.001)
    checkpointer.ensure_running()
    assert checkpointer.started == 1

    assert _wait_until(lambda: not checkpointer.running)
    assert checkpointer.runs == 0
    checkpointer.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_checkpoint_thread(tmp_path: Path) -> None:
    engine, store = _engine_on(f"sqlite:///{tmp_path / 'meterstack.db'}")
    try:
        account = engine.create_account(plan="pro")
        reading, writing = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through the pipe
            status = 1
            try:
                checkpointer = store.checkpointer
                assert checkpointer is not None
                gone = checkpointer.started > 0 and not checkpointer.running
                engine.consume(account.id, "api_calls", 1)
                started = checkpointer.running
                os.write(writing, f"{gone} {started}".encode())
                status = 0
            finally:
                os._exit(status)
        os.close(writing)
        _, status = os.waitpid(child, 0)
        report = os.read(reading, 100).decode()
        os.close(reading)

        assert os.waitstatus_to_exitcode(status) == 0
        assert report == "True True"
    finally:
        engine.close()


class _BlockingConnection:
    """Stands for a connection whose checkpoint is under way until the test lets it finish."""

    def __init__(self) -> None:
        self.inside = threading.Event()
        self.proceed = threading.Event()
        self.finished = threading.Event()

    def execute(self, _statement: str) -> _BlockingConnection:
        self.inside.set()
        self.proceed.wait(timeout=30)
        self.finished.set()
        return self

    def fetchall(self) -> list[object]:
        return []

    def close(self) -> None:
        pass


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_waits_until_the_checkpoint_thread_is_out_of_sqlite() -> None:
    # A child forked while the thread is inside SQLite would inherit SQLite's locks, held by a
    # thread the child does not have, and hang at its first statement.
    connection = _BlockingConnection()
    checkpointer = Checkpointer(lambda: connection, interval=0.001)  # type: ignore[arg-type,return-value]
    checkpointer.ensure_running()
    assert connection.inside.wait(timeout=10)
    forked = threading.Event()
    checkpoint_done_at_fork: list[bool] = []

    def fork() -> None:
        child = os.fork()
        if child == 0:  # pragma: no cover - the child leaves at once
            os._exit(0)
        checkpoint_done_at_fork.append(connection.finished.is_set())
        forked.set()
        os.waitpid(child, 0)

    forking = threading.Thread(target=fork)
    forking.start()
    # Time for a fork that does not wait at the gate to happen while the checkpoint runs; the
    # outcome is read from the order of events, not from this wait.
    forked.wait(timeout=0.3)
    connection.proceed.set()
    forking.join(timeout=10)
    checkpointer.close()

    assert checkpoint_done_at_fork == [True]


def test_a_store_dropped_without_close_stops_its_checkpoint_thread(tmp_path: Path) -> None:
    engine, store = _engine_on(f"sqlite:///{tmp_path / 'meterstack.db'}")
    checkpointer = store.checkpointer
    assert checkpointer is not None
    assert checkpointer.running

    del engine, store
    gc.collect()

    assert _wait_until(lambda: not checkpointer.running)


def test_the_store_works_where_processes_cannot_fork(tmp_path: Path) -> None:
    # As on Windows: the os module has no register_at_fork.
    script = (
        "import os, sys\n"
        "import pydantic, sqlalchemy, psycopg, msgspec\n"
        "del os.register_at_fork\n"
        "from meterstack import Engine\n"
        "engine = Engine.open(sys.argv[1], catalog='agentstack')\n"
        "account = engine.create_account(plan='free')\n"
        "print(engine.consume(account.id, 'api_calls', 1).used)\n"
        "engine.close()\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{tmp_path / 'meterstack.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "1"
