"""Checks of a catalog's money that need its currency: what can be charged as it is written.

An amount charged as written (a plan's fee, a pack, a minimum charge, a flat fee, a deposit)
must be a whole number of the currency's minor unit: a JPY price of 980.50 or a USD price of
29.999 cannot be invoiced, and a JPY minimum of 0.01 would silently round to no minimum at all.
Prices multiplied by usage (unit prices, per-block prices) may carry more decimals (D1); the
wallet's are kept to its ledger's six places (D17). A per-block or per-package price is also
bounded per unit, as a unit price is (:mod:`meterstack.bounds`), so that rating always fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from meterstack.bounds import MAX_UNIT_PRICE
from meterstack.catalog.schema import (
    Catalog,
    ChargeModel,
    Graduated,
    Package,
    PerBlock,
    Percentage,
    PlanPrice,
    Volume,
    show,
)
from meterstack.money import CURRENCY_MINOR_UNITS, LEDGER_PLACES, quantum

Path = tuple[str | int, ...]
Problem = tuple[Path, str]


def charge_models(catalog: Catalog) -> Iterator[tuple[Path, ChargeModel]]:
    """Every charge model of every plan, with its path: overage offers and usage prices."""
    for plan in catalog.plans:
        for item_id, overage in plan.overage.items():
            yield ("plans", plan.id, "overage", item_id, "charge"), overage.charge
        for item_id, model in plan.usage_prices.items():
            yield ("plans", plan.id, "usage_prices", item_id), model


def amount_problems(catalog: Catalog) -> Iterator[Problem]:
    """Amounts finer than the currency (or the ledger) can hold, and prices past their bound."""
    places = CURRENCY_MINOR_UNITS.get(catalog.currency)
    if places is None:
        return  # an unknown currency is reported on its own
    for path, amount in _whole_amounts(catalog):
        if not _fits(amount, places):
            yield path, _finer_than(catalog.currency, places, amount)
    if catalog.wallet is not None:
        for op_id, operation in catalog.wallet.operations.items():
            price = operation.price
            if isinstance(price, Decimal) and not _fits(price, LEDGER_PLACES):
                yield (
                    ("wallet", "operations", op_id, "price"),
                    f"wallet amounts have at most {LEDGER_PLACES} decimal places (D17), "
                    f"got {show(format(price, 'f'))}",
                )
    for path, model in charge_models(catalog):
        yield from _model_problems(path, model)


def _fits(amount: Decimal, places: int) -> bool:
    return amount == amount.quantize(quantum(places))


def _finer_than(currency: str, places: int, amount: Decimal) -> str:
    shown = show(f"{amount:f}")
    if places == 0:
        return f"{currency} amounts are whole numbers, got {shown}: it cannot be charged as written"
    return (
        f"{currency} amounts have at most {places} decimal places, got {shown}: "
        "it cannot be charged as written"
    )


def _whole_amounts(catalog: Catalog) -> Iterator[tuple[Path, Decimal]]:
    """Every amount of the catalog that is charged (or compared) as written."""
    for plan in catalog.plans:
        if isinstance(plan.price, PlanPrice):
            yield ("plans", plan.id, "price", "monthly"), plan.price.monthly
            if plan.price.yearly is not None:
                yield ("plans", plan.id, "price", "yearly"), plan.price.yearly
    for path, model in charge_models(catalog):
        for name, amount in _model_amounts(model):
            yield (*path, *name), amount
    for pack_id, pack in catalog.packs.items():
        yield ("packs", pack_id, "price"), pack.price
    if catalog.wallet is not None:
        yield ("wallet", "minimum_deposit"), catalog.wallet.minimum_deposit
    for index, example in enumerate(catalog.examples):
        if example.expect.total is not None:
            yield ("examples", index, "expect", "total"), example.expect.total
        for item_id, amount in example.expect.items.items():
            yield ("examples", index, "expect", "items", item_id), amount


def _model_amounts(model: ChargeModel) -> Iterator[tuple[Path, Decimal]]:
    if isinstance(model, PerBlock):
        yield ("minimum",), model.minimum
    elif isinstance(model, Graduated | Volume):
        for index, tier in enumerate(model.tiers):
            yield ("tiers", index, "flat_fee"), tier.flat_fee
    elif isinstance(model, Package):
        yield ("package_price",), model.package_price
    elif isinstance(model, Percentage):
        yield ("fixed_fee",), model.fixed_fee
        yield ("free_amount",), model.free_amount
        if model.minimum_per_transaction is not None:
            yield ("minimum_per_transaction",), model.minimum_per_transaction
        if model.maximum_per_transaction is not None:
            yield ("maximum_per_transaction",), model.maximum_per_transaction


def _model_problems(path: Path, model: ChargeModel) -> Iterator[Problem]:
    if isinstance(model, PerBlock) and model.price / model.per > MAX_UNIT_PRICE:
        yield (*path, "price"), _per_unit(model.price, model.per)
    elif isinstance(model, Package) and model.package_price / model.package_size > MAX_UNIT_PRICE:
        yield (*path, "package_price"), _per_unit(model.package_price, model.package_size)
    elif isinstance(model, Percentage):
        low, high = model.minimum_per_transaction, model.maximum_per_transaction
        if low is not None and high is not None and low > high:
            yield (
                (*path, "minimum_per_transaction"),
                f"the minimum per transaction ({low:f}) is above the maximum ({high:f})",
            )


def _per_unit(price: Decimal, units: int) -> str:
    return (
        f"{price:f} per {units:,} units is more than {MAX_UNIT_PRICE:,} per unit, "
        "the largest unit price meterstack rates"
    )
