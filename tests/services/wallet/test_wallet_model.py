"""A state machine over the wallet (D20, D21, D23, D24): deposits, charges, refunds, reloads
and declines, adjustments, marketplace calls, payout runs and clawbacks in any order. After every
step the stored balance equals the test's own Decimal model of what it sent and an independent
SQL SUM of the ledger, and is never below zero; the creator's earnings book equals the model's,
so no entry is paid out twice; on both backends."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from wallet_support import PUBLIC, EngineFactory, StoreOf, deposit, ledger_sum

from meterstack import Engine
from meterstack.errors import MeterstackError
from meterstack.services.payments.local import LocalProvider

PRICES = {"bot_message": Decimal("0.002"), "agent_execution": Decimal("0.01")}
CENTS = st.integers(min_value=500, max_value=3000).map(lambda cents: Decimal(cents).scaleb(-2))


def test_d20_d21_d23_d24_the_stored_balance_is_the_model_and_the_ledger(
    store_of: StoreOf,
    open_engine: EngineFactory,
) -> None:
    provider = LocalProvider(PUBLIC, secret="model")
    engine = open_engine("aerostack", provider=provider)

    class Wallet(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.engine: Engine = engine
            self.store = store_of(engine)
            self.account = engine.create_account(plan="pro").id
            self.creator = engine.create_account(plan="pro").id
            self.item = engine.create_item(self.creator, "Tool", Decimal("0.05")).id
            self.dear_item = engine.create_item(self.creator, "Dear", Decimal("9.00")).id
            self.balance = Decimal(0)
            self.earnings = Decimal(0)
            self.charges: list[tuple[str, Decimal, bool]] = []
            self.threshold: Decimal | None = None
            self.reload = Decimal(0)
            provider.decline_collections = False

        def _after_charge(self, before: Decimal, price: Decimal) -> None:
            self.balance = before - price
            crossed = self.threshold is not None and before >= self.threshold > self.balance
            if crossed and not provider.decline_collections:
                self.balance += self.reload

        @rule(amount=CENTS)
        def deposit(self, amount: Decimal) -> None:
            deposit(self.engine, provider, self.account, str(amount))
            self.balance += amount

        @rule(
            operation=st.sampled_from(sorted(PRICES)),
            quantity=st.integers(1, 900),
            byok=st.booleans(),
        )
        def charge(self, operation: str, quantity: int, byok: bool) -> None:
            price = Decimal(0) if byok else PRICES[operation] * quantity
            charged = self.engine.charge(self.account, operation, quantity, byok=byok)
            assert charged.allowed == (price <= self.balance)
            if charged.allowed:
                assert charged.entry_id is not None
                self.charges.append((charged.entry_id, price, False))
                self._after_charge(self.balance, price)
            else:
                assert (charged.code, charged.balance) == ("insufficient_balance", self.balance)

        @rule(dear=st.booleans())
        def call_item(self, dear: bool) -> None:
            item = self.dear_item if dear else self.item
            price = Decimal("9.00") if dear else Decimal("0.05")
            charged = self.engine.charge(self.account, "marketplace_tool_call", item_id=item)
            assert charged.allowed == (price <= self.balance)
            if charged.allowed:
                assert charged.entry_id is not None
                self.charges.append((charged.entry_id, price, True))
                self.earnings += price * Decimal("0.8")
                self._after_charge(self.balance, price)

        @rule(index=st.integers(0, 10_000))
        def refund(self, index: int) -> None:
            if not self.charges:
                return
            entry_id, price, sale = self.charges.pop(index % len(self.charges))
            self.engine.refund_charge(entry_id)
            self.balance += price
            if sale:
                self.earnings -= price * Decimal("0.8")  # clawed back, after a payout too

        @rule()
        def payout_run(self) -> None:
            paid = {payout.creator_id: payout.amount for payout in self.engine.run_payouts()}
            expected = self.earnings.quantize(Decimal("0.01"), rounding=ROUND_DOWN)
            if self.earnings >= Decimal("10.00"):
                assert paid.get(self.creator) == expected
                self.earnings -= expected
            else:
                assert self.creator not in paid

        @rule(threshold=CENTS, amount=CENTS)
        def auto_reload(self, threshold: Decimal, amount: Decimal) -> None:
            self.engine.set_auto_reload(self.account, threshold=threshold, amount=amount)
            self.threshold, self.reload = threshold, amount

        @rule(decline=st.booleans())
        def decline_switch(self, decline: bool) -> None:
            provider.decline_collections = decline

        @rule(cents=st.integers(-3000, 3000))
        def adjust(self, cents: int) -> None:
            amount = Decimal(cents).scaleb(-2)
            if amount == 0:
                return
            if self.balance + amount < 0:
                with pytest.raises(MeterstackError) as refused:
                    self.engine.adjust_wallet(self.account, amount, "model")
                assert refused.value.code == "insufficient_balance"
                return
            self.engine.adjust_wallet(self.account, amount, "model")
            self.balance += amount

        @invariant()
        def balance_is_the_model_and_the_ledger(self) -> None:
            stored = self.engine.wallet(self.account).balance
            assert stored == self.balance == ledger_sum(self.store, self.account)
            assert stored >= 0
            assert ledger_sum(self.store, self.creator, "earnings") == self.earnings

    run_state_machine_as_test(
        Wallet,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
