"""The wallet's rules: prices of operations, the steps that move a balance, reload crossings,
the marketplace split and payouts (B2, B3, D17, D20–D24). Pure: no I/O, no clock.

A wallet balance is one counter of the account (``BALANCE_ITEM``), kept in millionths like every
amount of money in the counters. A charge is a step that takes the price off it, applied by the
same ``Counters.apply`` call as the meter steps of the same operation: the store's floor
(nothing below zero) is the balance test, so no interleaving of charges spends a cent twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from meterstack.catalog.schema import Catalog, Operation, Wallet
from meterstack.money import LEDGER_PLACES, minor_units, quantum, round_ledger
from meterstack.rules.admission import ACCOUNT_SCOPE, Step
from meterstack.rules.terms import AccountState

#: The counter that holds a wallet's balance; no catalog identifier has a colon.
BALANCE_ITEM = "wallet:balance"
#: A balance belongs to no period: it carries over from month to month.
BALANCE_PERIOD = ""
#: The prefix of an operator's price of one operation for one account (D14).
PRICE_TARGET = "wallet:"
ZERO = Decimal("0.000000")


def wallet_of(catalog: Catalog) -> Wallet | None:
    return catalog.wallet


def price_target(operation: str) -> str:
    return f"{PRICE_TARGET}{operation}"


def unit_price(
    operation_id: str,
    operation: Operation,
    state: AccountState,
    *,
    item_price: Decimal | None,
    byok: bool,
) -> Decimal:
    """The price of one unit of an operation for this account.

    A BYOK run of a ``byok_free`` operation costs 0 (B3, D22); then an operator's price for the
    account (D14); then the marketplace item's creator price for ``per_item`` operations; then
    the catalog's price.
    """
    if byok and operation.byok_free:
        return ZERO
    for target, value in state.prices:
        if target == price_target(operation_id):
            return round_ledger(Decimal(json.loads(value)))
    if operation.price == "per_item":
        if item_price is None:
            raise ValueError(f"operation {operation_id!r} is priced per item: name the item")
        return round_ledger(item_price)
    return round_ledger(Decimal(operation.price))


def charge_amount(price: Decimal, quantity: int) -> Decimal:
    """What ``quantity`` units at ``price`` cost, in the ledger's six places (D17)."""
    return round_ledger(price * quantity)


def spend_step(amount: Decimal) -> Step[Decimal]:
    """The step of a charge: the amount off the balance; it refuses below zero (D20)."""
    return Step(BALANCE_ITEM, ACCOUNT_SCOPE, BALANCE_PERIOD, -amount, ZERO)


def credit_step(amount: Decimal) -> Step[Decimal]:
    """The step of a deposit, a reload, a refund or an adjustment: the amount onto the balance
    (a negative adjustment takes it off, never below zero)."""
    return Step(BALANCE_ITEM, ACCOUNT_SCOPE, BALANCE_PERIOD, amount, ZERO)


def whole_cents(amount: Decimal, currency: str) -> bool:
    """Whether an amount is in whole minor units of the currency (deposits, D17, D24)."""
    return amount == amount.quantize(quantum(minor_units(currency)))


# --------------------------------------------------------------------------- auto-reload (D21)


@dataclass(frozen=True)
class ReloadSettings:
    """A customer's auto-reload: below ``threshold``, reload ``amount`` or up to ``target``."""

    threshold: Decimal
    amount: Decimal | None = None
    target: Decimal | None = None
    enabled: bool = True


def crossed(before: Decimal, after: Decimal, threshold: Decimal) -> bool:
    """D21: a charge took the balance from at-or-above the threshold to below it."""
    return before >= threshold > after


def reload_amount(settings: ReloadSettings, balance: Decimal, currency: str) -> Decimal:
    """What one reload asks the provider for: the fixed amount, or up to the target balance
    (rounded up to the cent, so that the target is reached)."""
    if settings.amount is not None:
        return settings.amount
    assert settings.target is not None, "settings carry an amount or a target"
    missing = max(settings.target - balance, ZERO)
    return missing.quantize(quantum(minor_units(currency)), rounding=ROUND_CEILING)


def reload_key(account_id: str, crossing_entry: str) -> str:
    """The idempotency key of the reload a crossing starts: derived from the charge that
    crossed, so that whatever retries happen the provider is asked once for that crossing."""
    return f"reload:{account_id}:{crossing_entry}"


# --------------------------------------------------------------------------- marketplace (D23)


def split_sale(price: Decimal, platform_fee_percent: Decimal) -> tuple[Decimal, Decimal]:
    """(creator's credit, platform's fee) of one sale at ``price`` (D23).

    The creator's share is rounded down to six places; the platform takes the remainder, so
    the two always sum to the price exactly.
    """
    creator = (price * (100 - platform_fee_percent) / 100).quantize(
        quantum(LEDGER_PLACES), rounding=ROUND_DOWN
    )
    return creator, price - creator


def payout_amount(earnings: Decimal, minimum: Decimal, currency: str) -> Decimal:
    """What a payout run pays a creator: the earnings in whole cents, rounded down (the
    sub-cent remainder stays in earnings), or 0 below the minimum payout (D23)."""
    if earnings < minimum:
        return ZERO
    return earnings.quantize(quantum(minor_units(currency)), rounding=ROUND_DOWN)
