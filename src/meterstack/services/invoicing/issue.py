"""Issuing one invoice outside a period close: a subscription's opening fee, an upgrade's
proration, a pack. Finalized (numbered, gapless) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Plan
from meterstack.money import round_money
from meterstack.records.invoicing import Invoice, InvoiceLine, InvoiceStatus
from meterstack.rules.periods import Period, day_name, period_name
from meterstack.rules.rating import period_fee
from meterstack.services.context import new_id
from meterstack.services.webhooks.announce import announce_invoices
from meterstack.store.ports import UnitOfWork

DEFAULT_SEQUENCE = "INV"
SHARE_PLACES = Decimal("0.000001")


def issue_invoice(
    tx: UnitOfWork,
    *,
    account_id: str,
    kind: str,
    catalog: Catalog,
    plan_id: str,
    period: Period,
    lines: Sequence[InvoiceLine],
    now: datetime,
    paid: bool = False,
    sequence: str = DEFAULT_SEQUENCE,
    key: str | None = None,
) -> Invoice:
    """Insert, number and finalize an invoice (and mark it paid when it was collected).

    ``key`` makes the invoice unique for the account and kind (the opening invoice uses its
    period); by default every call issues a new one.
    """
    invoice_id = new_id("inv")
    total = round_money(sum((line.amount for line in lines), Decimal(0)), catalog.currency)
    draft = Invoice(
        id=invoice_id,
        number=None,
        account_id=account_id,
        status=InvoiceStatus.DRAFT,
        currency=catalog.currency,
        # Unique for the account and kind: the caller's key, or this invoice's own.
        period_key=key or invoice_id[-16:],
        period_start=period.start,
        period_end=period.end,
        created_at=now,
        lines=tuple(lines),
        total=total,
        plan=plan_id,
        catalog=catalog.catalog,
        kind=kind,
    )
    tx.invoices.insert([draft], sequence, kind)
    number = f"{sequence}-{tx.invoices.take_numbers(sequence, 1):06d}"
    tx.invoices.finalize([(invoice_id, number)], now)
    status = InvoiceStatus.FINALIZED
    if paid:
        tx.invoices.set_status(number, InvoiceStatus.FINALIZED, InvoiceStatus.PAID, now)
        status = InvoiceStatus.PAID
    issued = replace(draft, number=number, status=status)
    announce_invoices(tx, [issued], now)
    return issued


def fee_line(
    catalog: Catalog,
    plan: Plan,
    interval: str,
    period: Period,
    *,
    position: int = 1,
    since: datetime | None = None,
    label: str = "",
) -> InvoiceLine | None:
    """The subscription fee of ``period`` (D10), for the time from ``since`` when given."""
    fee = period_fee(catalog, plan, interval)
    if fee is None or fee == 0:
        return None
    share = Decimal(1)
    named = period_name(period.start, period.end)
    note = f"{plan.name} plan, {interval} fee from {named}, in advance"
    if since is not None and since > period.start and interval == "monthly":
        left = int((period.end - since).total_seconds())
        length = int(period.length_seconds)
        share = Decimal(left) / Decimal(length)
        note = (
            f"{plan.name} plan from {day_name(since)} to the end of {named}: "
            f"{left:,} of {length:,} seconds x {fee}"
        )
    amount = round_money(fee * share, catalog.currency)
    return InvoiceLine(
        position=position,
        kind="subscription",
        description=f"{plan.name} plan, {named}"
        + (" (yearly)" if interval == "yearly" else "")
        + label,
        item=None,
        quantity=Decimal(1) if share == 1 else share.quantize(SHARE_PLACES).normalize(),
        unit_price=fee,
        amount=amount,
        derivation={
            "period": period.key,
            "interval": interval,
            "price": str(fee),
            "share": str(share.quantize(SHARE_PLACES)),
            "raw_amount": str(fee * share),
            "amount": str(amount),
            "note": note,
        },
    )
