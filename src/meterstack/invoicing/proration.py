"""The proration line of an upgrade (D10): the price difference for the rest of the period."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Plan, PlanPrice
from meterstack.invoicing.model import InvoiceLine
from meterstack.money import round_money
from meterstack.rules.periods import Period

SHARE_PLACES = Decimal("0.000001")


def proration_line(
    catalog: Catalog,
    current: Plan,
    current_interval: str,
    target: Plan,
    interval: str,
    period: Period,
    now: datetime,
) -> InvoiceLine | None:
    """(new - old price) x remaining time / period length, rounded to the cent (D10).

    Moving from monthly to yearly charges the yearly price less the unused part of the month.
    Custom-priced plans are priced by contract: no proration line.
    """
    if not isinstance(current.price, PlanPrice) or not isinstance(target.price, PlanPrice):
        return None
    if not catalog.policies.prorate_upgrades:
        return None
    left = max(0, int((period.end - now).total_seconds()))
    length = int(period.length_seconds)
    share = Decimal(left) / Decimal(length)
    old = current.price.monthly
    if interval == "yearly":
        yearly = catalog.yearly_price(target)
        if yearly is None:
            return None
        raw = yearly - (old * share if current_interval == "monthly" else Decimal(0))
        note = f"{target.name} yearly {yearly} less the unused {left:,} of {length:,} s at {old}"
    else:
        raw = (target.price.monthly - old) * share
        note = (
            f"({target.price.monthly} - {old}) x {left:,} of {length:,} seconds left in "
            f"{period.key}"
        )
    amount = round_money(raw, catalog.currency)
    if amount == 0:
        return None
    return InvoiceLine(
        position=1,
        kind="proration",
        description=f"Upgrade from {current.name} to {target.name}, rest of {period.key}",
        item=None,
        quantity=share.quantize(SHARE_PLACES).normalize(),
        unit_price=target.price.monthly - old if interval == "monthly" else raw,
        amount=amount,
        derivation={
            "from": current.id,
            "to": target.id,
            "interval": interval,
            "seconds_left": left,
            "period_seconds": length,
            "raw_amount": str(raw),
            "amount": str(amount),
            "note": note + f" = {raw.quantize(SHARE_PLACES)} -> {amount}",
        },
    )
