"""Usage history in the engine (D27, D9, A11): buckets written by the admission, read back
within the plan's window, per project for the operator only, pruned past a horizon."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterstack import Engine, ManualClock
from meterstack.cli import app
from meterstack.errors import BeyondRetentionError, InvalidInputError
from meterstack.rules.history import Granularity, UsageBucket
from meterstack.services.history import HistoryQuery

EngineFactory = Callable[..., Engine]
DAY = Granularity.DAY
HOUR = Granularity.HOUR


def _days(engine: Engine, account: str, **options: object) -> list[UsageBucket]:
    query = HistoryQuery(account, datetime(2025, 12, 1, tzinfo=UTC), None, DAY)
    return engine.history.history(query, operator=True, **options).buckets  # type: ignore[arg-type]


def test_d27_admitted_usage_lands_in_hourly_and_daily_buckets_and_refusals_do_not(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter").id  # 50,000 logic engine calls
    project = engine.create_project(account).id
    clock.advance(timedelta(hours=9, minutes=30))
    assert engine.consume(account, "logic_engine_calls", 30, project_id=project).allowed
    assert engine.consume(account, "logic_engine_calls", 12).allowed
    assert engine.consume(account, "logic_engine_calls", 3, idempotency_key="k").allowed
    assert engine.consume(account, "logic_engine_calls", 3, idempotency_key="k").replayed
    assert not engine.consume(account, "logic_engine_calls", 60_000).allowed  # refused
    clock.advance(timedelta(minutes=40))
    reservation = engine.reserve(account, "api_calls", 10)
    assert reservation.id is not None
    clock.advance(timedelta(minutes=2))
    engine.commit(reservation.id, 7)  # the committed units, in the hour of the commit
    engine.consume_many(
        [{"account_id": account, "meter": "api_calls", "quantity": 5, "project_id": project}] * 2
    )

    hours = engine.history.history(
        HistoryQuery(account, clock.now() - timedelta(hours=3), clock.now(), HOUR), operator=True
    ).buckets
    assert [(b.meter, b.start.hour, b.used) for b in hours] == [
        ("logic_engine_calls", 9, 45),
        ("api_calls", 10, 17),
    ]
    by_project = _days(engine, account, by_project=True)
    assert sorted((b.meter, b.project_id or "-", b.used) for b in by_project) == [
        ("api_calls", "-", 7),
        ("api_calls", project, 10),
        ("logic_engine_calls", "-", 15),
        ("logic_engine_calls", project, 30),
    ]
    assert sorted((b.meter, b.project_id, b.used) for b in _days(engine, account)) == [
        ("api_calls", None, 17),
        ("logic_engine_calls", None, 45),
    ]


def test_d27_history_outlives_the_period_counters(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter").id
    engine.consume(account, "sessions", 4, byok=True)
    engine.consume(account, "sessions", 1)
    clock.advance(timedelta(days=40))  # a new billing cycle: the counters start at zero (D8)
    engine.consume(account, "sessions", 2)
    assert engine.usage(account)["sessions"].used == 2
    days = _days(engine, account)
    assert [(b.start.date().isoformat(), b.used, b.byok) for b in days] == [
        ("2026-01-01", 5, 4),
        ("2026-02-10", 2, 0),
    ]


def test_d27_d9_a_customer_reads_back_as_far_as_the_plans_analytics_retention(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    free = engine.create_account(plan="free").id  # 7 days
    pro = engine.create_account(plan="pro").id  # 90 days
    clock.advance(timedelta(days=100, hours=15))
    today = clock.now().replace(hour=0)

    def read(account: str, days_back: int) -> list[UsageBucket]:
        query = HistoryQuery(account, today - timedelta(days=days_back))
        return engine.history.history(query).buckets

    assert read(free, 7) == []
    with pytest.raises(BeyondRetentionError) as refused:
        read(free, 8)
    assert refused.value.http_status == 403
    assert refused.value.details == {
        "retention_days": 7,
        "earliest": (today - timedelta(days=7)).isoformat(),
    }
    assert read(pro, 90) == []
    with pytest.raises(BeyondRetentionError):
        read(pro, 91)
    # Operators read without a window.
    query = HistoryQuery(free, today - timedelta(days=100))
    assert engine.history.history(query, operator=True).retention_days is None
    # Without a start, a customer's query starts inside the window.
    assert engine.history.history(HistoryQuery(free)).start >= today - timedelta(days=7)


def test_d27_bad_queries_are_precise_422s(open_engine: EngineFactory, clock: ManualClock) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro").id
    now = clock.now()
    bad = [
        HistoryQuery(account, meter="sessions"),
        HistoryQuery(account, now, now - timedelta(days=1)),
        HistoryQuery(account, now - timedelta(days=40), now, HOUR),
    ]
    for query in bad:
        with pytest.raises(InvalidInputError):
            engine.history.history(query, operator=True)


def test_d27_prune_keeps_everything_without_a_horizon_and_goes_in_windows(
    store_url: str, tmp_path: Path
) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("the command's database is a file here; the engine prune runs on both")
    past = ManualClock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    with Engine.open(store_url, catalog="agentstack", clock=past) as engine:
        account = engine.create_account(plan="pro").id
        projects = [engine.create_project(account).id for _ in range(3)]
        for project in projects:
            engine.consume(account, "api_calls", 2, project_id=project)
    runner = CliRunner()
    options = ["--database", store_url, "--catalog", "agentstack"]
    kept = runner.invoke(app, ["prune-history", *options], env={})
    assert kept.exit_code == 0, kept.output
    assert "every bucket is kept" in kept.output
    pruned = runner.invoke(app, ["prune-history", "--keep-days", "30", "--window", "2", *options])
    assert pruned.exit_code == 0, pruned.output
    assert "3 usage-history buckets" in pruned.output  # 3 projects, one hour each


def test_d27_prune_deletes_only_past_the_horizon(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro").id
    engine.consume(account, "api_calls", 1)
    clock.advance(timedelta(days=20))
    engine.consume(account, "api_calls", 1)
    assert engine.history.prune(timedelta(days=10), window=1) == 1  # the old hour
    assert [b.start.day for b in _days(engine, account)] == [21]
    with pytest.raises(InvalidInputError):
        engine.history.prune(timedelta(days=10), window=0)


def test_d27_the_customers_aggregate_summed_by_the_database_equals_the_projects_summed(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="premium").id  # a year of analytics
    projects = [engine.create_project(account).id for _ in range(3)]
    for hour in range(0, 60, 7):  # across days, hours, projects, meters and own-key runs
        clock.set(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hour, minutes=5))
        for index, project in enumerate([*projects, None]):
            meter = ("api_calls", "logic_engine_calls")[(hour + index) % 2]
            quantity = 1 + hour + index
            byok = index == 1
            assert engine.consume(account, meter, quantity, project_id=project, byok=byok).allowed
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for granularity in (DAY, HOUR):
        query = HistoryQuery(account, start, clock.now() + HOUR.length, granularity)
        customer = engine.history.history(query).buckets
        per_project = engine.history.history(query, operator=True, by_project=True).buckets
        summed: dict[tuple[datetime, str], tuple[int, int]] = {}
        for bucket in per_project:
            used, own = summed.get((bucket.start, bucket.meter), (0, 0))
            summed[(bucket.start, bucket.meter)] = (used + bucket.used, own + bucket.byok)
        assert [(b.start, b.meter, b.used, b.byok) for b in customer] == [
            (moment, meter, used, own) for (moment, meter), (used, own) in sorted(summed.items())
        ]
        assert all(b.project_id is None and b.granularity is granularity for b in customer)
        assert {b.start.tzinfo for b in customer} == {UTC}
    days = engine.history.history(HistoryQuery(account, start, clock.now(), DAY)).buckets
    assert [b.start.day for b in days] == [1, 1, 2, 2, 3, 3]
