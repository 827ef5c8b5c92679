"""The customer endpoints the seeds name (B4–B10, A6, A7, D19), under ``/api``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import Field

from meterstack.money import format_money
from meterstack.server.auth import CustomerDep, EngineDep, settings_of
from meterstack.server.bodies import Body, Interval, Label, PlanId, ReturnUrl
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.schemas import (
    AnonymousOut,
    BillingOut,
    CancelOut,
    CheckoutOut,
    ConvertedOut,
    CustomerUsageOut,
    PackPurchaseOut,
    PlansOut,
    PortalOut,
)
from meterstack.server.self_service import CUSTOMER, buy_pack

HOUR = timedelta(hours=1)
#: The seed's answer to a cancellation (Aerostack, B9).
CANCEL_MESSAGE = "Subscription will be canceled at end of billing period"

router = APIRouter(prefix="/api", route_class=DoorRoute)
PackSize = Query(min_length=1, max_length=32)


class CheckoutBody(Body):
    tier: PlanId
    #: One the catalog offers; the account's current interval when absent (D30).
    billing_interval: Interval | None = None
    success_url: ReturnUrl | None = None
    cancel_url: ReturnUrl | None = None


class ConvertBody(Body):
    user_api_key: Annotated[str, Field(min_length=1, max_length=200)]
    name: Annotated[Label, Field(min_length=1)]
    email: Annotated[str, Field(min_length=3, max_length=320)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


@router.get("/billing", response_model=BillingOut, responses=errors(*CUSTOMER))
def billing(customer: CustomerDep, engine: EngineDep) -> BillingOut:
    """B4: the subscription."""
    subscription = engine.subscription(customer.account_id)
    return BillingOut(
        plan_tier=subscription.plan,
        status=subscription.status,
        billing_interval=subscription.billing_interval,
        stripe_customer_id=engine.stripe_customer_id(customer.account_id),
        # meterstack's invoice is the invoice of record (D10): no Stripe Subscription exists.
        stripe_subscription_id=None,
        current_period_start=subscription.current_period.start.isoformat(),
        current_period_end=subscription.current_period.end.isoformat(),
        cancel_at_period_end=subscription.pending is not None
        and subscription.pending.kind == "cancel",
        pending_plan=subscription.pending_plan,
        # What an upgrade left in the customer's favour; the next invoices spend it (D10).
        account_credit=format_money(subscription.account_credit, engine.catalog.currency),
    )


@router.get("/billing/plans", response_model=PlansOut)
def plans(engine: EngineDep) -> PlansOut:
    """B5: the public price list, no credentials needed: every plan with its prices, limits,
    features, support level, uptime SLA, analytics retention and exports."""
    return PlansOut.of(engine.catalog)


@router.get("/billing/usage", response_model=CustomerUsageOut, responses=errors(*CUSTOMER))
def usage(customer: CustomerDep, engine: EngineDep) -> CustomerUsageOut:
    """B6: usage per meter and resource counts for the current period."""
    balance = None if engine.catalog.wallet is None else engine.wallet(customer.account_id).balance
    return CustomerUsageOut.of(engine.catalog, engine.usage(customer.account_id), balance)


@router.post(
    "/billing/checkout",
    response_model=CheckoutOut,
    responses=errors(*CUSTOMER, 409, 413, 422),
)
def checkout(body: CheckoutBody, customer: CustomerDep, engine: EngineDep) -> CheckoutOut:
    """B8: a hosted checkout; the plan changes once it is paid."""
    made = engine.checkout(
        customer.account_id,
        plan=body.tier,
        interval=body.billing_interval,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    return CheckoutOut(url=made.url, checkout_id=made.id)


@router.post("/billing/cancel", response_model=CancelOut, responses=errors(*CUSTOMER, 422))
def cancel(customer: CustomerDep, engine: EngineDep) -> CancelOut:
    """B9: keep the plan until the paid interval ends, then the fallback plan (D30)."""
    subscription = engine.cancel(customer.account_id, actor=customer.actor)
    assert subscription.pending is not None
    return CancelOut(
        success=True,
        message=CANCEL_MESSAGE,
        effective_at=subscription.pending.effective_at.isoformat(),
        plan_after=subscription.pending.plan_id,
    )


@router.get("/billing/portal", response_model=PortalOut, responses=errors(*CUSTOMER))
def portal(customer: CustomerDep, engine: EngineDep) -> PortalOut:
    """B10: the customer portal; the link opens it for a limited time (an hour by default)."""
    return PortalOut(url=engine.portal_url(customer.account_id))


#: What a customer's pack purchase may answer besides: an unknown size (422); a plan without
#: payments is 403 and no payment provider 503.
PACK_ERRORS = errors(*CUSTOMER, 422)


@router.post(
    "/billing/logic-engine-package",
    response_model=PackPurchaseOut | CheckoutOut,
    responses=PACK_ERRORS,
)
def logic_engine_package(
    customer: CustomerDep, engine: EngineDep, package_size: str = PackSize
) -> PackPurchaseOut | CheckoutOut:
    """A6: +10,000 / +50,000 / +100,000 logic engine calls a month, one-time."""
    return buy_pack(engine, customer, "logic_engine_calls", package_size)


@router.post(
    "/billing/api-calls-package",
    response_model=PackPurchaseOut | CheckoutOut,
    responses=PACK_ERRORS,
)
def api_calls_package(
    customer: CustomerDep, engine: EngineDep, package_size: str = PackSize
) -> PackPurchaseOut | CheckoutOut:
    """A6: +100,000 / +500,000 / +1,000,000 API calls a month, one-time."""
    return buy_pack(engine, customer, "api_calls", package_size)


@router.post(
    "/auth/anonymous", status_code=201, response_model=AnonymousOut, responses=errors(429, 503)
)
def anonymous(request: Request, engine: EngineDep) -> AnonymousOut:
    """D19: an anonymous account and its ``anon_ask_`` key, no registration (A7)."""
    client = request.client.host if request.client else "unknown"
    per_hour = settings_of(request).anonymous_per_hour
    # Counted in the store: the limit holds across servers, workers and restarts.
    account, key = engine.create_anonymous_account(client=client, per_hour=per_hour)
    return AnonymousOut(user_api_key=key.key, account_id=account.id, tier=account.plan)


@router.post(
    "/auth/convert-anonymous",
    response_model=ConvertedOut,
    responses=errors(401, 409, 413, 422, 503),
)
def convert_anonymous(body: ConvertBody, engine: EngineDep) -> ConvertedOut:
    """A7: move an anonymous account onto FREE with its usage and data; a new key."""
    account, key = engine.convert_anonymous(
        body.user_api_key, name=body.name, email=body.email, password=body.password
    )
    return ConvertedOut(account_id=account.id, tier=account.plan, user_api_key=key.key)
