"""The operator API under ``/v1``: the whole engine, for the operator key only."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, WithJsonSchema

from meterstack.answers import api_key_json, rate_limit_headers, usage_json
from meterstack.cli.invoices import invoice_json
from meterstack.clock import ManualClock
from meterstack.engine import MAX_TTL_SECONDS, Engine
from meterstack.errors import InvalidInputError, MeterstackError
from meterstack.invoicing.render import render_html, render_pdf
from meterstack.money import format_money
from meterstack.rules.decisions import Decision
from meterstack.server.auth import EngineDep, OperatorDep
from meterstack.server.errors import ERROR_SCHEMA, refusal_response

router = APIRouter(
    prefix="/v1", responses=dict.fromkeys((401, 402, 403, 404, 409, 422, 429, 503), ERROR_SCHEMA)
)

Quantity = Field(default=1, ge=1, le=10**15)
Id = Field(min_length=1, max_length=80)


class AccountBody(BaseModel):
    plan: str | None = Field(default=None, max_length=64)
    interval: str = "monthly"
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)


class UsageBody(BaseModel):
    meter: str = Field(min_length=1, max_length=64)
    quantity: int = Quantity
    project_id: str | None = Field(default=None, max_length=80)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    api_key_id: str | None = Field(default=None, max_length=80)


#: The features a metered request needs (C3): one the tier lacks refuses it, recording nothing.
FeatureNames = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=32)
]


class ConsumeBody(UsageBody):
    requires: FeatureNames = []
    #: Run on the customer's own model key (the usage history counts it apart, D27).
    byok: bool = False
    #: The transaction's amount on a meter priced by ``percentage`` (a decimal string).
    amount: Decimal | None = Field(default=None, ge=0, le=10**12, decimal_places=6)


class BatchEvent(UsageBody):
    account_id: str = Id
    requires: FeatureNames = []
    byok: bool = False
    amount: Decimal | None = None


class BatchBody(BaseModel):
    #: Each event is checked on its own: a malformed one gets its own error among the results.
    events: list[Annotated[Any, WithJsonSchema(BatchEvent.model_json_schema())]] = Field(
        min_length=1, max_length=1000
    )


class ReserveBody(BaseModel):
    meter: str = Field(min_length=1, max_length=64)
    quantity: int = Quantity
    ttl: float | None = Field(default=None, gt=0, le=MAX_TTL_SECONDS)
    project_id: str | None = Field(default=None, max_length=80)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)
    requires: FeatureNames = []


class CommitBody(BaseModel):
    quantity: int | None = Field(default=None, ge=0, le=10**15)


class NamedBody(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    active: bool = True
    project_id: str | None = Field(default=None, max_length=80)


class GaugeBody(BaseModel):
    level: int | None = Field(default=None, ge=0)
    delta: int | None = None
    end_user_id: str | None = Field(default=None, max_length=80)


class LeaseBody(BaseModel):
    item: str = Field(min_length=1, max_length=64)
    ttl: float | None = Field(default=None, gt=0, le=MAX_TTL_SECONDS)


class LimitBody(BaseModel):
    item: str = Field(min_length=1, max_length=64)
    #: A whole number, or null for unlimited.
    limit: int | None = Field(ge=0)
    grace_percent: Decimal | None = Field(default=None, ge=0, le=1000)
    project_id: str | None = Field(default=None, max_length=80)


class OverageBody(BaseModel):
    enabled: bool
    meter: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(default=None, max_length=80)


class KeyBody(BaseModel):
    project_id: str | None = Field(default=None, max_length=80)
    name: str | None = Field(default=None, max_length=200)
    modules: list[str] | None = None
    quotas: dict[str, int] | None = None


class PlanBody(BaseModel):
    plan: str = Field(min_length=1, max_length=64)
    interval: str | None = None


class PackBody(BaseModel):
    pack: str = Field(min_length=1, max_length=64)


class ClockBody(BaseModel):
    to: datetime | None = None
    advance_seconds: float | None = Field(default=None, ge=0, le=100 * 366 * 24 * 3600)


def decision_response(decision: Decision) -> Response:
    """An admitted decision as 200 with ``RateLimit-*`` headers; a refused one as the error."""
    if not decision.allowed:
        return refusal_response(decision)
    return JSONResponse(decision.to_dict(), headers=rate_limit_headers(decision))


@router.post("/accounts", status_code=201)
def create_account(body: AccountBody, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    """An account, with its first user API key shown once."""
    account = engine.create_account(
        body.plan, interval=body.interval, email=body.email, name=body.name
    )
    key = engine.create_api_key(account.id)
    return {
        "id": account.id,
        "plan": account.plan,
        "billing_interval": account.billing_interval,
        "user_api_key": key.key,
    }


@router.get("/accounts/{account_id}")
def get_account(account_id: str, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    account = engine.account(account_id)
    subscription = engine.subscription(account_id)
    return {
        "id": account.id,
        "plan": account.plan,
        "billing_interval": account.billing_interval,
        "status": subscription.status,
        "catalog": account.catalog,
        "catalog_version": account.catalog_version,
        "anonymous": account.anonymous,
        "email": account.email,
        "created_at": account.created_at.isoformat(),
        "current_period_start": subscription.current_period.start.isoformat(),
        "current_period_end": subscription.current_period.end.isoformat(),
        "pending_plan": subscription.pending_plan,
        "account_credit": format_money(subscription.account_credit, engine.catalog.currency),
    }


@router.post("/accounts/{account_id}/consume")
def consume(account_id: str, body: ConsumeBody, _: OperatorDep, engine: EngineDep) -> Response:
    """Record usage if the limits admit it (the decision, or the refusal as an error)."""
    return decision_response(record_usage(engine, account_id, body))


def record_usage(engine: Engine, account_id: str, body: ConsumeBody) -> Decision:
    """The engine call a consume request makes: this route's, and the consume lane's in front
    of it (server/consume.py), so that the two can never read a body differently."""
    return engine.consume(
        account_id,
        body.meter,
        body.quantity,
        project_id=body.project_id,
        idempotency_key=body.idempotency_key,
        api_key_id=body.api_key_id,
        requires=body.requires,
        byok=body.byok,
        amount=body.amount,
    )


@router.post("/accounts/{account_id}/check")
def check(account_id: str, body: ConsumeBody, _: OperatorDep, engine: EngineDep) -> Response:
    """The decision consume would make; nothing recorded."""
    return decision_response(
        engine.check(
            account_id,
            body.meter,
            body.quantity,
            project_id=body.project_id,
            requires=body.requires,
        )
    )


@router.post("/usage/batch")
def batch(body: BatchBody, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    """Up to 1,000 usage events in one transaction, each decided on its own."""
    results = engine.consume_many(body.events)
    return {
        "results": [
            {"error": result.to_dict()}
            if isinstance(result, MeterstackError)
            else {"decision": result.to_dict()}
            for result in results
        ]
    }


@router.get("/accounts/{account_id}/usage")
def usage(
    account_id: str, _: OperatorDep, engine: EngineDep, project_id: str | None = None
) -> dict[str, Any]:
    return usage_json(engine.usage(account_id, project_id=project_id))


@router.post("/accounts/{account_id}/reserve")
def reserve(account_id: str, body: ReserveBody, _: OperatorDep, engine: EngineDep) -> Response:
    hold = engine.reserve(
        account_id,
        body.meter,
        body.quantity,
        ttl=body.ttl,
        project_id=body.project_id,
        idempotency_key=body.idempotency_key,
        requires=body.requires,
    )
    assert hold.decision is not None
    if not hold.allowed:
        return refusal_response(hold.decision)
    return JSONResponse(
        {
            "reservation_id": hold.id,
            "expires_at": None if hold.expires_at is None else hold.expires_at.isoformat(),
            "decision": hold.decision.to_dict(),
        },
        headers=rate_limit_headers(hold.decision),
    )


@router.post("/reservations/{reservation_id}/commit")
def commit(reservation_id: str, body: CommitBody, _: OperatorDep, engine: EngineDep) -> Response:
    return decision_response(engine.commit(reservation_id, body.quantity))


@router.post("/reservations/{reservation_id}/release")
def release(reservation_id: str, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    released = engine.release(reservation_id)
    return {"reservation_id": released.id, "status": released.status}


@router.post("/accounts/{account_id}/projects", status_code=201)
def create_project(
    account_id: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    project = engine.create_project(account_id, name=body.name, active=body.active)
    return {
        "id": project.id,
        "active": project.active,
        "created_at": project.created_at.isoformat(),
    }


@router.post("/accounts/{account_id}/resources/{kind}", status_code=201)
def create_resource(
    account_id: str, kind: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    made = engine.create_resource(account_id, kind, project_id=body.project_id, name=body.name)
    return {"id": made.id, "kind": made.kind, "created_at": made.created_at.isoformat()}


@router.get("/accounts/{account_id}/resources")
def list_resources(
    account_id: str, _: OperatorDep, engine: EngineDep, kind: str | None = None
) -> dict[str, Any]:
    return {
        "resources": [
            {
                "id": item.id,
                "kind": item.kind,
                "project_id": item.project_id,
                "name": item.name,
                "active": item.active,
                "read_only": item.read_only,
                "created_at": item.created_at.isoformat(),
            }
            for item in engine.resources(account_id, kind)
        ]
    }


@router.delete("/accounts/{account_id}/resources/{resource_id}", status_code=204)
def delete_resource(
    account_id: str, resource_id: str, _: OperatorDep, engine: EngineDep
) -> Response:
    engine.delete_resource(resource_id, account_id=account_id)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/end-users", status_code=201)
def create_end_user(
    account_id: str, body: NamedBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    user = engine.create_end_user(account_id, name=body.name)
    return {"id": user.id, "name": user.name}


@router.post("/accounts/{account_id}/gauges/{gauge}")
def write_gauge(
    account_id: str, gauge: str, body: GaugeBody, _: OperatorDep, engine: EngineDep
) -> Response:
    if (body.level is None) == (body.delta is None):
        raise InvalidInputError("give either level or delta")
    if body.level is not None:
        decision = engine.set_gauge(account_id, gauge, body.level, end_user_id=body.end_user_id)
    else:
        assert body.delta is not None
        decision = engine.adjust_gauge(account_id, gauge, body.delta, end_user_id=body.end_user_id)
    return decision_response(decision)


@router.post("/accounts/{account_id}/leases")
def acquire_lease(account_id: str, body: LeaseBody, _: OperatorDep, engine: EngineDep) -> Response:
    lease = engine.acquire_lease(account_id, body.item, ttl=body.ttl)
    if not lease.allowed:
        return refusal_response(lease.decision)
    return JSONResponse(
        {
            "lease_id": lease.id,
            "expires_at": None if lease.expires_at is None else lease.expires_at.isoformat(),
            "decision": lease.decision.to_dict(),
        }
    )


@router.post("/leases/{lease_id}/release")
def release_lease(lease_id: str, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    released = engine.release_lease(lease_id)
    return {"lease_id": released.id, "status": released.status}


@router.put("/accounts/{account_id}/limits")
def set_limit(
    account_id: str, body: LimitBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    engine.set_limit(
        account_id, body.item, body.limit, grace=body.grace_percent, project_id=body.project_id
    )
    return {"success": True}


@router.put("/accounts/{account_id}/overage")
def set_overage(
    account_id: str, body: OverageBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    engine.set_overage(account_id, body.enabled, meter=body.meter, project_id=body.project_id)
    return {"success": True}


@router.post("/accounts/{account_id}/keys", status_code=201)
def create_key(account_id: str, body: KeyBody, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    issued = engine.create_api_key(
        account_id,
        project_id=body.project_id,
        name=body.name,
        modules=body.modules,
        quotas=body.quotas,
    )
    return {"id": issued.id, "key": issued.key, "prefix": issued.api_key.prefix}


@router.get("/accounts/{account_id}/keys")
def list_keys(
    account_id: str,
    _: OperatorDep,
    engine: EngineDep,
    project_id: str | None = None,
    revoked: bool = False,
) -> dict[str, Any]:
    """The account's keys (never their text), oldest first (then by id)."""
    keys = engine.api_keys(account_id, project_id=project_id, revoked=revoked)
    return {"keys": [api_key_json(key) for key in keys]}


@router.delete("/accounts/{account_id}/keys/{key_id}", status_code=204)
def revoke_key(account_id: str, key_id: str, _: OperatorDep, engine: EngineDep) -> Response:
    engine.revoke_api_key(key_id, account_id=account_id)
    return Response(status_code=204)


@router.post("/accounts/{account_id}/subscription")
def change_plan(
    account_id: str, body: PlanBody, _: OperatorDep, engine: EngineDep
) -> dict[str, Any]:
    change = engine.change_plan(account_id, body.plan, body.interval)
    return {
        "immediate": change.immediate,
        "plan": change.subscription.plan,
        "pending_plan": change.subscription.pending_plan,
        "invoice": None if change.invoice is None else invoice_json(change.invoice),
    }


@router.post("/accounts/{account_id}/subscription/cancel")
def cancel(account_id: str, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    subscription = engine.cancel(account_id)
    assert subscription.pending is not None
    return {
        "status": subscription.status,
        "effective_at": subscription.pending.effective_at.isoformat(),
    }


@router.post("/accounts/{account_id}/packs")
def buy_pack(account_id: str, body: PackBody, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    purchase = engine.buy_pack(account_id, body.pack)
    return {
        "pack": body.pack,
        "new_limit": purchase.new_limit,
        "invoice": invoice_json(purchase.invoice),
    }


@router.get("/accounts/{account_id}/invoices")
def invoices(account_id: str, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    return {"invoices": [invoice_json(invoice) for invoice in engine.invoices(account_id)]}


@router.get("/invoices/{number}", response_model=None)
def invoice(
    number: str,
    _: OperatorDep,
    engine: EngineDep,
    format: Literal["json", "html", "pdf"] = "json",
) -> Response | dict[str, Any]:
    found = engine.invoice(number)
    if format == "html":
        return HTMLResponse(render_html(found))
    if format == "pdf":
        return Response(render_pdf(found), media_type="application/pdf")
    return invoice_json(found)


@router.post("/periods/close")
def close_period(_: OperatorDep, engine: EngineDep) -> dict[str, Any]:
    created = engine.close_period()
    # An account that could not be rated is listed; the others were invoiced all the same.
    failures = [
        {"account_id": failure.account_id, "period": failure.period_key, "reason": failure.reason}
        for failure in created.failures
    ]
    return {
        "created": len(created),
        "invoices": [invoice.number for invoice in created],
        "failures": failures,
    }


@router.post("/clock")
def move_clock(body: ClockBody, _: OperatorDep, engine: EngineDep) -> dict[str, Any]:
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
    return {"now": clock.now().isoformat()}
