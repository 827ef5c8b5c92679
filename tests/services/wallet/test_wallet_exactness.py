"""Exactness of the wallet (D20): racing charges spend a balance exactly, on both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal

import pytest
from wallet_support import EngineFactory, StoreOf, ledger_rows, ledger_sum

from meterstack import SystemClock
from meterstack.records.wallet import Charge


@pytest.mark.slow
def test_d20_sixteen_threads_on_two_engines_spend_one_dollar_in_exactly_100_cents(
    store_of: StoreOf,
    open_engine: EngineFactory,
) -> None:
    """Two engines (as two servers) on one database, eight threads each: 100 admitted."""
    engines = [open_engine("aerostack"), open_engine("aerostack")]
    account = engines[0].create_account(plan="pro")
    engines[0].adjust_wallet(account.id, Decimal("1.00"), "race funds")
    engines[0].set_wallet_price(account.id, "agent_execution", Decimal("0.01"))
    start = threading.Barrier(16)
    answers: list[Charge] = []
    lock = threading.Lock()

    def spend(index: int) -> None:
        engine = engines[index % 2]
        start.wait()
        for attempt in range(10):
            charge = engine.charge(
                account.id, "agent_execution", idempotency_key=f"t{index}-{attempt}"
            )
            with lock:
                answers.append(charge)

    threads = [threading.Thread(target=spend, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    admitted = [charge for charge in answers if charge.allowed]
    refused = [charge for charge in answers if not charge.allowed]
    assert len(admitted) == 100
    assert {charge.code for charge in refused} == {"insufficient_balance"}
    assert len(refused) == 60
    assert len({charge.entry_id for charge in admitted}) == 100
    assert engines[1].wallet(account.id).balance == Decimal(0)
    assert ledger_sum(store_of(engines[0]), account.id) == Decimal(0)
    assert ledger_rows(store_of(engines[0]), account.id) == 101  # the adjustment and 100 charges
    # The balances the admitted charges saw are each of 0.99 … 0.00 exactly once.
    assert sorted(charge.balance for charge in admitted) == [
        Decimal(cents).scaleb(-2) for cents in range(100)
    ]


CHILD = textwrap.dedent(
    """
    import sys
    from meterstack import Engine

    url, account_id = sys.argv[1], sys.argv[2]
    engine = Engine.open(url, catalog="aerostack")
    number = 0
    while True:
        charge = engine.charge(account_id, "agent_execution", idempotency_key=f"k{number}")
        assert charge.allowed, charge
        sys.stdout.write(f"{number}\\n")
        sys.stdout.flush()
        number += 1
    """
)


@pytest.mark.slow
def test_d20_an_acknowledged_charge_survives_sigkill_and_a_resend_charges_nothing_twice(
    store_of: StoreOf, open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("aerostack", clock=SystemClock())
    account = engine.create_account(plan="pro")
    engine.adjust_wallet(account.id, Decimal("1000.00"), "funds")
    engine.close()
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, store_url, account.id],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as child:
        assert child.stdout is not None
        acknowledged = -1
        for line in child.stdout:
            acknowledged = int(line)
            if acknowledged >= 200:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        for line in child.stdout.read().splitlines():  # acknowledged too
            acknowledged = int(line)
    assert child.returncode == -signal.SIGKILL

    reopened = open_engine("aerostack", clock=SystemClock())
    charges = ledger_rows(store_of(reopened), account.id) - 1
    assert acknowledged + 1 <= charges <= acknowledged + 2
    in_flight = acknowledged + 1
    for number in (*range(acknowledged - 5, acknowledged + 1), in_flight):
        reopened.charge(account.id, "agent_execution", idempotency_key=f"k{number}")
    assert ledger_rows(store_of(reopened), account.id) - 1 == acknowledged + 2
    spent = Decimal(acknowledged + 2) / 100
    assert reopened.wallet(account.id).balance == Decimal("1000") - spent
    assert ledger_sum(store_of(reopened), account.id) == Decimal("1000") - spent


RACER = textwrap.dedent(
    """
    import sys
    from meterstack import Engine

    url, account_id, name = sys.argv[1], sys.argv[2], sys.argv[3]
    engine = Engine.open(url, catalog="aerostack")
    admitted = 0
    for number in range(60):
        charge = engine.charge(account_id, "agent_execution", idempotency_key=f"{name}-{number}")
        admitted += charge.allowed
    print(admitted)
    """
)


@pytest.mark.slow
def test_d20_four_processes_spend_one_dollar_in_exactly_100_cents(
    store_of: StoreOf, open_engine: EngineFactory, store_url: str
) -> None:
    engine = open_engine("aerostack", clock=SystemClock())
    account = engine.create_account(plan="pro")
    engine.adjust_wallet(account.id, Decimal("1.00"), "race funds")
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, account.id, f"p{index}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for index in range(4)
    ]
    admitted = [int(racer.communicate(timeout=240)[0]) for racer in racers]
    assert sum(admitted) == 100
    assert engine.wallet(account.id).balance == 0
    assert ledger_rows(store_of(engine), account.id) == 101
    assert ledger_sum(store_of(engine), account.id) == 0
