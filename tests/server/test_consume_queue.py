"""The consume lane's queue: requests that arrive while its thread is busy are decided together,
in one transaction, each with the answer it would have had alone (D7, A9); the event loop goes
on meanwhile."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from meterstack import Decision, Engine, ManualClock
from meterstack.errors import MeterstackError, StoreUnavailableError
from meterstack.server import create_app
from meterstack.server.consume_queue import ConsumeQueue
from meterstack.server.operator import record_usage
from meterstack.server.settings import ServerSettings
from meterstack.services.events import UsageEvent

KEY = "queue-operator-key"
OPERATOR = {"Authorization": f"Bearer {KEY}"}


class HeldEngine:
    """An engine (the real one) whose first ``consume`` waits until ``release`` is set, and
    which counts the events of every shared transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[int] = []
        #: When set, every shared transaction fails with it.
        self.failure: Exception | None = None
        consume, consume_many = engine.consume, engine.consume_many

        def held_consume(*args: Any, **options: Any) -> Decision:
            self.entered.set()
            assert self.release.wait(10)
            return consume(*args, **options)

        def counted_consume_many(
            events: Sequence[UsageEvent],
        ) -> list[Decision | MeterstackError]:
            self.groups.append(len(events))
            if self.failure is not None:
                raise self.failure
            return consume_many(events)

        engine.consume = held_consume  # type: ignore[method-assign]
        engine.consume_many = counted_consume_many  # type: ignore[method-assign,assignment]


@pytest.fixture
def engines(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on two databases with one clock: one behind the queue, one to compare."""
    opened = [
        Engine.open(f"sqlite:///{tmp_path / name}.db", catalog="agentstack", clock=clock)
        for name in ("queued", "alone")
    ]
    yield opened[0], opened[1]
    for engine in opened:
        engine.close()


def _events(account: str) -> list[UsageEvent]:
    """Requests whose answers depend on the ones before them: a replay, a key reused with
    another quantity, a limit crossed (starter has 5 analytics exports), unknown names."""
    return [
        UsageEvent(account, "api_calls", 3, idempotency_key="k1"),
        UsageEvent(account, "api_calls", 3, idempotency_key="k1"),
        UsageEvent(account, "api_calls", 4, idempotency_key="k1"),
        *[UsageEvent(account, "analytics_exports", 2) for _ in range(4)],
        UsageEvent(account, "nope", 1),
        UsageEvent(account, "api_calls", 1, requires=["audit_logs"]),
        UsageEvent(account, "api_calls", 1, project_id="prj_missing"),
        *[UsageEvent(account, "api_calls", 1) for _ in range(10)],
    ]


def _outcome(answer: Any, account: str) -> str:
    """An answer as text, the account's id written ``ACCOUNT``: a decision, or an error."""
    if isinstance(answer, MeterstackError):
        text = repr((type(answer).__name__, answer.code, answer.message, answer.details))
    else:
        text = json.dumps(answer.to_dict())
    return text.replace(account, "ACCOUNT")


def _alone(engine: Engine, event: UsageEvent) -> Decision | MeterstackError:
    try:
        return record_usage(engine, event)
    except MeterstackError as error:
        return error


def test_d7_requests_queued_together_share_a_transaction_with_their_own_answers(
    engines: tuple[Engine, Engine],
) -> None:
    queued_engine, alone_engine = engines
    queued_account = queued_engine.create_account(plan="starter").id
    alone_account = alone_engine.create_account(plan="starter").id
    held = HeldEngine(queued_engine)
    queue = ConsumeQueue(queued_engine)

    async def run() -> list[Any]:
        first = asyncio.ensure_future(queue.decide(lone))
        # The thread decides the first request alone and is held there; the rest queue.
        await asyncio.get_running_loop().run_in_executor(None, held.entered.wait)
        rest = [asyncio.ensure_future(queue.decide(event)) for event in _events(queued_account)]
        await asyncio.sleep(0)
        held.release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    lone = UsageEvent(queued_account, "api_calls", 1, idempotency_key="k0")
    answers = asyncio.run(run())
    queue.close()

    expected = [_alone(alone_engine, lone._replace(account_id=alone_account))]
    expected += [_alone(alone_engine, event) for event in _events(alone_account)]
    assert held.groups == [len(_events(queued_account))]  # one transaction for all that queued
    assert [_outcome(answer, queued_account) for answer in answers] == [
        _outcome(answer, alone_account) for answer in expected
    ]
    # A9: each admitted request counted once, the refused ones not at all.
    for engine, account in ((queued_engine, queued_account), (alone_engine, alone_account)):
        usage = engine.usage(account).items
        assert (usage["api_calls"].used, usage["analytics_exports"].used) == (14, 4)


def test_d7_a_failed_shared_transaction_answers_503_to_each_request_and_records_nothing(
    engines: tuple[Engine, Engine],
) -> None:
    engine = engines[0]
    app = create_app(engine, ServerSettings(operator_key=KEY))
    account = engine.create_account(plan="starter").id
    held = HeldEngine(engine)
    held.failure = StoreUnavailableError("the database did not answer", reason="timeout")

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://queue") as client:

            def consume(key: str) -> Any:
                body = {"meter": "api_calls", "idempotency_key": key}
                path = f"/v1/accounts/{account}/consume"
                return asyncio.ensure_future(client.post(path, json=body, headers=OPERATOR))

            first = consume("alone")
            await asyncio.get_running_loop().run_in_executor(None, held.entered.wait)
            rest = [consume(f"shared-{number}") for number in range(5)]
            while app.state.consume_queue.waiting < len(rest):
                await asyncio.sleep(0)  # the client hands the requests on to the app
            held.release.set()
            return [await first, *[await answer for answer in rest]]

    first, *shared = asyncio.run(run())
    app.state.consume_queue.close()

    assert first.status_code == 200
    assert held.groups == [5]
    for answer in shared:
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "store_unavailable"
        assert answer.headers["Retry-After"] == "1"
    assert engine.usage(account).items["api_calls"].used == 1


def test_the_queue_thread_stops_on_close_and_the_next_request_starts_it_again(
    engines: tuple[Engine, Engine],
) -> None:
    engine = engines[0]
    account = engine.create_account(plan="starter").id
    queue = ConsumeQueue(engine)
    event = UsageEvent(account, "api_calls", 1)

    assert asyncio.run(queue.decide(event)).used == 1
    queue.close()
    assert not queue.running
    assert asyncio.run(queue.decide(event)).used == 2  # another event loop, a new thread
    assert queue.running
    queue.close()
    assert not queue.running
    assert engine.usage(account).items["api_calls"].used == 2


def test_the_event_loop_answers_while_the_queue_waits_for_the_database(
    engines: tuple[Engine, Engine],
) -> None:
    engine = engines[0]
    app = create_app(engine, ServerSettings(operator_key=KEY))
    account = engine.create_account(plan="starter").id
    held = HeldEngine(engine)

    async def run() -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://queue") as client:
            consume = asyncio.ensure_future(
                client.post(
                    f"/v1/accounts/{account}/consume", json={"meter": "api_calls"}, headers=OPERATOR
                )
            )
            await asyncio.get_running_loop().run_in_executor(None, held.entered.wait)
            # The consume waits in the queue's thread; the loop still serves other routes.
            health = await client.get("/health")
            usage = await client.get(f"/v1/accounts/{account}/usage", headers=OPERATOR)
            held.release.set()
            return (await consume).status_code, health.status_code, usage.status_code

    assert asyncio.run(run()) == (200, 200, 200)
    app.state.consume_queue.close()
