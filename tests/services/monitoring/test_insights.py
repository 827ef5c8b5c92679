"""Insights on a scripted month (C8, D27): today's usage, trend, projection, the date a limit
is reached, projected charges, estimated monthly cost and recommendations, on the injected
clock; present in engine.usage, GET /api/billing/usage and the SDK's usage object."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from meterstack import Engine, ManualClock
from meterstack.client import Client

EngineFactory = Callable[..., Engine]
OPERATOR = {"Authorization": "Bearer operator-secret"}


def _scripted_month(engine: Engine, clock: ManualClock) -> str:
    """A STARTER account (200,000 API calls, overage $0.50 per 1,000 on) using 12,000 calls on
    1 January at 10:00, 1,000 more each day, through 10 January: 165,000 in all."""
    account = engine.create_account(plan="starter").id
    engine.set_overage(account, True)
    for day in range(10):
        clock.set(datetime(2026, 1, 1 + day, 10, tzinfo=UTC))
        engine.consume(account, "api_calls", 12_000 + 1_000 * day)
    clock.set(datetime(2026, 1, 11, 10, tzinfo=UTC))  # 250 of January's 744 hours
    return account


def test_c8_d27_projection_and_recommendations_on_a_scripted_month(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = _scripted_month(engine, clock)
    engine.consume(account, "api_calls", 500)  # today, 11 January
    insights = engine.usage(account).insights
    assert insights is not None
    api = insights.meters["api_calls"]
    assert api.used_today == 500
    # 10 January 21,000, 9 January 20,000: +1,000 of a 200,000 limit.
    assert api.trend == Decimal("0.50")
    assert insights.elapsed == Decimal("0.3360")  # 250 / 744
    # 165,500 / (250 / 744) = 492,528
    assert api.projected_usage == 492_528
    # The pace reaches 200,000 after 250 h x 200,000 / 165,500 = 302.1148 h: 13 January 14:06:53.
    assert api.projected_limit_at is not None
    assert api.projected_limit_at.replace(microsecond=0) == datetime(
        2026, 1, 13, 14, 6, 53, tzinfo=UTC
    )
    # 292,528 over at $0.50 per 1,000 = 146.264 -> 146.26; + the $29 fee.
    assert api.projected_charges == Decimal("146.26")
    assert insights.projected_charges == Decimal("146.26")
    assert insights.current_charges == Decimal("0.00")
    assert insights.estimated_monthly_cost == Decimal("175.26")
    advice = {(r.kind, r.plan, r.estimated_monthly_cost) for r in insights.recommendations}
    # BASIC ($69, 500,000 calls) covers the projection; the overage (146.26) costs more than
    # the $40 between the two plans.
    assert advice == {
        ("cheapest_plan", "basic", Decimal("69.00")),
        ("upgrade", "basic", Decimal("69.00")),
    }
    # Deterministic on the clock: the same instant, the same insights.
    assert engine.usage(account).insights == insights


def test_c8_a_downgrade_when_the_projection_stays_under_half_the_limit(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro").id
    clock.set(datetime(2026, 1, 11, 10, tzinfo=UTC))
    engine.consume(account, "api_calls", 8_000)
    insights = engine.usage(account).insights
    assert insights is not None
    assert insights.meters["api_calls"].projected_usage == 23_808  # 8,000 x 744 / 250
    assert insights.meters["api_calls"].projected_limit_at is None
    assert insights.meters["api_calls"].trend is None  # no two complete days yet
    advice = {(r.kind, r.plan) for r in insights.recommendations}
    # FREE (50,000 calls, self-serve) covers it; ANONYMOUS is not a plan one moves to.
    assert advice == {("cheapest_plan", "free"), ("downgrade", "free")}
    assert insights.estimated_monthly_cost == Decimal("199.00")


def test_c8_c3_managed_vs_byok_advice_from_the_byok_breakdown(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter").id  # $50, 1,000 sessions
    clock.set(datetime(2026, 1, 11, 10, tzinfo=UTC))
    engine.consume(account, "sessions", 40, byok=True)
    insights = engine.usage(account).insights
    assert insights is not None
    sessions = insights.meters["sessions"]
    assert (sessions.byok_units, sessions.managed_units) == (40, 0)
    assert sessions.projected_usage == 119  # 40 x 744 / 250
    kinds = {r.kind: r.plan for r in insights.recommendations}
    assert kinds["byok"] == "hobbyist"  # 200 sessions at $15 cover it
    assert kinds["downgrade"] == "hobbyist"
    engine.consume(account, "sessions", 1)  # one managed session: no BYOK advice any more
    after = engine.usage(account).insights
    assert after is not None
    assert "byok" not in {r.kind for r in after.recommendations}


def test_c8_insights_are_in_the_http_usage_and_the_sdk_usage_object(
    live_service: Callable[..., Any], clock: ManualClock
) -> None:
    service = live_service("agentstack")
    engine: Engine = service.app.state.engine
    account = _scripted_month(engine, clock)
    key = engine.create_api_key(account).key
    body = service.get("/api/billing/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert body["insights"]["meters"]["api_calls"]["projected_usage"] == 491_040
    assert body["insights"]["estimated_monthly_cost"] == "174.52"
    assert body["insights"]["recommendations"][0]["plan"] == "basic"
    with Client(str(service.base_url), key) as customer:
        usage = customer.usage()
    assert usage.insights is not None
    assert usage.insights["api_calls"].projected_usage == 491_040
    assert usage.insights["api_calls"].trend == Decimal("0.50")
    assert usage.insights.estimated_monthly_cost == Decimal("174.52")
    assert {r.kind for r in usage.insights.recommendations} == {"cheapest_plan", "upgrade"}
