"""An operator's override past the bounds is refused, and the account keeps working.

Limits at most 10^15 and grace at most 1000 % (meterstack.bounds): every hard limit then fits the
store's 64-bit counters. Before, ``limit 10**18`` with ``grace 1000`` was accepted and every
later consume of the account failed in the store (500 over HTTP on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from meterstack import Engine
from meterstack.bounds import MAX_COUNTER, MAX_GRACE_PERCENT, MAX_QUANTITY
from meterstack.errors import InvalidInputError, OutOfRangeError
from meterstack.rules.decisions import Decision
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
StoreOf = Callable[[Engine], SqlStore]


def test_d14_override_limit_past_10_15_is_refused_and_changes_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    with pytest.raises(InvalidInputError, match=r"at most 1,000,000,000,000,000 \(10\^15\)"):
        engine.set_limit(account.id, "api_calls", 10**18, grace=1000)
    with pytest.raises(InvalidInputError, match="at most"):
        engine.set_limit(account.id, "api_calls", MAX_QUANTITY + 1)

    decision = engine.consume(account.id, "api_calls", 1)
    assert decision.allowed
    assert decision.limit == 2_000_000  # the plan's, untouched


def test_d14_override_grace_past_1000_percent_is_refused(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    with pytest.raises(InvalidInputError, match="from 0 to 1000"):
        engine.set_limit(account.id, "api_calls", 100, grace=MAX_GRACE_PERCENT + 1)


def test_d14_override_at_the_bounds_is_decided(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", MAX_QUANTITY, grace=MAX_GRACE_PERCENT)

    decision = engine.consume(account.id, "api_calls", MAX_QUANTITY)
    assert decision.allowed
    assert decision.limit == MAX_QUANTITY
    assert decision.hard_limit == 11 * MAX_QUANTITY


# --------------------------------------------------------------------------- the engine's inputs

PAST = [2**63, 10**30, MAX_QUANTITY + 1]


def _counted(engine: Engine, account_id: str, meter: str = "api_calls") -> int:
    return engine.usage(account_id).items[meter].used


@pytest.mark.parametrize("quantity", PAST)
def test_d14_a_quantity_past_10_15_is_refused_out_of_range_and_counts_nothing(
    open_engine: EngineFactory, quantity: int
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    calls: list[Callable[[], object]] = [
        lambda: engine.consume(account.id, "api_calls", quantity, idempotency_key="k"),
        lambda: engine.check(account.id, "api_calls", quantity),
        lambda: engine.reserve(account.id, "api_calls", quantity),
    ]
    for call in calls:
        with pytest.raises(OutOfRangeError, match=r"at most 1,000,000,000,000,000") as refused:
            call()
        assert refused.value.code == "out_of_range"
        assert refused.value.http_status == 422
        assert isinstance(refused.value, ValueError)
    [alone] = engine.consume_many(
        [{"account_id": account.id, "meter": "api_calls", "quantity": quantity}]
    )
    assert isinstance(alone, OutOfRangeError)
    hold = engine.reserve(account.id, "api_calls", 5)
    assert hold.id is not None
    with pytest.raises(OutOfRangeError):
        engine.commit(hold.id, quantity)

    assert _counted(engine, account.id) == 0
    assert engine.usage(account.id).items["api_calls"].held == 5  # the hold is still open
    assert not engine.consume(account.id, "api_calls", MAX_QUANTITY).allowed  # a limit, decided


@pytest.mark.parametrize("value", PAST)
def test_d5_a_gauge_level_or_delta_past_10_15_is_refused_and_changes_nothing(
    open_engine: EngineFactory, value: int
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_gauge(account.id, "project_storage", 10)
    calls: list[Callable[[], object]] = [
        lambda: engine.set_gauge(account.id, "project_storage", value),
        lambda: engine.adjust_gauge(account.id, "project_storage", value),
        lambda: engine.adjust_gauge(account.id, "project_storage", -value),
    ]
    for call in calls:
        with pytest.raises(OutOfRangeError, match="at most"):
            call()
    assert engine.gauge(account.id, "project_storage") == (10, 10)


def test_a8_a_key_quota_past_10_15_is_refused_and_no_key_is_made(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    project = engine.create_project(account.id)
    with pytest.raises(OutOfRangeError, match="quota of 'api_calls'"):
        engine.create_api_key(account.id, project_id=project.id, quotas={"api_calls": 2**63})
    assert [key.project_id for key in engine.api_keys(account.id)] == []


def test_d14_the_store_breaking_override_is_refused_with_its_code(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    with pytest.raises(OutOfRangeError) as refused:
        engine.set_limit(account.id, "api_calls", 10**18, grace=1000)
    assert (refused.value.code, refused.value.details["field"]) == ("out_of_range", "limit")
    with pytest.raises(OutOfRangeError) as refused:
        engine.set_limit(account.id, "api_calls", 10**15, grace=1001)
    assert refused.value.details["field"] == "grace"
    assert engine.consume(account.id, "api_calls", 7).used == 7


# ------------------------------------------------------------- counters near the range


def _set_counter(engine: Engine, store: SqlStore, account_id: str, used: int) -> None:
    """Put the account's counter of api_calls this period at ``used`` (as years of traffic
    would), straight in the engine's store."""
    engine.consume(account_id, "api_calls", 1)
    with store.transaction() as tx:
        tx.sql.execute(
            "UPDATE counters SET used = :used WHERE account_id = :a AND item = 'api_calls'",
            {"used": used, "a": account_id},
        )


@pytest.mark.parametrize("overage", [False, True])
def test_d14_a_counter_refuses_rather_than_overflow_at_the_largest_override(
    open_engine: EngineFactory, store_of: StoreOf, overage: bool
) -> None:
    """``limit 10^15, grace 1000 %`` (the largest override) and a counter near 2^63 − 1: the
    consume that would pass the store's range is refused, and the counter stays an integer."""
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", MAX_QUANTITY, grace=MAX_GRACE_PERCENT)
    if overage:
        engine.set_overage(account.id, True)
    else:
        engine.set_limit(account.id, "api_calls", None)  # unlimited: only the store's range
    store = store_of(engine)
    _set_counter(engine, store, account.id, MAX_COUNTER - 5)

    with pytest.raises(OutOfRangeError, match="past the store's range") as refused:
        engine.consume(account.id, "api_calls", 6)
    assert refused.value.http_status == 422
    [batched] = engine.consume_many(
        [{"account_id": account.id, "meter": "api_calls", "quantity": 6}]
    )
    assert isinstance(batched, OutOfRangeError)
    assert _counted(engine, account.id) == MAX_COUNTER - 5

    decision = engine.consume(account.id, "api_calls", 5)
    assert decision.allowed
    assert decision.used == MAX_COUNTER
    assert decision.code == ("overage" if overage else "ok")
    with pytest.raises(OutOfRangeError):
        engine.consume(account.id, "api_calls", 1)
    used = _counted(engine, account.id)
    assert type(used) is int
    assert used == MAX_COUNTER
    with store.transaction() as tx:
        [stored] = tx.sql.all(
            "SELECT used FROM counters WHERE account_id = :a AND item = 'api_calls' "
            "AND scope = 'account' AND period = '2026-01'",
            {"a": account.id},
        )
    assert type(stored[0]) is int  # SQLite kept an INTEGER, not a REAL


def test_d14_a_batch_whose_sum_passes_the_range_is_decided_event_by_event(
    open_engine: EngineFactory, store_of: StoreOf
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="pro")
    engine.set_limit(account.id, "api_calls", None)
    _set_counter(engine, store_of(engine), account.id, MAX_COUNTER - 2 * MAX_QUANTITY)
    events = [{"account_id": account.id, "meter": "api_calls", "quantity": MAX_QUANTITY}] * 3
    first, second, third = engine.consume_many(events)
    assert isinstance(first, Decision)
    assert first.allowed
    assert isinstance(second, Decision)
    assert second.used == MAX_COUNTER
    assert isinstance(third, OutOfRangeError)
    assert _counted(engine, account.id) == MAX_COUNTER
