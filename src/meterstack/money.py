"""Money: Decimal amounts and the one rounding rule of meterstack.

Every amount is a :class:`decimal.Decimal`; float never enters. Unit prices may carry more
decimal places than the currency (a bot message at $0.002); an amount that lands on an invoice
line, a deposit or a payment is rounded once, by :func:`round_money`, half-up to the currency's
minor unit.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation

#: Minor-unit exponents of the currencies a catalog may use (ISO 4217).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "INR": 2,
    "BRL": 2,
    "MXN": 2,
    "SGD": 2,
    "JPY": 0,
    "KRW": 0,
}

#: Wallet ledger amounts carry six decimal places (D17).
LEDGER_PLACES = 6


def minor_units(currency: str) -> int:
    """Number of decimal places of ``currency``'s minor unit."""
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


def quantum(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)


def round_money(amount: Decimal, currency: str = "USD") -> Decimal:
    """The rounding rule: half-up to the currency's minor unit (``1.005`` -> ``1.01``)."""
    return amount.quantize(quantum(minor_units(currency)), rounding=ROUND_HALF_UP)


def in_currency_places(amount: Decimal, currency: str) -> Decimal:
    """An amount kept to the ledger's places shown in the currency's (``49.000000`` is
    ``49.00``), never rounded: one with more places than the currency's is shown as it is."""
    shown = amount.quantize(quantum(minor_units(currency)))
    return shown if shown == amount else amount


def round_ledger(amount: Decimal) -> Decimal:
    """Half-up to the wallet ledger's six places (D17)."""
    return amount.quantize(_LEDGER_QUANTUM, rounding=ROUND_HALF_UP)


_LEDGER_QUANTUM = quantum(LEDGER_PLACES)


def ceil_units(value: Decimal) -> int:
    """Round a quantity up to a whole unit, in the customer's favour (D5)."""
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def parse_money(text: str | int | Decimal) -> Decimal:
    """Parse a decimal string such as ``"10.00"``; float is refused."""
    if isinstance(text, float):  # pragma: no cover - guarded by the type, kept for callers
        raise TypeError("money must not be a float")
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a decimal amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    return value


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """Render an amount as the decimal string used in JSON (D15): ``"10.00"``."""
    return str(round_money(amount, currency))
