"""Group commit: concurrent consumes share one transaction, and each keeps its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from meterstack import Decision, Engine
from meterstack.errors import (
    IdempotencyKeyReusedError,
    InvalidInputError,
    MeterstackError,
    StoreUnavailableError,
)
from meterstack.services.events import UsageEvent

EngineFactory = Callable[..., Engine]


class _Queue(list[Any]):
    """The engine's queue of waiting callers, telling the test each time one joins."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = threading.Condition()

    def append(self, caller: Any) -> None:
        with self.joined:
            super().append(caller)
            self.joined.notify_all()


class _SlowLeader:
    """Holds the first (lone) consume until ``queued`` callers wait behind it."""

    def __init__(self, engine: Engine, queued: int) -> None:
        self.metering = engine._metering
        self.groups: list[int] = []
        self.leading = threading.Event()
        self.queue = _Queue()
        engine._grouped._waiting = self.queue
        lone, many = self.metering.consume, self.metering.consume_many

        def slow_consume(event: UsageEvent) -> Decision:
            self.leading.set()
            with self.queue.joined:
                assert self.queue.joined.wait_for(lambda: len(self.queue) >= queued, 10)
            return lone(event)

        def counted_many(
            events: Sequence[UsageEvent | MeterstackError],
        ) -> list[Decision | MeterstackError]:
            self.groups.append(len(events))
            return many(events)

        self.metering.consume = slow_consume  # type: ignore[method-assign]
        self.metering.consume_many = counted_many  # type: ignore[method-assign]


def _run(
    engine: Engine, calls: list[dict[str, Any]], threads: int = 16
) -> list[Decision | Exception]:
    def call(arguments: dict[str, Any]) -> Decision | Exception:
        try:
            return engine.consume(**arguments)
        except MeterstackError as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, calls))


def test_d7_callers_queued_behind_a_commit_share_one_transaction_with_their_own_answers(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free").id
    engine.consume(account, "sessions", 5, idempotency_key="b")
    leader = _SlowLeader(engine, queued=5)
    first: dict[str, Any] = {"account_id": account, "meter": "sessions", "quantity": 1}
    others: list[dict[str, Any]] = [
        {"account_id": account, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account, "meter": "sesions", "quantity": 1},
        {"account_id": account, "meter": "sessions", "quantity": 20},
        {"account_id": account, "meter": "sessions", "quantity": 6, "idempotency_key": "b"},
    ]

    with ThreadPoolExecutor(1) as lone:
        lone_answer = lone.submit(engine.consume, **first)
        assert leader.leading.wait(10)
        answers = _run(engine, others, threads=len(others))
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
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free").id
    leader = _SlowLeader(engine, queued=3)
    gone = StoreUnavailableError("the database went away", reason="OperationalError")

    def failing_many(
        events: Sequence[UsageEvent | MeterstackError],
    ) -> list[Decision | MeterstackError]:
        leader.groups.append(len(events))
        raise gone

    engine._metering.consume_many = failing_many  # type: ignore[method-assign]
    calls: list[dict[str, Any]] = [
        {"account_id": account, "meter": "sessions", "quantity": 1} for _ in range(3)
    ]

    with ThreadPoolExecutor(1) as lone:
        lone_answer = lone.submit(engine.consume, **calls[0])
        assert leader.leading.wait(10)
        answers = _run(engine, calls, threads=len(calls))
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
