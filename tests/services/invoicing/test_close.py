"""Period close end to end, on SQLite and PostgreSQL: exact lines, one invoice per account and
period however often (and from however many processes) it runs, gapless numbers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from meterstack import Engine, ManualClock
from meterstack.errors import InvalidInputError, NotAllowedForTierError
from meterstack.records.invoicing import Invoice, InvoiceStatus
from meterstack.services.invoicing.service import InvoiceTransitionError
from meterstack.services.payments.local import LocalProvider
from meterstack.store.sql import SqlStore

EngineFactory = Callable[..., Engine]
GB = 10**9


def _only(invoices: list[Invoice], account_id: str) -> Invoice:
    mine = [invoice for invoice in invoices if invoice.account_id == account_id]
    assert len(mine) == 1
    return mine[0]


def _line(invoice: Invoice, item: str) -> Decimal:
    amounts = [line.amount for line in invoice.lines if line.item == item]
    assert len(amounts) == 1, invoice.lines
    return amounts[0]


@pytest.mark.parametrize(
    ("plan", "meter", "used", "amount"),
    [
        ("starter", "logic_engine_calls", 60_000, "10.00"),  # A3: 50K included, 60K used
        ("basic", "api_calls", 600_000, "50.00"),  # A3: 500K included, 600K used
        ("starter", "logic_engine_calls", 50_001, "0.01"),  # D1: 1 unit over
        ("starter", "logic_engine_calls", 51_500, "1.50"),  # D1: 1,500 over
        ("starter", "api_calls", 200_035, "0.02"),  # D1: 35 API calls over
    ],
)
def test_a3_d1_overage_lines_are_exact(
    open_engine: EngineFactory,
    clock: ManualClock,
    plan: str,
    meter: str,
    used: int,
    amount: str,
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan=plan)
    engine.set_overage(account.id, True, meter=meter)
    engine.consume(account.id, meter, used)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    line = next(line for line in invoice.lines if line.item == meter)
    fee = engine.catalog.plan(plan).price.monthly  # type: ignore[union-attr]
    assert line.amount == Decimal(amount)
    assert line.derivation["overage_units"] == used - line.derivation["included"]
    assert invoice.total == Decimal(amount) + fee  # the next period's fee, in advance (D10)
    assert invoice.total == sum(line.amount for line in invoice.lines)
    assert invoice.status is InvoiceStatus.FINALIZED


def test_d2_overage_is_priced_as_recorded_even_after_a_pack(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.set_overage(account.id, True)
    engine.consume(account.id, "logic_engine_calls", 51_000)
    engine.grant_pack(account.id, "logic_engine_small")  # +10,000: the limit is now 60,000
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert _line(invoice, "logic_engine_calls") == Decimal("1.00")


def test_d3_storage_overage_is_priced_at_the_period_peak(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # 0.5 GB
    engine.set_overage(account.id, True, meter="project_storage")
    engine.set_gauge(account.id, "project_storage", 2 * GB)
    engine.set_gauge(account.id, "project_storage", GB // 10)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert _line(invoice, "project_storage") == Decimal("0.15")  # 1.5 GB x $0.10


@pytest.mark.parametrize("raise_limit", ["storage pack", "upgrade"])
def test_d2_gauge_overage_announced_is_billed_after_the_limit_rises(
    open_engine: EngineFactory, clock: ManualClock, raise_limit: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # 0.5 GB
    engine.set_overage(account.id, True, meter="project_storage")
    written = engine.set_gauge(account.id, "project_storage", 2 * GB)
    if raise_limit == "storage pack":
        engine.buy_pack(account.id, "storage_5gb")  # the limit is now 5.5 GB
    else:
        engine.change_plan(account.id, "pro")  # 5 GB, at once (C7)
    later = engine.set_gauge(account.id, "project_storage", 2 * GB)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert (written.code, written.overage_units) == ("overage", 3 * GB // 2)
    assert "billed as overage" in written.warnings[0]
    assert (later.code, later.overage_units) == ("ok", 0)  # within the raised limit
    (line,) = [line for line in invoice.lines if line.kind == "overage"]
    assert (line.item, line.amount) == ("project_storage", Decimal("0.15"))  # 1.5 GB announced
    assert line.derivation["overage_units"] == 3 * GB // 2


def test_d2_gauge_overage_is_billed_at_its_highest_announced_figure(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")  # 0.5 GB
    engine.set_overage(account.id, True, meter="project_storage")
    engine.set_gauge(account.id, "project_storage", 1 * GB)  # 0.5 GB over
    engine.grant_pack(account.id, "storage_5gb")  # 5.5 GB
    engine.set_gauge(account.id, "project_storage", 6 * GB)  # 0.5 GB over the raised limit
    engine.adjust_gauge(account.id, "project_storage", GB)  # 1.5 GB over: the period's highest
    engine.set_gauge(account.id, "project_storage", GB)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert _line(invoice, "project_storage") == Decimal("0.15")


def test_d10_fee_in_advance_and_a_prorated_first_period(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    clock.set(datetime(2026, 1, 21, tzinfo=UTC))  # 11 of January's 31 days left
    account = engine.create_account(plan="starter")
    (opening,) = engine.invoices(account.id)
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))

    january, february = engine.close_period()

    assert [line.amount for line in opening.lines] == [Decimal("10.29")]
    assert opening.lines[0].description == "STARTER plan, January 2026 (first period)"
    assert [line.amount for line in january.lines] == [Decimal("29.00")]
    assert january.lines[0].description == "STARTER plan, February 2026"
    assert [line.amount for line in february.lines] == [Decimal("29.00")]
    assert (january.period_key, february.period_key) == ("2026-01", "2026-02")
    assert engine.invoices(account.id) == [opening, january, february]


def test_closing_twice_creates_nothing_more_and_numbers_have_no_gaps(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("flowstack")
    accounts = [engine.create_account(plan="hobbyist") for _ in range(7)]
    clock.advance(timedelta(days=65))  # two anniversary periods

    first = engine.close_period()
    second = engine.close_period()

    assert second == []
    assert len(first) == 14
    numbers = sorted(
        invoice.number or "" for account in accounts for invoice in engine.invoices(account.id)
    )
    assert numbers == [f"INV-{n:06d}" for n in range(1, 22)]  # 7 opening, then 14 closing
    for account in accounts:
        assert len(engine.invoices(account.id)) == 3


def _close_in_child(url: str, instant: str) -> int:
    clock = ManualClock(datetime.fromisoformat(instant))
    with Engine.open(url, catalog="flowstack", clock=clock) as engine:
        return len(engine.close_period())


def test_two_processes_closing_at_once_create_one_invoice_per_account(
    open_engine: EngineFactory, clock: ManualClock, store_url: str
) -> None:
    engine = open_engine("flowstack")
    accounts = [engine.create_account(plan="starter") for _ in range(120)]
    for account in accounts[::3]:
        engine.consume(account.id, "sessions", 100)
    clock.advance(timedelta(days=40))

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        created = pool.starmap(_close_in_child, [(store_url, clock.now().isoformat())] * 2)

    numbers = sorted(
        invoice.number or "" for account in accounts for invoice in engine.invoices(account.id)
    )
    assert sum(created) == 120
    assert numbers == [f"INV-{n:06d}" for n in range(1, 241)]  # 120 opening, 120 closing


def test_invoice_states(open_engine: EngineFactory, clock: ManualClock) -> None:
    # A paid invoice may be voided: what it collected is refunded (the provider's refund is
    # tested in tests/services/payments); a void invoice is final.
    provider = LocalProvider()
    engine = open_engine("flowstack", provider=provider)
    engine.create_account(plan="starter")
    engine.create_account(plan="starter")
    clock.advance(timedelta(days=31))
    first, second = (invoice.number or "" for invoice in engine.close_period())

    paid = engine.pay_invoice(first)
    engine.mark_uncollectible(second)
    recovered = engine.pay_invoice(second)
    voided = engine.void_invoice(first)
    with pytest.raises(InvoiceTransitionError, match="is void; it cannot become paid"):
        engine.pay_invoice(first)

    assert paid.status is InvoiceStatus.PAID
    assert recovered.status is InvoiceStatus.PAID
    assert voided.status is InvoiceStatus.VOID
    assert engine.invoice(second).status is InvoiceStatus.PAID
    assert [refund.amount for refund in provider.refunds.values()] == [paid.total]


USAGE_PRICED = """
catalog: metered
name: Metered
version: 1
meters:
  requests: {name: Requests}
  tokens: {name: Tokens}
plans:
  payg:
    name: Pay as you go
    price: {monthly: "0"}
    limits: {requests: unlimited, tokens: unlimited}
    usage_prices:
      requests:
        model: graduated
        tiers:
          - {up_to: 1000, unit_price: "0", flat_fee: "5.00"}
          - {up_to: 10000, unit_price: "0.002"}
          - {unit_price: "0.001"}
      tokens:
        model: volume
        tiers:
          - {up_to: 100000, unit_price: "0.00002"}
          - {unit_price: "0.00001", flat_fee: "1.00"}
policies:
  fallback_plan: payg
"""


def test_a_usage_priced_plan_with_graduated_and_volume_prices_is_invoiced(
    open_engine: EngineFactory, clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "metered.yaml"
    path.write_text(USAGE_PRICED, encoding="utf-8")
    engine = open_engine(str(path))
    account = engine.create_account(plan="payg")
    engine.consume(account.id, "requests", 12_000)
    engine.consume(account.id, "tokens", 150_000)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    # Graduated: 5.00 flat for the first 1,000, 9,000 x 0.002 = 18.00, 2,000 x 0.001 = 2.00.
    assert _line(invoice, "requests") == Decimal("25.00")
    # Volume: 150,000 reaches the second tier: 150,000 x 0.00001 = 1.50, plus its 1.00 fee.
    assert _line(invoice, "tokens") == Decimal("2.50")
    assert invoice.total == Decimal("27.50")


def test_d14_enterprise_prices_are_used_by_decisions_and_invoices(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="enterprise")  # custom price, unlimited
    engine.set_price(account.id, monthly="4500.00")
    engine.set_limit(account.id, "api_calls", 50_000_000)
    engine.set_charge(
        account.id,
        "api_calls",
        {"model": "per_block", "price": "0.30", "per": 1000, "minimum": "0.01"},
        enabled=True,
    )
    decision = engine.consume(account.id, "api_calls", 50_010_000)
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert (decision.allowed, decision.overage_units) == (True, 10_000)
    assert _line(invoice, "api_calls") == Decimal("3.00")
    fees = [line.amount for line in invoice.lines if line.kind == "subscription"]
    assert fees == [Decimal("4500.00")]
    engine.set_price(account.id, clear=True)
    with pytest.raises(InvalidInputError, match="invalid charge model"):
        engine.set_charge(account.id, "api_calls", {"model": "per_block"}, kind="usage")


def test_a6_d11_a_bought_pack_is_its_own_paid_invoice_and_adds_capacity_at_once(
    open_engine: EngineFactory, clock: ManualClock
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    engine.consume(account.id, "logic_engine_calls", 50_000)

    purchase = engine.buy_pack(account.id, "logic_engine_medium")
    after = engine.consume(account.id, "logic_engine_calls", 50_000)
    storage = engine.buy_pack(account.id, "storage_5gb")
    clock.advance(timedelta(days=31))
    closed = _only(engine.close_period(), account.id)

    assert purchase.new_limit == 100_000
    assert purchase.invoice.status is InvoiceStatus.PAID
    assert [(line.kind, line.amount) for line in purchase.invoice.lines] == [
        ("pack", Decimal("20.00"))
    ]
    assert (after.allowed, after.limit) == (True, 100_000)
    assert storage.invoice.total == Decimal("0.50")
    assert engine.invoice(purchase.invoice.number or "").status is InvoiceStatus.PAID
    assert [i.number for i in engine.invoices(account.id)][1:] == [
        purchase.invoice.number,
        storage.invoice.number,
        closed.number,
    ]
    listed = [line for line in closed.lines if line.kind == "pack"]
    assert [line.amount for line in listed] == [Decimal("0.00"), Decimal("0.00")]  # not twice
    assert "invoiced when bought" in listed[0].description


def test_a8_anonymous_has_no_payments_so_cannot_buy_packs(open_engine: EngineFactory) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="anonymous")

    # Was 402 upgrade_required: payments are "Disabled" on ANONYMOUS, a 403 (A8, D4, D30).
    with pytest.raises(NotAllowedForTierError):
        engine.buy_pack(account.id, "api_calls_small")
    assert engine.invoices(account.id) == []


def test_accounts_from_before_the_plan_history_are_closed_on_their_current_plan(
    open_engine: EngineFactory, clock: ManualClock, store_url: str
) -> None:
    engine = open_engine("agentstack")
    account = engine.create_account(plan="starter")
    store = SqlStore(store_url)
    with store.transaction() as tx:  # as a database migrated from before 0006 holds it
        tx.sql.execute("DELETE FROM plan_history WHERE account_id = :id", {"id": account.id})
    store.close()
    clock.advance(timedelta(days=31))

    invoice = _only(engine.close_period(), account.id)

    assert (invoice.plan, invoice.total) == ("starter", Decimal("29.00"))
