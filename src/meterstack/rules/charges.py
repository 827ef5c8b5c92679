"""Charge models: how many units (or which transactions) cost how much.

Each model of the catalog (:mod:`meterstack.catalog.schema`) has one pure function here. It
returns a :class:`Charge`: the exact amount, never rounded, and the amount of the invoice line,
rounded once by :func:`meterstack.money.round_money` (half-up to the currency's minor unit) and,
for a per-block price, raised to its minimum charge (D1). The same functions price overage
beyond a limit (A3) and the usage prices of a usage-priced plan.

Tier bounds are inclusive: a tier with ``up_to: 1000`` holds units 1 to 1,000 when it is the
first, and units from the previous bound + 1 up to 1,000 otherwise; the last tier is unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.schema import (
    ChargeModel,
    Graduated,
    Package,
    PerBlock,
    Percentage,
    PriceTier,
    Standard,
    Volume,
)
from meterstack.money import round_money

ZERO = Decimal(0)


@dataclass(frozen=True)
class Charge:
    """What a charge model makes of some usage."""

    #: The exact amount, before any rounding (unit prices may carry more decimals, D17).
    raw: Decimal
    #: The invoice line's amount: ``raw`` rounded half-up to the minor unit, then at least the
    #: minimum charge when the model has one and there is usage (D1).
    amount: Decimal
    #: Whether the minimum charge replaced the rounded amount.
    minimum_applied: bool = False


@dataclass(frozen=True)
class TierPart:
    """One tier's share of a graduated charge."""

    index: int
    units: int
    unit_price: Decimal
    flat_fee: Decimal

    @property
    def raw(self) -> Decimal:
        return self.units * self.unit_price + self.flat_fee


def _check_units(units: int) -> None:
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"units must be a whole number, got {units!r}")
    if units < 0:
        raise ValueError(f"units must not be negative, got {units}")


def _line(raw: Decimal, currency: str) -> Charge:
    return Charge(raw=raw, amount=round_money(raw, currency))


def per_block_charge(model: PerBlock, units: int, currency: str = "USD") -> Charge:
    """Per unit, priced per block: ``units x price / per``, then at least the minimum (A3, D1).

    The price is per unit, not per whole block: 1 call over at $1.00 per 1,000 is $0.001 exact,
    $0.00 rounded, and the $0.01 minimum makes it $0.01. No usage, no charge: the minimum is
    due only for some overage.
    """
    _check_units(units)
    # Multiply before dividing so that a block size such as 3 loses nothing it need not.
    raw = units * model.price / model.per
    amount = round_money(raw, currency)
    minimum = round_money(model.minimum, currency)
    if units > 0 and amount < minimum:
        return Charge(raw=raw, amount=minimum, minimum_applied=True)
    return Charge(raw=raw, amount=amount)


def standard_charge(model: Standard, units: int, currency: str = "USD") -> Charge:
    """Units x unit price."""
    _check_units(units)
    return _line(units * model.unit_price, currency)


def _lower_bounds(tiers: Sequence[PriceTier]) -> list[int]:
    """The number of units below each tier: 0 for the first, the previous ``up_to`` after."""
    lowers = [0]
    for tier in tiers[:-1]:
        assert tier.up_to is not None  # the schema leaves only the last tier unbounded
        lowers.append(tier.up_to)
    return lowers


def graduated_parts(model: Graduated, units: int) -> tuple[TierPart, ...]:
    """Each tier with the units it bills and the flat fee it adds.

    A tier's flat fee is due once a unit falls into it; the first tier's fee is due even at zero
    units, so a graduated price with a base fee charges that base fee for an idle period.
    """
    _check_units(units)
    parts: list[TierPart] = []
    for index, (tier, lower) in enumerate(
        zip(model.tiers, _lower_bounds(model.tiers), strict=True)
    ):
        if index > 0 and units <= lower:
            break
        upper = units if tier.up_to is None else min(units, tier.up_to)
        parts.append(
            TierPart(
                index=index,
                units=max(0, upper - lower),
                unit_price=tier.unit_price,
                flat_fee=tier.flat_fee,
            )
        )
    return tuple(parts)


def graduated_charge(model: Graduated, units: int, currency: str = "USD") -> Charge:
    """Each tier bills its own units at its price plus its flat fee; the line is their sum."""
    raw = sum((part.raw for part in graduated_parts(model, units)), ZERO)
    return _line(raw, currency)


def volume_tier(model: Volume, units: int) -> int:
    """Index of the tier the total reaches: the first whose ``up_to`` holds ``units``."""
    _check_units(units)
    for index, tier in enumerate(model.tiers):
        if tier.up_to is None or units <= tier.up_to:
            return index
    raise AssertionError("the schema guarantees an unbounded last tier")  # pragma: no cover


def volume_charge(model: Volume, units: int, currency: str = "USD") -> Charge:
    """The tier reached by the total prices every unit, plus that tier's flat fee.

    Zero units reach the first tier, so its flat fee is due at zero as with graduated prices.
    Crossing a bound reprices every unit, so a larger total may cost less than a smaller one:
    that is what a volume discount is.
    """
    tier = model.tiers[volume_tier(model, units)]
    return _line(units * tier.unit_price + tier.flat_fee, currency)


def package_charge(model: Package, units: int, currency: str = "USD") -> Charge:
    """ceil((units - free units) / package size) x package price; nothing within the free units."""
    _check_units(units)
    billable = max(0, units - model.free_units)
    packages = -(-billable // model.package_size)
    return _line(packages * model.package_price, currency)


def percentage_fees(model: Percentage, transactions: Sequence[Decimal]) -> tuple[Decimal, ...]:
    """The exact fee of each transaction, in order.

    A charged transaction pays ``percent`` of its amount plus the fixed fee, clamped to the
    optional minimum and maximum per transaction. The allowances come first: the first
    ``free_transactions`` transactions and the first ``free_amount`` of volume are free, and
    charging starts as soon as either allowance is used up. An allowance left at zero is not
    offered, so a model with only a free amount charges once that amount is used up. The
    transaction that uses up the free amount pays the percentage on its part beyond it and is
    a charged transaction (fixed fee, minimum and maximum apply).
    """
    offers_count = model.free_transactions > 0
    offers_amount = model.free_amount > 0
    charging = not (offers_count or offers_amount)
    free_left = model.free_amount
    fees: list[Decimal] = []
    for index, amount in enumerate(transactions):
        if not isinstance(amount, Decimal):
            raise TypeError(f"a transaction amount must be a Decimal, got {amount!r}")
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"a transaction amount must be a finite amount >= 0, got {amount}")
        chargeable = amount
        if not charging:
            if offers_count and index >= model.free_transactions:
                charging = True
            elif offers_amount and amount > free_left:
                charging = True
                chargeable = amount - free_left
                free_left = ZERO
            else:
                if offers_amount:
                    free_left -= amount
                fees.append(ZERO)
                continue
        fee = chargeable * model.percent / 100 + model.fixed_fee
        if model.minimum_per_transaction is not None:
            fee = max(fee, model.minimum_per_transaction)
        if model.maximum_per_transaction is not None:
            fee = min(fee, model.maximum_per_transaction)
        fees.append(fee)
    return tuple(fees)


def percentage_charge(
    model: Percentage, transactions: Sequence[Decimal], currency: str = "USD"
) -> Charge:
    """The sum of the transactions' fees (:func:`percentage_fees`), rounded once on the line."""
    return _line(sum(percentage_fees(model, transactions), ZERO), currency)


def charge(
    model: ChargeModel,
    units: int,
    *,
    transactions: Sequence[Decimal] | None = None,
    currency: str = "USD",
) -> Charge:
    """Price ``units`` with any charge model of the catalog.

    A percentage model prices transactions, not a count: pass their amounts in
    ``transactions`` (``units`` is then their number).
    """
    if isinstance(model, PerBlock):
        return per_block_charge(model, units, currency)
    if isinstance(model, Standard):
        return standard_charge(model, units, currency)
    if isinstance(model, Graduated):
        return graduated_charge(model, units, currency)
    if isinstance(model, Volume):
        return volume_charge(model, units, currency)
    if isinstance(model, Package):
        return package_charge(model, units, currency)
    _check_units(units)
    if transactions is None:
        raise ValueError("a percentage charge needs the transactions' amounts")
    if len(transactions) != units:
        raise ValueError(f"{units} units but {len(transactions)} transaction amounts")
    return percentage_charge(model, transactions, currency)


@dataclass(frozen=True)
class BlockTerms:
    """How a model prices whole blocks: ``price`` per ``size`` units."""

    size: int
    price: Decimal
    #: Exact price of one unit; None for a package, which is sold whole.
    unit_price: Decimal | None


def block_terms(model: ChargeModel) -> BlockTerms | None:
    """Block size and price of a per-block, standard or package model; None for tiers and %."""
    if isinstance(model, PerBlock):
        return BlockTerms(model.per, model.price, model.price / model.per)
    if isinstance(model, Standard):
        return BlockTerms(1, model.unit_price, model.unit_price)
    if isinstance(model, Package):
        return BlockTerms(model.package_size, model.package_price, None)
    return None


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def describe(model: ChargeModel, units: int, result: Charge) -> str:
    """How ``result`` follows from ``units``, for an invoice line: "x 1.00 per 1,000 = 10"."""
    raw = _num(result.raw)
    if isinstance(model, PerBlock):
        return f"x {model.price} per {model.per:,} = {raw}"
    if isinstance(model, Standard):
        return f"x {model.unit_price} = {raw}"
    if isinstance(model, Graduated):
        parts = [
            f"{part.units:,} x {part.unit_price}" + (f" + {part.flat_fee}" if part.flat_fee else "")
            for part in graduated_parts(model, units)
        ]
        return f"graduated {' + '.join(parts)} = {raw}"
    if isinstance(model, Volume):
        index = volume_tier(model, units)
        tier = model.tiers[index]
        fee = f" + {tier.flat_fee}" if tier.flat_fee else ""
        return f"volume tier {index + 1}: x {tier.unit_price}{fee} = {raw}"
    if isinstance(model, Package):
        return (
            f"ceil(({units:,} - {model.free_units:,} free) / {model.package_size:,})"
            f" x {model.package_price} = {raw}"
        )
    return f"{model.percent}% + {model.fixed_fee} per transaction = {raw}"
