"""Exactness under concurrency and crash safety, on SQLite and PostgreSQL.

No concurrency pattern may admit a unit beyond a bound; a request touching two scopes is counted
in both or neither; one idempotency key counts once; an acknowledged unit survives SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import Pool
from threading import Barrier

import pytest

from meterstack import Engine, SystemClock

EngineFactory = Callable[..., Engine]
REPETITIONS = 20
THREADS = 16
PROCESSES = 4
THREADS_PER_PROCESS = 4

_engines: dict[str, Engine] = {}


def _engine_in_child(url: str) -> Engine:
    engine = _engines.get(url)
    if engine is None:
        engine = Engine.open(url, catalog="flowstack")
        _engines[url] = engine
    return engine


def _hammer(engine: Engine, account_id: str, project_id: str | None, barrier: Barrier) -> int:
    """Consume one session at a time until refused three times in a row; units granted."""
    barrier.wait()
    granted = refusals = 0
    while refusals < 3:
        decision = engine.consume(account_id, "sessions", 1, project_id=project_id)
        if decision.allowed:
            granted += 1
            refusals = 0
        else:
            refusals += 1
    return granted


def _hammer_in_child(url: str, account_id: str) -> int:
    """One process of the multi-process test: a few threads of its own."""
    engine = _engine_in_child(url)
    barrier = Barrier(THREADS_PER_PROCESS)
    with ThreadPoolExecutor(THREADS_PER_PROCESS) as pool:
        futures = [
            pool.submit(_hammer, engine, account_id, None, barrier)
            for _ in range(THREADS_PER_PROCESS)
        ]
        return sum(future.result() for future in futures)


@pytest.fixture
def process_pool() -> Iterator[Pool]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(PROCESSES) as pool:
        yield pool


def test_threads_never_pass_the_hard_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    for _ in range(REPETITIONS):
        account = engine.create_account(plan="free")
        engine.set_limit(account.id, "sessions", 60)
        barrier = Barrier(THREADS)
        with ThreadPoolExecutor(THREADS) as pool:
            futures = [
                pool.submit(_hammer, engine, account.id, None, barrier) for _ in range(THREADS)
            ]
            granted = sum(future.result() for future in futures)
        assert granted == 60
        assert engine.usage(account.id)["sessions"].used == 60


def test_processes_never_pass_the_hard_limit(
    open_engine: EngineFactory, store_url: str, process_pool: Pool
) -> None:
    # The children read the wall clock, so the parent does too: one period for all.
    engine = open_engine("flowstack", clock=SystemClock())
    for _ in range(REPETITIONS):
        account = engine.create_account(plan="free")
        engine.set_limit(account.id, "sessions", 80)
        granted = sum(process_pool.starmap(_hammer_in_child, [(store_url, account.id)] * 4))
        assert granted == 80
        assert engine.usage(account.id)["sessions"].used == 80


def test_a_project_cap_and_the_account_limit_both_hold_under_concurrency(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    for _ in range(REPETITIONS):
        account = engine.create_account(plan="free")
        capped, free = engine.create_project(account.id), engine.create_project(account.id)
        engine.set_limit(account.id, "sessions", 90)
        engine.set_limit(account.id, "sessions", 30, project_id=capped.id)
        barrier = Barrier(THREADS)
        with ThreadPoolExecutor(THREADS) as pool:
            futures = {
                project_id: [
                    pool.submit(_hammer, engine, account.id, project_id, barrier)
                    for _ in range(THREADS // 2)
                ]
                for project_id in (capped.id, free.id)
            }
            granted = {
                project_id: sum(future.result() for future in batch)
                for project_id, batch in futures.items()
            }
        on_capped = engine.usage(account.id, project_id=capped.id)["sessions"].used
        on_free = engine.usage(account.id, project_id=free.id)["sessions"].used
        total = engine.usage(account.id)["sessions"].used
        assert granted[capped.id] == on_capped <= 30
        assert granted[free.id] == on_free
        # Traffic on the uncapped project went on until the account's limit refused it.
        assert on_capped + on_free == total == 90


def test_d7_one_key_from_many_threads_counts_once(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    for repetition in range(REPETITIONS):
        account = engine.create_account(plan="free")
        barrier = Barrier(THREADS)

        def send(
            key: str = f"same-{repetition}",
            account_id: str = account.id,
            barrier: Barrier = barrier,
        ) -> bool:
            barrier.wait()
            decision = engine.consume(account_id, "sessions", 3, idempotency_key=key)
            assert (decision.allowed, decision.used) == (True, 3)
            return decision.replayed

        with ThreadPoolExecutor(THREADS) as pool:
            replayed = list(pool.map(lambda _: send(), range(THREADS)))
        assert replayed.count(False) == 1
        assert engine.usage(account.id)["sessions"].used == 3


CHILD = textwrap.dedent(
    """
    import sys
    from meterstack import Engine

    url, account_id = sys.argv[1], sys.argv[2]
    engine = Engine.open(url, catalog="flowstack")
    number = 0
    while True:
        decision = engine.consume(account_id, "sessions", 1, idempotency_key=f"k{number}")
        assert decision.allowed, decision
        sys.stdout.write(f"{number}\\n")
        sys.stdout.flush()
        number += 1
    """
)


def test_an_acknowledged_unit_survives_sigkill(open_engine: EngineFactory, store_url: str) -> None:
    engine = open_engine("flowstack", clock=SystemClock())
    account = engine.create_account(plan="free")
    engine.set_limit(account.id, "sessions", "unlimited")
    engine.close()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, account.id],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as child:
        assert child.stdout is not None
        acknowledged = -1
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 300:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        # Whatever the pipe still held was acknowledged too.
        for line in child.stdout.read().splitlines():
            acknowledged = int(line)
    assert child.returncode == -signal.SIGKILL

    reopened = open_engine("flowstack", clock=SystemClock())
    counted = reopened.usage(account.id)["sessions"].used
    assert acknowledged + 1 <= counted <= acknowledged + 2
    in_flight = acknowledged + 1
    for number in (*range(acknowledged - 5, acknowledged + 1), in_flight):
        reopened.consume(account.id, "sessions", 1, idempotency_key=f"k{number}")
    assert reopened.usage(account.id)["sessions"].used == acknowledged + 2
