"""Money given back and paid out through the provider, on both backends with the local one:
deposit refunds sent (D24), paid invoices voided or credited, lost disputes, overlapping payout
runs (D23)."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from wallet_support import PUBLIC, EngineFactory, StoreOf, deposit, ledger_rows, ledger_sum

from fakes.faulty_store import FaultyStore
from meterstack import Engine, ManualClock
from meterstack.errors import ConflictError, InvalidInputError, MeterstackError
from meterstack.records.payments import PaymentEvent, PayoutRequest, RefundStatus
from meterstack.services.payments.local import LocalProvider


class RunDied(BaseException):
    """The payout run's process ends here (killed, or a deploy stopped it)."""


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(PUBLIC, secret="money-tests")


@pytest.fixture
def engine(open_engine: EngineFactory, provider: LocalProvider) -> Engine:
    return open_engine("aerostack", provider=provider)


def _deposit_entry(engine: Engine, provider: LocalProvider, account_id: str, amount: str) -> str:
    deposit(engine, provider, account_id, amount)
    entry = engine.wallet_transactions(account_id).entries[0]
    assert entry.kind == "deposit"
    return entry.id


def _checkout_of(engine: Engine, entry_id: str) -> str:
    entry = next(
        e
        for e in engine.wallet_transactions(engine.charge_account(entry_id)).entries
        if e.id == entry_id
    )
    assert entry.reference is not None
    return entry.reference


# ---------------------------------------------------------------------- deposit refunds (D24)


def test_d24_a_deposit_refund_is_sent_to_the_provider_limited_to_the_unspent_balance(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    entry = _deposit_entry(engine, provider, account.id, "10.00")
    engine.charge(account.id, "agent_execution", 250)  # $2.50 spent
    with pytest.raises(MeterstackError) as refused:
        engine.refund_deposit(entry)
    assert (refused.value.http_status, refused.value.code) == (402, "insufficient_balance")
    assert provider.refunds == {}
    assert engine.refunds("deposit", entry) == []

    assert engine.refund_deposit(entry, Decimal("7.50")) == 0
    [refund] = engine.refunds("deposit", entry)
    assert (refund.status, refund.amount, refund.currency, refund.attempts) == (
        RefundStatus.REFUNDED,
        Decimal("7.5"),
        "USD",
        1,
    )
    sent = provider.refunds[refund.id]
    assert (sent.source, sent.payment, sent.amount) == (
        "deposit",
        _checkout_of(engine, entry),
        Decimal("7.5"),
    )
    with pytest.raises(ConflictError):
        engine.refund_deposit(entry, Decimal("0.01"))  # a deposit is refunded once
    assert len(provider.refunds) == 1
    assert ledger_sum(store_of(engine), account.id) == 0


def test_d24_a_refund_the_provider_refused_stays_pending_and_is_sent_once_later(
    engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    entry = _deposit_entry(engine, provider, account.id, "8.00")
    provider.decline_refunds = True
    assert engine.refund_deposit(entry) == 0  # the balance is given back at once
    [pending] = engine.refunds("deposit", entry)
    assert pending.status is RefundStatus.PENDING
    assert pending.failure == "refund refused: the decline switch is on"
    assert provider.refunds == {}

    provider.decline_refunds = False
    [sent] = engine.send_refunds()
    assert (sent.id, sent.status, sent.attempts) == (pending.id, RefundStatus.REFUNDED, 2)
    assert engine.send_refunds() == []  # nothing pending: nothing sent twice
    assert list(provider.refunds) == [pending.id]


def test_d24_a_refund_needs_a_provider(open_engine: EngineFactory) -> None:
    engine = open_engine("aerostack")
    account = engine.create_account(plan="pro")
    engine.adjust_wallet(account.id, Decimal("5"), "funds")
    entry = engine.wallet_transactions(account.id).entries[0]
    with pytest.raises(MeterstackError) as refused:
        engine.refund_deposit(entry.id)
    assert refused.value.code in ("payments_not_configured", "not_found")
    assert engine.wallet(account.id).balance == 5


# ---------------------------------------------------------------------- invoices


def _paid_invoice(engine: Engine, clock: ManualClock) -> str:
    engine.create_account(plan="pro")
    clock.advance(timedelta(days=31))
    [invoice] = engine.close_period()
    assert invoice.number is not None
    assert invoice.total > 0
    engine.pay_invoice(invoice.number)
    return invoice.number


def test_b11_voiding_a_paid_invoice_refunds_what_it_collected_less_its_credit_notes(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    number = _paid_invoice(engine, clock)
    total = engine.invoice(number).total
    note = engine.credit_invoice(number, Decimal("10.00"), "goodwill for an outage")
    assert (note.amount, note.remaining, note.refund.status) == (
        Decimal("10.00"),
        total - 10,
        RefundStatus.REFUNDED,
    )
    voided = engine.void_invoice(number)
    assert voided.status == "void"
    notes = engine.credit_notes(number)
    assert [(n.amount, n.reason) for n in notes] == [
        (Decimal("10.00"), "goodwill for an outage"),
        (total - 10, "the invoice was voided"),
    ]
    assert sum(r.amount for r in provider.refunds.values()) == total
    assert {r.source for r in provider.refunds.values()} == {"invoice"}
    assert voided.total == total  # the invoice of record keeps its lines and total


def test_b11_a_credit_note_gives_back_at_most_what_the_paid_invoice_has_left(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    number = _paid_invoice(engine, clock)
    total = engine.invoice(number).total
    engine.credit_invoice(number, total - Decimal("0.01"), "most of it")
    with pytest.raises(InvalidInputError, match=r"0\.01 USD left to credit"):
        engine.credit_invoice(number, Decimal("0.02"), "too much")
    for amount, reason in ((Decimal("0.001"), "sub-cent"), (Decimal(0), "zero"), (1, "")):
        with pytest.raises(InvalidInputError):
            engine.credit_invoice(number, Decimal(amount), reason)
    engine.credit_invoice(number, Decimal("0.01"), "the rest")
    assert sum(r.amount for r in provider.refunds.values()) == total
    voided = engine.void_invoice(number)  # fully credited: nothing more to refund
    assert voided.status == "void"
    assert len(provider.refunds) == 2


def test_b11_an_unpaid_invoice_takes_no_credit_note(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    engine.create_account(plan="pro")
    clock.advance(timedelta(days=31))
    [invoice] = engine.close_period()
    assert invoice.number is not None
    with pytest.raises(ConflictError, match=r"is finalized"):
        engine.credit_invoice(invoice.number, Decimal("1.00"), "nothing was paid")
    assert engine.void_invoice(invoice.number).status == "void"
    assert provider.refunds == {}  # voiding an unpaid invoice refunds nothing


# ---------------------------------------------------------------------- lost disputes


def _lose_dispute(engine: Engine, checkout: str, amount: str, dispute: str = "du_1") -> None:
    outcome = engine.apply_payment_event(
        PaymentEvent(
            f"evt_{dispute}",
            "dispute.lost",
            {"payment": checkout, "amount": amount, "dispute_id": dispute},
        )
    )
    assert outcome.applied


def test_d20_d24_a_lost_dispute_on_a_spent_deposit_empties_the_wallet_and_suspends_charges(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    entry = _deposit_entry(engine, provider, account.id, "20.00")
    assert engine.charge(account.id, "agent_execution", 1500).allowed  # $15.00 spent
    _lose_dispute(engine, _checkout_of(engine, entry), "20.00")

    view = engine.wallet(account.id)
    assert (view.balance, view.settings.owed) == (Decimal(0), Decimal(15))
    assert ledger_sum(store_of(engine), account.id) == 0
    rows = ledger_rows(store_of(engine), account.id)
    refused = engine.charge(account.id, "bot_message", 1)
    assert (refused.allowed, refused.http_status, refused.code) == (
        False,
        402,
        "wallet_suspended",
    )
    assert "15.000000 owed" in refused.message
    assert engine.charge(account.id, "agent_execution", byok=True).allowed  # costs nothing
    assert ledger_rows(store_of(engine), account.id) == rows + 1

    # The same dispute delivered again changes nothing.
    again = engine.apply_payment_event(
        PaymentEvent(
            "evt_du_1_again",
            "dispute.lost",
            {"payment": _checkout_of(engine, entry), "amount": "20.00", "dispute_id": "du_1"},
        )
    )
    assert not again.applied
    assert engine.wallet(account.id).settings.owed == 15


def test_d24_a_deposit_pays_what_a_lost_dispute_left_owed_first(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    entry = _deposit_entry(engine, provider, account.id, "10.00")
    engine.charge(account.id, "agent_execution", 600)  # $6.00 spent, $4.00 left
    _lose_dispute(engine, _checkout_of(engine, entry), "10.00")
    assert engine.wallet(account.id).settings.owed == 6

    assert deposit(engine, provider, account.id, "5.00") == 0  # pays 5 of the 6 owed
    assert engine.wallet(account.id).settings.owed == 1
    assert engine.charge(account.id, "bot_message").code == "wallet_suspended"
    assert engine.adjust_wallet(account.id, Decimal("3"), "goodwill") == 2  # pays the last 1
    view = engine.wallet(account.id)
    assert (view.balance, view.settings.owed) == (Decimal(2), Decimal(0))
    assert engine.charge(account.id, "agent_execution").allowed
    kinds = [e.kind for e in engine.wallet_transactions(account.id).entries]
    assert kinds[:5] == ["charge", "debt_settlement", "adjustment", "debt_settlement", "deposit"]
    assert "dispute" in kinds
    assert ledger_sum(store_of(engine), account.id) == engine.wallet(account.id).balance


def test_d24_a_lost_dispute_covered_by_the_balance_leaves_nothing_owed(
    engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    first = _deposit_entry(engine, provider, account.id, "10.00")
    _deposit_entry(engine, provider, account.id, "10.00")
    engine.charge(account.id, "agent_execution", 500)
    _lose_dispute(engine, _checkout_of(engine, first), "10.00")
    view = engine.wallet(account.id)
    assert (view.balance, view.settings.owed) == (Decimal(5), Decimal(0))
    assert engine.charge(account.id, "agent_execution").allowed


def test_b11_a_dispute_on_a_payment_that_is_no_deposit_changes_nothing(engine: Engine) -> None:
    outcome = engine.apply_payment_event(
        PaymentEvent(
            "evt_x", "dispute.lost", {"payment": "cs_unknown", "amount": "5", "dispute_id": "du_x"}
        )
    )
    assert not outcome.applied


# ---------------------------------------------------------------------- payouts (D23)


class _OverlappingRun(LocalProvider):
    """While a payout is being paid, another run starts: a second scheduler, another server."""

    def __init__(self) -> None:
        super().__init__(PUBLIC, secret="money-tests")
        self.engine: Engine | None = None
        self.asked: list[tuple[str, int]] = []
        self.inner: list[object] = []

    def pay_out(self, request: PayoutRequest) -> object:  # type: ignore[override]
        self.asked.append((request.key, request.attempt))
        if self.engine is not None and not self.inner:
            self.inner.append(self.engine.run_payouts())
        return super().pay_out(request)


def test_d23_two_overlapping_payout_runs_pay_a_creator_once(open_engine: EngineFactory) -> None:
    provider = _OverlappingRun()
    engine = open_engine("aerostack", provider=provider)
    provider.engine = engine
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal("5.00"))
    for _ in range(3):
        assert engine.charge(buyer.id, "marketplace_tool_call", item_id=tool.id).allowed

    [paid] = engine.run_payouts()
    assert provider.inner == [[]]  # the overlapping run found it claimed and paid nothing
    assert provider.asked == [(paid.id, 1)]
    assert (paid.amount, paid.status, paid.attempts) == (Decimal("12"), "paid", 1)
    assert list(provider.payouts) == [paid.id]
    assert engine.run_payouts() == []
    assert engine.earnings(creator.id) == 0


def test_d23_a_payout_claimed_by_a_run_that_died_is_paid_by_a_later_run(
    open_engine: EngineFactory, store_of: StoreOf, provider: LocalProvider, clock: ManualClock
) -> None:
    faults = FaultyStore()
    engine = open_engine("aerostack", wrap_store=faults.around, provider=provider)
    buyer = engine.create_account(plan="pro")
    creator = engine.create_account(plan="pro")
    engine.adjust_wallet(buyer.id, Decimal("100"), "funds")
    tool = engine.create_item(creator.id, "Tool", Decimal("5.00"))
    for _ in range(3):
        engine.charge(buyer.id, "marketplace_tool_call", item_id=tool.id)
    died = faults.fail("movements.claim_payout", RunDied())  # a run records it, then stops
    with pytest.raises(RunDied):
        engine.run_payouts()
    [(recorded, *_)] = died.fired
    with store_of(engine).transaction() as tx:  # the next run claims it, then dies before asking
        assert (
            tx.movements.claim_payout(recorded, clock.now(), clock.now() + timedelta(minutes=10))
            == 1
        )

    assert engine.run_payouts() == []  # its claim holds
    clock.advance(timedelta(minutes=11))
    [paid] = engine.run_payouts()
    assert (paid.id, paid.attempts) == (recorded, 2)
    assert list(provider.payouts) == [recorded]


def test_b11_the_local_provider_needs_no_creator_onboarding(engine: Engine) -> None:
    creator = engine.create_account(plan="pro")
    with pytest.raises(ConflictError) as refused:
        engine.onboarding_link(
            creator.id, refresh_url=f"{PUBLIC}/again", return_url=f"{PUBLIC}/done"
        )
    assert refused.value.code == "onboarding_not_needed"
    assert engine.creator_account(creator.id) is None


def test_b11_credit_notes_racing_on_one_invoice_never_give_back_more_than_it_collected(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    number = _paid_invoice(engine, clock)
    total = engine.invoice(number).total
    outcomes: list[str] = []

    def credit() -> None:
        try:
            engine.credit_invoice(number, Decimal("10.00"), "racing")
            outcomes.append("credited")
        except InvalidInputError:
            outcomes.append("refused")

    threads = [threading.Thread(target=credit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fits = int(total // 10)
    assert sorted(outcomes) == ["credited"] * fits + ["refused"] * (8 - fits)
    assert sum(r.amount for r in engine.credit_notes(number)) == fits * 10
    assert len(provider.refunds) == fits
