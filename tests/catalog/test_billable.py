"""Catalogs that load but cannot be billed as written are refused, each with its path.

A transaction percentage over 100, a minimum per transaction above the maximum, amounts the
store and the rating cannot hold, and amounts finer than the currency's minor unit (JPY 980.50,
USD 29.999, a JPY minimum of 0.01 that would silently become none).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meterstack.bounds import MAX_QUANTITY, MAX_UNIT_PRICE
from meterstack.catalog import (
    CatalogError,
    Direction,
    builtin_names,
    diff_catalogs,
    load_catalog,
    parse_catalog,
)
from meterstack.catalog.schema import PlanPrice
from meterstack.cli import app
from meterstack.rules.examples import evaluate_examples

runner = CliRunner()

BASE = """\
catalog: demo
name: Demo
version: 1
currency: {currency}
meters:
  api_calls:
    name: API calls
  payments:
    name: Payments
plans:
  free:
    name: Free
    price: {{monthly: "0"}}
    limits: {{api_calls: 1000, payments: unlimited}}
  pro:
    name: Pro
    price: {{monthly: "{price}"}}
    limits: {{api_calls: {limit}, payments: unlimited}}
    grace_percent: {grace}
    overage:
      api_calls:
        charge: {charge}
policies:
  fallback_plan: free
"""
PER_BLOCK = '{model: per_block, price: "1.00", per: 1000, minimum: "0.01"}'


def catalog_text(
    *,
    currency: str = "USD",
    price: str = "29.00",
    limit: object = 50_000,
    grace: object = 0,
    charge: str = PER_BLOCK,
) -> str:
    return BASE.format(currency=currency, price=price, limit=limit, grace=grace, charge=charge)


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, source="demo.yaml")
    return [f"{problem.path}: {problem.message}" for problem in caught.value.problems]


def test_catalog_rejects_percentage_over_100() -> None:
    charge = "{model: percentage, percent: 150}"
    assert problems(catalog_text(charge=charge)) == [
        "plans.pro.overage.api_calls.charge.percent: expected 100 or less, got 150"
    ]


def test_catalog_rejects_minimum_per_transaction_above_the_maximum() -> None:
    charge = (
        '{model: percentage, percent: 3, minimum_per_transaction: "5.00", '
        'maximum_per_transaction: "1.00"}'
    )
    assert problems(catalog_text(charge=charge)) == [
        "plans.pro.overage.api_calls.charge.minimum_per_transaction: the minimum per "
        "transaction (5.00) is above the maximum (1.00)"
    ]


@pytest.mark.parametrize(
    ("currency", "price", "message"),
    [
        ("JPY", "980.50", 'JPY amounts are whole numbers, got "980.50"'),
        ("USD", "29.999", 'USD amounts have at most 2 decimal places, got "29.999"'),
    ],
)
def test_catalog_rejects_a_price_finer_than_the_minor_unit(
    currency: str, price: str, message: str
) -> None:
    charge = '{model: per_block, price: "1", per: 1000}'
    assert problems(catalog_text(currency=currency, price=price, charge=charge)) == [
        f"plans.pro.price.monthly: {message}: it cannot be charged as written"
    ]


def test_catalog_rejects_a_jpy_minimum_of_one_hundredth_that_would_become_none() -> None:
    assert problems(catalog_text(currency="JPY", price="2900")) == [
        "plans.pro.overage.api_calls.charge.minimum: JPY amounts are whole numbers, "
        'got "0.01": it cannot be charged as written'
    ]


def test_catalog_whole_amounts_with_trailing_zeros_are_whole() -> None:
    charge = '{model: per_block, price: "0.5", per: 1000, minimum: "1.00"}'
    price = parse_catalog(catalog_text(currency="JPY", price="2900.00", charge=charge)).catalog
    assert price.plan("pro").price == PlanPrice(monthly=Decimal(2900))


def test_catalog_unit_prices_may_be_finer_than_the_currency_d1() -> None:
    # A unit price is multiplied by usage before the invoice line is rounded (D1, D17).
    charge = '{model: standard, unit_price: "0.00015"}'
    parse_catalog(catalog_text(charge=charge))


def test_catalog_rejects_wallet_prices_finer_than_the_ledger_d17() -> None:
    text = (
        catalog_text()
        + 'wallet:\n  operations:\n    tiny:\n      name: Tiny\n      price: "0.0000001"\n'
    )
    assert problems(text) == [
        "wallet.operations.tiny.price: wallet amounts have at most 6 decimal places (D17), "
        'got "0.0000001"'
    ]


def test_catalog_rejects_prices_too_large_for_the_store() -> None:
    assert problems(catalog_text(price="1e30")) == [
        'plans.pro.price.monthly: expected 1,000,000,000,000 or less, got "1e30"'
    ]
    assert problems(catalog_text(charge='{model: standard, unit_price: "1e30"}')) == [
        'plans.pro.overage.api_calls.charge.unit_price: expected 1,000,000 or less, got "1e30"'
    ]
    assert problems(catalog_text(charge='{model: per_block, price: "10000000", per: 1}')) == [
        "plans.pro.overage.api_calls.charge.price: 10000000 per 1 units is more than "
        "1,000,000 per unit, the largest unit price meterstack rates"
    ]


def test_catalog_rating_at_the_bounds_fits_decimal_precision() -> None:
    # The largest usage an example may give at the largest unit price is rated to the cent,
    # without decimal.InvalidOperation: the bounds leave room for the invoice line.
    charge = f'{{model: standard, unit_price: "{MAX_UNIT_PRICE}"}}'
    text = catalog_text(limit=0, charge=charge) + (
        f"examples:\n  - name: all of it\n    plan: pro\n    usage: {{api_calls: {MAX_QUANTITY}}}\n"
        '    expect: {total: "1.00"}\n'
    )
    (result,) = evaluate_examples(parse_catalog(text).catalog)
    expected = Decimal(MAX_QUANTITY) * MAX_UNIT_PRICE + Decimal("29.00")
    assert result.computed.total == expected
    assert not result.ok


def test_catalog_limits_at_most_10_15() -> None:
    assert problems(catalog_text(limit=MAX_QUANTITY + 1)) == [
        "plans.pro.limits.api_calls: expected at most 1,000,000,000,000,000 (10^15) or "
        '"unlimited", got 1000000000000001'
    ]
    parse_catalog(catalog_text(limit=MAX_QUANTITY))


def test_catalog_grace_at_most_1000_percent() -> None:
    assert problems(catalog_text(grace=1001)) == [
        "plans.pro.grace_percent: expected 1,000 or less, got 1001"
    ]
    parse_catalog(catalog_text(grace=1000))


def test_catalog_pack_quantities_and_tier_bounds_at_most_10_15() -> None:
    text = catalog_text() + (
        f"packs:\n  huge:\n    name: Huge\n    item: api_calls\n    quantity: {10**16}\n"
        '    price: "1.00"\n'
    )
    assert problems(text) == [
        "packs.huge.quantity: expected 1,000,000,000,000,000 or less, got 10000000000000000"
    ]
    tiers = (
        f'{{model: graduated, tiers: [{{up_to: {10**16}, unit_price: "1"}}, {{unit_price: "0"}}]}}'
    )
    assert problems(catalog_text(charge=tiers)) == [
        "plans.pro.overage.api_calls.charge.tiers.0.up_to: expected 1,000,000,000,000,000 or "
        "less, got 10000000000000000"
    ]


def test_catalog_version_fits_the_store() -> None:
    text = catalog_text().replace("version: 1", f"version: {2**31}")
    assert problems(text) == ["version: expected 2,147,483,647 or less, got 2147483648"]


def test_catalog_error_inside_a_plan_has_no_spurious_expected_at_least_1_entry() -> None:
    assert problems(catalog_text(limit='"2M"')) == [
        'plans.pro.limits.api_calls: expected a whole number or "unlimited", got "2M"'
    ]
    # One plan only, broken: still only its own problem.
    text = catalog_text().replace("  pro:\n", "  pro:\n    colour: red\n")
    only_free = re.sub(r"  pro:\n(    .*\n|      .*\n|        .*\n)*", "", text)
    broken = only_free.replace("limits: {api_calls: 1000", 'limits: {api_calls: "2M"')
    assert problems(broken) == [
        'plans.free.limits.api_calls: expected a whole number or "unlimited", got "2M"'
    ]


def test_plans_validate_accepts_a_percentage_price_now_that_transactions_are_recorded(
    tmp_path: Path,
) -> None:
    file = tmp_path / "demo.yaml"
    file.write_text(catalog_text(charge="{model: percentage, percent: 3}"), encoding="utf-8")
    result = runner.invoke(app, ["plans", "validate", str(file)])
    assert result.exit_code == 0, result.output
    assert f"{file}: valid" in result.stdout


@pytest.mark.parametrize("name", builtin_names())
def test_the_shipped_catalogs_still_validate(name: str) -> None:
    result = runner.invoke(app, ["plans", "validate", name])
    assert result.exit_code == 0, result.output
    assert f"builtin:{name}: valid" in result.stdout


def test_plans_diff_shows_a_removed_item_as_removed() -> None:
    text = load_catalog("agentstack").text
    assert "  triggers:\n    name: Triggers\n    unit: trigger\n" in text
    without = re.sub(r"\n      triggers: \w+", "", text).replace(
        "  triggers:\n    name: Triggers\n    unit: trigger\n", ""
    )
    before, after = parse_catalog(text).catalog, parse_catalog(without).catalog
    changes = diff_catalogs(before, after)
    assert [(c.path, c.old, c.new, c.direction) for c in changes][:2] == [
        ("plans.anonymous.limits.triggers", 20, None, Direction.CHANGED),
        ("plans.free.limits.triggers", 50, None, Direction.CHANGED),
    ]
    assert len(changes) == 7
    assert all(c.new is None and c.direction == Direction.CHANGED for c in changes)


def test_plans_diff_table_says_removed(tmp_path: Path) -> None:
    text = load_catalog("agentstack").text
    without = re.sub(r"\n      triggers: \w+", "", text).replace(
        "  triggers:\n    name: Triggers\n    unit: trigger\n", ""
    )
    file = tmp_path / "new.yaml"
    file.write_text(without, encoding="utf-8")
    result = runner.invoke(app, ["plans", "diff", "agentstack", str(file)])
    assert result.exit_code == 0, result.output
    rows = [
        [cell.strip() for cell in line.strip("│ ").split("│")]
        for line in result.stdout.splitlines()
        if ".limits.triggers" in line
    ]
    assert rows[0] == ["plans.anonymous.limits.triggers", "20", "removed", "changed"]
    assert len(rows) == 7
    assert all(row[2:] == ["removed", "changed"] for row in rows)


def test_plans_validate_a_price_that_breaks_rating_is_an_error_not_invalid_operation(
    tmp_path: Path,
) -> None:
    # Before: the example was rated at 1e30 per call and validate ended in a traceback.
    text = catalog_text(charge='{model: standard, unit_price: "1e30"}') + (
        "examples:\n  - name: big\n    plan: pro\n    usage: {api_calls: 60000}\n"
        '    expect: {total: "1.00"}\n'
    )
    file = tmp_path / "demo.yaml"
    file.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["plans", "validate", str(file)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[0].endswith(
        'plans.pro.overage.api_calls.charge.unit_price: expected 1,000,000 or less, got "1e30"'
    )
    assert "InvalidOperation" not in result.output
