"""The values of alerts and budgets (D25, D26) that the store persists and the doors show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.rules.alerts import Alert, AlertKind, AlertSource
from meterstack.rules.budget import BudgetMode


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert's last firing: open (``resolved_at`` None) until its condition stops holding."""

    alert_id: str
    kind: AlertKind
    meter: str | None
    threshold: Decimal | None
    #: The period the condition held in; empty for a condition of no period (a balance).
    period: str
    value: str | None
    triggered_at: datetime
    resolved_at: datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as the doors show it: its definition and its state."""

    id: str
    kind: AlertKind
    meter: str | None
    threshold: Decimal | None
    source: AlertSource
    #: ``armed`` (will fire at the next crossing) or ``triggered`` (fired, not resolved yet).
    status: str
    triggered_at: datetime | None
    resolved_at: datetime | None
    value: str | None

    @classmethod
    def of(cls, alert: Alert, state: AlertState | None) -> AlertView:
        fired = state is not None and state.resolved_at is None
        return cls(
            id=alert.id,
            kind=alert.kind,
            meter=alert.meter,
            threshold=alert.threshold,
            source=alert.source,
            status="triggered" if fired else "armed",
            triggered_at=None if state is None else state.triggered_at,
            resolved_at=None if state is None else state.resolved_at,
            value=None if state is None else state.value,
        )


@dataclass(frozen=True, slots=True)
class BudgetView:
    """An account's budget and where the period's charges stand against it (D26)."""

    amount: Decimal | None
    mode: BudgetMode | None
    currency: str
    period: str
    #: The month's share of the plan's fee (a yearly fee counts one twelfth).
    fee: Decimal
    #: The period's usage and overage lines plus wallet spend, so far.
    charges: Decimal
    #: ``fee + charges``: what the period has cost so far.
    actual: Decimal
    #: ``actual`` as a percentage of the budget; None without a budget.
    percent: Decimal | None
