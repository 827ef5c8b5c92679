"""The values of the counter steps as the counters table holds them: units, or amounts of money
in whole millionths (six places, D17), so that the SQL arithmetic stays exact; the parameters
of a step's statement; and what a step needs of its row before it is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from meterstack.bounds import MAX_COUNTER
from meterstack.money import LEDGER_PLACES
from meterstack.rules.admission import NO_TOTALS, Step, Totals, effective_bound, fits, reached


def money(step: Step[Any]) -> bool:
    return isinstance(step.quantity, Decimal)


def stored(value: int | Decimal) -> int:
    """A quantity as the counters table holds it: units, or millionths of money."""
    if isinstance(value, int):
        return value
    scaled = value.scaleb(LEDGER_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"an amount is kept to {LEDGER_PLACES} decimal places, got {value}")
    return int(scaled)


def read(value: Any, step: Step[Any]) -> int | Decimal:
    return amount(value) if money(step) else int(value)


def amount(value: Any) -> Decimal:
    """Stored millionths as the amount of money they are."""
    return Decimal(int(value)).scaleb(-LEDGER_PLACES)


def totals(row: Sequence[Any], step: Step[Any]) -> Totals[Any]:
    return Totals(read(row[0], step), read(row[1], step), read(row[2], step))


def zero(step: Step[Any]) -> Any:
    return step.quantity - step.quantity


def zero_totals(step: Step[Any]) -> Totals[Any]:
    nothing = zero(step)
    return Totals(nothing, nothing, nothing) if money(step) else NO_TOTALS


def fresh_fits(step: Step[Any]) -> bool:
    """Whether the step fits a counter that does not exist yet (an insert admits at once)."""
    zero = zero_totals(step)
    return fits(step, zero, reached(step, zero))


def params(account_id: str, step: Step[Any]) -> dict[str, Any]:
    if not isinstance(step.quantity, Decimal):
        return {
            "account_id": account_id,
            "item": step.item,
            "scope": step.scope,
            "period": step.period,
            "q": step.quantity,
            "h": step.held,
            "bound": effective_bound(step),
            "overage_from": within(step.overage_from),
        }
    return {
        "account_id": account_id,
        "item": step.item,
        "scope": step.scope,
        "period": step.period,
        "q": stored(step.quantity),
        "h": stored(step.held),
        "bound": stored(effective_bound(step)),
        "overage_from": None if step.overage_from is None else stored(step.overage_from),
    }


def representable(step: Step[Any]) -> bool:
    """Whether the step's quantities fit the store's integers (a batch group sums its events)."""
    return abs(stored(step.quantity)) + abs(stored(step.held)) <= MAX_COUNTER


def within(overage_from: int | None) -> int | None:
    """Where overage starts, within the store's range (past it, a counter never goes)."""
    return None if overage_from is None else min(overage_from, MAX_COUNTER)


def together(steps: Sequence[Step[Any]]) -> bool:
    """Whether the steps can go in one statement: increments of used alone, one item and
    period, several scopes."""
    if len(steps) < 2:
        return False
    first = steps[0]
    return len({step.scope for step in steps}) == len(steps) and all(
        step.item == first.item
        and step.period == first.period
        and not step.level
        and not step.peak
        and step.held == 0
        and step.quantity > 0
        for step in steps
    )
