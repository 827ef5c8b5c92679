"""Customer self-service under ``/api/billing`` (A2, A4, A5, B9, C7, D3, D30): what the seeds let
an account do for itself besides buying, with the same rules as every other door.

Overage switches, invoices (JSON or PDF), a downgrade at the end of the paid interval, resuming a
cancellation or downgrade, storage packs, and the account's user API keys.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from meterstack.engine import Engine
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import Checkout
from meterstack.server.auth import Customer, CustomerDep, EngineDep
from meterstack.server.bodies import Body, Id, Interval, Label, Name, PlanId
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.schemas import (
    ApiKeyOut,
    ApiKeysOut,
    CheckoutOut,
    InvoiceLineOut,
    InvoiceOut,
    InvoicesOut,
    InvoiceSummaryOut,
    IssuedKeyOut,
    OverageOut,
    PackPurchaseOut,
    PlanChangeOut,
    SubscriptionOut,
    WalletSpendOut,
)
from meterstack.services.invoicing.purchases import PackPurchase
from meterstack.services.invoicing.render import render_pdf
from meterstack.services.keys import ApiKey

router = APIRouter(prefix="/api/billing", route_class=DoorRoute)

#: The storage item the seed's storage packages raise (A4).
STORAGE_ITEM = "project_storage"
KeyId = Annotated[str, Path(min_length=1, max_length=80)]
Number = Annotated[str, Path(min_length=1, max_length=40)]


#: Every customer route: no or a wrong key (401), a project key (403), the store (503).
CUSTOMER = (401, 403, 503)
#: A route with a body: too large (413), malformed (422).
BODY = (413, 422)


def _errors(*statuses: int) -> dict[int | str, dict[str, object]]:
    return errors(*CUSTOMER, *statuses)


class OverageBody(Body):
    enabled: bool
    #: One meter (or gauge) only; every item when absent.
    meter: Name | None = None
    #: One project's switch; the account's when absent (D3: the project's wins).
    project_id: Id | None = None


class DowngradeBody(Body):
    tier: PlanId
    #: One the catalog offers; the account's current interval when absent.
    billing_interval: Interval | None = None


class KeyBody(Body):
    name: Annotated[Label, Field(min_length=1)] | None = None


@router.put("/overage", response_model=OverageOut, responses=_errors(*BODY, 402, 404))
def set_overage(body: OverageBody, customer: CustomerDep, engine: EngineDep) -> OverageOut:
    """A5, D3: turn overage on or off for the account, a project or one meter.

    Turning it on needs a plan with payments (402 ``upgrade_required``) and, once a real
    provider is configured, a payment method (402 ``payment_method_required``).
    """
    engine.switch_overage(
        customer.account_id,
        body.enabled,
        meter=body.meter,
        project_id=body.project_id,
        actor=customer.actor,
    )
    return OverageOut(
        success=True, enabled=body.enabled, meter=body.meter, project_id=body.project_id
    )


@router.get("/invoices", response_model=InvoicesOut, responses=_errors())
def invoices(customer: CustomerDep, engine: EngineDep) -> InvoicesOut:
    """The account's invoices, oldest first."""
    return InvoicesOut(invoices=[_summary(found) for found in engine.invoices(customer.account_id)])


@router.get(
    "/invoices/{number}",
    response_model=InvoiceOut,
    responses={
        **_errors(404, 422),
        200: {"content": {"application/json": {}, "application/pdf": {}}},
    },
)
def invoice(
    number: Number,
    customer: CustomerDep,
    engine: EngineDep,
    format: Literal["json", "pdf"] = "json",
) -> Response | InvoiceOut:
    """One invoice of the account, as JSON or PDF; another account's is 404."""
    found = engine.invoice(number, account_id=customer.account_id)
    if format == "pdf":
        return Response(
            render_pdf(found),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{number}.pdf"'},
        )
    return InvoiceOut(
        **_summary(found).model_dump(),
        lines=[
            InvoiceLineOut(
                kind=line.kind,
                description=line.description,
                item=line.item,
                quantity=str(line.quantity),
                unit_price=str(line.unit_price),
                amount=str(line.amount),
                derivation=line.derivation,
            )
            for line in found.lines
        ],
        wallet_spend=[
            WalletSpendOut(
                operation=spent.operation, quantity=spent.quantity, amount=str(spent.amount)
            )
            for spent in found.wallet_spend
        ],
    )


@router.post("/downgrade", response_model=PlanChangeOut, responses=_errors(*BODY, 409))
def downgrade(body: DowngradeBody, customer: CustomerDep, engine: EngineDep) -> PlanChangeOut:
    """C7, D30: move to a cheaper self-serve plan at the end of the paid interval."""
    change = engine.downgrade(
        customer.account_id, body.tier, body.billing_interval, actor=customer.actor
    )
    subscription = change.subscription
    waiting = subscription.pending
    return PlanChangeOut(
        success=True,
        plan=subscription.plan,
        pending_plan=subscription.pending_plan,
        billing_interval=subscription.billing_interval
        if waiting is None
        else waiting.billing_interval,
        effective_at=None if waiting is None else waiting.effective_at.isoformat(),
    )


@router.post("/resume", response_model=SubscriptionOut, responses=_errors(409))
def resume(customer: CustomerDep, engine: EngineDep) -> SubscriptionOut:
    """Withdraw a cancellation or downgrade before it takes effect; 409 when none waits."""
    subscription = engine.resume(customer.account_id, actor=customer.actor)
    return SubscriptionOut(
        success=True,
        plan=subscription.plan,
        status=subscription.status,
        pending_plan=subscription.pending_plan,
    )


@router.post(
    "/storage-package",
    response_model=PackPurchaseOut | CheckoutOut,
    responses=_errors(422),
)
def storage_package(
    customer: CustomerDep,
    engine: EngineDep,
    package_size: str = Query(min_length=1, max_length=32),
) -> PackPurchaseOut | CheckoutOut:
    """A4: +5 GB / +10 GB / +25 GB of project storage, one-time (``package_size=5gb``…)."""
    return buy_pack(engine, customer, STORAGE_ITEM, package_size)


def buy_pack(
    engine: Engine, customer: Customer, item: str, size: str
) -> PackPurchaseOut | CheckoutOut:
    """A customer's pack purchase: granted at once, or a checkout to pay first (A4, A6, D11)."""
    pack_id = engine.pack_for(customer.account_id, item, size)
    result = engine.purchase_pack(customer.account_id, pack_id, actor=customer.actor)
    if isinstance(result, Checkout):
        return CheckoutOut(url=result.url, checkout_id=result.id)
    assert isinstance(result, PackPurchase)
    return PackPurchaseOut(
        success=True,
        pack=pack_id,
        amount=str(result.invoice.total),
        invoice_number=result.invoice.number,
        new_limit=result.new_limit,
    )


@router.get("/api-keys", response_model=ApiKeysOut, responses=_errors())
def list_keys(customer: CustomerDep, engine: EngineDep) -> ApiKeysOut:
    """The account's live user API keys (never their text), oldest first (A2)."""
    keys = engine.api_keys(customer.account_id, user_only=True)
    return ApiKeysOut(keys=[_key(key) for key in keys])


@router.post(
    "/api-keys", status_code=201, response_model=IssuedKeyOut, responses=_errors(*BODY, 429)
)
def create_key(body: KeyBody, customer: CustomerDep, engine: EngineDep) -> IssuedKeyOut:
    """A new user API key within the plan's "User API Keys" limit (A2; 429 past it).

    The key's text is in this answer only: store it now, it cannot be shown again.
    """
    issued = engine.create_api_key(customer.account_id, name=body.name, actor=customer.actor)
    return IssuedKeyOut(**_key(issued.api_key).model_dump(), key=issued.key)


@router.delete(
    "/api-keys/{key_id}", status_code=204, response_class=Response, responses=_errors(404, 422)
)
def revoke_key(key_id: KeyId, customer: CustomerDep, engine: EngineDep) -> Response:
    """Revoke one of the account's user keys at once; its slot is free again."""
    engine.revoke_api_key(
        key_id, account_id=customer.account_id, user_only=True, actor=customer.actor
    )
    return Response(status_code=204)


def _summary(found: Invoice) -> InvoiceSummaryOut:
    return InvoiceSummaryOut(
        number=found.number,
        status=str(found.status),
        plan=found.plan,
        currency=found.currency,
        period=found.period_key,
        period_start=found.period_start.isoformat(),
        period_end=found.period_end.isoformat(),
        created_at=found.created_at.isoformat(),
        total=str(found.total),
    )


def _key(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        prefix=key.prefix,
        kind=key.kind,
        name=key.name,
        created_at=key.created_at.isoformat(),
    )
