"""The budget guard (D26): a hard budget is a money step of the admission, exact under any
concurrency; a soft budget warns at 75/90/100 %."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import InvalidInputError

EngineFactory = Callable[..., Engine]
METER = "logic_engine_calls"  # FREE: 10,000 a month, overage $1.00 per 1,000 (D1: min $0.01)


def _free_with_overage(engine: Engine) -> str:
    account = engine.create_account(plan="free")
    engine.set_overage(account.id, True, meter=METER)
    return account.id


def _invoiced_usage(engine: Engine, clock: ManualClock, account_id: str) -> Decimal:
    clock.advance(timedelta(days=31))
    engine.close_period()
    (invoice,) = engine.invoices(account_id)
    return sum((line.amount for line in invoice.lines if line.item == METER), Decimal(0))


def test_d26_hard_budget_of_10_dollars_holds_exactly_under_16_concurrent_callers(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account_id = _free_with_overage(engine)
    engine.consume(account_id, METER, 10_000)  # the included units cost nothing
    view = engine.set_budget(account_id, "10.00", mode="hard")
    assert (view.amount, view.mode, view.actual) == (Decimal("10.00"), "hard", Decimal("0"))
    barrier = threading.Barrier(16)
    refused: list[str] = []

    def caller(seed: int) -> None:
        chooser = random.Random(seed)
        barrier.wait()
        while True:
            decision = engine.consume(account_id, METER, chooser.randint(1, 60))
            if not decision.allowed:
                refused.append(decision.code)
                return

    threads = [threading.Thread(target=caller, args=(seed,)) for seed in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(refused) == {"budget_exceeded"}
    # Single units until the budget refuses one: then the next unit is refused, 402.
    while engine.consume(account_id, METER, 1).allowed:
        pass
    last = engine.consume(account_id, METER, 1)
    assert (last.allowed, last.code, last.http_status) == (False, "budget_exceeded", 402)
    used = engine.usage(account_id).items[METER].used
    # 10,004 over: $10.004 rounds half up to $10.00; one more would be $10.01 (D1).
    assert used == 20_004
    assert engine.budget(account_id).actual == Decimal("10.00")
    events = engine.webhooks.events(account_id=account_id, limit=500)
    exceeded = [json.loads(e.body)["data"] for e in events if e.type == "budget.exceeded"]
    assert [(d["mode"], d["budget"]) for d in exceeded] == [("hard", "10.00")]
    assert _invoiced_usage(engine, clock, account_id) == Decimal("10.00")


def test_d26_batches_and_wallet_charges_share_one_hard_budget(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="free")  # $0 a month
    engine.adjust_wallet(account.id, Decimal("50.00"), "opening credit")
    engine.set_budget(account.id, "1.00", mode="hard")
    spent = Decimal(0)
    while True:
        charge = engine.charge(account.id, "agent_execution", 7)  # $0.07
        if not charge.allowed:
            break
        spent += charge.price
    assert (charge.code, charge.http_status) == ("budget_exceeded", 402)
    assert spent == Decimal("0.98")
    assert engine.charge(account.id, "agent_execution", 3).code == "budget_exceeded"
    assert engine.charge(account.id, "agent_execution", 2).allowed  # exactly $1.00
    assert engine.charge(account.id, "agent_execution", 1).code == "budget_exceeded"
    assert engine.budget(account.id).actual == Decimal("1.00")
    assert engine.wallet(account.id).balance == Decimal("49.00")
    # A new month starts at zero charges.
    clock.advance(timedelta(days=31))
    assert engine.charge(account.id, "agent_execution", 100).allowed
    assert engine.budget(account.id).charges == Decimal("1.00")


def test_d26_a_batch_refused_by_the_budget_is_decided_event_by_event(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account_id = _free_with_overage(engine)
    engine.consume(account_id, METER, 10_000)
    engine.set_budget(account_id, "1.00", mode="hard")  # 1,004 over at most
    events = [{"account_id": account_id, "meter": METER, "quantity": 400} for _ in range(4)]
    codes = [getattr(result, "code", None) for result in engine.consume_many(events)]
    assert codes == ["overage", "overage", "budget_exceeded", "budget_exceeded"]
    assert engine.consume(account_id, METER, 204).allowed
    assert engine.consume(account_id, METER, 1).code == "budget_exceeded"


def test_d26_soft_budget_warns_at_75_90_100_and_refuses_nothing(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account_id = _free_with_overage(engine)
    engine.set_budget(account_id, "2.00", mode="soft")
    engine.consume(account_id, METER, 10_000)
    for quantity in (1_000, 500, 300, 300, 500):  # $1.00, 1.50, 1.80, 2.10, 2.60
        assert engine.consume(account_id, METER, quantity).allowed
    events = list(reversed(engine.webhooks.events(account_id=account_id, limit=500)))
    fired = [json.loads(e.body)["data"] for e in events if e.type == "alert.triggered"]
    assert [(d["alert_id"], d["threshold"], d["value"]) for d in fired] == [
        ("budget_75", "1.5", "1.5"),
        ("budget_90", "1.8", "1.8"),
        ("budget_100", "2", "2.1"),
    ]
    exceeded = [json.loads(e.body)["data"] for e in events if e.type == "budget.exceeded"]
    assert [(d["mode"], d["amount"], d["percent"]) for d in exceeded] == [("soft", "2.10", "105.0")]
    view = engine.budget(account_id)
    assert (view.actual, view.percent) == (Decimal("2.60"), Decimal("130.0"))


def test_d26_a_budget_set_mid_period_counts_the_charges_so_far(
    open_engine: EngineFactory,
) -> None:
    engine = open_engine("agentstack")
    account_id = _free_with_overage(engine)
    engine.consume(account_id, METER, 12_000)  # $2.00 of overage already
    view = engine.set_budget(account_id, "2.50", mode="hard")
    assert (view.charges, view.percent) == (Decimal("2.00"), Decimal("80.0"))
    assert engine.consume(account_id, METER, 504).allowed  # $2.504 -> $2.50
    assert engine.consume(account_id, METER, 1).code == "budget_exceeded"
    engine.set_budget(account_id, None)
    assert engine.consume(account_id, METER, 1).allowed
    with pytest.raises(InvalidInputError, match="mode"):
        engine.set_budget(account_id, "5.00", mode="strict")
    with pytest.raises(InvalidInputError, match="cents"):
        engine.set_budget(account_id, "5.001")
