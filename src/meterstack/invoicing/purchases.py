"""Buying a pack (A4, A6, D11): its own invoice, and its capacity once that invoice is paid.

The embedded default collects payment itself (the local provider): the invoice is finalized and
paid in the same transaction that grants the pack, so a purchase is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.schema import Pack
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.invoicing.close import DEFAULT_SEQUENCE
from meterstack.invoicing.issue import issue_invoice
from meterstack.invoicing.model import Invoice, InvoiceLine
from meterstack.money import round_money
from meterstack.rules.terms import item_terms, plan_of
from meterstack.services.accounts import require_payments
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.levers import PackGrant
from meterstack.store.sql import Transaction

PACK_INVOICE = "pack"


@dataclass(frozen=True)
class PackPurchase:
    grant: PackGrant
    invoice: Invoice
    #: The item's effective limit with the pack (None: unlimited).
    new_limit: int | None


class Purchases:
    def __init__(self, ctx: ServiceContext, *, sequence: str = DEFAULT_SEQUENCE) -> None:
        self.ctx = ctx
        self.sequence = sequence

    def buy_pack(self, account_id: str, pack_id: str) -> PackPurchase:
        """Invoice the pack as its own line, collect it, and grant the capacity (D11)."""
        with self.ctx.store.transaction() as tx:
            return self.buy_pack_in(tx, account_id, pack_id)

    def pack_for(self, account_id: str, item: str, size: str) -> str:
        """The pack of ``item`` with ``size`` in the account's catalog (A6's ``package_size``)."""
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
        for pack_id, pack in catalog.packs.items():
            if pack.item == item and pack.size == size:
                return pack_id
        sizes = sorted({p.size for p in catalog.packs.values() if p.item == item and p.size})
        raise InvalidInputError(
            f"package_size must be one of {', '.join(sizes) or 'nothing: no packs'}, got {size!r}",
            package_size=size,
        )

    def check_pack(self, account_id: str, pack_id: str) -> None:
        """Refuse a purchase before any checkout: unknown pack, or a plan without payments."""
        with self.ctx.store.transaction() as tx:
            self._pack(tx, account_id, pack_id)

    def _pack(self, tx: Transaction, account_id: str, pack_id: str) -> Pack:
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        pack = catalog.packs.get(pack_id)
        if pack is None:
            raise NotFoundError(
                f"unknown pack {pack_id!r}; catalog {catalog.catalog!r} packs: "
                + ", ".join(catalog.packs),
                pack_id=pack_id,
            )
        require_payments(plan_of(catalog, state), f"the {pack.name}")
        return pack

    def buy_pack_in(self, tx: Transaction, account_id: str, pack_id: str) -> PackPurchase:
        """:meth:`buy_pack` inside the caller's transaction."""
        now = self.ctx.now()
        pack = self._pack(tx, account_id, pack_id)
        state = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        period = self.ctx.period(catalog, state, now)
        grant_id = new_id("pack")
        amount = round_money(pack.price, catalog.currency)
        line = InvoiceLine(
            position=1,
            kind="pack",
            description=f"{pack.name} (one-time, permanent capacity)",
            item=pack.item,
            quantity=Decimal(1),
            unit_price=amount,
            amount=amount,
            derivation={
                "pack": pack_id,
                "item": pack.item,
                "units": pack.quantity,
                "price": str(pack.price),
                "amount": str(amount),
                "note": f"{pack_id}: +{pack.quantity:,} {pack.item} every period, "
                f"one-time price {amount}",
            },
        )
        paid = issue_invoice(
            tx,
            account_id=account_id,
            kind=PACK_INVOICE,
            catalog=catalog,
            plan_id=state.plan_id,
            period=period,
            lines=[line],
            now=now,
            paid=True,
            sequence=self.sequence,
        )
        tx.insert_pack(grant_id, account_id, pack_id, now, "purchase")
        self.ctx.changed(tx, account_id)
        state = self.ctx.state(tx, account_id)
        new_limit = item_terms(catalog, state, pack.item).limit
        return PackPurchase(PackGrant(grant_id, account_id, pack_id, now), paid, new_limit)
