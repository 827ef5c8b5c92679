"""The customer endpoints the seeds name (B4–B10, A6, A7, D19), under ``/api``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from meterstack.money import format_money
from meterstack.server.auth import CustomerDep, EngineDep, settings_of
from meterstack.server.errors import ERROR_SCHEMA
from meterstack.server.schemas import CheckoutOut, PackPurchaseOut, PlansOut
from meterstack.server.self_service import buy_pack
from meterstack.server.views import customer_usage_json

#: The seed's answer to a cancellation (Aerostack, B9).
CANCEL_MESSAGE = "Subscription will be canceled at end of billing period"

router = APIRouter(
    prefix="/api", responses=dict.fromkeys((401, 402, 403, 404, 409, 422, 429, 503), ERROR_SCHEMA)
)
PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {422: ERROR_SCHEMA, 503: ERROR_SCHEMA}


class CheckoutBody(BaseModel):
    tier: str = Field(min_length=1, max_length=64)
    #: One the catalog offers; the account's current interval when absent (D30).
    billing_interval: str | None = Field(default=None, max_length=16)
    success_url: str | None = Field(default=None, max_length=2000)
    cancel_url: str | None = Field(default=None, max_length=2000)


class ConvertBody(BaseModel):
    user_api_key: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


@router.get("/billing")
def billing(customer: CustomerDep, engine: EngineDep) -> dict[str, Any]:
    """B4: the subscription."""
    subscription = engine.subscription(customer.account_id)
    return {
        "plan_tier": subscription.plan,
        "status": subscription.status,
        "billing_interval": subscription.billing_interval,
        "stripe_customer_id": None,
        "stripe_subscription_id": None,
        "current_period_start": subscription.current_period.start.isoformat(),
        "current_period_end": subscription.current_period.end.isoformat(),
        "cancel_at_period_end": subscription.status == "cancelling",
        "pending_plan": subscription.pending_plan,
        # What an upgrade left in the customer's favour; the next invoices spend it (D10).
        "account_credit": format_money(subscription.account_credit, engine.catalog.currency),
    }


@router.get("/billing/plans", response_model=PlansOut, responses=PUBLIC_ERRORS)
def plans(engine: EngineDep) -> PlansOut:
    """B5: the public price list, no credentials needed: every plan with its prices, limits,
    features, support level, uptime SLA, analytics retention and exports."""
    return PlansOut.of(engine.catalog)


@router.get("/billing/usage")
def usage(customer: CustomerDep, engine: EngineDep) -> dict[str, Any]:
    """B6: usage per meter and resource counts for the current period, and the wallet's
    balance where the catalog has a wallet (B2)."""
    body = customer_usage_json(engine.catalog, engine.usage(customer.account_id))
    if engine.catalog.wallet is not None:
        body["wallet_balance"] = str(engine.wallet(customer.account_id).balance)
    return body


@router.post("/billing/checkout")
def checkout(body: CheckoutBody, customer: CustomerDep, engine: EngineDep) -> dict[str, Any]:
    """B8: a hosted checkout; the plan changes once it is paid."""
    made = engine.checkout(
        customer.account_id,
        plan=body.tier,
        interval=body.billing_interval,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return {"url": made.url, "checkout_id": made.id}


@router.post("/billing/cancel")
def cancel(customer: CustomerDep, engine: EngineDep) -> dict[str, Any]:
    """B9: keep the plan until the paid interval ends, then the fallback plan (D30)."""
    subscription = engine.cancel(customer.account_id)
    assert subscription.pending is not None
    return {
        "success": True,
        "message": CANCEL_MESSAGE,
        "effective_at": subscription.pending.effective_at.isoformat(),
        "plan_after": subscription.pending.plan_id,
    }


@router.get("/billing/portal")
def portal(customer: CustomerDep, engine: EngineDep) -> dict[str, Any]:
    """B10: the customer portal."""
    return {"url": engine.portal_url(customer.account_id)}


@router.post("/billing/logic-engine-package", response_model=PackPurchaseOut | CheckoutOut)
def logic_engine_package(
    customer: CustomerDep,
    engine: EngineDep,
    package_size: str = Query(min_length=1, max_length=32),
) -> PackPurchaseOut | CheckoutOut:
    """A6: +10,000 / +50,000 / +100,000 logic engine calls a month, one-time."""
    return buy_pack(engine, customer.account_id, "logic_engine_calls", package_size)


@router.post("/billing/api-calls-package", response_model=PackPurchaseOut | CheckoutOut)
def api_calls_package(
    customer: CustomerDep,
    engine: EngineDep,
    package_size: str = Query(min_length=1, max_length=32),
) -> PackPurchaseOut | CheckoutOut:
    """A6: +100,000 / +500,000 / +1,000,000 API calls a month, one-time."""
    return buy_pack(engine, customer.account_id, "api_calls", package_size)


@router.post("/auth/anonymous", status_code=201)
def anonymous(request: Request, engine: EngineDep) -> dict[str, Any]:
    """D19: an anonymous account and its ``anon_ask_`` key, no registration (A7)."""
    client = request.client.host if request.client else "unknown"
    per_hour = settings_of(request).anonymous_per_hour
    # Counted in the store: the limit holds across servers, workers and restarts.
    account, key = engine.create_anonymous_account(client=client, per_hour=per_hour)
    return {"user_api_key": key.key, "account_id": account.id, "tier": account.plan}


@router.post("/auth/convert-anonymous")
def convert_anonymous(body: ConvertBody, engine: EngineDep) -> dict[str, Any]:
    """A7: move an anonymous account onto FREE with its usage and data; a new key."""
    account, key = engine.convert_anonymous(
        body.user_api_key, name=body.name, email=body.email, password=body.password
    )
    return {"account_id": account.id, "tier": account.plan, "user_api_key": key.key}
