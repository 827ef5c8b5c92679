"""Marketplace payouts (B11, D23): whole cents from the minimum, never twice, clawbacks netted;
on both backends."""

from __future__ import annotations

from decimal import Decimal

import pytest
from wallet_support import PUBLIC, EngineFactory, StoreOf, ledger_sum

from fakes.faulty_store import FaultyStore
from meterstack import Engine
from meterstack.services.payments.local import LocalProvider


class RunDied(BaseException):
    """The payout run's process ends here (killed, or a deploy stopped it)."""


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(PUBLIC, secret="wallet-tests")


@pytest.fixture
def engine(open_engine: EngineFactory, provider: LocalProvider) -> Engine:
    return open_engine("aerostack", provider=provider)


def _sell(engine: Engine, buyer: str, item: str, calls: int) -> list[str]:
    entries = []
    for _ in range(calls):
        charge = engine.charge(buyer, "marketplace_tool_call", item_id=item)
        assert charge.allowed
        assert charge.entry_id is not None
        entries.append(charge.entry_id)
    return entries


def test_d23_a_payout_run_pays_whole_cents_from_the_minimum_and_never_twice(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    small = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal("0.333"))
    other = engine.create_item(small.id, "Small", Decimal("0.10"))
    _sell(engine, buyer.id, tool.id, 38)  # 38 x 0.2664 = 10.1232 earned
    _sell(engine, buyer.id, other.id, 3)  # 0.24: below the $10.00 minimum

    first = engine.run_payouts()
    assert [(payout.creator_id, payout.amount, payout.status) for payout in first] == [
        (creator.id, Decimal("10.12"), "paid")
    ]
    assert engine.earnings(creator.id) == Decimal("0.0032")  # the sub-cent remainder stays
    assert engine.earnings(small.id) == Decimal("0.24")
    assert engine.run_payouts() == []  # re-run: nothing to pay twice
    assert list(provider.payouts) == [first[0].id]
    assert ledger_sum(store_of(engine), creator.id, "earnings") == Decimal("0.0032")


def test_d23_a_run_killed_after_recording_settles_the_same_payout_on_the_next_run(
    open_engine: EngineFactory, provider: LocalProvider
) -> None:
    faults = FaultyStore()
    engine = open_engine("aerostack", wrap_store=faults.around, provider=provider)
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal("5.00"))
    _sell(engine, buyer.id, tool.id, 3)  # 12.00 earned

    # The run stops after recording the payout, as it claims it: the provider was not asked.
    died = faults.fail("movements.claim_payout", RunDied())
    with pytest.raises(RunDied):
        engine.run_payouts()
    [(recorded, *_)] = died.fired
    assert provider.payouts == {}
    settled = engine.run_payouts()
    assert [(payout.id, payout.amount) for payout in settled] == [(recorded, Decimal("12"))]
    assert list(provider.payouts) == [recorded]
    assert engine.run_payouts() == []
    assert engine.earnings(creator.id) == 0


def test_d23_a_refund_after_payout_claws_back_from_later_earnings(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal("5.00"))
    sold = _sell(engine, buyer.id, tool.id, 3)
    assert [payout.amount for payout in engine.run_payouts()] == [Decimal("12")]

    assert engine.refund_charge(sold[0]) == Decimal("90")  # 100 - 15 + 5
    assert engine.earnings(creator.id) == Decimal("-4")  # clawed back, netted later
    assert ledger_sum(store_of(engine), "platform", "platform") == Decimal("2")  # 3 x 1.00 - 1.00
    assert engine.run_payouts() == []
    _sell(engine, buyer.id, tool.id, 4)  # +16.00: 12.00 net
    assert [payout.amount for payout in engine.run_payouts()] == [Decimal("12")]
    assert engine.earnings(creator.id) == 0
