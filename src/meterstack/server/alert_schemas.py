"""The request and response shapes of the alert and budget doors (D25, D26), typed for OpenAPI.

Thresholds and amounts are decimal strings (D15); what a kind accepts (a meter, a percentage,
whole units, an amount in cents) is the alerts service's rule, each a 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from meterstack.bounds import MAX_AMOUNT
from meterstack.records.alerts import AlertView, BudgetView
from meterstack.server.bodies import Body, DecimalText, Name

Kind = Literal[
    "usage_percent",
    "usage_units",
    "current_charges",
    "wallet_balance",
    "grace_entered",
    "limit_reached",
    "payment_failed",
]
Threshold = Annotated[DecimalText, Field(ge=0, le=10**15, decimal_places=6)]
#: Bounds as ints: pydantic's refusal then reads ``less than or equal to 1000000000000`` as a
#: person writes it, where a Decimal bound reads ``Decimal('1000000000000')``.
Amount = Annotated[DecimalText, Field(ge=0, le=int(MAX_AMOUNT), decimal_places=6)]


class AlertBody(Body):
    """An alert: a usage kind names a meter; a threshold is what the kind takes."""

    kind: Kind
    meter: Name | None = None
    threshold: Threshold | None = None


class AlertOut(BaseModel):
    id: str
    kind: str
    meter: str | None
    threshold: str | None
    #: ``account`` (set by the customer or an operator), ``catalog`` (a default threshold).
    source: str
    #: ``armed`` or ``triggered`` (fired, not resolved yet).
    status: str
    triggered_at: str | None
    resolved_at: str | None
    value: str | None

    @classmethod
    def of(cls, view: AlertView) -> AlertOut:
        return cls(
            id=view.id,
            kind=str(view.kind),
            meter=view.meter,
            threshold=None if view.threshold is None else str(view.threshold),
            source=str(view.source),
            status=view.status,
            triggered_at=None if view.triggered_at is None else view.triggered_at.isoformat(),
            resolved_at=None if view.resolved_at is None else view.resolved_at.isoformat(),
            value=view.value,
        )


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


class DeletedAlertOut(BaseModel):
    id: str
    deleted: bool


class BudgetBody(Body):
    """D26: a maximum monthly cost in whole cents (null removes it), soft or hard."""

    amount: Amount | None
    mode: Literal["soft", "hard"] = "hard"


class BudgetOut(BaseModel):
    amount: str | None
    mode: str | None
    currency: str
    period: str
    #: The month's share of the plan's fee (a yearly fee counts one twelfth).
    fee: str
    #: The period's usage and overage lines plus wallet spend, so far.
    charges: str
    #: fee + charges: what the period has cost so far.
    actual: str
    #: ``actual`` as a percentage of the budget.
    percent: str | None

    @classmethod
    def of(cls, view: BudgetView) -> BudgetOut:
        return cls(
            amount=None if view.amount is None else str(view.amount),
            mode=None if view.mode is None else str(view.mode),
            currency=view.currency,
            period=view.period,
            fee=str(view.fee),
            charges=str(view.charges),
            actual=str(view.actual),
            percent=None if view.percent is None else str(view.percent),
        )
