"""Marketplace creators and their items (B2, D23).

A creator is any account that publishes an item: a ``per_item`` operation of the catalog with
the creator's price per call, at most the catalog's ``max_item_price``. Calls of an item are
charged to the caller (``wallet.charging``) and split in the same transaction
(``wallet.sales``); the creator's earnings are a ledger book of their own, paid out by a payout
run (``wallet.payouts``). Publishing an item and changing its price are recorded in the audit
log under the creator's account, with the price before and after.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.catalog.schema import Catalog
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.wallet import MarketplaceItem
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.wallet.amounts import amount_of
from meterstack.services.wallet.charging import operation_of

MAX_NAME = 200


class Marketplace:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def create_item(
        self,
        creator_id: str,
        name: str,
        price: Decimal,
        *,
        operation: str | None = None,
        actor: Actor = PYTHON,
    ) -> MarketplaceItem:
        """Publish an item of ``creator_id`` priced ``price`` per call."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise InvalidInputError(f"name must be 1 to {MAX_NAME} characters", field="name")
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, creator_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            operation_id = operation or _item_operation(catalog)
            if operation_of(catalog, operation_id).price != "per_item":
                raise InvalidInputError(
                    f"operation {operation_id!r} has a catalog price; items are for "
                    "per_item operations",
                    field="operation",
                )
            item = MarketplaceItem(
                id=new_id("item"),
                creator_id=creator_id,
                operation=operation_id,
                name=name.strip(),
                price=_item_price(catalog, price),
                created_at=self.ctx.now(),
            )
            tx.wallet.insert_item(item)
            record(
                tx,
                item.created_at,
                actor,
                creator_id,
                "marketplace.item_published",
                after={
                    "item_id": item.id,
                    "name": item.name,
                    "operation": item.operation,
                    "price": item.price,
                },
            )
            return item

    def set_price(
        self,
        item_id: str,
        price: Decimal,
        *,
        creator_id: str | None = None,
        actor: Actor = PYTHON,
    ) -> MarketplaceItem:
        """The creator's new price per call; later calls pay it (a caller's ``max_price``
        guards against a change it did not see: 409 ``price_changed``)."""
        with self.ctx.store.transaction() as tx:
            item = tx.wallet.item(item_id)
            if item is None or (creator_id is not None and item.creator_id != creator_id):
                raise NotFoundError(f"no marketplace item {item_id!r}", item_id=item_id)
            state = self.ctx.state(tx, item.creator_id)
            amount = _item_price(self.ctx.catalog(tx, state.catalog_hash), price)
            tx.wallet.set_item_price(item_id, amount)
            record(
                tx,
                self.ctx.now(),
                actor,
                item.creator_id,
                "marketplace.price_changed",
                before={"item_id": item.id, "price": item.price},
                after={"item_id": item.id, "price": amount},
            )
            return MarketplaceItem(
                item.id, item.creator_id, item.operation, item.name, amount, item.created_at
            )

    def item(self, item_id: str) -> MarketplaceItem:
        with self.ctx.store.transaction() as tx:
            item = tx.wallet.item(item_id)
        if item is None:
            raise NotFoundError(f"no marketplace item {item_id!r}", item_id=item_id)
        return item

    def items_of(self, creator_id: str) -> list[MarketplaceItem]:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, creator_id)
            return tx.wallet.items_of(creator_id)


def _item_operation(catalog: Catalog) -> str:
    wallet = catalog.wallet
    per_item = (
        []
        if wallet is None
        else [op_id for op_id, op in wallet.operations.items() if op.price == "per_item"]
    )
    if len(per_item) != 1:
        raise InvalidInputError(
            "name the item's operation: the catalog has "
            + (", ".join(per_item) if per_item else "no per_item operation"),
            field="operation",
        )
    return per_item[0]


def _item_price(catalog: Catalog, price: object) -> Decimal:
    amount = amount_of(price, "price", positive=True)
    wallet = catalog.wallet
    ceiling = None if wallet is None else wallet.max_item_price
    if amount <= 0 or (ceiling is not None and amount > ceiling):
        raise InvalidInputError(
            f"an item's price per call must be above 0 and at most {ceiling}, got {price}",
            field="price",
        )
    return amount
