"""The operator API under ``/v1``, the account's side: projects, resources and end users, limits
and overage switches, keys, the subscription and packs, invoices, period close and the test
clock. Metering (consume, holds, gauges, leases) is in :mod:`.operator`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from meterstack.clock import ManualClock
from meterstack.errors import InvalidInputError
from meterstack.server.auth import EngineDep, OperatorDep, operator_actor
from meterstack.server.bodies import (
    ClockBody,
    KeyBody,
    LimitBody,
    NamedBody,
    OverageBody,
    PackBody,
    PlanBody,
)
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.operator import BODY, LIMITS, OPERATOR, PATH
from meterstack.server.operator_schemas import (
    CancelledOut,
    ClockOut,
    ClosedOut,
    CloseFailureOut,
    EndUserOut,
    KeyCreatedOut,
    ListedResourceOut,
    OperatorInvoiceOut,
    OperatorInvoicesOut,
    OperatorKeyOut,
    OperatorKeysOut,
    PackBoughtOut,
    PlanChangedOut,
    ProjectOut,
    ResourceOut,
    ResourcesOut,
    SuccessOut,
)
from meterstack.services.invoicing.render import render_html, render_pdf

router = APIRouter(prefix="/v1", route_class=DoorRoute)
#: Why the operator acts, on a route without a body (the audit log keeps it).
Reason = Annotated[str | None, Query(min_length=1, max_length=500)]


@router.post(
    "/accounts/{account_id}/projects",
    status_code=201,
    response_model=ProjectOut,
    responses=errors(*OPERATOR, *BODY, 404, 429),
)
def create_project(
    account_id: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> ProjectOut:
    project = engine.create_project(account_id, name=body.name, active=body.active)
    return ProjectOut(
        id=project.id, active=project.active, created_at=project.created_at.isoformat()
    )


@router.post(
    "/accounts/{account_id}/resources/{kind}",
    status_code=201,
    response_model=ResourceOut,
    responses=errors(*OPERATOR, *BODY, *LIMITS, 404),
)
def create_resource(
    account_id: str, kind: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> ResourceOut:
    made = engine.create_resource(account_id, kind, project_id=body.project_id, name=body.name)
    return ResourceOut(id=made.id, kind=made.kind, created_at=made.created_at.isoformat())


@router.get(
    "/accounts/{account_id}/resources",
    response_model=ResourcesOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def list_resources(
    account_id: str, _: OperatorDep, engine: EngineDep, kind: str | None = None
) -> ResourcesOut:
    return ResourcesOut(
        resources=[
            ListedResourceOut(
                id=item.id,
                kind=item.kind,
                project_id=item.project_id,
                name=item.name,
                active=item.active,
                read_only=item.read_only,
                created_at=item.created_at.isoformat(),
            )
            for item in engine.resources(account_id, kind)
        ]
    )


@router.delete(
    "/accounts/{account_id}/resources/{resource_id}",
    status_code=204,
    response_class=Response,
    responses=errors(*OPERATOR, *PATH, 404),
)
def delete_resource(
    account_id: str, resource_id: str, _: OperatorDep, engine: EngineDep
) -> Response:
    engine.delete_resource(resource_id, account_id=account_id)
    return Response(status_code=204)


@router.post(
    "/accounts/{account_id}/end-users",
    status_code=201,
    response_model=EndUserOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def create_end_user(
    account_id: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> EndUserOut:
    user = engine.create_end_user(account_id, name=body.name)
    return EndUserOut(id=user.id, name=user.name)


@router.put(
    "/accounts/{account_id}/limits",
    response_model=SuccessOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def set_limit(account_id: str, body: LimitBody, _: OperatorDep, engine: EngineDep) -> SuccessOut:
    engine.set_limit(
        account_id,
        body.item,
        body.limit,
        grace=body.grace_percent,
        project_id=body.project_id,
        actor=operator_actor(body.reason),
    )
    return SuccessOut(success=True)


@router.put(
    "/accounts/{account_id}/overage",
    response_model=SuccessOut,
    responses=errors(*OPERATOR, *BODY, 402, 404),
)
def set_overage(
    account_id: str, body: OverageBody, _: OperatorDep, engine: EngineDep
) -> SuccessOut:
    engine.set_overage(
        account_id,
        body.enabled,
        meter=body.meter,
        project_id=body.project_id,
        actor=operator_actor(body.reason),
    )
    return SuccessOut(success=True)


@router.post(
    "/accounts/{account_id}/keys",
    status_code=201,
    response_model=KeyCreatedOut,
    responses=errors(*OPERATOR, *BODY, 404, 429),
)
def create_key(account_id: str, body: KeyBody, _: OperatorDep, engine: EngineDep) -> KeyCreatedOut:
    issued = engine.create_api_key(
        account_id,
        project_id=body.project_id,
        name=body.name,
        modules=body.modules,
        quotas=body.quotas,
        actor=operator_actor(body.reason),
    )
    return KeyCreatedOut(id=issued.id, key=issued.key, prefix=issued.api_key.prefix)


@router.get(
    "/accounts/{account_id}/keys",
    response_model=OperatorKeysOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def list_keys(
    account_id: str,
    _: OperatorDep,
    engine: EngineDep,
    project_id: str | None = None,
    revoked: bool = False,
) -> OperatorKeysOut:
    """The account's keys (never their text), oldest first (then by id)."""
    keys = engine.api_keys(account_id, project_id=project_id, revoked=revoked)
    return OperatorKeysOut(keys=[OperatorKeyOut.of(key) for key in keys])


@router.delete(
    "/accounts/{account_id}/keys/{key_id}",
    status_code=204,
    response_class=Response,
    responses=errors(*OPERATOR, *PATH, 404),
)
def revoke_key(
    account_id: str, key_id: str, _: OperatorDep, engine: EngineDep, reason: Reason = None
) -> Response:
    engine.revoke_api_key(key_id, account_id=account_id, actor=operator_actor(reason))
    return Response(status_code=204)


@router.post(
    "/accounts/{account_id}/subscription",
    response_model=PlanChangedOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def change_plan(
    account_id: str, body: PlanBody, _: OperatorDep, engine: EngineDep
) -> PlanChangedOut:
    change = engine.change_plan(
        account_id, body.plan, body.interval, actor=operator_actor(body.reason)
    )
    return PlanChangedOut(
        immediate=change.immediate,
        plan=change.subscription.plan,
        pending_plan=change.subscription.pending_plan,
        invoice=None if change.invoice is None else OperatorInvoiceOut.of(change.invoice),
    )


@router.post(
    "/accounts/{account_id}/subscription/cancel",
    response_model=CancelledOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def cancel(
    account_id: str, _: OperatorDep, engine: EngineDep, reason: Reason = None
) -> CancelledOut:
    subscription = engine.cancel(account_id, actor=operator_actor(reason))
    assert subscription.pending is not None
    return CancelledOut(
        status=subscription.status, effective_at=subscription.pending.effective_at.isoformat()
    )


@router.post(
    "/accounts/{account_id}/packs",
    response_model=PackBoughtOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def buy_pack(account_id: str, body: PackBody, _: OperatorDep, engine: EngineDep) -> PackBoughtOut:
    purchase = engine.buy_pack(account_id, body.pack, actor=operator_actor(body.reason))
    return PackBoughtOut(
        pack=body.pack,
        new_limit=purchase.new_limit,
        invoice=OperatorInvoiceOut.of(purchase.invoice),
    )


@router.get(
    "/accounts/{account_id}/invoices",
    response_model=OperatorInvoicesOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def invoices(account_id: str, _: OperatorDep, engine: EngineDep) -> OperatorInvoicesOut:
    return OperatorInvoicesOut(
        invoices=[OperatorInvoiceOut.of(invoice) for invoice in engine.invoices(account_id)]
    )


@router.get(
    "/invoices/{number}",
    response_model=OperatorInvoiceOut,
    responses={
        **errors(*OPERATOR, *PATH, 404),
        200: {"content": {"application/json": {}, "text/html": {}, "application/pdf": {}}},
    },
)
def invoice(
    number: str,
    _: OperatorDep,
    engine: EngineDep,
    format: Literal["json", "html", "pdf"] = "json",
) -> Response | OperatorInvoiceOut:
    found = engine.invoice(number)
    if format == "html":
        return HTMLResponse(render_html(found))
    if format == "pdf":
        return Response(render_pdf(found), media_type="application/pdf")
    return OperatorInvoiceOut.of(found)


@router.post("/periods/close", response_model=ClosedOut, responses=errors(*OPERATOR))
def close_period(_: OperatorDep, engine: EngineDep) -> ClosedOut:
    created = engine.close_period()
    # An account that could not be rated is listed; the others were invoiced all the same.
    failures = [
        CloseFailureOut(
            account_id=failure.account_id, period=failure.period_key, reason=failure.reason
        )
        for failure in created.failures
    ]
    return ClosedOut(
        created=len(created),
        invoices=[invoice.number for invoice in created],
        failures=failures,
    )


#: The clock is the service's own: no store, so no 503.
@router.post("/clock", response_model=ClockOut, responses=errors(401, 403, *BODY))
def move_clock(body: ClockBody, _: OperatorDep, engine: EngineDep) -> ClockOut:
    """Test mode only: move the service's clock (the service was started with a manual one)."""
    clock = engine.clock
    if not isinstance(clock, ManualClock):
        raise InvalidInputError("the clock can only be moved in test mode")
    try:
        if body.to is not None:
            clock.set(body.to)
        if body.advance_seconds is not None:
            clock.advance(timedelta(seconds=body.advance_seconds))
    except (ValueError, OverflowError) as error:
        raise InvalidInputError(f"cannot move the clock: {error}") from None
    return ClockOut(now=clock.now().isoformat())
