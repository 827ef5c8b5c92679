"""Amounts as Stripe counts them: integers in the currency's minor unit, currencies lower case.

Stripe takes ``1000`` for $10.00 and ``1000`` for ¥1,000: the yen (and the won) have no minor
unit, so the integer is the amount itself. meterstack's amounts are Decimals rounded once to
the currency's minor unit (:func:`meterstack.money.round_money`); an amount that is not is
refused here rather than rounded a second time.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.money import minor_units


def to_stripe_amount(amount: Decimal, currency: str) -> int:
    """``Decimal("441.00")``, ``USD`` -> ``44100``; ``Decimal("5000")``, ``JPY`` -> ``5000``."""
    scaled = amount.scaleb(minor_units(currency.upper()))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} is not a whole number of minor units")
    return int(scaled)


def from_stripe_amount(amount: int, currency: str) -> Decimal:
    """Stripe's integer back to a Decimal with the currency's places (``44100`` -> ``441.00``)."""
    places = minor_units(currency.upper())
    return Decimal(amount).scaleb(-places).quantize(Decimal(1).scaleb(-places))


def stripe_currency(currency: str) -> str:
    """Stripe's spelling of an ISO 4217 code: lower case."""
    return currency.lower()
