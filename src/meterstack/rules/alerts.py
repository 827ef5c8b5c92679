"""Alert crossings (C8, D25, D26): which alerts a change of one value fires. Pure.

An alert watches one value of an account: a meter's committed usage (as a percentage of the
effective limit, in units, past the limit into the grace zone, at the limit), the period's actual
charges, or the wallet's balance. It fires when a change takes the value across its threshold:
the one admission whose totals go from below the threshold to at or above it (for a balance,
from at or above to below). A counter moves atomically, so exactly one admission sees any one
crossing, whatever the concurrency, and no lock or read of the alerts is needed to decide it. A
batch's group moves a counter by several events at once; :func:`crossing_events` names which of
its events crossed each threshold, so a batch fires what its events would have fired one by one,
in the same order.

Holds are not usage: thresholds compare committed units (``used``), never ``used + held``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from meterstack.money import ceil_units

#: At most this many alerts per account (D25), besides the catalog's defaults.
MAX_ALERTS = 50
#: The soft budget's warnings, as percentages of the budget (D26).
BUDGET_WARNINGS = (Decimal(75), Decimal(90), Decimal(100))


class AlertKind(StrEnum):
    USAGE_PERCENT = "usage_percent"
    USAGE_UNITS = "usage_units"
    CURRENT_CHARGES = "current_charges"
    WALLET_BALANCE = "wallet_balance"
    GRACE_ENTERED = "grace_entered"
    LIMIT_REACHED = "limit_reached"
    PAYMENT_FAILED = "payment_failed"


#: Kinds that watch a meter's committed usage.
USAGE_KINDS = frozenset(
    {
        AlertKind.USAGE_PERCENT,
        AlertKind.USAGE_UNITS,
        AlertKind.GRACE_ENTERED,
        AlertKind.LIMIT_REACHED,
    }
)
#: Kinds whose condition belongs to one period (a new period resolves them).
PERIOD_KINDS = USAGE_KINDS | {AlertKind.CURRENT_CHARGES}


class AlertSource(StrEnum):
    #: Set by the customer or an operator; stored, counted against the 50.
    ACCOUNT = "account"
    #: The catalog's default thresholds (``policies.alert_thresholds``), on every limited meter.
    CATALOG = "catalog"
    #: The soft budget's warnings (D26).
    BUDGET = "budget"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert's definition."""

    id: str
    kind: AlertKind
    #: The meter a usage alert watches; None for money alerts and payment failures.
    meter: str | None
    #: A percentage, units or an amount of money; None for events without a threshold.
    threshold: Decimal | None
    source: AlertSource = AlertSource.ACCOUNT


@dataclass(frozen=True, slots=True)
class Crossing:
    """An alert the change fired: the threshold in the watched value's own terms (units of
    the meter, or money) and the value that reached it."""

    alert: Alert
    #: The first value at which the condition holds (units or money).
    at: Decimal
    value: Decimal


def catalog_alert_id(meter: str, percent: Decimal) -> str:
    return f"catalog_{meter}_{_plain(percent)}"


def budget_alert_id(percent: Decimal) -> str:
    return f"budget_{_plain(percent)}"


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", "_")


def catalog_alerts(meter: str, percents: Sequence[Decimal]) -> tuple[Alert, ...]:
    """The catalog's default percentage thresholds on one meter (C8: FlowStack 75/90/95).
    Made once per catalog and meter by the alerts service (``CatalogAlerts``)."""
    return tuple(
        Alert(catalog_alert_id(meter, p), AlertKind.USAGE_PERCENT, meter, p, AlertSource.CATALOG)
        for p in percents
    )


def budget_alerts(budget: Decimal) -> tuple[Alert, ...]:
    """The soft budget's warnings at 75/90/100 % of the budget, as money thresholds (D26)."""
    return tuple(
        Alert(
            budget_alert_id(percent),
            AlertKind.CURRENT_CHARGES,
            None,
            budget * percent / 100,
            AlertSource.BUDGET,
        )
        for percent in BUDGET_WARNINGS
    )


def usage_threshold(alert: Alert, limit: int | None, hard_limit: int | None) -> int | None:
    """The committed units at which a usage alert's condition starts to hold; None when it
    cannot hold (no limit to take a percentage of, no grace zone to enter)."""
    kind = alert.kind
    if kind is AlertKind.USAGE_UNITS:
        assert alert.threshold is not None
        return int(alert.threshold)
    if limit is None:
        return None
    if kind is AlertKind.USAGE_PERCENT:
        assert alert.threshold is not None
        return max(1, ceil_units(alert.threshold * limit / 100))
    if kind is AlertKind.LIMIT_REACHED:
        return max(1, limit)
    if kind is AlertKind.GRACE_ENTERED:
        return None if hard_limit is None or hard_limit <= limit else limit + 1
    return None


def usage_holds(alert: Alert, used: int, limit: int | None, hard_limit: int | None) -> bool:
    """Whether a usage alert's condition holds at ``used`` committed units."""
    threshold = usage_threshold(alert, limit, hard_limit)
    return threshold is not None and used >= threshold


def usage_thresholds(
    alerts: Sequence[Alert], limit: int | None, hard_limit: int | None
) -> tuple[tuple[int, Alert], ...]:
    """The usage alerts that can hold under these terms, each with the committed units at
    which it starts to, lowest first (alerts at one threshold in the order given)."""
    found = [
        (threshold, alert)
        for alert in alerts
        if (threshold := usage_threshold(alert, limit, hard_limit)) is not None
    ]
    found.sort(key=_units)
    return tuple(found)


def crossed(thresholds: Sequence[tuple[int, Alert]], before: int, after: int) -> list[Crossing]:
    """The thresholds (of :func:`usage_thresholds`) in (before, after], in crossing order."""
    found: list[Crossing] = []
    for threshold, alert in thresholds:
        if threshold > after:
            break
        if threshold > before:
            found.append(Crossing(alert, Decimal(threshold), Decimal(after)))
    return found


def usage_crossings(
    alerts: Sequence[Alert],
    limit: int | None,
    hard_limit: int | None,
    before: int,
    after: int,
) -> list[Crossing]:
    """The usage alerts whose threshold lies in (before, after], lowest threshold first (the
    order the units crossed them in; alerts at one threshold in the order given)."""
    return crossed(usage_thresholds(alerts, limit, hard_limit), before, after)


def money_crossings(alerts: Sequence[Alert], before: Decimal, after: Decimal) -> list[Crossing]:
    """The period's charges went from ``before`` to ``after``: the charges alerts crossed."""
    if after <= before:
        return []
    found = [
        Crossing(alert, alert.threshold, after)
        for alert in alerts
        if alert.kind is AlertKind.CURRENT_CHARGES
        and alert.threshold is not None
        and before < alert.threshold <= after
    ]
    found.sort(key=_at)
    return found


def balance_crossings(alerts: Sequence[Alert], before: Decimal, after: Decimal) -> list[Crossing]:
    """The balance went from ``before`` to ``after``: the alerts it fell below, highest first
    (the order a falling balance passed them in)."""
    if after >= before:
        return []
    found = [
        Crossing(alert, alert.threshold, after)
        for alert in alerts
        if alert.kind is AlertKind.WALLET_BALANCE
        and alert.threshold is not None
        and after < alert.threshold <= before
    ]
    found.sort(key=_at, reverse=True)
    return found


def balance_holds(alert: Alert, balance: Decimal) -> bool:
    assert alert.threshold is not None
    return balance < alert.threshold


def crossing_events(at: Decimal, before: int, quantities: Sequence[int]) -> int:
    """Which of several events, applied in order from ``before``, took the value to ``at``."""
    running = before
    for index, quantity in enumerate(quantities):
        running += quantity
        if running >= at:
            return index
    raise ValueError(f"the events never reach {at}")


def _units(pair: tuple[int, Alert]) -> int:
    return pair[0]


def _at(crossing: Crossing) -> Decimal:
    return crossing.at
