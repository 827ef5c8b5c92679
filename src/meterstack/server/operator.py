"""The operator API under ``/v1``: the whole engine, for the operator key only."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from meterstack.answers import rate_limit_headers
from meterstack.engine import Engine
from meterstack.errors import InvalidInputError, MeterstackError
from meterstack.money import format_money
from meterstack.rules.decisions import Decision
from meterstack.server.auth import EngineDep, OperatorDep, operator_actor
from meterstack.server.bodies import (
    AccountBody,
    BatchBody,
    BatchEvent,
    CommitBody,
    ConsumeBody,
    GaugeBody,
    LeaseBody,
    ReserveBody,
)
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.errors import ErrorBody, refusal_response
from meterstack.server.operator_schemas import (
    AccountCreatedOut,
    AccountOut,
    BatchDecisionOut,
    BatchErrorOut,
    BatchOut,
    LeaseOut,
    LeaseReleasedOut,
    ReleasedOut,
    ReservationOut,
    UsageOut,
)
from meterstack.server.schemas import DecisionOut
from meterstack.services.events import UsageEvent

router = APIRouter(prefix="/v1", route_class=DoorRoute)

#: Every operator route: no or a wrong key (401), a customer's key (403), the store (503).
OPERATOR = (401, 403, 503)
#: A route with a body, or with an id in its path: too large (413), malformed or NUL (422).
BODY = (413, 422)
PATH = (422,)
#: What a metered decision may refuse with (D4): an upgrade needed (402, for a feature the
#: request ``requires``), not for the tier, past a hard limit or read-only (403), a limit
#: reached (429).
REFUSALS = (402, 403, 429)
#: What an admission without features may refuse with: 403 and 429.
LIMITS = (403, 429)


def decision_response(decision: Decision) -> Response:
    """An admitted decision as 200 with ``RateLimit-*`` headers; a refused one as the error."""
    if not decision.allowed:
        return refusal_response(decision)
    return DecisionJSON(decision.to_dict(), headers=rate_limit_headers(decision))


_JSON = msgspec.json.Encoder()


class DecisionJSON(JSONResponse):
    """An admitted decision's JSON, encoded by msgspec: the bytes ``JSONResponse`` writes for
    its strings, whole numbers, booleans and nulls (compact, UTF-8), in a tenth of the time of
    ``json.dumps``, on the path of every consume."""

    def render(self, content: Any) -> bytes:
        return _JSON.encode(content)


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountCreatedOut,
    responses=errors(*OPERATOR, *BODY),
)
def create_account(body: AccountBody, _: OperatorDep, engine: EngineDep) -> AccountCreatedOut:
    """An account, with its first user API key shown once."""
    actor = operator_actor(body.reason)
    account = engine.create_account(
        body.plan, interval=body.interval, email=body.email, name=body.name, actor=actor
    )
    key = engine.create_api_key(account.id, actor=actor)
    return AccountCreatedOut(
        id=account.id,
        plan=account.plan,
        billing_interval=account.billing_interval,
        user_api_key=key.key,
    )


@router.get(
    "/accounts/{account_id}", response_model=AccountOut, responses=errors(*OPERATOR, *PATH, 404)
)
def get_account(account_id: str, _: OperatorDep, engine: EngineDep) -> AccountOut:
    account = engine.account(account_id)
    subscription = engine.subscription(account_id)
    return AccountOut(
        id=account.id,
        plan=account.plan,
        billing_interval=account.billing_interval,
        status=subscription.status,
        catalog=account.catalog,
        catalog_version=account.catalog_version,
        anonymous=account.anonymous,
        email=account.email,
        created_at=account.created_at.isoformat(),
        current_period_start=subscription.current_period.start.isoformat(),
        current_period_end=subscription.current_period.end.isoformat(),
        pending_plan=subscription.pending_plan,
        account_credit=format_money(subscription.account_credit, engine.catalog.currency),
    )


@router.post(
    "/accounts/{account_id}/consume",
    response_model=DecisionOut,
    responses=errors(*OPERATOR, *BODY, *REFUSALS, 404, 409),
)
def consume(account_id: str, body: ConsumeBody, _: OperatorDep, engine: EngineDep) -> Response:
    """Record usage if the limits admit it (the decision, or the refusal as an error)."""
    return decision_response(record_usage(engine, usage_event(account_id, body)))


def usage_event(account_id: str, body: ConsumeBody) -> UsageEvent:
    """What a consume request asks for: this route's, and the consume lane's in front of it
    (server/consume.py), so that the two can never read a body differently."""
    return UsageEvent(
        account_id,
        body.meter,
        body.quantity,
        body.project_id,
        body.idempotency_key,
        body.api_key_id,
        body.requires,
        body.byok,
        body.amount,
    )


def record_usage(engine: Engine, event: UsageEvent) -> Decision:
    """``Engine.consume`` of one consume request (the route's, and the lane's when it decides
    a request alone)."""
    return engine.consume(
        event.account_id,
        event.meter,
        event.quantity,
        project_id=event.project_id,
        idempotency_key=event.idempotency_key,
        api_key_id=event.api_key_id,
        requires=event.requires,
        byok=event.byok,
        amount=event.amount,
    )


@router.post(
    "/accounts/{account_id}/check",
    response_model=DecisionOut,
    responses=errors(*OPERATOR, *BODY, *REFUSALS, 404),
)
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


@router.post("/usage/batch", response_model=BatchOut, responses=errors(*OPERATOR, *BODY))
def batch(body: BatchBody, _: OperatorDep, engine: EngineDep) -> BatchOut:
    """Up to 1,000 usage events in one transaction, each decided on its own.

    Each event is read as a consume body is (strictly); a malformed one is that event's error
    and is left out of the transaction, which decides the others exactly as without it.
    """
    read: list[UsageEvent | ErrorBody] = [_event(event) for event in body.events]
    decided = iter(engine.consume_many([e for e in read if isinstance(e, UsageEvent)]))
    results: list[BatchDecisionOut | BatchErrorOut] = []
    for event in read:
        outcome = event if isinstance(event, ErrorBody) else next(decided)
        if isinstance(outcome, ErrorBody):
            results.append(BatchErrorOut(error=outcome))
        elif isinstance(outcome, MeterstackError):
            results.append(BatchErrorOut(error=ErrorBody.model_validate(outcome.to_dict())))
        else:
            results.append(BatchDecisionOut(decision=DecisionOut.of(outcome)))
    return BatchOut(results=results)


def _event(event: object) -> UsageEvent | ErrorBody:
    try:
        read = BatchEvent.model_validate(event)
    except ValidationError as error:
        problem = error.errors()[0]
        path = ".".join(str(part) for part in problem["loc"])
        message = f"{path}: {problem['msg']}" if path else problem["msg"]
        return ErrorBody(code=InvalidInputError.code, message=message, details={"field": path})
    return UsageEvent(
        read.account_id,
        read.meter,
        read.quantity,
        read.project_id,
        read.idempotency_key,
        read.api_key_id,
        tuple(read.requires),
        byok=read.byok,
        amount=read.amount,
    )


@router.get(
    "/accounts/{account_id}/usage",
    response_model=UsageOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def usage(
    account_id: str, _: OperatorDep, engine: EngineDep, project_id: str | None = None
) -> UsageOut:
    return UsageOut.of(engine.usage(account_id, project_id=project_id))


@router.post(
    "/accounts/{account_id}/reserve",
    response_model=ReservationOut,
    responses=errors(*OPERATOR, *BODY, *REFUSALS, 404, 409),
)
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
    answer = ReservationOut(
        reservation_id=hold.id,
        expires_at=None if hold.expires_at is None else hold.expires_at.isoformat(),
        decision=DecisionOut.of(hold.decision),
    )
    return JSONResponse(answer.model_dump(), headers=rate_limit_headers(hold.decision))


@router.post(
    "/reservations/{reservation_id}/commit",
    response_model=DecisionOut,
    responses=errors(*OPERATOR, *BODY, 404, 409),
)
def commit(reservation_id: str, body: CommitBody, _: OperatorDep, engine: EngineDep) -> Response:
    return decision_response(engine.commit(reservation_id, body.quantity))


@router.post(
    "/reservations/{reservation_id}/release",
    response_model=ReleasedOut,
    responses=errors(*OPERATOR, *PATH, 404, 409),
)
def release(reservation_id: str, _: OperatorDep, engine: EngineDep) -> ReleasedOut:
    released = engine.release(reservation_id)
    return ReleasedOut(reservation_id=released.id, status=released.status)


@router.post(
    "/accounts/{account_id}/gauges/{gauge}",
    response_model=DecisionOut,
    responses=errors(*OPERATOR, *BODY, *LIMITS, 404),
)
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


@router.post(
    "/accounts/{account_id}/leases",
    response_model=LeaseOut,
    responses=errors(*OPERATOR, *BODY, *LIMITS, 404),
)
def acquire_lease(account_id: str, body: LeaseBody, _: OperatorDep, engine: EngineDep) -> Response:
    lease = engine.acquire_lease(account_id, body.item, ttl=body.ttl)
    if not lease.allowed:
        return refusal_response(lease.decision)
    answer = LeaseOut(
        lease_id=lease.id,
        expires_at=None if lease.expires_at is None else lease.expires_at.isoformat(),
        decision=DecisionOut.of(lease.decision),
    )
    return JSONResponse(answer.model_dump())


@router.post(
    "/leases/{lease_id}/release",
    response_model=LeaseReleasedOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def release_lease(lease_id: str, _: OperatorDep, engine: EngineDep) -> LeaseReleasedOut:
    released = engine.release_lease(lease_id)
    return LeaseReleasedOut(lease_id=released.id, status=released.status)
