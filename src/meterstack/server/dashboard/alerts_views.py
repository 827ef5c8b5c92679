"""The alerts and budget page's engine calls (D25, D26, C8): the account's alerts with their
state, creating and deleting its own, and the budget with the period's projection.

The engine decides what an alert may watch and what a budget may be; the page shows its refusal.
The projection is the usage report's insights (the period's estimated cost, C8), shown beside
the budget the engine holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError
from meterstack.records.alerts import AlertView, BudgetView
from meterstack.records.audit import Actor
from meterstack.rules.alerts import AlertKind, AlertSource
from meterstack.rules.insights import UsageInsights
from meterstack.server.dashboard.pages import decimal_field
from meterstack.server.dashboard.rendering import money

KIND_NAMES = {
    AlertKind.USAGE_PERCENT: "Usage reaches a share of the limit (%)",
    AlertKind.USAGE_UNITS: "Usage reaches a number of units",
    AlertKind.GRACE_ENTERED: "Usage enters the grace zone",
    AlertKind.LIMIT_REACHED: "Usage reaches the limit",
    AlertKind.CURRENT_CHARGES: "The period's charges reach an amount",
    AlertKind.WALLET_BALANCE: "The wallet's balance falls below an amount",
    AlertKind.PAYMENT_FAILED: "A payment fails",
}
#: What an alert watches, in the list.
WATCH_NAMES = {
    AlertKind.USAGE_PERCENT: "share of the limit used",
    AlertKind.USAGE_UNITS: "units used",
    AlertKind.GRACE_ENTERED: "grace zone entered",
    AlertKind.LIMIT_REACHED: "limit reached",
    AlertKind.CURRENT_CHARGES: "the period's charges",
    AlertKind.WALLET_BALANCE: "wallet balance below",
    AlertKind.PAYMENT_FAILED: "a payment failed",
}
SOURCE_NAMES = {
    AlertSource.ACCOUNT: "yours",
    AlertSource.CATALOG: "the plan's default",
    AlertSource.BUDGET: "the budget's warning",
}
#: The kinds whose threshold is money (the catalog's currency).
MONEY_KINDS = frozenset({AlertKind.CURRENT_CHARGES, AlertKind.WALLET_BALANCE})
#: The kinds without a threshold.
EVENT_KINDS = frozenset(
    {AlertKind.GRACE_ENTERED, AlertKind.LIMIT_REACHED, AlertKind.PAYMENT_FAILED}
)


@dataclass(frozen=True)
class AlertRow:
    alert: AlertView
    #: What it watches, as people read it.
    watches: str
    threshold: str
    #: The value that fired it, in the threshold's terms; None before it first fired.
    value: str | None

    @property
    def deletable(self) -> bool:
        return self.alert.source == AlertSource.ACCOUNT

    @property
    def source(self) -> str:
        return SOURCE_NAMES.get(self.alert.source, str(self.alert.source))


@dataclass(frozen=True)
class AlertsPage:
    catalog: Catalog
    alerts: list[AlertRow]
    budget: BudgetView
    insights: UsageInsights | None
    kinds: dict[AlertKind, str]

    @property
    def projected_over(self) -> bool:
        """Whether the period's estimated cost passes the budget."""
        amount = self.budget.amount
        return (
            amount is not None
            and self.insights is not None
            and self.insights.estimated_monthly_cost > amount
        )

    @property
    def projected_percent(self) -> Decimal | None:
        amount = self.budget.amount
        if amount is None or amount <= 0 or self.insights is None:
            return None
        return (self.insights.estimated_monthly_cost * 100 / amount).quantize(Decimal("0.1"))


def _row(catalog: Catalog, alert: AlertView) -> AlertRow:
    kind = AlertKind(alert.kind)
    meter = catalog.meters.get(alert.meter) if alert.meter else None
    name = WATCH_NAMES.get(kind, str(kind))
    watches = f"{meter.name}: {name}" if meter is not None else name.capitalize()
    if alert.threshold is None:
        threshold = "–"
    elif kind in MONEY_KINDS:
        threshold = money(alert.threshold, catalog.currency)
    elif kind is AlertKind.USAGE_PERCENT:
        threshold = f"{alert.threshold.normalize():f}%"
    else:
        threshold = f"{int(alert.threshold):,}"
    return AlertRow(alert, watches, threshold, _value(catalog, kind, alert.value))


def _value(catalog: Catalog, kind: AlertKind, value: str | None) -> str | None:
    if value is None:
        return None
    if kind in MONEY_KINDS:
        return money(Decimal(value), catalog.currency)
    return f"{value}%" if kind is AlertKind.USAGE_PERCENT else value


def alerts(engine: Engine, account_id: str) -> AlertsPage:
    catalog = engine.catalog
    return AlertsPage(
        catalog=catalog,
        alerts=[_row(catalog, view) for view in engine.alerts(account_id)],
        budget=engine.budget(account_id),
        insights=engine.usage(account_id).insights,
        kinds=KIND_NAMES,
    )


def create_alert(
    engine: Engine, account_id: str, kind: str, meter: str, threshold: str, *, actor: Actor
) -> str:
    try:
        chosen = AlertKind(kind)
    except ValueError:
        raise InvalidInputError(f"unknown alert kind {kind!r}", field="kind") from None
    value = None if chosen in EVENT_KINDS else decimal_field(threshold, "threshold")
    made = engine.create_alert(
        account_id, chosen, meter=meter or None, threshold=value, actor=actor
    )
    return f"Alert added: {_row(engine.catalog, made).watches}."


def delete_alert(engine: Engine, account_id: str, alert_id: str, *, actor: Actor) -> str:
    engine.delete_alert(account_id, alert_id, actor=actor)
    return "Alert deleted."


def set_budget(engine: Engine, account_id: str, amount: str, mode: str, *, actor: Actor) -> str:
    if not amount:
        engine.set_budget(account_id, None, actor=actor)
        return "The budget is removed."
    if mode not in {"soft", "hard"}:
        raise InvalidInputError(f"mode must be 'soft' or 'hard', got {mode!r}", field="mode")
    view = engine.set_budget(account_id, decimal_field(amount, "amount"), mode=mode, actor=actor)
    assert view.amount is not None
    what = (
        "warns at 75, 90 and 100%"
        if mode == "soft"
        else "refuses overage and wallet charges past it"
    )
    return f"Budget set to {money(view.amount, view.currency)} a month: it {what}."
