"""Transactions that PostgreSQL aborts to break a deadlock are decided again, not failed."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg.errors
import pytest

from meterstack import Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.errors import MeterstackError, TransactionConflictError
from meterstack.services.conflicts import ATTEMPTS, decided_again_on_conflict
from meterstack.services.express import Plans
from meterstack.store.ports import Reservations
from meterstack.store.rows import ReservationRow
from meterstack.store.sql import SqlStore, SqlTransaction
from meterstack.store.statements import conflict

EngineFactory = Callable[..., Engine]


class _Meeting:
    """Holds the first sweep of lapsed holds (C6) of each of two threads until both reach it."""

    def __init__(self) -> None:
        self.armed = False
        self._barrier = threading.Barrier(2, timeout=10)
        self._met: set[int] = set()

    def meet(self) -> None:
        if self.armed and threading.get_ident() not in self._met:
            self._met.add(threading.get_ident())
            self._barrier.wait()


class _MeetingReservations:
    """A transaction's reservations port, whose sweep (``expire``) waits for the meeting."""

    def __init__(self, inner: Reservations, meeting: _Meeting) -> None:
        self._inner = inner
        self._meeting = meeting

    def expire(self, account_id: str, now: datetime) -> list[ReservationRow]:
        self._meeting.meet()
        return self._inner.expire(account_id, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MeetingStore:
    """The SQL store, each transaction's reservations port wrapped (``Engine.on`` takes it)."""

    def __init__(self, url: str, meeting: _Meeting) -> None:
        self.inner = SqlStore(url)
        self._meeting = meeting

    @property
    def backend(self) -> str:
        return self.inner.backend

    def close(self) -> None:
        self.inner.close()

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self.inner.transaction() as tx:
            yield dataclasses.replace(
                tx, reservations=_MeetingReservations(tx.reservations, self._meeting)
            )


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_c6_two_refusals_sweeping_each_others_holds_are_both_decided(
    store_url: str, clock: ManualClock
) -> None:
    # Each refusal holds its own meter's counter, then sweeps the account's lapsed holds,
    # which releases the other meter's too: both reach the sweep before either goes on.
    meeting = _Meeting()
    #: Every decision the two engines make asks the express lane first: one entry each.
    decided: list[bool] = []
    # Two engines, as two processes or servers would be (one engine's consumers share
    # transactions rather than race).
    engines = [
        Engine.on(
            _MeetingStore(store_url, meeting),
            catalog=load_catalog("agentstack"),
            clock=clock,
            plans=Plans(on_lookup=decided.append),
        )
        for _ in range(2)
    ]
    try:
        engine = engines[0]
        account = engine.create_account(plan="pro")
        meters = ("api_calls", "logic_engine_calls")
        for meter in meters:
            engine.set_overage(account.id, False, meter=meter)
            engine.set_limit(account.id, meter, 10, grace=0)
            assert engine.reserve(account.id, meter, 10, ttl=60).status == "open"
        clock.advance(timedelta(seconds=61))  # both holds lapse; each meter is full until swept
        meeting.armed = True
        decided.clear()

        with ThreadPoolExecutor(2) as pool:
            decisions = list(
                pool.map(lambda one, meter: one.consume(account.id, meter, 1), engines, meters)
            )
        meeting.armed = False

        assert [decision.allowed for decision in decisions] == [True, True]
        # PostgreSQL undid at least one of the two, which was decided again. Which one it
        # undoes depends on whose deadlock timeout fires first; when it undoes the first to
        # sweep, the other sweeps in turn while the retry waits, and that can deadlock once more.
        assert len(decided) >= 3, decided
        for meter in meters:
            row = engine.usage(account.id)[meter]
            assert (row.used, row.held) == (1, 0)
    finally:
        for one in engines:
            one.close()


def test_a_conflict_that_persists_reaches_the_caller_as_retryable_after_a_few_attempts() -> None:
    attempts: list[int] = []

    @decided_again_on_conflict
    def always_undone(value: int) -> int:
        attempts.append(value)
        raise TransactionConflictError("undone", reason="DeadlockDetected")

    @decided_again_on_conflict
    def undone_once(value: int) -> int:
        attempts.append(value)
        if len(attempts) == ATTEMPTS + 1:
            raise TransactionConflictError("undone", reason="DeadlockDetected")
        return value * 2

    with pytest.raises(TransactionConflictError) as undone:
        always_undone(7)
    assert attempts == [7] * ATTEMPTS
    assert (undone.value.http_status, undone.value.code) == (503, "store_unavailable")
    assert undone_once(5) == 10
    assert attempts == [7] * ATTEMPTS + [5, 5]


@pytest.mark.parametrize(
    ("error", "is_conflict"),
    [
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), False),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
    ],
)
def test_only_a_transaction_the_database_undid_counts_as_a_conflict(
    error: psycopg.Error, is_conflict: bool
) -> None:
    assert conflict(error) is is_conflict


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_c7_concurrent_cancels_downgrades_and_resumes_never_fail_on_pending_changes(
    open_engine: EngineFactory,
) -> None:
    """Two requests scheduling an account's period-end change at once both found no pending
    row and both inserted one: the second failed on ``pending_changes_pkey`` (500). They are
    now decided one after the other: each answers as it would alone, or 409/422."""
    engine = open_engine("agentstack")
    accounts = [engine.create_account(plan="pro").id for _ in range(4)]
    actions: list[Callable[[str], object]] = [
        engine.cancel,
        lambda account_id: engine.downgrade(account_id, "starter"),
        lambda account_id: engine.change_plan(account_id, "basic"),
        engine.resume,
    ]
    failures: list[BaseException] = []
    answered: list[str] = []

    def request(index: int) -> None:
        action = actions[index % len(actions)]
        try:
            action(accounts[index // 50])
            answered.append("ok")
        except MeterstackError as error:
            if error.http_status >= 500:
                failures.append(error)
            answered.append(error.code)
        except Exception as error:
            failures.append(error)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(request, range(200)))

    assert failures == []
    assert len(answered) == 200
    assert "ok" in answered
    for account_id in accounts:
        pending = engine.subscription(account_id).pending
        assert pending is None or pending.kind in {"cancel", "downgrade"}
