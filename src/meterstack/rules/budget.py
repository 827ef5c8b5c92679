"""The budget guard (D26): the period's charges as one more money counter. Pure.

An account that has a budget (or an alert on its current charges) keeps the period's charges
beyond the plan's fee in a counter of money (``CHARGES_ITEM``): the invoice's usage and overage
lines as they stand, plus the wallet's spend. Every admission that can change them carries a
step on that counter, applied by the same ``Counters.apply`` call as its meter steps. The
step's amount is the meter's lines as they would be invoiced after the request minus before it
(:func:`meter_lines`: D1's rounding and minimum charge included, so the sum of the steps is the
invoice's lines), computed from the totals the meter's own step reached, inside the call; a
wallet charge adds its price. A hard budget is that counter's bound: the budget less the
month's share of the fee (a yearly fee counts one twelfth), so no interleaving of requests takes
the period's actual charges past it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from meterstack.catalog.schema import Catalog, ChargeModel, Percentage, Plan
from meterstack.rules.admission import ACCOUNT_SCOPE, Step, Totals
from meterstack.rules.charges import charge

#: The counter of the period's charges beyond the fee; no catalog identifier has a colon.
CHARGES_ITEM = "charges:period"
ZERO = Decimal("0.000000")


class BudgetMode(StrEnum):
    #: Warns at 75/90/100 % of the budget (alerts and ``budget.exceeded``).
    SOFT = "soft"
    #: Refuses overage and wallet charges that would pass it (402 ``budget_exceeded``).
    HARD = "hard"


@dataclass(frozen=True, slots=True)
class Budget:
    """A customer's maximum monthly cost."""

    amount: Decimal
    mode: BudgetMode


#: The lines of one meter priced from its counter: (used, overage recorded) -> amount.
Lines = Callable[[int, int], Decimal]


def meter_lines(catalog: Catalog, plan: Plan, meter: str) -> Lines | None:
    """How a meter's invoice lines follow from its counter, or None when nothing prices it.

    The usage line prices the units not recorded as overage with the plan's usage price; the
    overage line prices the overage recorded when consumed (D2) with the plan's overage offer;
    each is rounded once and raised to its minimum (D1), as ``rules.rating`` does at period
    close. A meter priced by a percentage of transactions is left out: its amounts are rated
    from the transactions at period close.
    """
    usage = _priced(plan.usage_prices.get(meter))
    offer = plan.overage.get(meter)
    over = _priced(None if offer is None else offer.charge)
    if usage is None and over is None:
        return None
    currency = catalog.currency

    def lines(used: int, overage: int) -> Decimal:
        amount = ZERO
        if usage is not None:
            amount += charge(usage, max(0, used - overage), currency=currency).amount
        if over is not None and overage > 0:
            amount += charge(over, overage, currency=currency).amount
        return amount

    return lines


def _priced(model: ChargeModel | None) -> ChargeModel | None:
    return None if model is None or isinstance(model, Percentage) else model


def lines_delta(lines: Lines) -> Callable[[Totals[Any], Totals[Any]], Decimal]:
    """The change of a meter's lines when its counter goes from one total to another."""

    def delta(before: Totals[Any], after: Totals[Any]) -> Decimal:
        if after.used == before.used and after.overage == before.overage:
            return ZERO
        return lines(after.used, after.overage) - lines(before.used, before.overage)

    return delta


def budget_bound(budget: Budget | None, fee: Decimal | None) -> Decimal | None:
    """The most the charges counter may reach: a hard budget less the month's fee."""
    if budget is None or budget.mode is not BudgetMode.HARD:
        return None
    return budget.amount - (fee or ZERO)


def charges_step(
    period: str,
    bound: Decimal | None,
    amount: Decimal = ZERO,
    priced: Callable[[Totals[Any], Totals[Any]], Decimal] | None = None,
) -> Step[Decimal]:
    """The step on the charges counter: ``amount`` (a wallet charge's price) plus what the
    call's first step adds to its meter's lines (``priced``, from that step's totals)."""
    return Step(CHARGES_ITEM, ACCOUNT_SCOPE, period, amount, ZERO, bound, charge=priced)


def percent_of(amount: Decimal, budget: Decimal) -> Decimal:
    """``amount`` as a percentage of ``budget``, to one decimal place."""
    if budget <= 0:
        return Decimal(100)
    return (amount * 100 / budget).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class ChargesTerms:
    """What an account's charges counter needs for one request: its step, the month's fee
    and the budget (None when only an alert on current charges keeps the counter)."""

    step: Step[Decimal]
    fee: Decimal
    budget: Budget | None
