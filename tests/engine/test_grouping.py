"""Group commit: concurrent consumes share one transaction, and each keeps its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from meterstack import Decision, Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.errors import (
    IdempotencyKeyReusedError,
    InvalidInputError,
    MeterstackError,
    StoreUnavailableError,
)
from meterstack.services.context import ServiceContext
from meterstack.services.events import UsageEvent
from meterstack.services.grouping import GroupCommit
from meterstack.services.metering import Metering
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]


class _SlowLeader:
    """The path behind a group commit (the real one, around it): the first (lone) consume
    waits until ``queued`` callers wait behind it; the size of every shared transaction is
    counted, and ``failure``, when set, fails each one."""

    def __init__(self, metering: Metering, queued: int) -> None:
        self.metering = metering
        self.queued = queued
        self.groups: list[int] = []
        self.leading = threading.Event()
        self.joined = threading.Condition()
        self.waiting = 0
        self.failure: Exception | None = None

    def on_queued(self, waiting: int) -> None:
        with self.joined:
            self.waiting = waiting
            self.joined.notify_all()

    def consume(self, event: UsageEvent) -> Decision:
        self.leading.set()
        with self.joined:
            assert self.joined.wait_for(lambda: self.waiting >= self.queued, 10)
        return self.metering.consume(event)

    def consume_many(
        self, events: Sequence[UsageEvent | MeterstackError]
    ) -> list[Decision | MeterstackError]:
        self.groups.append(len(events))
        if self.failure is not None:
            raise self.failure
        return self.metering.consume_many(events)


@pytest.fixture
def grouped(
    store_url: str, clock: ManualClock
) -> Iterator[Callable[[int], tuple[Engine, GroupCommit, _SlowLeader]]]:
    """An engine on flowstack (to set up and read), and a group commit over the same context
    whose path is a :class:`_SlowLeader` holding its leader until ``queued`` callers wait."""
    store = SqlStore(store_url)
    ctx = ServiceContext(store=store, clock=clock, current=load_catalog("flowstack"))
    ctx.register_current()

    def build(queued: int) -> tuple[Engine, GroupCommit, _SlowLeader]:
        leader = _SlowLeader(Metering(ctx), queued)
        return Engine(ctx), GroupCommit(leader, on_queued=leader.on_queued), leader

    yield build
    store.close()


def _run(
    engine: Engine | GroupCommit, calls: list[dict[str, Any]], threads: int = 16
) -> list[Decision | Exception]:
    def call(arguments: dict[str, Any]) -> Decision | Exception:
        try:
            if isinstance(engine, GroupCommit):
                return engine.consume(_event(**arguments))
            return engine.consume(**arguments)
        except MeterstackError as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, calls))


def _event(
    account_id: str, meter: str, quantity: int, idempotency_key: str | None = None
) -> UsageEvent:
    return UsageEvent(account_id, meter, quantity, idempotency_key=idempotency_key)


def test_d7_callers_queued_behind_a_commit_share_one_transaction_with_their_own_answers(
    grouped: Callable[[int], tuple[Engine, GroupCommit, _SlowLeader]],
) -> None:
    engine, group, leader = grouped(5)
    account = engine.create_account(plan="free").id
    engine.consume(account, "sessions", 5, idempotency_key="b")
    first: dict[str, Any] = {"account_id": account, "meter": "sessions", "quantity": 1}
    others: list[dict[str, Any]] = [
        {"account_id": account, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account, "meter": "sesions", "quantity": 1},
        {"account_id": account, "meter": "sessions", "quantity": 20},
        {"account_id": account, "meter": "sessions", "quantity": 6, "idempotency_key": "b"},
    ]

    with ThreadPoolExecutor(1) as lone:
        lone_answer = lone.submit(group.consume, _event(**first))
        assert leader.leading.wait(10)
        answers = _run(group, others, threads=len(others))
        assert lone_answer.result().used == 6

    assert leader.groups == [5]
    by_quantity: dict[int, list[Decision | Exception]] = {}
    for call, answer in zip(others, answers, strict=True):
        by_quantity.setdefault(call["quantity"], []).append(answer)
    tens = by_quantity[10]
    assert all(isinstance(answer, Decision) and answer.allowed for answer in tens)
    assert sorted(bool(answer.replayed) for answer in tens) == [False, True]  # type: ignore[union-attr]
    assert isinstance(by_quantity[1][0], InvalidInputError)
    refused = by_quantity[20][0]
    assert isinstance(refused, Decision)
    assert (refused.allowed, refused.http_status) == (False, 429)
    assert isinstance(by_quantity[6][0], IdempotencyKeyReusedError)
    assert engine.usage(account)["sessions"].used == 16


def test_a9_threads_consuming_at_once_are_counted_exactly_once_each(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_limit(account.id, "logic_engine_calls", 500)
    projects = [engine.create_project(account.id).id for _ in range(3)]
    calls = [
        {
            "account_id": account.id,
            "meter": "logic_engine_calls",
            "quantity": 1 + index % 3,
            "project_id": projects[index % 3],
            "idempotency_key": f"k{index % 200}",
        }
        for index in range(400)
    ]

    answers = _run(engine, calls)

    admitted = {
        call["idempotency_key"]: answer.quantity
        for call, answer in zip(calls, answers, strict=True)
        if isinstance(answer, Decision) and answer.allowed and not answer.replayed
    }
    usage = engine.usage(account.id)["logic_engine_calls"]
    per_project = sum(
        engine.usage(account.id, project_id=project)["logic_engine_calls"].used
        for project in projects
    )
    assert usage.used == sum(admitted.values()) == per_project
    assert usage.used <= 500


def test_callers_of_a_failed_shared_transaction_each_raise_their_own_error(
    grouped: Callable[[int], tuple[Engine, GroupCommit, _SlowLeader]],
) -> None:
    engine, group, leader = grouped(3)
    account = engine.create_account(plan="free").id
    gone = StoreUnavailableError("the database went away", reason="OperationalError")
    leader.failure = gone
    calls: list[dict[str, Any]] = [
        {"account_id": account, "meter": "sessions", "quantity": 1} for _ in range(3)
    ]

    with ThreadPoolExecutor(1) as lone:
        lone_answer = lone.submit(group.consume, _event(**calls[0]))
        assert leader.leading.wait(10)
        answers = _run(group, calls, threads=len(calls))
        assert lone_answer.result().used == 1

    assert leader.groups == [3]
    errors = [answer for answer in answers if isinstance(answer, StoreUnavailableError)]
    assert len(errors) == 3
    assert len({id(error) for error in errors}) == 3
    for answer in errors:
        assert answer is not gone
        assert answer.__cause__ is gone
        assert (answer.message, answer.details, answer.http_status) == (
            gone.message,
            gone.details,
            503,
        )


class _Counting:
    """The path behind a group commit (the real one), counting how each event was decided:
    alone, or in a shared transaction of some size."""

    def __init__(self, metering: Metering) -> None:
        self.metering = metering
        self.alone = 0
        self.groups: list[int] = []

    def consume(self, event: UsageEvent) -> Decision:
        self.alone += 1
        return self.metering.consume(event)

    def consume_many(
        self, events: Sequence[UsageEvent | MeterstackError]
    ) -> list[Decision | MeterstackError]:
        self.groups.append(len(events))
        return self.metering.consume_many(events)


@pytest.fixture
def counted(store_url: str, clock: ManualClock) -> Iterator[tuple[Engine, ServiceContext]]:
    store = SqlStore(store_url)
    ctx = ServiceContext(store=store, clock=clock, current=load_catalog("flowstack"))
    ctx.register_current()
    yield Engine(ctx), ctx
    store.close()


def _shared_group_of_three(
    ctx: ServiceContext, gather_seconds: float
) -> tuple[GroupCommit, _Counting]:
    """A group commit whose last transaction was shared by three callers."""
    leader = _SlowLeader(Metering(ctx), queued=2)
    group = GroupCommit(leader, on_queued=leader.on_queued, gather_seconds=gather_seconds)
    account = Engine(ctx).create_account(plan="free").id
    with ThreadPoolExecutor(1) as lone:
        first = lone.submit(group.consume, _event(account, "sessions", 1))
        assert leader.leading.wait(10)
        _run(group, [{"account_id": account, "meter": "sessions", "quantity": 1}] * 2, threads=2)
        first.result()
    assert leader.groups == [2]
    counting = _Counting(Metering(ctx))
    group.metering = counting
    return group, counting


def test_a9_a_leader_after_a_shared_transaction_gathers_its_company_and_decides_at_once(
    counted: tuple[Engine, ServiceContext],
) -> None:
    """A9, D7: the next leader waits for as many callers as the last group held, then decides
    its own event with theirs in one transaction; every one counted once."""
    engine, ctx = counted
    group, counting = _shared_group_of_three(ctx, gather_seconds=30)
    account = engine.create_account(plan="free").id
    calls: list[dict[str, Any]] = [
        {"account_id": account, "meter": "sessions", "quantity": 1, "idempotency_key": f"g{n}"}
        for n in range(3)
    ]

    answers = _run(group, calls, threads=3)

    assert (counting.alone, counting.groups) == (0, [3])
    assert sorted(answer.used for answer in answers if isinstance(answer, Decision)) == [1, 2, 3]
    assert engine.usage(account)["sessions"].used == 3


def test_a_leader_whose_company_does_not_come_decides_alone_once_the_moment_passes(
    counted: tuple[Engine, ServiceContext],
) -> None:
    engine, ctx = counted
    group, counting = _shared_group_of_three(ctx, gather_seconds=0.05)
    account = engine.create_account(plan="free").id

    first = group.consume(_event(account, "sessions", 2, idempotency_key="lone"))
    second = group.consume(_event(account, "sessions", 1))

    assert (first.allowed, first.used, second.used) == (True, 2, 3)
    # Alone both times: the first after waiting in vain, the second without waiting at all.
    assert (counting.alone, counting.groups) == (2, [])


def test_a_caller_alone_never_waits_for_company(counted: tuple[Engine, ServiceContext]) -> None:
    """One thread's consumes are decided alone, one by one: with a gathering time of an hour,
    the calls still return at once, since a lone caller's last group was itself."""
    engine, ctx = counted
    counting = _Counting(Metering(ctx))
    group = GroupCommit(counting, gather_seconds=3600)
    account = engine.create_account(plan="free").id

    answers = [group.consume(_event(account, "sessions", 1)) for _ in range(5)]

    assert [answer.used for answer in answers] == [1, 2, 3, 4, 5]
    assert (counting.alone, counting.groups) == (5, [])
