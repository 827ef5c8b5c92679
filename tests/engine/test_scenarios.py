"""Scenario tests of the engine, named by the SPEC rule they prove, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from meterstack import Decision, DecisionCode, Engine, ManualClock, UsageEvent
from meterstack.errors import (
    IdempotencyKeyReusedError,
    InvalidInputError,
    RefusedError,
    ReservationExpiredError,
    UpgradeRequiredError,
)
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
StoreOf = Callable[[Engine], SqlStore]

# --------------------------------------------------------------------------- A5, D3


def test_a5_overage_off_refuses_the_50001st_call_with_429_and_counts_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    first = engine.consume(account.id, "logic_engine_calls", 50_000)
    assert (first.allowed, first.used, first.limit, first.remaining) == (True, 50_000, 50_000, 0)

    refused = engine.consume(account.id, "logic_engine_calls", 1)

    assert not refused.allowed
    assert (refused.code, refused.http_status) == (DecisionCode.LIMIT_EXCEEDED, 429)
    assert refused.used == 50_000
    assert engine.usage(account.id)["logic_engine_calls"].used == 50_000


def test_a5_overage_on_admits_the_50001st_call_as_overage(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "logic_engine_calls", 50_000)
    engine.set_overage(account.id, True, meter="logic_engine_calls")

    decision = engine.consume(account.id, "logic_engine_calls", 1)

    assert decision.allowed
    assert (decision.code, decision.http_status) == (DecisionCode.OVERAGE, 200)
    assert (decision.used, decision.overage_units) == (50_001, 1)
    usage = engine.usage(account.id)
    assert usage["logic_engine_calls"].overage_units == 1
    # The switch was for logic engine calls only: API calls still stop at their limit.
    assert not usage["api_calls"].overage_enabled


def test_a5_project_switch_beats_the_account_default(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    on, off = engine.create_project(account.id), engine.create_project(account.id)
    engine.set_overage(account.id, True)  # account-wide default: on
    engine.set_overage(account.id, False, meter="logic_engine_calls", project_id=off.id)
    engine.consume(account.id, "logic_engine_calls", 50_000, project_id=on.id)

    from_off = engine.consume(account.id, "logic_engine_calls", 1, project_id=off.id)
    from_on = engine.consume(account.id, "logic_engine_calls", 1, project_id=on.id)

    assert (from_off.allowed, from_off.http_status) == (False, 429)
    assert (from_on.allowed, from_on.code, from_on.overage_units) == (
        True,
        DecisionCode.OVERAGE,
        1,
    )


def test_a5_overage_applies_only_to_units_past_the_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True)
    engine.consume(account.id, "logic_engine_calls", 49_000)

    decision = engine.consume(account.id, "logic_engine_calls", 2_500)

    assert (decision.used, decision.overage_units) == (51_500, 1_500)


def test_d2_overage_stays_overage_after_the_limit_rises(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True)
    engine.consume(account.id, "logic_engine_calls", 50_100)
    engine.grant_pack(account.id, "logic_engine_small")

    usage = engine.usage(account.id)["logic_engine_calls"]

    assert (usage.limit, usage.used, usage.overage_units) == (60_000, 50_100, 100)


def test_d3_a_plan_without_payments_cannot_turn_overage_on(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="anonymous")

    with pytest.raises(UpgradeRequiredError) as refused:
        engine.set_overage(account.id, True)

    assert (refused.value.http_status, refused.value.code) == (402, "upgrade_required")


# --------------------------------------------------------------------------- A6, A9, A10


def test_a6_expansion_pack_adds_permanent_monthly_capacity(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.grant_pack(account.id, "logic_engine_medium")
    engine.grant_pack(account.id, "api_calls_large")

    granted = engine.consume(account.id, "logic_engine_calls", 100_000)
    refused = engine.consume(account.id, "logic_engine_calls", 1)
    clock.advance(timedelta(days=40))
    next_month = engine.consume(account.id, "logic_engine_calls", 100_000)

    assert (granted.allowed, granted.limit) == (True, 100_000)
    assert not refused.allowed
    assert (next_month.allowed, next_month.limit, next_month.used) == (True, 100_000, 100_000)
    assert engine.usage(account.id)["api_calls"].limit == 200_000 + 1_000_000


def test_a9_three_projects_share_one_account_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    projects = [engine.create_project(account.id) for _ in range(3)]
    limit = engine.usage(account.id)["logic_engine_calls"].limit
    assert limit is not None
    share = limit // 3

    for project in projects:
        assert engine.consume(account.id, "logic_engine_calls", share, project_id=project.id)
    rest = limit - 3 * share
    if rest:
        engine.consume(account.id, "logic_engine_calls", rest, project_id=projects[0].id)
    refused = engine.consume(account.id, "logic_engine_calls", 1, project_id=projects[2].id)

    assert not refused.allowed
    assert refused.scope == "account"
    per_project = [
        engine.usage(account.id, project_id=project.id)["logic_engine_calls"].used
        for project in projects
    ]
    assert sum(per_project) == engine.usage(account.id)["logic_engine_calls"].used == limit


def test_a10_project_creation_is_refused_past_the_plan_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    limit = engine.usage(account.id)["projects"].limit
    assert limit is not None
    created = [engine.create_project(account.id, active=False) for _ in range(limit)]

    with pytest.raises(RefusedError) as refused:
        engine.create_project(account.id, active=False)

    assert (refused.value.code, refused.value.http_status) == ("limit_exceeded", 429)
    assert refused.value.details["current_usage"] == limit
    assert refused.value.details["limit"] == limit
    engine.delete_project(created[0].id)
    engine.create_project(account.id, active=False)
    assert engine.usage(account.id)["projects"].used == limit


def test_d12_active_projects_limit_creation_unless_created_inactive(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="basic")
    usage = engine.usage(account.id)
    active_limit, total_limit = usage["active_projects"].limit, usage["projects"].limit
    assert active_limit is not None
    assert total_limit is not None
    assert active_limit < total_limit
    for _ in range(active_limit):
        engine.create_project(account.id)

    with pytest.raises(RefusedError):
        engine.create_project(account.id)
    inactive = engine.create_project(account.id, active=False)

    usage = engine.usage(account.id)
    assert not inactive.active
    assert (usage["active_projects"].used, usage["projects"].used) == (
        active_limit,
        active_limit + 1,
    )


# --------------------------------------------------------------------------- B7, D5


def test_b7_grace_zone_succeeds_with_a_warning_and_403_past_the_hard_limit(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "api_requests", 50_000)

    in_grace = engine.consume(account.id, "api_requests", 5_000)
    past = engine.consume(account.id, "api_requests", 1)

    assert in_grace.allowed
    assert (in_grace.code, in_grace.used, in_grace.hard_limit) == (
        DecisionCode.GRACE,
        55_000,
        55_000,
    )
    assert in_grace.warnings
    assert (past.allowed, past.code, past.http_status) == (
        False,
        DecisionCode.HARD_LIMIT_EXCEEDED,
        403,
    )


def test_d14_operator_override_of_limit_and_grace(open_engine: EngineFactory) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")
    engine.set_limit(account.id, "api_requests", 25, grace=15)

    decision = engine.consume(account.id, "api_requests", 29)
    refused = engine.consume(account.id, "api_requests", 1)

    assert (decision.allowed, decision.limit, decision.hard_limit) == (True, 25, 29)
    assert refused.http_status == 403
    engine.set_limit(account.id, "api_requests", "unlimited")
    assert engine.consume(account.id, "api_requests", 10**9).limit is None


# --------------------------------------------------------------------------- C4, C5, C6, C7


def test_c4_near_limit_from_80_percent(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="hobbyist")

    below = engine.consume(account.id, "sessions", 159)
    at = engine.consume(account.id, "sessions", 1)
    usage = engine.usage(account.id)["sessions"]

    assert below.code is DecisionCode.OK
    assert (at.code, at.remaining) == (DecisionCode.NEAR_LIMIT, 40)
    assert (usage.used, usage.limit, usage.remaining, str(usage.percent)) == (
        160,
        200,
        40,
        "80.00",
    )
    assert usage.is_near_limit


def test_c5_in_flight_sessions_finish_new_ones_are_refused_other_meters_work(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter")
    usage = engine.usage(account.id)["ai_tokens"]
    assert usage.hard_limit is not None
    in_flight = engine.reserve(account.id, "ai_tokens", 10)
    engine.consume(account.id, "ai_tokens", usage.hard_limit - 10)

    refused = engine.consume(account.id, "ai_tokens", 1)
    finished = engine.commit(in_flight.id or "", 10)
    other_meter = engine.consume(account.id, "api_requests", 1)

    assert (refused.allowed, refused.http_status) == (False, 403)
    assert (finished.allowed, finished.used) == (True, usage.hard_limit)
    assert other_meter.allowed


def test_c5_flowstack_quota_exceeded_carries_current_usage_and_limit(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 25)

    refused = engine.consume(account.id, "sessions", 1)

    assert (refused.allowed, refused.http_status, refused.code) == (
        False,
        429,
        DecisionCode.LIMIT_EXCEEDED,
    )
    assert (refused.used, refused.limit) == (25, 25)
    assert "25" in refused.message


def test_c6_a_session_hold_lapses_after_five_minutes(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    hold = engine.reserve(account.id, "sessions", 25, ttl=3600)
    assert hold.expires_at == clock.now() + timedelta(seconds=300)
    assert not engine.consume(account.id, "sessions", 1).allowed

    clock.advance(timedelta(seconds=300))
    after = engine.consume(account.id, "sessions", 1)

    assert (after.allowed, after.used, after.held) == (True, 1, 0)
    with pytest.raises(ReservationExpiredError) as late:
        engine.commit(hold.id or "")
    assert late.value.http_status == 409


def test_c7_a_new_period_starts_at_zero_without_rollover(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    clock.set(clock.now() + timedelta(days=14))  # anniversary on the 15th (D8)
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 10)
    period = engine.usage(account.id).period

    clock.set(period.end - timedelta(seconds=1))
    last = engine.consume(account.id, "sessions", 15)
    clock.set(period.end)
    fresh = engine.usage(account.id)

    assert (period.start.day, period.end.day) == (15, 15)
    assert (last.used, last.remaining) == (25, 0)
    assert fresh.period.start == period.end
    assert (fresh["sessions"].used, fresh["sessions"].remaining) == (0, 25)


# --------------------------------------------------------------------------- D6


def test_d6_holds_count_while_open_and_commit_records_actual_quantity(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    hold = engine.reserve(account.id, "sessions", 20)
    assert hold.allowed

    refused = engine.consume(account.id, "sessions", 6)
    committed = engine.commit(hold.id or "", 12)
    admitted = engine.consume(account.id, "sessions", 6)

    assert (refused.allowed, refused.held) == (False, 20)
    assert (committed.used, committed.held) == (12, 0)
    assert (admitted.allowed, admitted.used) == (True, 18)


def test_d6_commit_of_more_than_held_records_the_excess_past_the_limit(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    hold = engine.reserve(account.id, "sessions", 20)

    committed = engine.commit(hold.id or "", 30)

    assert (committed.used, committed.extra["excess_units"]) == (30, 10)
    assert any("beyond the 20 held" in warning for warning in committed.warnings)
    assert engine.usage(account.id)["sessions"].used == 30


@pytest.mark.parametrize(
    ("catalog", "plan", "meter", "before", "hard", "bound"),
    [
        ("agentstack", "starter", "logic_engine_calls", 49_950, 50_000, "limit of 50000"),
        (
            "aerostack",
            "free",
            "api_requests",
            54_950,
            55_000,
            "hard limit of 55000 (limit 50000)",
        ),
    ],
)
def test_d6_commit_past_the_hard_limit_without_overage_is_named_excess_not_grace(
    open_engine: EngineFactory,
    catalog: str,
    plan: str,
    meter: str,
    before: int,
    hard: int,
    bound: str,
) -> None:
    engine = open_engine(catalog)
    account = engine.create_account(plan=plan)
    engine.consume(account.id, meter, before)
    hold = engine.reserve(account.id, meter, 50)

    committed = engine.commit(hold.id or "", 150)

    assert (committed.allowed, committed.code, committed.http_status) == (
        True,
        DecisionCode.EXCESS,
        200,
    )
    assert (committed.used, committed.overage_units) == (hard + 100, 0)
    assert committed.extra["excess_units"] == 100
    assert f"{hard + 100} used is 100 past the {bound}" in committed.warnings[0]
    assert "not billed as overage" in committed.warnings[0]
    assert not any("grace" in warning for warning in committed.warnings)
    assert engine.usage(account.id)[meter].state == "blocked"


def test_d6_commit_past_the_limit_with_overage_on_is_overage(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True, meter="logic_engine_calls")
    engine.consume(account.id, "logic_engine_calls", 49_950)
    hold = engine.reserve(account.id, "logic_engine_calls", 50)

    committed = engine.commit(hold.id or "", 150)

    assert (committed.code, committed.overage_units) == (DecisionCode.OVERAGE, 100)
    assert (
        "100 logic_engine_calls beyond the limit of 50000 billed as overage"
        in (committed.warnings[0])
    )


def test_d6_release_gives_the_units_back_and_a_second_commit_is_refused(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    hold = engine.reserve(account.id, "sessions", 25)
    released = engine.release(hold.id or "")

    assert released.status == "released"
    assert engine.consume(account.id, "sessions", 25).allowed
    other = engine.reserve(account.id, "sessions", 1)
    assert not other.allowed
    assert other.id is None


# --------------------------------------------------------------------------- D7


def test_d7_same_key_counts_once_and_replays_the_decision(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")

    first = engine.consume(account.id, "api_calls", 5, idempotency_key="req-42")
    again = engine.consume(account.id, "api_calls", 5, idempotency_key="req-42")

    assert not first.replayed
    assert again.replayed
    assert (again.used, again.allowed) == (5, True)
    assert engine.usage(account.id)["api_calls"].used == 5


def test_d7_same_key_other_payload_is_409(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "api_calls", 5, idempotency_key="req-42")

    with pytest.raises(IdempotencyKeyReusedError) as reused:
        engine.consume(account.id, "api_calls", 6, idempotency_key="req-42")

    assert (reused.value.http_status, reused.value.code) == (409, "idempotency_key_reused")
    assert engine.usage(account.id)["api_calls"].used == 5


def test_d7_a_refusal_is_not_stored_so_a_retry_is_decided_again(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 25)
    refused = engine.consume(account.id, "sessions", 1, idempotency_key="retry")
    engine.set_limit(account.id, "sessions", 30)

    retried = engine.consume(account.id, "sessions", 1, idempotency_key="retry")

    assert not refused.allowed
    assert (retried.allowed, retried.replayed, retried.used) == (True, False, 26)


def test_d7_an_admitted_key_replays_even_once_the_limit_is_reached(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    engine.consume(account.id, "sessions", 25, idempotency_key="all")

    replay = engine.consume(account.id, "sessions", 25, idempotency_key="all")

    assert (replay.allowed, replay.replayed, replay.used) == (True, True, 25)


def test_d7_keys_are_scoped_per_account_and_kept_35_days(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    one, two = engine.create_account(plan="starter"), engine.create_account(plan="starter")
    engine.consume(one.id, "api_calls", 1, idempotency_key="k")
    assert not engine.consume(two.id, "api_calls", 1, idempotency_key="k").replayed

    clock.advance(timedelta(days=35) - timedelta(seconds=1))
    assert engine.consume(one.id, "api_calls", 1, idempotency_key="k").replayed
    clock.advance(timedelta(days=1))
    assert not engine.consume(one.id, "api_calls", 1, idempotency_key="k").replayed


def test_d7_purge_deletes_only_keys_past_the_retention(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "api_calls", 1, idempotency_key="old")
    clock.advance(timedelta(days=30))
    engine.consume(account.id, "api_calls", 1, idempotency_key="recent")
    clock.advance(timedelta(days=5, seconds=1))

    assert engine.purge_idempotency_keys() == 1
    assert engine.purge_idempotency_keys() == 0
    assert engine.consume(account.id, "api_calls", 1, idempotency_key="recent").replayed
    assert not engine.consume(account.id, "api_calls", 1, idempotency_key="old").replayed


def test_d7_batches_decide_each_event_on_its_own_key(open_engine: EngineFactory) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="free")
    events = [
        {"account_id": account.id, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account.id, "meter": "sessions", "quantity": 10, "idempotency_key": "a"},
        {"account_id": account.id, "meter": "tools", "quantity": 1},
        {"account_id": account.id, "meter": "sessions", "quantity": 20, "idempotency_key": "b"},
        {"account_id": account.id, "meter": "sessions", "quantity": 15, "idempotency_key": "c"},
    ]

    results = engine.consume_many(events)

    first, duplicate, unknown, refused, last = results
    assert not isinstance(first, Exception)
    assert not isinstance(duplicate, Exception)
    assert not isinstance(refused, Exception)
    assert not isinstance(last, Exception)
    assert isinstance(unknown, Exception)
    assert "unknown meter 'tools'" in str(unknown)
    assert (first.used, duplicate.replayed) == (10, True)
    assert (refused.allowed, last.allowed, last.used) == (False, True, 25)
    assert engine.usage(account.id)["sessions"].used == 25


def test_d7_a_large_batch_replays_the_keys_stored_before_and_counts_the_rest_once(
    open_engine: EngineFactory,
) -> None:
    # More keys than one statement carries: lookups and inserts go in several chunks.
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", "unlimited")
    before = engine.consume_many(
        [UsageEvent(account.id, "api_calls", 1, None, f"k-{n}") for n in range(0, 1200, 4)]
    )
    events = [UsageEvent(account.id, "api_calls", 1, None, f"k-{n}") for n in range(1200)]
    events += [UsageEvent(account.id, "api_calls", 2, None, "k-1")]  # reused, other payload

    results = engine.consume_many(events)

    assert all(isinstance(result, Decision) and result.allowed for result in before)
    decisions = [result for result in results[:1200] if isinstance(result, Decision)]
    assert len(decisions) == 1200
    assert all(decision.allowed for decision in decisions)
    replayed = [n for n, decision in enumerate(decisions) if decision.replayed]
    assert replayed == list(range(0, 1200, 4))
    assert isinstance(results[1200], IdempotencyKeyReusedError)
    assert engine.usage(account.id)["api_calls"].used == 1200


def test_d7_purge_walks_the_keys_in_windows_and_keeps_the_recent_ones(
    open_engine: EngineFactory, store_of: StoreOf, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    accounts = [engine.create_account(plan="starter") for _ in range(3)]
    for account in accounts:
        for n in range(4):
            engine.consume(account.id, "api_calls", 1, idempotency_key=f"old-{n}")
    clock.advance(timedelta(days=30))
    for account in accounts:
        engine.consume(account.id, "api_calls", 1, idempotency_key="recent")
    clock.advance(timedelta(days=5, seconds=1))
    store = store_of(engine)
    opened = 0
    transaction = store.transaction

    def counted() -> Any:
        nonlocal opened
        opened += 1
        return transaction()

    store.transaction = counted  # type: ignore[method-assign]
    purged = engine.purge_idempotency_keys(window=5)
    store.transaction = transaction  # type: ignore[method-assign]

    assert purged == 12
    assert opened == 4  # 15 keys, 5 per window: three full windows, then the end
    for account in accounts:
        assert engine.consume(account.id, "api_calls", 1, idempotency_key="recent").replayed
        assert not engine.consume(account.id, "api_calls", 1, idempotency_key="old-2").replayed
    with pytest.raises(InvalidInputError):
        engine.purge_idempotency_keys(window=0)
