"""Auto-reload (D21): one reload per crossing, credited when paid, a decline recorded and the
wallet usable down to zero, the next crossing trying again; on both backends."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from wallet_support import PUBLIC, EngineFactory, StoreOf, deposit, ledger_sum

from meterstack import Engine, ManualClock
from meterstack.errors import InvalidInputError
from meterstack.services.payments.local import LocalProvider


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(PUBLIC, secret="wallet-tests")


@pytest.fixture
def engine(open_engine: EngineFactory, provider: LocalProvider) -> Engine:
    return open_engine("aerostack", provider=provider)


def _events(engine: Engine, account_id: str, event_type: str) -> int:
    return len(engine.webhooks.events(account_id=account_id, event_type=event_type))


def test_d21_a_crossing_starts_exactly_one_reload_credited_when_paid(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "10.00")
    engine.set_auto_reload(account.id, threshold=Decimal("5.00"), amount=Decimal("20.00"))

    above = engine.charge(account.id, "agent_execution", 500)  # 10.00 -> 5.00: not below
    assert above.reload_id is None
    crossing = engine.charge(account.id, "agent_execution")  # 5.00 -> 4.99: crossed
    assert crossing.reload_id is not None
    assert crossing.entry_id is not None
    assert crossing.reload_id == f"reload:{account.id}:{crossing.entry_id}"
    assert engine.wallet(account.id).balance == Decimal("24.99")
    # The provider was asked once, with the crossing's key.
    assert list(provider.collections) == [crossing.reload_id]
    below = engine.charge(account.id, "agent_execution")  # 24.99: above again, no crossing
    assert below.reload_id is None
    assert [reload.status for reload in engine.wallet_reloads(account.id)] == ["paid"]
    assert ledger_sum(store_of(engine), account.id) == Decimal("24.98")
    assert _events(engine, account.id, "wallet.low_balance") == 1


def test_d21_a_target_balance_reloads_up_to_the_target(
    engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "6.00")
    engine.set_auto_reload(account.id, threshold=Decimal("5.00"), target=Decimal("25.00"))
    engine.charge(account.id, "bot_message", 501)  # 6.00 -> 4.998
    reload = engine.wallet_reloads(account.id)[0]
    assert reload.amount == Decimal("20.01")  # rounded up to the cent: the target is reached
    assert engine.wallet(account.id).balance == Decimal("25.008")


def test_d21_a_declined_reload_is_recorded_the_wallet_spends_to_zero_and_the_next_crossing_retries(
    store_of: StoreOf, engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "5.00")
    engine.set_auto_reload(account.id, threshold=Decimal("3.00"), amount=Decimal("5.00"))
    provider.decline_collections = True

    crossed = engine.charge(account.id, "agent_execution", 201)  # 5.00 -> 2.99
    assert crossed.reload_id is not None
    failed = engine.wallet_reloads(account.id)
    assert [(reload.status, reload.reason) for reload in failed] == [
        ("failed", "card_declined: the decline switch is on")
    ]
    assert engine.wallet(account.id).balance == Decimal("2.99")
    assert _events(engine, account.id, "wallet.reload_failed") == 1
    # Still usable, down to exactly zero, with no other reload on the way.
    assert engine.charge(account.id, "agent_execution", 299).balance == 0
    assert not engine.charge(account.id, "agent_execution").allowed
    assert len(engine.wallet_reloads(account.id)) == 1

    # A deposit brings it above the threshold again; the next crossing tries again and pays.
    provider.decline_collections = False
    clock.advance(timedelta(hours=1))
    deposit(engine, provider, account.id, "5.00")
    again = engine.charge(account.id, "agent_execution", 201)
    assert again.reload_id is not None
    assert again.reload_id != crossed.reload_id
    assert [reload.status for reload in engine.wallet_reloads(account.id)] == ["failed", "paid"]
    assert engine.wallet(account.id).balance == Decimal("7.99")
    assert ledger_sum(store_of(engine), account.id) == Decimal("7.99")


def test_d21_sixteen_concurrent_charges_crossing_start_one_reload(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "5.10")
    engine.set_auto_reload(account.id, threshold=Decimal("5.00"), amount=Decimal("10.00"))
    start = threading.Barrier(16)
    results = []

    def spend() -> None:
        start.wait()
        for _ in range(4):
            results.append(engine.charge(account.id, "agent_execution"))

    threads = [threading.Thread(target=spend) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(charge.allowed for charge in results)
    started = [charge.reload_id for charge in results if charge.reload_id is not None]
    assert len(started) == 1
    assert len(engine.wallet_reloads(account.id)) == 1
    assert list(provider.collections) == started
    assert engine.wallet(account.id).balance == Decimal("14.46")  # 5.10 - 0.64 + 10.00
    assert ledger_sum(store_of(engine), account.id) == Decimal("14.46")


def test_d21_settings_are_whole_cents_at_least_the_minimum_deposit(engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    for threshold, amount, target in (
        ("5.00", "4.99", None),
        ("5.00", None, None),
        ("5.00", "10.00", "20.00"),
        ("5.001", "10.00", None),
        ("0", "10.00", None),
        ("30.00", None, "25.00"),
    ):
        with pytest.raises(InvalidInputError):
            engine.set_auto_reload(
                account.id,
                threshold=Decimal(threshold),
                amount=None if amount is None else Decimal(amount),
                target=None if target is None else Decimal(target),
            )
    assert engine.set_auto_reload(account.id, threshold=None).threshold is None
