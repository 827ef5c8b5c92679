"""Buying a pack (A4, A6, D11): its own invoice, and its capacity once that invoice is paid.

The embedded default collects payment itself (the local provider): the invoice is finalized and
paid in the same transaction that grants the pack, so a purchase is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterstack.catalog.render import format_limit
from meterstack.catalog.schema import Catalog, Pack
from meterstack.errors import InvalidInputError, NotFoundError
from meterstack.money import format_money, round_money
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.invoicing import Invoice, InvoiceLine
from meterstack.records.payments import CheckoutCharge
from meterstack.rules.periods import day_name, period_name
from meterstack.rules.terms import item_terms, plan_of
from meterstack.services.accounts import require_payments
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.invoicing.close import DEFAULT_SEQUENCE
from meterstack.services.invoicing.issue import issue_invoice
from meterstack.services.levers import PackGrant
from meterstack.store.ports import UnitOfWork

PACK_INVOICE = "pack"


@dataclass(frozen=True)
class PackPurchase:
    grant: PackGrant
    invoice: Invoice
    #: The item's effective limit with the pack (None: unlimited).
    new_limit: int | None


#: Byte units, largest first, for the size names of storage packs (1 GB = 10^9 bytes, D8).
_BYTE_UNITS = (("tb", 10**12), ("gb", 10**9), ("mb", 10**6), ("kb", 10**3))


def size_name(catalog: Catalog, pack: Pack) -> str:
    """The name a purchase asks a pack by: its ``size``, else its quantity (``5gb``, ``10000``)."""
    if pack.size is not None:
        return pack.size
    if catalog.items[pack.item].unit == "byte":
        for suffix, bytes_per in _BYTE_UNITS:
            if pack.quantity % bytes_per == 0:
                return f"{pack.quantity // bytes_per}{suffix}"
        return f"{pack.quantity}b"
    return str(pack.quantity)


class Purchases:
    def __init__(self, ctx: ServiceContext, *, sequence: str = DEFAULT_SEQUENCE) -> None:
        self.ctx = ctx
        self.sequence = sequence

    def buy_pack(self, account_id: str, pack_id: str, *, actor: Actor = PYTHON) -> PackPurchase:
        """Invoice the pack as its own line, collect it, and grant the capacity (D11)."""
        with self.ctx.store.transaction() as tx:
            return self.buy_pack_in(tx, account_id, pack_id, actor=actor)

    def pack_for(self, account_id: str, item: str, size: str) -> str:
        """The pack of ``item`` with ``size`` in the account's catalog (A6's ``package_size``).

        A pack's size is its ``size`` (``small``…), or, for a pack without one, its quantity:
        ``5gb`` for 5 GB of storage (A4: the seed's storage packages have no other name).
        """
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, account_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
        wanted = size.replace(" ", "").lower()
        sizes = {
            size_name(catalog, pack): pack_id
            for pack_id, pack in catalog.packs.items()
            if pack.item == item
        }
        if wanted in sizes:
            return sizes[wanted]
        raise InvalidInputError(
            f"package_size must be one of {', '.join(sorted(sizes)) or 'nothing: no packs'}, "
            f"got {size!r}",
            package_size=size,
        )

    def check_pack(self, account_id: str, pack_id: str) -> None:
        """Refuse a purchase before any checkout: unknown pack, or a plan without payments."""
        with self.ctx.store.transaction() as tx:
            self._pack(tx, account_id, pack_id)

    def pack_charge(self, account_id: str, pack_id: str) -> CheckoutCharge:
        """What a hosted checkout of the pack charges (its price), refused as :meth:`check_pack`."""
        with self.ctx.store.transaction() as tx:
            pack = self._pack(tx, account_id, pack_id)
            currency = self.ctx.catalog(tx, self.ctx.state(tx, account_id).catalog_hash).currency
        return CheckoutCharge(pack.name, round_money(pack.price, currency), currency)

    def _pack(self, tx: UnitOfWork, account_id: str, pack_id: str) -> Pack:
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

    def buy_pack_in(
        self, tx: UnitOfWork, account_id: str, pack_id: str, *, actor: Actor = PYTHON
    ) -> PackPurchase:
        """:meth:`buy_pack` inside the caller's transaction."""
        now = self.ctx.now()
        pack = self._pack(tx, account_id, pack_id)
        state = before = self.ctx.state(tx, account_id)
        catalog = self.ctx.catalog(tx, state.catalog_hash)
        period = self.ctx.period(catalog, state, now)
        grant_id = new_id("pack")
        amount = round_money(pack.price, catalog.currency)
        item = catalog.items[pack.item]
        units = format_limit(pack.quantity, item.unit)
        line = InvoiceLine(
            position=1,
            kind="pack",
            description=f"{pack.name}, bought {day_name(now)} (one-time, permanent capacity)",
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
                "note": f"+{units} of {item.name} every period from "
                f"{period_name(period.start, period.end)} on, one-time price "
                f"{format_money(amount, catalog.currency)} {catalog.currency}",
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
        tx.accounts.insert_pack(grant_id, account_id, pack_id, now, "purchase")
        self.ctx.changed(tx, account_id)
        state = self.ctx.state(tx, account_id)
        new_limit = item_terms(catalog, state, pack.item).limit
        record(
            tx,
            now,
            actor,
            account_id,
            "pack.bought",
            before={"item": pack.item, "limit": item_terms(catalog, before, pack.item).limit},
            after={
                "item": pack.item,
                "limit": new_limit,
                "pack_id": pack_id,
                "grant_id": grant_id,
                "invoice": paid.number,
                "amount": amount,
            },
        )
        return PackPurchase(PackGrant(grant_id, account_id, pack_id, now), paid, new_limit)
