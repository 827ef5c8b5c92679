"""Resources, gauges and leases through the engine (A4, A10, C6, D3, D5, D12, D13)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest

from meterstack import DecisionCode, Engine, ManualClock
from meterstack.catalog import builtin_names, load_catalog
from meterstack.errors import InvalidInputError, NotFoundError, RefusedError
from meterstack.services.resources import ResourceObject

EngineFactory = Callable[..., Engine]
GB = 10**9
MB = 10**6


def _resource_limits() -> list[tuple[str, str, str, int]]:
    """(catalog, resource kind, plan, limit): each kind on its plan with the smallest limit."""
    cases = []
    for name in builtin_names():
        catalog = load_catalog(name).catalog
        for kind, resource in catalog.resources.items():
            if resource.subset_of is not None:
                continue  # counted through its parent (D12), tested below
            finite = [
                (limit, plan.id)
                for plan in catalog.plans
                if isinstance(limit := plan.limits[kind], int) and limit > 0
            ]
            limit, plan_id = min(finite)
            cases.append((name, kind, plan_id, limit))
    return cases


@pytest.mark.parametrize(("catalog", "kind", "plan", "limit"), _resource_limits())
def test_a10_every_resource_kind_is_refused_past_its_limit(
    open_engine: EngineFactory, catalog: str, kind: str, plan: str, limit: int
) -> None:
    engine = open_engine(catalog)
    account = engine.create_account(plan=plan)

    def create() -> ResourceObject:
        if kind == "projects":
            return engine.create_project(account.id, active=False)
        return engine.create_resource(account.id, kind)

    made = [create() for _ in range(limit)]

    with pytest.raises(RefusedError) as refused:
        create()
    engine.delete_resource(made[0].id)
    create()

    assert (refused.value.code, refused.value.http_status) == ("limit_exceeded", 429)
    assert refused.value.details["limit"] == limit
    assert engine.usage(account.id)[kind].used == limit


def test_a10_sixteen_threads_creating_projects_against_five_create_exactly_five(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "projects", 5)
    barrier = Barrier(16)

    def attempt(_: int) -> bool:
        barrier.wait()
        try:
            engine.create_project(account.id, active=False)
        except RefusedError:
            return False
        return True

    with ThreadPoolExecutor(16) as pool:
        created = sum(pool.map(attempt, range(16)))

    assert created == 5
    assert len(engine.resources(account.id, "projects")) == 5
    assert engine.usage(account.id)["projects"].used == 5


def test_d12_activating_a_project_checks_the_active_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="basic")  # 5 projects, 3 active
    active = [engine.create_project(account.id) for _ in range(3)]
    dormant = engine.create_project(account.id, active=False)

    with pytest.raises(RefusedError):
        engine.set_active(dormant.id, True)
    engine.set_active(active[0].id, False)
    woken = engine.set_active(dormant.id, True)

    assert woken.active
    assert engine.usage(account.id)["active_projects"].used == 3


def test_d13_a_read_only_resource_refuses_writes_with_403(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    trigger = engine.create_resource(account.id, "triggers")

    engine.set_read_only(trigger.id, True)
    refused = engine.check_write(trigger.id)
    engine.set_read_only(trigger.id, False)

    assert (refused.allowed, refused.code, refused.http_status) == (
        False,
        DecisionCode.READ_ONLY,
        403,
    )
    assert engine.check_write(trigger.id).allowed
    assert [r.id for r in engine.resources(account.id, "triggers")] == [trigger.id]


# --------------------------------------------------------------------------- gauges


def test_d5_gauge_grace_then_403_past_the_hard_limit(open_engine: EngineFactory) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")  # 2.5 GB, 10 % grace

    in_grace = engine.set_gauge(account.id, "storage", 2_750_000_000)
    past = engine.adjust_gauge(account.id, "storage", 1)
    shrink = engine.adjust_gauge(account.id, "storage", -750_000_000)

    assert (in_grace.allowed, in_grace.code, in_grace.hard_limit) == (
        True,
        DecisionCode.GRACE,
        2_750_000_000,
    )
    assert (past.allowed, past.code, past.http_status) == (
        False,
        DecisionCode.HARD_LIMIT_EXCEEDED,
        403,
    )
    assert (shrink.allowed, shrink.used) == (True, 2 * GB)


def test_a10_storage_write_past_the_limit_is_refused_with_overage_off(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # 0.5 GB project storage
    engine.set_gauge(account.id, "project_storage", GB // 2)

    refused = engine.adjust_gauge(account.id, "project_storage", 1)

    assert (refused.allowed, refused.http_status, refused.code) == (
        False,
        429,
        DecisionCode.LIMIT_EXCEEDED,
    )
    assert engine.gauge(account.id, "project_storage") == (GB // 2, GB // 2)


def test_d3_storage_overage_is_kept_at_the_period_peak(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True, meter="project_storage")

    over = engine.set_gauge(account.id, "project_storage", 2 * GB)
    engine.set_gauge(account.id, "project_storage", GB // 4)
    level, peak = engine.gauge(account.id, "project_storage")
    clock.advance(timedelta(days=31))
    next_period = engine.gauge(account.id, "project_storage")

    assert (over.allowed, over.code, over.overage_units) == (
        True,
        DecisionCode.OVERAGE,
        2 * GB - GB // 2,
    )
    assert (level, peak) == (GB // 4, 2 * GB)
    assert next_period == (GB // 4, 0)


def test_d3_usage_report_shows_the_storage_overage_switch_and_what_it_billed(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # 0.5 GB project storage
    off = engine.usage(account.id)["project_storage"]
    engine.set_overage(account.id, True, meter="project_storage")
    engine.set_gauge(account.id, "project_storage", 2 * GB)
    engine.set_gauge(account.id, "project_storage", GB // 4)
    on = engine.usage(account.id)["project_storage"]
    engine.set_overage(account.id, False)  # every item, the account's own switch
    engine.set_overage(account.id, True, meter="api_calls")
    later = engine.usage(account.id)

    assert (off.overage_enabled, off.state) == (False, "ok")
    assert (on.overage_enabled, on.used, on.overage_units) == (True, GB // 4, 3 * GB // 2)
    assert on.state == "overage"  # 1.5 GB past the limit were announced, and will be billed
    assert later["project_storage"].overage_enabled is True  # the item's switch is more specific
    assert later["api_calls"].overage_enabled is True
    assert later["logic_engine_calls"].overage_enabled is False


def test_a4_a_storage_pack_raises_project_storage_never_json_storage(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    user = engine.create_end_user(account.id)
    json_limit = engine.set_gauge(account.id, "json_storage", 0, end_user_id=user.id).limit
    assert json_limit is not None
    engine.grant_pack(account.id, "storage_5gb")

    project = engine.set_gauge(account.id, "project_storage", 5 * GB)
    json_full = engine.set_gauge(account.id, "json_storage", json_limit, end_user_id=user.id)
    json_past = engine.adjust_gauge(account.id, "json_storage", 1, end_user_id=user.id)

    assert project.allowed
    assert project.limit == 5 * GB + engine.catalog.plan("free").limits["project_storage"]  # type: ignore[operator]
    assert (json_full.allowed, json_full.limit) == (True, json_limit)
    assert not json_past.allowed


def test_json_storage_is_per_end_user(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    one, two = engine.create_end_user(account.id), engine.create_end_user(account.id)
    limit = engine.set_gauge(account.id, "json_storage", 1, end_user_id=one.id).limit
    assert limit is not None

    full = engine.set_gauge(account.id, "json_storage", limit, end_user_id=one.id)
    other = engine.set_gauge(account.id, "json_storage", limit, end_user_id=two.id)

    assert full.allowed
    assert other.allowed
    with pytest.raises(InvalidInputError, match="per end user"):
        engine.set_gauge(account.id, "json_storage", 1)
    with pytest.raises(NotFoundError, match="no end user"):
        engine.set_gauge(account.id, "json_storage", 1, end_user_id="user_nope")


def test_a_gauge_never_goes_below_zero(open_engine: EngineFactory) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")
    engine.set_gauge(account.id, "storage", 10)

    with pytest.raises(InvalidInputError, match="cannot go below zero"):
        engine.adjust_gauge(account.id, "storage", -11)
    with pytest.raises(InvalidInputError, match="at least 0"):
        engine.set_gauge(account.id, "storage", -1)

    assert engine.gauge(account.id, "storage") == (10, 10)


# --------------------------------------------------------------------------- leases


def test_c6_a_lease_lapses_after_the_longest_lease_and_frees_its_slot(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")
    engine.set_limit(account.id, "realtime_connections", 2)
    start = clock.now()
    first = engine.acquire_lease(account.id, "realtime_connections", ttl=10**6)
    engine.acquire_lease(account.id, "realtime_connections")
    full = engine.acquire_lease(account.id, "realtime_connections")
    longest = timedelta(
        seconds=engine.catalog.concurrency["realtime_connections"].max_lease_seconds
    )

    engine.release_lease(first.id or "")
    again = engine.acquire_lease(account.id, "realtime_connections")
    clock.advance(longest)
    after_lapse = engine.acquire_lease(account.id, "realtime_connections")

    assert first.expires_at == start + longest
    assert (full.allowed, full.decision.http_status) == (False, 429)
    assert again.allowed
    assert after_lapse.allowed
    assert engine.usage(account.id)["realtime_connections"].held == 1


def test_sixteen_threads_never_hold_more_than_the_concurrency_limit(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="starter")
    engine.set_limit(account.id, "realtime_connections", 100)
    lock = threading.Lock()
    holding = peak = granted = 0
    barrier = Barrier(16)

    def connect(_: int) -> None:
        nonlocal holding, peak, granted
        barrier.wait()
        for _round in range(25):
            lease = engine.acquire_lease(account.id, "realtime_connections")
            if not lease.allowed:
                continue
            with lock:
                holding += 1
                granted += 1
                peak = max(peak, holding)
            with lock:
                holding -= 1
            engine.release_lease(lease.id or "")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(connect, range(16)))
    leases = [engine.acquire_lease(account.id, "realtime_connections") for _ in range(101)]

    assert peak <= 100
    assert granted > 0
    assert sum(lease.allowed for lease in leases) == 100
