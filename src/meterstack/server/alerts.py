"""The doors of alerts and the budget guard (D25, D26): the customer's under ``/api/billing``,
the operator's under ``/v1/accounts/{account_id}``.

Every route only parses, calls the engine and renders; the rules live in
``meterstack.services.alerts``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from meterstack.server.alert_schemas import (
    AlertBody,
    AlertOut,
    AlertsOut,
    BudgetBody,
    BudgetOut,
    DeletedAlertOut,
)
from meterstack.server.auth import CustomerDep, EngineDep, OperatorDep, operator_actor
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.operator import BODY, OPERATOR, PATH
from meterstack.server.self_service import CUSTOMER

customer_router = APIRouter(prefix="/api/billing", route_class=DoorRoute)
operator_router = APIRouter(prefix="/v1/accounts/{account_id}", route_class=DoorRoute)

AccountId = Annotated[str, Path(min_length=1, max_length=80)]
AlertId = Annotated[str, Path(min_length=1, max_length=80)]


# --------------------------------------------------------------------------- customer


@customer_router.get("/alerts", response_model=AlertsOut, responses=errors(*CUSTOMER))
def alerts(customer: CustomerDep, engine: EngineDep) -> AlertsOut:
    """D25: the catalog's default thresholds (C8) and the account's own alerts."""
    return AlertsOut(alerts=[AlertOut.of(view) for view in engine.alerts(customer.account_id)])


@customer_router.post(
    "/alerts", status_code=201, response_model=AlertOut, responses=errors(*CUSTOMER, *BODY, 409)
)
def create_alert(body: AlertBody, customer: CustomerDep, engine: EngineDep) -> AlertOut:
    """D25: a new alert (409 ``too_many_alerts`` past 50); it fires once per crossing."""
    made = engine.create_alert(
        customer.account_id,
        body.kind,
        meter=body.meter,
        threshold=body.threshold,
        actor=customer.actor,
    )
    return AlertOut.of(made)


@customer_router.get(
    "/alerts/{alert_id}", response_model=AlertOut, responses=errors(*CUSTOMER, *PATH, 404)
)
def alert(alert_id: AlertId, customer: CustomerDep, engine: EngineDep) -> AlertOut:
    return AlertOut.of(engine.alert(customer.account_id, alert_id))


@customer_router.delete(
    "/alerts/{alert_id}", response_model=DeletedAlertOut, responses=errors(*CUSTOMER, *PATH, 404)
)
def delete_alert(alert_id: AlertId, customer: CustomerDep, engine: EngineDep) -> DeletedAlertOut:
    engine.delete_alert(customer.account_id, alert_id, actor=customer.actor)
    return DeletedAlertOut(id=alert_id, deleted=True)


@customer_router.get("/budget", response_model=BudgetOut, responses=errors(*CUSTOMER))
def budget(customer: CustomerDep, engine: EngineDep) -> BudgetOut:
    """D26: the budget, and the period's charges against it."""
    return BudgetOut.of(engine.budget(customer.account_id))


@customer_router.put("/budget", response_model=BudgetOut, responses=errors(*CUSTOMER, *BODY))
def set_budget(body: BudgetBody, customer: CustomerDep, engine: EngineDep) -> BudgetOut:
    """D26: soft warns at 75/90/100 %; hard also refuses overage and wallet charges past it
    (402 ``budget_exceeded``); amount null removes it."""
    view = engine.set_budget(customer.account_id, body.amount, mode=body.mode, actor=customer.actor)
    return BudgetOut.of(view)


# --------------------------------------------------------------------------- operator


@operator_router.get("/alerts", response_model=AlertsOut, responses=errors(*OPERATOR, *PATH, 404))
def operator_alerts(account_id: AccountId, _: OperatorDep, engine: EngineDep) -> AlertsOut:
    return AlertsOut(alerts=[AlertOut.of(view) for view in engine.alerts(account_id)])


@operator_router.post(
    "/alerts",
    status_code=201,
    response_model=AlertOut,
    responses=errors(*OPERATOR, *BODY, 404, 409),
)
def operator_create_alert(
    account_id: AccountId, body: AlertBody, _: OperatorDep, engine: EngineDep
) -> AlertOut:
    made = engine.create_alert(
        account_id,
        body.kind,
        meter=body.meter,
        threshold=body.threshold,
        actor=operator_actor(),
    )
    return AlertOut.of(made)


@operator_router.get(
    "/alerts/{alert_id}", response_model=AlertOut, responses=errors(*OPERATOR, *PATH, 404)
)
def operator_alert(
    account_id: AccountId, alert_id: AlertId, _: OperatorDep, engine: EngineDep
) -> AlertOut:
    return AlertOut.of(engine.alert(account_id, alert_id))


@operator_router.delete(
    "/alerts/{alert_id}",
    response_model=DeletedAlertOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def operator_delete_alert(
    account_id: AccountId, alert_id: AlertId, _: OperatorDep, engine: EngineDep
) -> DeletedAlertOut:
    engine.delete_alert(account_id, alert_id, actor=operator_actor())
    return DeletedAlertOut(id=alert_id, deleted=True)


@operator_router.get("/budget", response_model=BudgetOut, responses=errors(*OPERATOR, *PATH, 404))
def operator_budget(account_id: AccountId, _: OperatorDep, engine: EngineDep) -> BudgetOut:
    return BudgetOut.of(engine.budget(account_id))


@operator_router.put("/budget", response_model=BudgetOut, responses=errors(*OPERATOR, *BODY, 404))
def operator_set_budget(
    account_id: AccountId, body: BudgetBody, _: OperatorDep, engine: EngineDep
) -> BudgetOut:
    view = engine.set_budget(account_id, body.amount, mode=body.mode, actor=operator_actor())
    return BudgetOut.of(view)
