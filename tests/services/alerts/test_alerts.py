"""Alerts (C8, D25): fired once per crossing inside the admission, resolved when the condition
stops holding, on both backends; batches fire what single consumes fire, in the same order."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import InvalidInputError, NotFoundError, RefusedError
from meterstack.rules.alerts import MAX_ALERTS
from meterstack.services.alerts.service import payment_failed_in, payment_recovered_in
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
StoreOf = Callable[[Engine], SqlStore]


def _events(engine: Engine, account_id: str, *types: str) -> list[tuple[str, dict[str, Any]]]:
    """The account's outbox events, oldest first: (type, data)."""
    found = engine.webhooks.events(account_id=account_id, limit=500)
    return [
        (event.type, json.loads(event.body)["data"])
        for event in reversed(found)
        if not types or event.type in types
    ]


def _fired(engine: Engine, account_id: str) -> list[str]:
    return [data["alert_id"] for _, data in _events(engine, account_id, "alert.triggered")]


def test_c8_flowstack_starter_fires_75_90_95_once_each_and_the_new_cycle_resolves_them(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter")  # 1,000 sessions a cycle
    engine.consume(account.id, "sessions", 749)
    assert _fired(engine, account.id) == []
    engine.consume(account.id, "sessions", 1)  # 750: 75 %
    assert _fired(engine, account.id) == ["catalog_sessions_75"]
    engine.consume(account.id, "sessions", 149)
    assert len(_fired(engine, account.id)) == 1
    engine.consume(account.id, "sessions", 1)  # 900: 90 %
    engine.consume(account.id, "sessions", 49)
    engine.consume(account.id, "sessions", 1)  # 950: 95 %
    fired = ["catalog_sessions_75", "catalog_sessions_90", "catalog_sessions_95"]
    assert _fired(engine, account.id) == fired
    engine.consume(account.id, "sessions", 1)  # 951: nothing more
    assert _fired(engine, account.id) == fired
    triggered = [data for _, data in _events(engine, account.id, "alert.triggered")]
    assert [(d["threshold"], d["value"], d["meter"]) for d in triggered] == [
        ("75", "75", "sessions"),
        ("90", "90", "sessions"),
        ("95", "95", "sessions"),
    ]
    views = {view.id: view for view in engine.alerts(account.id)}
    assert {views[name].status for name in fired} == {"triggered"}

    # The new cycle: its first admission resolves them, resolved_at = the cycle's start.
    start = engine.subscription(account.id).current_period.end
    clock.advance(timedelta(days=31))
    engine.consume(account.id, "sessions", 1)
    resolved = _events(engine, account.id, "alert.resolved")
    assert [(data["alert_id"], data["reason"]) for _, data in resolved] == [
        (name, "new_period") for name in fired
    ]
    views = {view.id: view for view in engine.alerts(account.id)}
    assert {views[name].status for name in fired} == {"armed"}
    assert {views[name].resolved_at for name in fired} == {start}
    # Fired again only after that, at the next crossing.
    engine.consume(account.id, "sessions", 749)
    assert _fired(engine, account.id) == [*fired, "catalog_sessions_75"]


def test_d25_the_period_close_resolves_first_when_it_comes_before_any_admission(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "sessions", 900)
    end = engine.subscription(account.id).current_period.end
    clock.advance(timedelta(days=31))
    engine.close_period()
    resolved = _events(engine, account.id, "alert.resolved")
    assert [data["alert_id"] for _, data in resolved] == [
        "catalog_sessions_75",
        "catalog_sessions_90",
    ]
    engine.consume(account.id, "sessions", 1)  # nothing left to resolve
    assert len(_events(engine, account.id, "alert.resolved")) == 2
    assert {v.resolved_at for v in engine.alerts(account.id) if v.triggered_at} == {end}


def test_d25_a_raised_limit_resolves_and_the_alert_fires_again_after(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "sessions", 900)
    engine.set_limit(account.id, "sessions", 2000)  # 900 of 2,000: 45 %
    resolved = _events(engine, account.id, "alert.resolved")
    assert [(d["alert_id"], d["reason"]) for _, d in resolved] == [
        ("catalog_sessions_75", "limit_raised"),
        ("catalog_sessions_90", "limit_raised"),
    ]
    engine.consume(account.id, "sessions", 600)  # 1,500 of 2,000: 75 % again
    assert _fired(engine, account.id)[-1] == "catalog_sessions_75"


def test_d25_limit_reached_announces_usage_limit_reached_once(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")  # 10,000 logic engine calls
    alert = engine.create_alert(account.id, "limit_reached", meter="logic_engine_calls")
    engine.consume(account.id, "logic_engine_calls", 9_999)
    assert _events(engine, account.id, "usage.limit_reached") == []
    engine.consume(account.id, "logic_engine_calls", 1)
    refused = engine.consume(account.id, "logic_engine_calls", 1)
    assert not refused.allowed
    reached = _events(engine, account.id, "usage.limit_reached")
    assert [data for _, data in reached] == [
        {
            "account_id": account.id,
            "meter": "logic_engine_calls",
            "used": 10_000,
            "limit": 10_000,
            "period": "2026-01",
        }
    ]
    assert _fired(engine, account.id) == [alert.id]


def test_d25_holds_are_not_usage_only_committed_units_cross(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    engine.create_alert(account.id, "usage_units", meter="logic_engine_calls", threshold=100)
    engine.reserve(account.id, "logic_engine_calls", 500)
    engine.consume(account.id, "logic_engine_calls", 99)
    assert _fired(engine, account.id) == []
    engine.consume(account.id, "logic_engine_calls", 1)
    assert len(_fired(engine, account.id)) == 1


def _mixed(account_id: str) -> list[dict[str, Any]]:
    sizes = [
        ("api_calls", 20_000),
        ("logic_engine_calls", 4_000),
        ("api_calls", 6_000),
        ("logic_engine_calls", 1_500),
        ("api_calls", 20_000),
        ("logic_engine_calls", 4_000),
        ("logic_engine_calls", 500),
    ]
    return [{"account_id": account_id, "meter": m, "quantity": q} for m, q in sizes]


def test_d25_a_batch_fires_the_same_alerts_in_the_same_order_as_single_consumes(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    alone, batched = engine.create_account(plan="free"), engine.create_account(plan="free")
    for account in (alone, batched):
        engine.create_alert(account.id, "usage_percent", meter="api_calls", threshold=50)
        engine.create_alert(account.id, "usage_percent", meter="logic_engine_calls", threshold=50)
        engine.create_alert(account.id, "usage_percent", meter="api_calls", threshold=90)
        engine.create_alert(account.id, "usage_units", meter="logic_engine_calls", threshold=9_000)
        engine.create_alert(account.id, "limit_reached", meter="logic_engine_calls")
    for event in _mixed(alone.id):
        engine.consume(event["account_id"], event["meter"], event["quantity"])
    results = engine.consume_many(_mixed(batched.id))
    assert all(getattr(result, "allowed", False) for result in results)

    def seen(account_id: str) -> list[tuple[str, Any, Any, Any]]:
        return [
            (kind, data.get("meter"), data.get("threshold"), data.get("value", data.get("used")))
            for kind, data in _events(engine, account_id)
        ]

    assert seen(batched.id) == seen(alone.id)
    assert len(seen(alone.id)) >= 5


def test_d25_at_most_50_alerts_and_bad_definitions_are_refused(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="free")
    with pytest.raises(InvalidInputError, match="meter"):
        engine.create_alert(account.id, "usage_percent", meter="nope", threshold=50)
    with pytest.raises(InvalidInputError, match="kind"):
        engine.create_alert(account.id, "sometimes")
    with pytest.raises(InvalidInputError, match="cents"):
        engine.create_alert(account.id, "current_charges", threshold="1.001")
    with pytest.raises(InvalidInputError, match="threshold"):
        engine.create_alert(account.id, "payment_failed", threshold=3)
    for index in range(MAX_ALERTS):
        engine.create_alert(account.id, "usage_units", meter="api_calls", threshold=index + 1)
    with pytest.raises(RefusedError) as refused:
        engine.create_alert(account.id, "usage_units", meter="api_calls", threshold=99)
    assert (refused.value.code, refused.value.http_status) == ("too_many_alerts", 409)
    first = engine.alerts(account.id)[0]
    engine.delete_alert(account.id, first.id)
    with pytest.raises(NotFoundError):
        engine.delete_alert(account.id, first.id)
    engine.create_alert(account.id, "usage_units", meter="api_calls", threshold=99)


def test_d25_wallet_balance_fires_below_and_a_deposit_resolves(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")
    engine.adjust_wallet(account.id, Decimal("1.00"), "opening credit")
    alert = engine.create_alert(account.id, "wallet_balance", threshold="0.50")
    for _ in range(50):
        assert engine.charge(account.id, "agent_execution").allowed  # $0.01 each
    assert _fired(engine, account.id) == []  # 0.50 is not below 0.50
    engine.charge(account.id, "agent_execution")  # 0.50 -> 0.49
    assert _fired(engine, account.id) == [alert.id]
    assert _events(engine, account.id, "alert.triggered")[0][1]["value"] == "0.49"
    engine.charge(account.id, "agent_execution")
    assert _fired(engine, account.id) == [alert.id]
    engine.adjust_wallet(account.id, Decimal("5.00"), "top up")
    resolved = _events(engine, account.id, "alert.resolved")
    assert [(d["alert_id"], d["reason"]) for _, d in resolved] == [(alert.id, "deposit")]


def test_d25_payment_failed_fires_inside_the_callers_transaction(
    open_engine: EngineFactory, store_of: StoreOf, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    alert = engine.create_alert(account.id, "payment_failed")
    store = store_of(engine)  # another service's transaction, as dunning opens one
    with store.transaction() as tx:
        assert payment_failed_in(tx, account.id, clock.now(), reference="INV-000001") == 1
        assert payment_failed_in(tx, account.id, clock.now()) == 0  # once, until resolved
    assert _fired(engine, account.id) == [alert.id]
    with store.transaction() as tx:
        payment_recovered_in(tx, account.id, clock.now())
    assert [d["reason"] for _, d in _events(engine, account.id, "alert.resolved")] == ["paid"]


def test_c8_committed_holds_cross_the_catalog_thresholds(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("flowstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "sessions", 700)
    held = engine.reserve(account.id, "sessions", 60)  # held: not usage yet
    assert _fired(engine, account.id) == []
    assert held.id is not None
    engine.commit(held.id, 60)  # 760 committed
    assert _fired(engine, account.id) == ["catalog_sessions_75"]
