"""The express lane of consume (a cache of plans): taken for the ordinary request, and never
deciding differently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from meterstack import Engine, ManualClock
from meterstack.errors import MeterstackError
from meterstack.services.express import Plans

EngineFactory = Callable[..., Engine]


def _counting(open_engine: EngineFactory) -> tuple[Engine, list[bool]]:
    """An engine whose express lane records, per consume, whether a cached plan took it."""
    seen: list[bool] = []
    return open_engine("agentstack", plans=Plans(on_lookup=seen.append)), seen


def test_d7_express_lane_answers_repeated_keyed_consumes_and_their_replays(
    open_engine: EngineFactory,
) -> None:
    engine, seen = _counting(open_engine)
    account = engine.create_account(plan="starter")
    project = engine.create_project(account.id)

    first = engine.consume(account.id, "api_calls", 1, project_id=project.id, idempotency_key="a")
    second = engine.consume(account.id, "api_calls", 2, project_id=project.id, idempotency_key="b")
    replay = engine.consume(account.id, "api_calls", 2, project_id=project.id, idempotency_key="b")

    # No plan yet; the plan; the plan again, and the store answers that the key is stored.
    assert seen == [False, True, True]
    assert (first.used, second.used, replay.used) == (1, 3, 3)
    assert (second.replayed, replay.replayed) == (False, True)
    assert replay.to_dict() | {"replayed": False} == second.to_dict()
    assert engine.usage(account.id)["api_calls"].used == 3
    assert engine.usage(account.id, project_id=project.id)["api_calls"].used == 3


def test_c7_express_route_ends_with_its_period(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine, seen = _counting(open_engine)
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "api_calls", 7)
    seen.clear()

    clock.advance(timedelta(days=31))
    fresh = engine.consume(account.id, "api_calls", 1)

    assert seen == [False]
    assert (fresh.used, fresh.period) == (1, "2026-02")


def test_a5_express_lane_refusal_is_named_from_the_cached_plan(
    open_engine: EngineFactory,
) -> None:
    engine, seen = _counting(open_engine)
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "logic_engine_calls", 49_999)
    seen.clear()

    last = engine.consume(account.id, "logic_engine_calls", 1)
    refused = engine.consume(account.id, "logic_engine_calls", 1)

    assert seen == [True, True]  # the store refuses the second: the same plan names it
    assert (last.allowed, last.used, last.remaining) == (True, 50_000, 0)
    assert (refused.allowed, refused.http_status, refused.used) == (False, 429, 50_000)


# ------------------------------------------------------------------ the lane changes nothing

_CONSUME = st.tuples(
    st.just("consume"),
    st.sampled_from([None, 0, 1]),
    st.integers(1, 15),
    st.sampled_from([None, None, "k1", "k2", "k3"]),
)
_OPERATIONS = st.lists(
    st.one_of(
        _CONSUME,
        _CONSUME,
        _CONSUME,
        st.tuples(st.just("limit"), st.sampled_from([None, None, 0, 1]), st.integers(0, 40)),
        st.tuples(st.just("overage"), st.booleans()),
        st.tuples(st.just("advance"), st.integers(0, 20)),
    ),
    min_size=1,
    max_size=30,
)
#: Overage past a small limit, a replay, a project cap, a new period: each path of the lane.
_EVERY_PATH = [
    ("limit", None, 5),
    ("overage", True),
    ("consume", 0, 3, "k1"),
    ("consume", 0, 3, "k2"),
    ("consume", 0, 3, "k2"),
    ("limit", 1, 4),
    ("consume", 1, 2, None),
    ("consume", 1, 2, None),
    ("consume", 1, 1, None),
    ("advance", 20),
    ("advance", 20),
    ("consume", None, 4, "k1"),
    ("consume", None, 4, None),
]


class _World:
    """An account with two projects, on an engine with or without the express lane."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.account = engine.create_account(plan="starter").id
        self.projects = [engine.create_project(self.account).id for _ in range(2)]

    def project(self, index: int | None) -> str | None:
        return None if index is None else self.projects[index]

    def run(self, operation: tuple[Any, ...]) -> Any:
        kind = operation[0]
        engine = self.engine
        try:
            if kind == "consume":
                _, project, quantity, key = operation
                decision = engine.consume(
                    self.account,
                    "logic_engine_calls",
                    quantity,
                    project_id=self.project(project),
                    idempotency_key=key,
                )
                return self.neutral(decision.to_dict())
            if kind == "limit":
                _, project, limit = operation
                engine.set_limit(
                    self.account, "logic_engine_calls", limit, project_id=self.project(project)
                )
            elif kind == "overage":
                engine.set_overage(self.account, operation[1], meter="logic_engine_calls")
        except MeterstackError as error:
            return (type(error).__name__, self.neutral(str(error)))
        return None

    def neutral(self, value: Any) -> Any:
        """The answer with this world's ids replaced by names both worlds share."""
        text = repr(value).replace(self.account, "ACCOUNT")
        for index, project in enumerate(self.projects):
            text = text.replace(project, f"PROJECT{index}")
        return text

    def totals(self) -> tuple[int, int]:
        usage = self.engine.usage(self.account)["logic_engine_calls"]
        return usage.used, usage.overage_units


def test_d2_express_lane_decides_exactly_as_the_general_path(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    """Random sequences of consumes, limit and overage changes and days passing, answered by two
    engines on the same database, one of them without the lane: every answer is the same."""
    taken: list[bool] = []
    general_taken: list[bool] = []
    with_lane = open_engine("agentstack", plans=Plans(on_lookup=taken.append))
    without_lane = open_engine(
        "agentstack", plans=Plans(enabled=False, on_lookup=general_taken.append)
    )

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(operations=_OPERATIONS)
    @example(operations=_EVERY_PATH)
    @example(
        operations=[("consume", None, 1, None), ("limit", None, 2), ("consume", None, 2, None)]
    )
    def same_answers(operations: list[tuple[Any, ...]]) -> None:
        express, general = _World(with_lane), _World(without_lane)
        for operation in operations:
            if operation[0] == "advance":
                clock.advance(timedelta(days=operation[1]))
                continue
            assert express.run(operation) == general.run(operation), operation
        assert express.totals() == general.totals()

    same_answers()
    # The comparison is between the lane and the general path: one engine took cached plans,
    # the other asked as often and never had one.
    assert any(taken)
    assert general_taken
    assert not any(general_taken)
