"""The async face of the engine: the same calls, awaited, on SQLite and PostgreSQL."""

from __future__ import annotations

import inspect

import anyio
import pytest

from meterstack import AsyncEngine, Decision, DecisionCode, Engine, ManualClock
from meterstack.errors import InvalidInputError


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member) and name not in ("open", "close")
    }


def test_every_engine_call_has_an_awaitable_twin_with_the_same_parameters() -> None:
    sync, twin = _public_methods(Engine), _public_methods(AsyncEngine)

    assert sorted(sync) == sorted(twin)
    for name, signature in sync.items():
        assert inspect.iscoroutinefunction(getattr(AsyncEngine, name)), name
        assert list(signature.parameters) == list(twin[name].parameters), name


@pytest.mark.anyio
async def test_a5_async_face_refuses_the_50001st_call_with_429(
    store_url: str, clock: ManualClock
) -> None:
    async with await AsyncEngine.open(store_url, catalog="agentstack", clock=clock) as engine:
        account = await engine.create_account(plan="starter")
        project = await engine.create_project(account.id)
        first = await engine.consume(
            account.id, "logic_engine_calls", 50_000, project_id=project.id
        )
        refused = await engine.consume(account.id, "logic_engine_calls", 1)
        with pytest.raises(InvalidInputError, match="unknown meter"):
            await engine.consume(account.id, "logic_engine_cals", 1)
        usage = await engine.usage(account.id)

    assert (first.allowed, first.remaining) == (True, 0)
    assert (refused.code, refused.http_status) == (DecisionCode.LIMIT_EXCEEDED, 429)
    assert usage["logic_engine_calls"].used == 50_000


@pytest.mark.anyio
async def test_a9_concurrent_async_consumes_never_pass_the_limit(
    store_url: str, clock: ManualClock
) -> None:
    async with await AsyncEngine.open(store_url, catalog="flowstack", clock=clock) as engine:
        account = await engine.create_account(plan="free")
        answers: list[Decision] = []

        async def consume(index: int) -> None:
            answers.append(
                await engine.consume(account.id, "sessions", 1, idempotency_key=f"k{index % 40}")
            )

        async with anyio.create_task_group() as group:
            for index in range(60):
                group.start_soon(consume, index)
        usage = await engine.usage(account.id)

    counted = [a for a in answers if a.allowed and not a.replayed]
    assert len(answers) == 60
    assert len(counted) == usage["sessions"].used == 25  # FlowStack Free: 25 sessions
    assert all(a.http_status == 429 for a in answers if not a.allowed)
