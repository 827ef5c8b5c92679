"""Checks of what a consumption says about itself beyond its quantity: ``byok`` and ``amount``.

A meter priced by ``percentage`` on any plan of its catalog is billed per transaction, on the
amount of each: every consumption of it is one transaction (quantity 1) and carries its amount,
a Decimal in the catalog's currency with at most six places (D17); other meters take no amount.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.bounds import MAX_AMOUNT
from meterstack.catalog.schema import Catalog, Percentage
from meterstack.errors import InvalidInputError
from meterstack.money import LEDGER_PLACES

#: id(catalog) -> (the catalog, its percentage meters); the catalog is held so its id stays its.
_PRICED: dict[int, tuple[Catalog, frozenset[str]]] = {}


def percentage_meters(catalog: Catalog) -> frozenset[str]:
    """The meters some plan of ``catalog`` prices by ``percentage`` (usage or overage)."""
    known = _PRICED.get(id(catalog))
    if known is not None and known[0] is catalog:
        return known[1]
    meters = frozenset(
        meter
        for plan in catalog.plans
        for meter, model in (
            *plan.usage_prices.items(),
            *((item, offer.charge) for item, offer in plan.overage.items()),
        )
        if isinstance(model, Percentage) and meter in catalog.meters
    )
    _PRICED[id(catalog)] = (catalog, meters)
    return meters


def validate_transaction(
    catalog: Catalog, meter: str, quantity: int, amount: object, byok: object
) -> None:
    if amount is None and byok is False:  # most consumptions: a set lookup, nothing more
        known = _PRICED.get(id(catalog))
        if known is not None and known[0] is catalog and meter not in known[1]:
            return
    if not isinstance(byok, bool):
        raise InvalidInputError(f"byok must be true or false, got {byok!r}"[:200], field="byok")
    priced = meter in percentage_meters(catalog)
    if amount is None:
        if priced:
            raise InvalidInputError(
                f"{meter!r} is priced by a percentage of each transaction: give its amount",
                field="amount",
            )
        return
    if not priced:
        raise InvalidInputError(
            f"{meter!r} is not priced by a percentage: a consumption of it carries no amount",
            field="amount",
        )
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidInputError(
            f"amount must be a decimal amount of at least 0, got {amount!r}"[:200],
            field="amount",
        )
    if amount.as_tuple().exponent < -LEDGER_PLACES or amount > MAX_AMOUNT:  # type: ignore[operator]
        raise InvalidInputError(
            f"amount is kept to {LEDGER_PLACES} decimal places, at most {MAX_AMOUNT}",
            field="amount",
        )
    if quantity != 1:
        raise InvalidInputError(
            "a consumption with an amount is one transaction: its quantity is 1",
            field="quantity",
        )
