"""Pydantic models of the wallet's doors (B2, D15, D20–D24): money as decimal strings.

Request bodies are strict :class:`~meterstack.server.bodies.Body` models: an amount is a
decimal string (``"10.00"``; the JSON number ``10.0`` is refused), a field the route does not
know is refused. Whole cents, minimums and the catalog's ceilings are the wallet's own rules
(``meterstack.services.wallet``), each a 422 naming the field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from meterstack.bounds import MAX_AMOUNT
from meterstack.money import format_money
from meterstack.records.wallet import (
    Charge,
    LedgerEntry,
    MarketplaceItem,
    Payout,
    Reload,
    WalletSettings,
    WalletView,
)
from meterstack.server.bodies import (
    Body,
    DecimalText,
    Id,
    IdempotencyKey,
    Name,
    Quantity,
    ReturnUrl,
)

#: An amount as JSON carries it (D15): a decimal string, at most six places, of either sign
#: (an adjustment may take money off; the other doors refuse a negative amount themselves).
#: Bounds as ints: pydantic's refusal then reads ``less than or equal to 1000000000000`` as a
#: person writes it, where a Decimal bound reads ``Decimal('1000000000000')``.
Amount = Annotated[DecimalText, Field(ge=-int(MAX_AMOUNT), le=int(MAX_AMOUNT), decimal_places=6)]
ItemId = Annotated[str, Field(min_length=1, max_length=40)]


def money(value: Decimal) -> str:
    return str(value)


class AutoReloadBody(Body):
    """D21: a threshold and a reload amount or a target balance; threshold null = off."""

    threshold: Amount | None = None
    amount: Amount | None = None
    target: Amount | None = None


class AutoReloadOut(BaseModel):
    """D21: amounts in whole cents."""

    enabled: bool
    threshold: str | None
    amount: str | None
    target: str | None

    @classmethod
    def of(cls, settings: WalletSettings, currency: str) -> AutoReloadOut:
        def cents(value: Decimal | None) -> str | None:
            return None if value is None else format_money(value, currency)

        return cls(
            enabled=settings.threshold is not None,
            threshold=cents(settings.threshold),
            amount=cents(settings.amount),
            target=cents(settings.target),
        )


class ReloadOut(BaseModel):
    id: str
    amount: str
    status: str
    created_at: str
    settled_at: str | None
    reason: str | None

    @classmethod
    def of(cls, reload: Reload, currency: str) -> ReloadOut:
        return cls(
            id=reload.id,
            amount=format_money(reload.amount, currency),
            status=str(reload.status),
            created_at=reload.created_at.isoformat(),
            settled_at=None if reload.settled_at is None else reload.settled_at.isoformat(),
            reason=reload.reason,
        )


class WalletOut(BaseModel):
    """B2: the balance and the auto-reload settings."""

    account_id: str
    currency: str
    balance: str
    auto_reload: AutoReloadOut
    pending_reload: ReloadOut | None
    #: What a lost dispute left owed; above zero, charges are refused 402 ``wallet_suspended``
    #: until a deposit pays it.
    owed: str

    @classmethod
    def of(cls, view: WalletView) -> WalletOut:
        return cls(
            account_id=view.account_id,
            currency=view.currency,
            balance=money(view.balance),
            owed=format_money(view.settings.owed, view.currency),
            auto_reload=AutoReloadOut.of(view.settings, view.currency),
            pending_reload=None
            if view.pending_reload is None
            else ReloadOut.of(view.pending_reload, view.currency),
        )


class EntryOut(BaseModel):
    """One ledger entry; a deposit's or a reload's is its receipt (D24)."""

    id: str
    kind: str
    amount: str
    created_at: str
    operation: str | None
    quantity: int
    byok: bool
    project_id: str | None
    item_id: str | None
    reference: str | None
    memo: str | None

    @classmethod
    def of(cls, entry: LedgerEntry) -> EntryOut:
        return cls(
            id=entry.id,
            kind=str(entry.kind),
            amount=money(entry.amount),
            created_at=entry.created_at.isoformat(),
            operation=entry.operation,
            quantity=entry.quantity,
            byok=entry.byok,
            project_id=entry.project_id,
            item_id=entry.item_id,
            reference=entry.reference,
            memo=entry.memo,
        )


class TransactionsOut(BaseModel):
    """A page of the ledger, newest first; ``next_before`` reads the next (older) page."""

    transactions: list[EntryOut]
    next_before: str | None


class DepositBody(Body):
    amount: Amount
    success_url: ReturnUrl | None = None
    cancel_url: ReturnUrl | None = None


class DepositOut(BaseModel):
    """D24: the provider's checkout; the wallet is credited once it is paid."""

    url: str
    checkout_id: str
    amount: str


class ChargeBody(Body):
    operation: Name
    quantity: Quantity = 1
    byok: bool = False
    #: The marketplace item a call of a ``per_item`` operation buys (D23).
    item_id: ItemId | None = None
    #: The most the caller agreed to pay; a higher price is 409 ``price_changed``.
    max_price: Amount | None = None
    project_id: Id | None = None
    idempotency_key: IdempotencyKey | None = None


class ChargeOut(BaseModel):
    """An admitted charge (B2, D20); a refused one is the error with balance and price."""

    allowed: bool
    code: str
    operation: str
    quantity: int
    unit_price: str
    price: str
    balance: str
    byok: bool
    item_id: str | None
    project_id: str | None
    entry_id: str | None
    replayed: bool
    reload_id: str | None
    as_of: str

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        return cls(
            allowed=charge.allowed,
            code=charge.code,
            operation=charge.operation,
            quantity=charge.quantity,
            unit_price=money(charge.unit_price),
            price=money(charge.price),
            balance=money(charge.balance),
            byok=charge.byok,
            item_id=charge.item_id,
            project_id=charge.project_id,
            entry_id=charge.entry_id,
            replayed=charge.replayed,
            reload_id=charge.reload_id,
            as_of=charge.as_of.isoformat(),
        )


class AdjustBody(Body):
    #: Either sign; a balance is never taken below zero (402).
    amount: Amount
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class BalanceOut(BaseModel):
    account_id: str
    balance: str


class ItemBody(Body):
    creator_id: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    #: Per call, above 0 and at most the catalog's ``max_item_price``.
    price: Amount
    operation: Name | None = None


class ItemPriceBody(Body):
    price: Amount


class ItemOut(BaseModel):
    id: str
    creator_id: str
    operation: str
    name: str
    price: str
    created_at: str

    @classmethod
    def of(cls, item: MarketplaceItem) -> ItemOut:
        return cls(
            id=item.id,
            creator_id=item.creator_id,
            operation=item.operation,
            name=item.name,
            price=money(item.price),
            created_at=item.created_at.isoformat(),
        )


class ItemsOut(BaseModel):
    items: list[ItemOut]


class PayoutOut(BaseModel):
    id: str
    creator_id: str
    amount: str
    status: str
    created_at: str

    @classmethod
    def of(cls, payout: Payout, currency: str) -> PayoutOut:
        return cls(
            id=payout.id,
            creator_id=payout.creator_id,
            amount=format_money(payout.amount, currency),
            status=payout.status,
            created_at=payout.created_at.isoformat(),
        )


class PayoutsOut(BaseModel):
    """D23: the payouts this run paid (a re-run pays nothing twice)."""

    payouts: list[PayoutOut]


class EarningsOut(BaseModel):
    creator_id: str
    earnings: str
