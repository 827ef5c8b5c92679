"""Amounts of money as the wallet's doors take them: Decimal, never float (D17, D24)."""

from __future__ import annotations

from decimal import Decimal

from meterstack.errors import InvalidInputError
from meterstack.rules.wallet import whole_cents

#: The largest amount one movement may carry.
MAX_AMOUNT = Decimal(10) ** 12


def amount_of(value: object, name: str, *, positive: bool = False) -> Decimal:
    if isinstance(value, float | bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInputError(f"{name} must be a decimal amount, got {value!r}", field=name)
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise InvalidInputError(f"{name} must be a decimal amount, got {value!r}") from None
    if (
        not amount.is_finite()
        or amount != amount.quantize(Decimal("0.000001"))
        or abs(amount) > MAX_AMOUNT
        or (positive and amount < 0)
    ):
        raise InvalidInputError(
            f"{name} must be an amount with at most six decimal places, got {value!r}",
            field=name,
        )
    return amount.quantize(Decimal("0.000001"))


def cents(value: object, name: str, currency: str, minimum: Decimal) -> Decimal:
    """A deposit or reload amount: whole cents, at least the catalog's minimum (D21, D24)."""
    amount = amount_of(value, name, positive=True)
    if not whole_cents(amount, currency):
        raise InvalidInputError(f"{name} must be in whole cents, got {value}", field=name)
    if amount < minimum or amount <= 0:
        raise InvalidInputError(
            f"{name} must be at least the minimum deposit {minimum}, got {value}",
            field=name,
            minimum=str(minimum),
        )
    return amount
