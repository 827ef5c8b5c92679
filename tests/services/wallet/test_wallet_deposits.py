"""Deposits, refunds and adjustments (D20, D24, D30), on both backends."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from wallet_support import PUBLIC, EngineFactory, StoreOf, deposit, ledger_rows, ledger_sum

from meterstack import Engine, ManualClock
from meterstack.errors import ConflictError, InvalidInputError, MeterstackError, NotFoundError
from meterstack.records.invoicing import WalletSpend
from meterstack.records.payments import PaymentEvent
from meterstack.services.invoicing.render import render_html, render_pdf
from meterstack.services.payments.local import LocalProvider


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(PUBLIC, secret="wallet-tests")


@pytest.fixture
def engine(open_engine: EngineFactory, provider: LocalProvider) -> Engine:
    return open_engine("aerostack", provider=provider)


def test_d24_a_deposit_is_credited_once_whatever_the_deliveries(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    checkout = engine.deposit(account.id, Decimal("12.34"), success_url=f"{PUBLIC}/ok")
    assert checkout.purpose == "deposit"
    assert engine.wallet(account.id).balance == 0  # nothing until the provider confirms
    event = PaymentEvent("evt_1", "checkout.completed", {"checkout_id": checkout.id})
    first = engine.apply_payment_event(event)
    again = engine.apply_payment_event(event)
    assert (first.applied, first.deposit_balance) == (True, Decimal("12.34"))
    assert again.applied is False
    # Another event for the same checkout is refused and credits nothing.
    with pytest.raises(ConflictError):
        engine.apply_payment_event(
            PaymentEvent("evt_2", "checkout.completed", {"checkout_id": checkout.id})
        )
    assert engine.wallet(account.id).balance == Decimal("12.34")
    assert ledger_sum(store_of(engine), account.id) == Decimal("12.34")
    receipt = engine.wallet_transactions(account.id).entries
    assert [(entry.kind, entry.amount, entry.reference) for entry in receipt] == [
        ("deposit", Decimal("12.34"), checkout.id)
    ]


def test_d24_amounts_are_whole_cents_at_least_the_minimum(engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    for amount in ("4.99", "5.001", "0", "-10", "NaN", 5.0):
        with pytest.raises(InvalidInputError):
            engine.deposit(account.id, amount)  # type: ignore[arg-type]
    assert engine.deposit(account.id, Decimal("5.00")).purpose == "deposit"


def test_d30_return_urls_are_checked_as_for_checkout(engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    for url in ("https://evil.example/x", "javascript:alert(1)", "/relative"):
        with pytest.raises(InvalidInputError):
            engine.deposit(account.id, Decimal("10.00"), success_url=url)
        with pytest.raises(InvalidInputError):
            engine.deposit(account.id, Decimal("10.00"), cancel_url=url)


def test_d24_a8_a_plan_without_payments_cannot_deposit(
    open_engine: EngineFactory, provider: LocalProvider
) -> None:
    engine = open_engine("agentstack", provider=provider)
    anonymous, _ = engine.create_anonymous_account()
    with pytest.raises(MeterstackError) as refused:
        engine.deposit(anonymous.id, Decimal("10.00"))
    assert (refused.value.http_status, refused.value.code) == (403, "not_allowed_for_tier")


def test_d21_a8_a_plan_without_payments_cannot_turn_auto_reload_on(
    open_engine: EngineFactory, provider: LocalProvider
) -> None:
    engine = open_engine("agentstack", provider=provider)
    anonymous, _ = engine.create_anonymous_account()
    with pytest.raises(MeterstackError) as refused:
        engine.set_auto_reload(anonymous.id, threshold=Decimal("5.00"), amount=Decimal("10.00"))
    assert (refused.value.http_status, refused.value.code) == (403, "not_allowed_for_tier")


def test_d24_a_deposit_refund_is_limited_to_the_unspent_balance(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "10.00")
    entry = engine.wallet_transactions(account.id).entries[0]
    engine.charge(account.id, "agent_execution", 300)  # $3.00 spent
    rows = ledger_rows(store_of(engine), account.id)
    with pytest.raises(MeterstackError) as refused:
        engine.refund_deposit(entry.id)
    assert (refused.value.http_status, refused.value.code) == (402, "insufficient_balance")
    assert refused.value.details == {"balance": "7.000000", "price": "10.000000"}
    assert ledger_rows(store_of(engine), account.id) == rows
    assert engine.refund_deposit(entry.id, Decimal("7.00")) == 0
    with pytest.raises(ConflictError):
        engine.refund_deposit(entry.id, Decimal("0.01"))
    assert ledger_sum(store_of(engine), account.id) == 0


def test_d20_refunding_a_charge_gives_it_back_once(
    store_of: StoreOf, engine: Engine, provider: LocalProvider
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "5.00")
    charge = engine.charge(account.id, "agent_execution", 50)
    assert charge.entry_id is not None
    assert engine.refund_charge(charge.entry_id) == Decimal("5.00")
    assert engine.refund_charge(charge.entry_id) == Decimal("5.00")  # once
    assert ledger_sum(store_of(engine), account.id) == Decimal("5.00")
    with pytest.raises(NotFoundError):
        engine.refund_charge("wle_unknown")


def test_d20_an_adjustment_moves_either_way_never_below_zero(engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    assert engine.adjust_wallet(account.id, Decimal("3.50"), "goodwill") == Decimal("3.5")
    with pytest.raises(MeterstackError) as refused:
        engine.adjust_wallet(account.id, Decimal("-3.500001"), "too much")
    assert refused.value.code == "insufficient_balance"
    assert engine.adjust_wallet(account.id, Decimal("-3.5"), "correction") == 0
    for amount, reason in ((Decimal(0), "zero"), (Decimal("1"), ""), (Decimal("1e-7"), "tiny")):
        with pytest.raises(InvalidInputError):
            engine.adjust_wallet(account.id, amount, reason)
    assert [entry.memo for entry in engine.wallet_transactions(account.id).entries] == [
        "correction",
        "goodwill",
    ]


def test_d20_the_history_pages_newest_first(engine: Engine) -> None:
    account = engine.create_account(plan="pro")
    for cents in range(1, 8):
        engine.adjust_wallet(account.id, Decimal(cents), f"n{cents}")
    seen: list[str | None] = []
    before = None
    while True:
        page = engine.wallet_transactions(account.id, before=before, limit=3)
        seen += [entry.memo for entry in page.entries]
        before = page.next_before
        if before is None:
            break
    assert seen == [f"n{cents}" for cents in range(7, 0, -1)]
    with pytest.raises(InvalidInputError):
        engine.wallet_transactions(account.id, limit=0)
    with pytest.raises(InvalidInputError):
        engine.wallet_transactions(account.id, before="x")


def test_b2_d20_the_statement_lists_wallet_spend_by_operation_outside_the_invoice(
    engine: Engine, provider: LocalProvider, clock: ManualClock
) -> None:
    account = engine.create_account(plan="pro")
    deposit(engine, provider, account.id, "10.00")
    engine.charge(account.id, "bot_message", 1000)
    refunded = engine.charge(account.id, "agent_execution", 10)
    engine.charge(account.id, "agent_execution", 5)
    engine.charge(account.id, "agent_execution", 2, byok=True)
    assert refunded.entry_id is not None
    engine.refund_charge(refunded.entry_id)
    assert engine.wallet_spend(account.id) == {
        "agent_execution": (7, Decimal("0.05")),
        "bot_message": (1000, Decimal("2")),
    }
    clock.advance(timedelta(days=31))  # a new period starts empty
    assert engine.wallet_spend(account.id) == {}
    # The invoice of the closed period has the plan's lines only: total = sum of lines.
    invoices = engine.close_period()
    mine = [invoice for invoice in invoices if invoice.account_id == account.id]
    assert all(invoice.total == sum(line.amount for line in invoice.lines) for invoice in mine)
    # Read back, the period's invoice carries the wallet section beside its lines.
    [closed] = [invoice for invoice in engine.invoices(account.id) if invoice.kind == "period"]
    assert closed.wallet_spend == (
        WalletSpend("agent_execution", 7, Decimal("0.05")),
        WalletSpend("bot_message", 1000, Decimal("2")),
    )
    assert closed.total == sum(line.amount for line in closed.lines)
    assert all(line.item not in {"agent_execution", "bot_message"} for line in closed.lines)
    assert engine.invoice(closed.number or "").wallet_spend == closed.wallet_spend
    page = render_html(closed)
    assert "Paid from your prepaid wallet" in page
    assert 'bot message</td><td class="num">1,000</td><td class="num">2.000000 USD' in page
    pdf = render_pdf(closed, compress=False)
    assert b"Paid from your prepaid wallet" in pdf
    assert b"agent execution" in pdf
    # Other invoices (the opening fee) have no wallet section.
    assert all(
        invoice.wallet_spend == () for invoice in engine.invoices(account.id) if invoice != closed
    )
    assert not any("wallet" in line.description.lower() for inv in mine for line in inv.lines)
