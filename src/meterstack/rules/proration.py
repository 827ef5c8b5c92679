"""What a plan change costs at once and what it credits (C7, D10, B12, D30).

An upgrade (a higher tier, or the same tier moving from monthly to yearly billing) takes effect at
once; anything else waits for the end of the paid interval and is not prorated (C7). The fee in
effect was paid in advance for its whole paid interval (the month, or the paid year of a yearly
plan), so an upgrade settles that fee against the new one for the time left: the customer never
pays twice for the same time and never loses time already paid.

- **Same paid interval** (a higher monthly plan, or a higher yearly plan, which keeps its year):
  one line, (new − old price) × time left ÷ interval length, rounded to the cent (D10: STARTER →
  BASIC with 20 of 30 days left is $26.67; Starter yearly → Pro yearly halfway is $135.00).
- **Another interval** (monthly ↔ yearly): the unused part of the old fee is credited and the new
  fee is charged for the time left in its own paid interval, each rounded on its own line. The
  time before the change is never charged again.

Where a settlement leaves the customer in credit (a prepaid year traded for a monthly plan), the
excess is kept as account credit and pays the next invoices (:func:`account_credit_line`).
Rounding happens once per line, half-up to the currency's minor unit (``money.round_money``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from meterstack.money import round_money
from meterstack.rules.periods import Period, day_name, period_name

#: Places kept for a remaining share when it is shown on a line.
SHARE_PLACES = Decimal("0.000001")

SettlementKind = Literal["proration", "unused_time", "remaining_time"]


def is_upgrade(from_rank: int, from_interval: str, to_rank: int, to_interval: str) -> bool:
    """Whether a change takes effect at once (C7): a higher tier at any interval, or the same tier
    moving from monthly to yearly. A lower tier at any interval, or the same tier moving from
    yearly to monthly, waits for the end of the paid interval."""
    if to_rank != from_rank:
        return to_rank > from_rank
    return to_interval == "yearly" and from_interval != "yearly"


@dataclass(frozen=True)
class Fee:
    """A subscription fee and the paid interval it covers (the one the change falls in)."""

    #: The plan's name, for the reader of the invoice.
    plan: str
    #: ``monthly`` or ``yearly``.
    interval: str
    #: The fee of one whole paid interval.
    price: Decimal
    paid: Period


@dataclass(frozen=True)
class SettlementLine:
    """One line of an upgrade's settlement, with what it was computed from."""

    kind: SettlementKind
    description: str
    #: The price the remaining share applies to: the price difference (``proration``), the old
    #: fee (``unused_time``, credited) or the new fee (``remaining_time``).
    unit_price: Decimal
    #: Time left in the paid interval ÷ its length.
    share: Decimal
    seconds_left: int
    period_seconds: int
    raw_amount: Decimal
    #: Rounded to the cent; negative for a credit.
    amount: Decimal
    note: str


def settle_upgrade(
    old: Fee, new: Fee, at: datetime, currency: str, *, prorate: bool = True
) -> list[SettlementLine]:
    """The lines an upgrade at ``at`` invoices at once; lines of zero are left out.

    ``prorate`` False (a catalog's ``prorate_upgrades: false``) waives the price difference on the
    same paid interval: the new price starts at the next renewal. A change of interval is settled
    regardless, since otherwise one side would pay for time it does not get.
    """
    if old.paid == new.paid and not prorate:
        return []
    if old.paid == new.paid:
        lines = [
            _prorated(
                "proration",
                f"Upgrade from {old.plan} to {new.plan}, rest of {_label(new)}",
                new.price - old.price,
                new,
                at,
                currency,
                f"({new.price} - {old.price})",
            )
        ]
    else:
        lines = [
            _prorated(
                "unused_time",
                f"Unused time on {old.plan} ({old.interval}), {_span(old.paid, at)}",
                -old.price,
                old,
                at,
                currency,
                f"{old.plan} {old.interval} fee {old.price}, credited",
            ),
            _prorated(
                "remaining_time",
                f"{new.plan} plan ({new.interval}), {_span(new.paid, at)}",
                new.price,
                new,
                at,
                currency,
                f"{new.plan} {new.interval} fee {new.price}",
            ),
        ]
    return [line for line in lines if line.amount]


def account_credit_line(total: Decimal, balance: Decimal) -> Decimal:
    """The account-credit line of an invoice whose other lines sum to ``total``.

    Positive when the invoice would be negative: the excess goes to the account's credit and the
    invoice totals zero. Negative when the account has credit and the invoice charges: the credit
    pays as much of it as it can. Zero (no line) otherwise. The account's credit is the sum of
    these lines over its invoices, so it never goes below zero.
    """
    if total < 0:
        return -total
    if balance > 0 and total > 0:
        return -min(balance, total)
    return Decimal(0)


def _prorated(
    kind: SettlementKind,
    description: str,
    price: Decimal,
    fee: Fee,
    at: datetime,
    currency: str,
    what: str,
) -> SettlementLine:
    """``price`` x the time left in ``fee``'s paid interval ÷ its length, rounded to the cent."""
    left, length = _time_left(fee.paid, at)
    share = Decimal(left) / Decimal(length)
    raw = price * share
    amount = round_money(raw, currency)
    return SettlementLine(
        kind=kind,
        description=description,
        unit_price=price,
        share=share,
        seconds_left=left,
        period_seconds=length,
        raw_amount=raw,
        amount=amount,
        note=(
            f"{what} x {left:,} of {length:,} seconds left in {_label(fee)} = "
            f"{raw.quantize(SHARE_PLACES)} -> {amount}"
        ),
    )


def _time_left(paid: Period, at: datetime) -> tuple[int, int]:
    """Whole seconds left in ``paid`` at ``at`` (none before it starts counts), and its length."""
    length = int(paid.length_seconds)
    left = int((paid.end - max(at, paid.start)).total_seconds())
    return max(0, min(left, length)), length


def _label(fee: Fee) -> str:
    named = period_name(fee.paid.start, fee.paid.end)
    return f"the year {named}" if fee.interval == "yearly" else named


def _span(paid: Period, at: datetime) -> str:
    return f"{day_name(max(at, paid.start))} to {day_name(paid.end)}"
