"""Marketplace sales (B2, D23): the creator's price of a call, and the split of what it paid.

A call of a ``per_item`` operation is charged at its item's price; in the transaction of the
charge the creator's earnings are credited the price × (1 − platform fee) and the platform the
rest, so the three entries land together or not at all. A creator calling their own item
would pay themselves less the fee: refused (403 ``own_item``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Operation
from meterstack.errors import InvalidInputError, MeterstackError, NotFoundError
from meterstack.records.wallet import (
    Book,
    Charge,
    ChargeRequest,
    EntryKind,
    LedgerEntry,
    MarketplaceItem,
)
from meterstack.rules.wallet import split_sale
from meterstack.store.ports import UnitOfWork

#: The account the platform's fees are booked to.
PLATFORM_ACCOUNT = "platform"


class OwnItemError(MeterstackError):
    """A creator called their own item (D23)."""

    code = "own_item"
    http_status = 403


@dataclass(frozen=True)
class SaleTerms:
    item: MarketplaceItem
    item_price: Decimal
    platform_fee_percent: Decimal


class Sale:
    def priced(
        self, tx: UnitOfWork, catalog: Catalog, request: ChargeRequest, operation: Operation
    ) -> SaleTerms | None:
        """The item a call is a sale of, or None for an operation with a catalog price."""
        if operation.price != "per_item":
            if request.item_id is not None:
                raise InvalidInputError(
                    f"operation {request.operation!r} has a catalog price; it takes no item",
                    field="item_id",
                )
            return None
        if request.item_id is None:
            raise InvalidInputError(
                f"operation {request.operation!r} is priced by its item: give item_id",
                field="item_id",
            )
        item = tx.wallet.item(request.item_id)
        if item is None or item.operation != request.operation:
            raise NotFoundError(
                f"no marketplace item {request.item_id!r} for {request.operation!r}",
                item_id=request.item_id,
            )
        if item.creator_id == request.account_id:
            raise OwnItemError("a creator cannot call their own paid item", item_id=item.id)
        assert catalog.wallet is not None
        return SaleTerms(item, item.price, catalog.wallet.platform_fee_percent)

    def credit(self, tx: UnitOfWork, sale: SaleTerms, charge: Charge, now: datetime) -> None:
        """The creator's credit and the platform's fee of an admitted call (D23)."""
        assert charge.entry_id is not None
        creator, fee = split_sale(charge.price, sale.platform_fee_percent)
        for account_id, book, kind, amount in (
            (sale.item.creator_id, Book.EARNINGS, EntryKind.CREATOR_CREDIT, creator),
            (PLATFORM_ACCOUNT, Book.PLATFORM, EntryKind.PLATFORM_FEE, fee),
        ):
            tx.wallet.insert_entry(
                LedgerEntry(
                    id=f"{charge.entry_id}_{kind.value[:3]}",
                    account_id=account_id,
                    book=book,
                    kind=kind,
                    amount=amount,
                    created_at=now,
                    operation=charge.operation,
                    quantity=charge.quantity,
                    item_id=sale.item.id,
                    reference=charge.entry_id,
                )
            )

    def claw_back(self, tx: UnitOfWork, charge: LedgerEntry, now: datetime) -> None:
        """A refunded call takes its split back (D23): the creator's credit off their earnings
        (which may go negative, netted against later sales, when it was paid out already) and
        the platform's fee off the platform's."""
        if charge.item_id is None:
            return
        for kind, reference in (
            (EntryKind.CREATOR_CREDIT, charge.id),
            (EntryKind.PLATFORM_FEE, charge.id),
        ):
            credited = tx.wallet.by_reference(kind, reference)
            if credited is None:
                continue
            tx.wallet.insert_entry(
                LedgerEntry(
                    id=f"{credited.id}_cb",
                    account_id=credited.account_id,
                    book=credited.book,
                    kind=EntryKind.CLAWBACK,
                    amount=-credited.amount,
                    created_at=now,
                    operation=credited.operation,
                    quantity=credited.quantity,
                    item_id=credited.item_id,
                    reference=credited.id,
                )
            )
