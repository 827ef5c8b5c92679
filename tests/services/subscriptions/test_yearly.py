"""Yearly plans: the paid year is kept, reported and invoiced as a year; usage stays monthly
(B12, D30, B4, C7), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from meterstack import Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.services.payments.local import LocalProvider

EngineFactory = Callable[..., Engine]
OPERATOR = {"Authorization": "Bearer operator-secret"}


def _yearly_agentstack(folder: Path) -> Path:
    """AgentStack offering yearly billing too: a catalog with overage and a yearly interval."""
    text = load_catalog("agentstack").text.replace(
        "  intervals: [monthly]\n",
        "  intervals: [monthly, yearly]\n  yearly_discount_percent: 20\n",
        1,
    )
    path = folder / "agentstack-yearly.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_d30_b9_cancelling_a_yearly_plan_keeps_the_paid_year_over_http(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    client = live_service("aerostack")
    clock.set(datetime(2026, 1, 15, tzinfo=UTC))
    created = client.post(
        "/v1/accounts", json={"plan": "pro", "interval": "yearly"}, headers=OPERATOR
    ).json()
    customer = {"Authorization": f"Bearer {created['user_api_key']}"}
    clock.set(datetime(2026, 3, 10, tzinfo=UTC))

    billing = client.get("/api/billing", headers=customer).json()
    cancelled = client.post("/api/billing/cancel", headers=customer).json()
    clock.set(datetime(2026, 12, 31, 23, tzinfo=UTC))
    december = client.get("/api/billing", headers=customer).json()
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    after = client.get("/api/billing", headers=customer).json()

    assert (billing["current_period_start"], billing["current_period_end"]) == (
        "2026-01-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    )
    assert cancelled["message"] == "Subscription will be canceled at end of billing period"
    assert cancelled["effective_at"] == "2027-01-01T00:00:00+00:00"
    assert (december["plan_tier"], december["status"]) == ("pro", "cancelling")
    assert (after["plan_tier"], after["billing_interval"]) == ("free", "monthly")
    assert after["current_period_end"] == "2027-02-01T00:00:00+00:00"


def test_d30_c7_a_downgrade_of_a_yearly_plan_waits_for_the_year_and_bills_the_new_one(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    clock.set(datetime(2026, 1, 15, tzinfo=UTC))
    account = engine.create_account(plan="pro", interval="yearly")
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))

    change = engine.downgrade(account.id, "starter")
    clock.set(datetime(2026, 12, 31, tzinfo=UTC))
    still = engine.subscription(account.id).plan
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    closed = engine.close_period()

    assert not change.immediate
    assert change.subscription.pending is not None
    assert change.subscription.pending.effective_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert still == "pro"
    (december,) = closed
    # The new year of the cheaper plan is billed when it starts, at the period-end change.
    assert [(line.kind, line.amount) for line in december.lines] == [
        ("subscription", Decimal("171.00"))
    ]
    assert engine.subscription(account.id).current_period.end == datetime(2028, 1, 1, tzinfo=UTC)


def test_b12_a_yearly_plan_is_invoiced_monthly_only_for_what_a_month_charges(
    open_engine: EngineFactory, clock: ManualClock, tmp_path: Path
) -> None:
    engine = open_engine(str(_yearly_agentstack(tmp_path)), provider=LocalProvider())
    account = engine.create_account(plan="starter", interval="yearly")
    engine.set_overage(account.id, True, meter="logic_engine_calls")
    engine.consume(account.id, "logic_engine_calls", 60_000)  # 10,000 over 50,000
    clock.set(datetime(2026, 2, 1, tzinfo=UTC))
    january = engine.close_period()
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    february = engine.close_period()
    engine.consume(account.id, "logic_engine_calls", 50_035)
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    march = engine.close_period()

    opening = engine.invoices(account.id)[0]
    yearly = engine.catalog.yearly_price(engine.catalog.plan("starter"))
    assert opening.total == yearly
    (overage,) = january
    assert [(line.kind, line.item, line.amount) for line in overage.lines] == [
        ("overage", "logic_engine_calls", Decimal("10.00"))  # A3: $1.00 per 1,000
    ]
    assert february == []  # nothing charged, no invoice
    (march_overage,) = march
    assert march_overage.total == Decimal("0.04")  # D1: 35 over at $1.00 per 1,000
    assert len(engine.invoices(account.id)) == 3


def test_b12_a_grandfathering_move_does_not_restart_the_paid_year(
    open_engine: EngineFactory, clock: ManualClock, tmp_path: Path
) -> None:
    old_engine = open_engine("aerostack")
    account = old_engine.create_account(plan="pro", interval="yearly")
    text = load_catalog("aerostack").text.replace("version: 1\n", "version: 2\n", 1)
    path = tmp_path / "aerostack-v2.yaml"
    path.write_text(text, encoding="utf-8")
    engine = open_engine(str(path))
    clock.set(datetime(2026, 7, 10, tzinfo=UTC))
    engine.migrate_accounts()

    year = engine.subscription(account.id).current_period
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    closed = engine.close_period()

    assert (year.start, year.end) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    (december,) = closed
    assert december.total == Decimal("441.00")
