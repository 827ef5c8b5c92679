"""Per-transaction percentage prices end to end: each consumption's amount is recorded, and
period close rates the transactions with the fee, the minimum, the maximum and the free
allowances; the catalog's examples take ``transactions:`` and ``plans validate`` reproduces them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterstack import Engine, ManualClock
from meterstack.catalog import load_catalog
from meterstack.catalog.schema import Percentage
from meterstack.cli import app
from meterstack.errors import InvalidInputError
from meterstack.records.invoicing import Invoice
from meterstack.rules.charges import percentage_fees

EngineFactory = Callable[..., Engine]

PERCENTAGE = """
catalog: payments
name: Payments
version: 1
meters:
  payments: {name: Payments, unit: transaction}
  api_calls: {name: API calls}
plans:
  starter:
    name: Starter
    price: {monthly: "0"}
    limits: {payments: unlimited, api_calls: unlimited}
    usage_prices:
      payments:
        model: percentage
        percent: "1.2"
        fixed_fee: "0.10"
        free_transactions: 3
        free_amount: "500"
  pro:
    name: Pro
    price: {monthly: "0"}
    limits: {payments: unlimited, api_calls: unlimited}
    usage_prices:
      payments:
        model: percentage
        percent: "2.99"
        minimum_per_transaction: "1.75"
        maximum_per_transaction: "12"
policies:
  fallback_plan: starter
examples:
  - name: allowances, then 1.2 % + $0.10
    plan: starter
    transactions: {payments: ["200", "100", "100", "50"]}
    expect: {items: {payments: "0.70"}, total: "0.70"}
  - name: a minimum and a maximum per transaction
    plan: pro
    transactions: {payments: ["10", "80", "10000"]}
    expect: {items: {payments: "16.14"}}
"""


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "payments.yaml"
    path.write_text(PERCENTAGE, encoding="utf-8")
    return path


def _line(invoice: Invoice, item: str) -> Decimal:
    (line,) = [line for line in invoice.lines if line.item == item]
    return line.amount


def _closed(engine: Engine, plan: str, amounts: list[str], clock: ManualClock) -> Invoice:
    account = engine.create_account(plan=plan).id
    for amount in amounts:
        decision = engine.consume(account, "payments", amount=Decimal(amount))
        assert decision.allowed
    clock.advance(timedelta(days=31))
    (invoice,) = [i for i in engine.close_period() if i.account_id == account]
    return invoice


def test_percentage_fees_per_transaction_with_free_allowances(catalog_file: Path) -> None:
    catalog = load_catalog(str(catalog_file)).catalog
    model = catalog.plan("starter").usage_prices["payments"]
    assert isinstance(model, Percentage)
    amounts = [Decimal(a) for a in ("200", "100", "100", "50")]
    assert percentage_fees(model, amounts) == (*[Decimal(0)] * 3, Decimal("0.70"))


def test_period_close_rates_recorded_transactions_with_allowances(
    open_engine: EngineFactory, clock: ManualClock, catalog_file: Path
) -> None:
    engine = open_engine(str(catalog_file))
    invoice = _closed(engine, "starter", ["200", "100", "100", "50"], clock)
    assert _line(invoice, "payments") == Decimal("0.70")
    assert invoice.total == Decimal("0.70")


def test_period_close_rates_recorded_transactions_with_minimum_and_maximum(
    open_engine: EngineFactory, clock: ManualClock, catalog_file: Path
) -> None:
    engine = open_engine(str(catalog_file))
    invoice = _closed(engine, "pro", ["10", "80", "10000"], clock)
    # 1.75 (the minimum of 0.299) + 2.392 + 12 (the maximum of 299) = 16.142 -> 16.14
    assert _line(invoice, "payments") == Decimal("16.14")


def test_a_transaction_is_recorded_once_and_only_in_its_period(
    open_engine: EngineFactory, clock: ManualClock, catalog_file: Path
) -> None:
    engine = open_engine(str(catalog_file))
    account = engine.create_account(plan="pro").id
    engine.consume(account, "payments", amount=Decimal("80"), idempotency_key="p1")
    replay = engine.consume(account, "payments", amount=Decimal("80"), idempotency_key="p1")
    assert replay.replayed
    with pytest.raises(Exception, match="different request"):
        engine.consume(account, "payments", amount=Decimal("81"), idempotency_key="p1")
    results = engine.consume_many([{"account_id": account, "meter": "payments", "amount": "10000"}])
    assert results[0].allowed  # type: ignore[union-attr]
    clock.advance(timedelta(days=31))
    engine.consume(account, "payments", amount=Decimal("10"))  # the next period's
    (invoice,) = [i for i in engine.close_period() if i.account_id == account]
    assert _line(invoice, "payments") == Decimal("14.39")  # 2.392 + 12


def test_amounts_are_checked_before_anything_is_counted(
    open_engine: EngineFactory, catalog_file: Path
) -> None:
    engine = open_engine(str(catalog_file))
    account = engine.create_account(plan="pro").id
    bad: list[dict[str, Any]] = [
        {"meter": "payments"},  # a percentage meter needs the amount
        {"meter": "payments", "amount": Decimal("-1")},
        {"meter": "payments", "amount": Decimal("1.0000001")},
        {"meter": "payments", "amount": Decimal("NaN")},
        {"meter": "payments", "amount": Decimal("5"), "quantity": 2},
        {"meter": "api_calls", "amount": Decimal("5")},  # not priced by a percentage
    ]
    for case in bad:
        options = dict(case)
        meter = str(options.pop("meter"))
        with pytest.raises(InvalidInputError):
            engine.consume(account, meter, **options)
    assert engine.usage(account)["payments"].used == 0


def test_d18_plans_validate_reproduces_transaction_examples(catalog_file: Path) -> None:
    result = CliRunner().invoke(app, ["plans", "validate", str(catalog_file)])
    assert result.exit_code == 0, result.output
    assert "2 examples (2 reproduced); 0 warnings" in result.stdout
    wrong = PERCENTAGE.replace('payments: "16.14"', 'payments: "16.15"')
    catalog_file.write_text(wrong, encoding="utf-8")
    mismatch = CliRunner().invoke(app, ["plans", "validate", str(catalog_file)])
    assert "16.14" in mismatch.stdout
    assert "(1 reproduced)" in mismatch.stdout
