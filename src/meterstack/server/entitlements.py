"""Entitlements for the operator (``/v1``): feature, module and payment checks, and what an
account's plan grants (A8, A10, A12, C3, D4).

A check answers 200 with the decision when allowed, and the refusal's status with the error shape
otherwise (402 ``upgrade_required`` naming the plan that has it in
``details.extra.upgrade_to``, 403 ``not_allowed_for_tier``, 403 ``module_not_allowed``), as
metered answers do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from meterstack.rules.decisions import Decision
from meterstack.server.auth import EngineDep, OperatorDep
from meterstack.server.bodies import Body
from meterstack.server.bodies import Id as BodyId
from meterstack.server.bodies import Name as BodyName
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.errors import refusal_response
from meterstack.server.schemas import DecisionOut, EntitlementsOut

router = APIRouter(prefix="/v1", route_class=DoorRoute)

#: No or a wrong key (401), a customer's key or a refusal (403), the store (503), an unknown
#: account, key or feature (404), a malformed or too large request (422, 413), an upgrade
#: needed (402).
_CHECK_ERRORS = errors(401, 402, 403, 404, 413, 422, 503)
Name = Annotated[str, Path(min_length=1, max_length=64)]
Id = Annotated[str, Path(min_length=1, max_length=80)]


class FeatureCheckBody(Body):
    #: For a levelled feature: the level needed (any level but ``none`` when absent).
    level: BodyName | None = None


class PaymentCheckBody(Body):
    #: The key the payment comes through: its service caps must allow ``payments`` (A8).
    api_key_id: BodyId | None = None


def _checked(decision: Decision) -> JSONResponse:
    """200 with the decision, or the refusal with its own status."""
    if not decision.allowed:
        return refusal_response(decision)
    return JSONResponse(DecisionOut.of(decision).model_dump())


@router.post(
    "/accounts/{account_id}/features/{feature}/check",
    response_model=DecisionOut,
    responses=_CHECK_ERRORS,
)
def check_feature(
    account_id: Id,
    feature: Name,
    _: OperatorDep,
    engine: EngineDep,
    body: FeatureCheckBody | None = None,
) -> JSONResponse:
    """Whether the account's tier grants the feature (at a level): A8, A12, C3, D4."""
    decision = engine.require_feature(account_id, feature, None if body is None else body.level)
    return _checked(decision)


@router.post(
    "/keys/{key_id}/modules/{module}/check",
    response_model=DecisionOut,
    responses=errors(401, 403, 404, 422, 503),
)
def check_module(key_id: Id, module: Name, _: OperatorDep, engine: EngineDep) -> JSONResponse:
    """Whether the key's service caps let it use the module: 403 ``module_not_allowed`` (A8)."""
    decision = engine.require_module(key_id, module)
    return _checked(decision)


@router.post(
    "/accounts/{account_id}/payments/check",
    response_model=DecisionOut,
    responses=errors(401, 403, 404, 413, 422, 503),
)
def check_payment(
    account_id: Id,
    _: OperatorDep,
    engine: EngineDep,
    body: PaymentCheckBody | None = None,
) -> JSONResponse:
    """A10: ask before processing a payment; the tier, then the key's caps."""
    decision = engine.check_payment(
        account_id, api_key_id=None if body is None else body.api_key_id
    )
    return _checked(decision)


@router.get(
    "/accounts/{account_id}/entitlements",
    response_model=EntitlementsOut,
    responses=errors(401, 403, 404, 422, 503),
)
def entitlements(account_id: Id, _: OperatorDep, engine: EngineDep) -> EntitlementsOut:
    """Every feature and level, limit, analytics retention and exports, support level and
    uptime SLA of the account's plan, with the operator's overrides (A2, A8, D14, D16)."""
    return EntitlementsOut.of(engine.entitlements(account_id))
