"""The wallet's doors (B2, D20–D24): the customer's wallet under ``/api/billing/wallet``, the
operator's charges, adjustments, refunds and marketplace items under ``/v1``.

Every route only parses, calls the engine and renders; the rules live in
``meterstack.services.wallet``.
A refused charge is the one error shape with its own status and code (402
``insufficient_balance``, 409 ``price_changed``, 403 ``own_item``, or the refusal of the meter
the operation counts), and the balance and price in ``details``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from meterstack.money import format_money
from meterstack.records.wallet import Charge
from meterstack.server.auth import CustomerDep, EngineDep, OperatorDep, operator_actor
from meterstack.server.contract import DoorRoute, errors
from meterstack.server.errors import error_response
from meterstack.server.operator import BODY, LIMITS, OPERATOR, PATH
from meterstack.server.self_service import CUSTOMER
from meterstack.server.wallet_schemas import (
    AdjustBody,
    AutoReloadBody,
    AutoReloadOut,
    BalanceOut,
    ChargeBody,
    ChargeOut,
    DepositBody,
    DepositOut,
    EntryOut,
    ItemBody,
    ItemOut,
    ItemPriceBody,
    ItemsOut,
    PayoutOut,
    PayoutsOut,
    TransactionsOut,
    WalletOut,
)

customer_router = APIRouter(prefix="/api/billing/wallet", route_class=DoorRoute)
operator_router = APIRouter(prefix="/v1", route_class=DoorRoute)

AccountId = Annotated[str, Path(min_length=1, max_length=80)]
EntryId = Annotated[str, Path(min_length=1, max_length=40)]
Before = Annotated[str | None, Query(min_length=1, max_length=18, pattern=r"^[0-9]+$")]
Limit = Annotated[int, Query(ge=1, le=200)]
#: What a charge may refuse with: a balance that does not cover it (402), the creator's own
#: item (403), a price above ``max_price`` or a reused idempotency key (409), and the refusal
#: of the meter the operation counts (403 past a hard limit, 429 at a limit, or the status
#: the meter declares).
CHARGE_REFUSALS = (402, 403, 409, *LIMITS)


# --------------------------------------------------------------------------- customer


@customer_router.get("", response_model=WalletOut, responses=errors(*CUSTOMER))
def wallet(customer: CustomerDep, engine: EngineDep) -> WalletOut:
    """B2: the balance and the auto-reload settings."""
    return WalletOut.of(engine.wallet(customer.account_id))


@customer_router.get(
    "/transactions", response_model=TransactionsOut, responses=errors(*CUSTOMER, 422)
)
def transactions(
    customer: CustomerDep, engine: EngineDep, before: Before = None, limit: Limit = 50
) -> TransactionsOut:
    """D20: the ledger, newest first; deposits and reloads are their own receipts (D24)."""
    page = engine.wallet_transactions(customer.account_id, before=before, limit=limit)
    return TransactionsOut(
        transactions=[EntryOut.of(entry) for entry in page.entries], next_before=page.next_before
    )


@customer_router.post("/deposit", response_model=DepositOut, responses=errors(*CUSTOMER, *BODY))
def deposit(body: DepositBody, customer: CustomerDep, engine: EngineDep) -> DepositOut:
    """D24: a hosted checkout of a deposit (whole cents, at least the minimum deposit); the
    wallet is credited once when the provider confirms it. 403 for a plan without payments."""
    checkout = engine.deposit(
        customer.account_id,
        body.amount,
        success_url=body.success_url,
        cancel_url=body.cancel_url,
    )
    amount = engine.deposit_amount(checkout.id)
    assert amount is not None
    return DepositOut(
        url=checkout.url,
        checkout_id=checkout.id,
        amount=format_money(amount, engine.catalog.currency),
    )


@customer_router.put(
    "/auto-reload", response_model=AutoReloadOut, responses=errors(*CUSTOMER, *BODY)
)
def auto_reload(body: AutoReloadBody, customer: CustomerDep, engine: EngineDep) -> AutoReloadOut:
    """D21: reload when a charge takes the balance below the threshold; threshold null = off."""
    settings = engine.set_auto_reload(
        customer.account_id,
        threshold=body.threshold,
        amount=body.amount,
        target=body.target,
        actor=customer.actor,
    )
    return AutoReloadOut.of(settings, engine.catalog.currency)


# --------------------------------------------------------------------------- operator


def charge_response(charge: Charge) -> Response:
    """An admitted charge as 200; a refused one as the error, balance and price in details."""
    if charge.allowed:
        return JSONResponse(ChargeOut.of(charge).model_dump())
    details = charge.details()
    if charge.usage is not None:
        details["usage"] = charge.usage.to_dict()
    return error_response(charge.http_status, charge.code, charge.message, details)


@operator_router.post(
    "/accounts/{account_id}/wallet/charge",
    response_model=ChargeOut,
    responses=errors(*OPERATOR, *BODY, *CHARGE_REFUSALS, 404),
)
def charge(account_id: AccountId, body: ChargeBody, _: OperatorDep, engine: EngineDep) -> Response:
    """B2, D20: charge an operation (and count its meter) in one admission."""
    return charge_response(
        engine.charge(
            account_id,
            body.operation,
            body.quantity,
            byok=body.byok,
            item_id=body.item_id,
            max_price=body.max_price,
            project_id=body.project_id,
            idempotency_key=body.idempotency_key,
        )
    )


@operator_router.get(
    "/accounts/{account_id}/wallet",
    response_model=WalletOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def operator_wallet(account_id: AccountId, _: OperatorDep, engine: EngineDep) -> WalletOut:
    return WalletOut.of(engine.wallet(account_id))


@operator_router.post(
    "/accounts/{account_id}/wallet/adjust",
    response_model=BalanceOut,
    responses=errors(*OPERATOR, *BODY, 402, 404),
)
def adjust(
    account_id: AccountId, body: AdjustBody, _: OperatorDep, engine: EngineDep
) -> BalanceOut:
    """D20: an operator's correction, either sign; never below zero (402)."""
    balance = engine.adjust_wallet(
        account_id, body.amount, body.reason, actor=operator_actor(body.reason)
    )
    return BalanceOut(account_id=account_id, balance=str(balance))


@operator_router.post(
    "/wallet/charges/{entry_id}/refund",
    response_model=BalanceOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def refund(entry_id: EntryId, _: OperatorDep, engine: EngineDep) -> BalanceOut:
    """Give a charge back to its wallet, once; a marketplace call's split is clawed back."""
    balance = engine.refund_charge(entry_id, actor=operator_actor())
    account_id = engine.charge_account(entry_id)
    return BalanceOut(account_id=account_id, balance=str(balance))


@operator_router.post(
    "/marketplace/items",
    status_code=201,
    response_model=ItemOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def create_item(body: ItemBody, _: OperatorDep, engine: EngineDep) -> ItemOut:
    """D23: a creator's item, priced per call (at most the catalog's maximum)."""
    item = engine.create_item(
        body.creator_id, body.name, body.price, operation=body.operation, actor=operator_actor()
    )
    return ItemOut.of(item)


@operator_router.get(
    "/marketplace/items/{item_id}", response_model=ItemOut, responses=errors(*OPERATOR, *PATH, 404)
)
def get_item(item_id: EntryId, _: OperatorDep, engine: EngineDep) -> ItemOut:
    return ItemOut.of(engine.item(item_id))


@operator_router.put(
    "/marketplace/items/{item_id}/price",
    response_model=ItemOut,
    responses=errors(*OPERATOR, *BODY, 404),
)
def set_item_price(
    item_id: EntryId, body: ItemPriceBody, _: OperatorDep, engine: EngineDep
) -> ItemOut:
    return ItemOut.of(engine.set_item_price(item_id, body.price, actor=operator_actor()))


@operator_router.get(
    "/marketplace/creators/{account_id}/items",
    response_model=ItemsOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def creator_items(account_id: AccountId, _: OperatorDep, engine: EngineDep) -> ItemsOut:
    return ItemsOut(items=[ItemOut.of(item) for item in engine.items(account_id)])


@operator_router.get(
    "/marketplace/creators/{account_id}/earnings",
    response_model=TransactionsOut,
    responses=errors(*OPERATOR, *PATH, 404),
)
def creator_earnings(
    account_id: AccountId,
    _: OperatorDep,
    engine: EngineDep,
    before: Before = None,
    limit: Limit = 50,
) -> TransactionsOut:
    """D23: a creator's earnings ledger: credits, payouts and clawbacks, newest first."""
    page = engine.earnings_entries(account_id, before=before, limit=limit)
    return TransactionsOut(
        transactions=[EntryOut.of(entry) for entry in page.entries], next_before=page.next_before
    )


@operator_router.post("/payouts/run", response_model=PayoutsOut, responses=errors(*OPERATOR))
def run_payouts(_: OperatorDep, engine: EngineDep) -> PayoutsOut:
    """B11, D23: pay every creator whose earnings reach the minimum payout, in whole cents;
    safe to re-run, even after a crash midway."""
    currency = engine.catalog.currency
    paid = engine.run_payouts(actor=operator_actor())
    return PayoutsOut(payouts=[PayoutOut.of(payout, currency) for payout in paid])
