"""Subscriptions end to end across period boundaries, on SQLite and PostgreSQL (B8, B9, B12, C7,
D10, D11, D13): limits, decisions, and every invoice line and total."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from meterstack import Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.errors import InvalidInputError, RefusedError
from meterstack.records.invoicing import Invoice

EngineFactory = Callable[..., Engine]


def _amounts(invoice: Invoice) -> list[tuple[str, Decimal]]:
    return [(line.kind, line.amount) for line in invoice.lines]


def test_d10_c7_upgrade_mid_period_prorates_and_applies_new_limits_at_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))  # April has 30 days
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "api_calls", 200_000)
    assert not engine.consume(account.id, "api_calls", 1).allowed
    clock.set(datetime(2026, 4, 11, tzinfo=UTC))  # 20 of 30 days left

    change = engine.change_plan(account.id, "basic")
    after = engine.consume(account.id, "api_calls", 300_000)
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    (april,) = engine.close_period()
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    (may,) = engine.close_period()

    assert change.immediate
    assert change.invoice is not None
    assert _amounts(change.invoice) == [("proration", Decimal("26.67"))]
    assert (after.allowed, after.used, after.limit) == (True, 500_000, 500_000)
    assert (april.plan, _amounts(april)) == ("basic", [("subscription", Decimal("69.00"))])
    assert april.lines[0].description == "BASIC plan, May 2026"
    assert _amounts(may) == [("subscription", Decimal("69.00"))]
    assert engine.usage(account.id)["api_calls"].used == 0  # C7: no rollover
    totals = [invoice.total for invoice in engine.invoices(account.id)]
    assert totals == [Decimal("29.00"), Decimal("26.67"), Decimal("69.00"), Decimal("69.00")]


def test_b9_d13_downgrade_waits_for_period_end_then_extra_objects_are_read_only(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    projects = []
    for _ in range(5):
        projects.append(engine.create_project(account.id))
        clock.advance(timedelta(minutes=1))

    change = engine.change_plan(account.id, "starter")  # 3 projects
    pending = engine.subscription(account.id)
    before_end = engine.usage(account.id)["projects"].limit
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    after_end = engine.usage(account.id)["projects"]
    writes = [engine.check_write(project.id).http_status for project in projects]
    with pytest.raises(RefusedError):
        engine.create_project(account.id)
    (january,) = engine.close_period()
    engine.change_plan(account.id, "pro")
    writable_again = [engine.check_write(project.id).allowed for project in projects]

    assert not change.immediate
    assert change.invoice is None
    assert pending.plan == "pro"
    assert pending.pending is not None
    assert (pending.pending.plan_id, pending.pending.effective_at) == (
        "starter",
        datetime(2026, 2, 1, tzinfo=UTC),
    )
    assert before_end == 25
    assert (after_end.limit, after_end.used) == (3, 5)
    assert writes == [200, 200, 200, 403, 403]
    assert (january.plan, _amounts(january)) == ("pro", [("subscription", Decimal("29.00"))])
    assert writable_again == [True] * 5
    assert engine.subscription(account.id).pending is None


def test_b9_cancellation_keeps_the_plan_until_period_end_then_the_fallback(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="pro")
    cancelled = engine.cancel(account.id)
    still = engine.consume(account.id, "api_requests", 60_000)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    on_free = engine.usage(account.id)["api_requests"]
    (january,) = engine.close_period()
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    (february,) = engine.close_period()

    assert (cancelled.status, cancelled.plan) == ("cancelling", "pro")
    assert still.allowed
    assert (on_free.limit, on_free.used) == (50_000, 0)
    assert engine.subscription(account.id).plan == "free"
    assert _amounts(january) == []  # Free costs nothing from February on
    assert _amounts(february) == []
    with pytest.raises(InvalidInputError, match="nothing to cancel"):
        engine.cancel(account.id)


def test_b1_b12_yearly_aerostack_pro_is_invoiced_up_front_and_limits_reset_monthly(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="pro", interval="yearly")
    (opening,) = engine.invoices(account.id)
    engine.consume(account.id, "api_requests", 250_000)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    february = engine.consume(account.id, "api_requests", 1)
    january = engine.close_period()
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    feb_invoice = engine.close_period()
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    closed = engine.close_period()

    assert _amounts(opening) == [("subscription", Decimal("441.00"))]
    assert (february.used, february.period) == (1, "2026-02")
    # B12: a month of a yearly plan with nothing to charge issues no invoice (was one of 0.00).
    assert (january, feb_invoice) == ([], [])
    (december,) = closed  # March to November charged nothing
    assert december.period_key == "2026-12"
    assert _amounts(december) == [("subscription", Decimal("441.00"))]  # the second year
    assert engine.close_period() == []
    assert [invoice.total for invoice in engine.invoices(account.id)] == [Decimal("441.00")] * 2


def test_a7_anonymous_conversion_moves_onto_free_through_the_same_machinery(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account, key = engine.create_anonymous_account()
    engine.consume(account.id, "api_calls", 500)
    converted, _ = engine.convert_anonymous(
        key.key, name="Ada", email="ada@example.com", password="correct horse battery"
    )
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    (january,) = engine.close_period()

    assert converted.plan == "free"
    assert engine.subscription(account.id).plan == "free"
    assert january.plan == "free"
    assert engine.usage(account.id)["api_calls"].limit == 50_000


@pytest.mark.parametrize(
    ("pack", "item", "units", "price"),
    [
        ("logic_engine_small", "logic_engine_calls", 10_000, "5.00"),
        ("logic_engine_medium", "logic_engine_calls", 50_000, "20.00"),
        ("logic_engine_large", "logic_engine_calls", 100_000, "35.00"),
        ("api_calls_small", "api_calls", 100_000, "5.00"),
        ("api_calls_medium", "api_calls", 500_000, "20.00"),
        ("api_calls_large", "api_calls", 1_000_000, "35.00"),
        ("storage_5gb", "project_storage", 5 * 10**9, "0.50"),
        ("storage_10gb", "project_storage", 10 * 10**9, "0.90"),
        ("storage_25gb", "project_storage", 25 * 10**9, "2.00"),
    ],
)
def test_a4_a6_each_agentstack_pack(
    open_engine: EngineFactory,
    clock: ManualClock,
    pack: str,
    item: str,
    units: int,
    price: str,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    before = engine.usage(account.id)[item].limit
    assert before is not None

    purchase = engine.buy_pack(account.id, pack)
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    next_month = engine.usage(account.id)[item].limit

    assert purchase.new_limit == before + units
    assert next_month == before + units  # permanent (D11)
    assert purchase.invoice.total == Decimal(price)


def _raised_catalog(folder: Path) -> Path:
    text = load_catalog("agentstack").text.replace("version: 1\n", "version: 2\n", 1)
    text = text.replace('monthly: "29.00"', 'monthly: "39.00"', 1)
    path = folder / "agentstack-v2.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_grandfathered_subscription_keeps_its_price_until_migrated(
    open_engine: EngineFactory, clock: ManualClock, tmp_path: Path
) -> None:
    old_engine = open_engine("agentstack")
    old = old_engine.create_account(plan="starter")
    engine = open_engine(str(_raised_catalog(tmp_path)))
    new = engine.create_account(plan="starter")
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))

    january = {invoice.account_id: invoice for invoice in engine.close_period()}
    plan = engine.migration_plan()
    moved = engine.migrate_accounts()
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    february = {invoice.account_id: invoice for invoice in engine.close_period()}

    assert january[old.id].total == Decimal("29.00")
    assert january[new.id].total == Decimal("39.00")
    assert [(m.account_id, m.from_version, m.to_version) for m in plan] == [(old.id, 1, 2)]
    price = next(c for c in plan[0].changes if c.path == "plans.starter.price.monthly")
    assert (price.old, price.new, str(price.direction)) == (
        Decimal("29.00"),
        Decimal("39.00"),
        "stricter",
    )
    assert [m.account_id for m in moved] == [old.id]
    assert february[old.id].total == Decimal("39.00")
    assert engine.migration_plan() == []
