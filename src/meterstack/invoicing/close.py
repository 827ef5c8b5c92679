"""Period close: recorded usage -> rating -> one finalized invoice per account and period.

Accounts are closed in chunks, each in one transaction: the chunk's counters and terms are read
in a few statements, every invoice is rated with the same code the catalog examples use
(``rules.examples.rate_usage``), the drafts are inserted with ``ON CONFLICT DO NOTHING`` on
(account, period), and only the drafts actually inserted take numbers, from the sequence row, in
the same transaction. So a second close, or two closes running at once in two processes, create
nothing more, and numbers have no gaps.

An invoice closing period P carries the usage of P in arrears (overage as recorded when
consumed, D2; storage overage at P's peak, D3; usage prices) and the subscription fee of the next
period in advance (D10). An account's first invoice also carries the fee of its first period,
prorated by the time left in it when the account started mid-period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import UNLIMITED, Catalog, Gauge, Meter, Plan
from meterstack.invoicing.model import Invoice, InvoiceLine, InvoiceStatus
from meterstack.money import round_money
from meterstack.rules.examples import RatedLine, period_fee, rate_usage
from meterstack.rules.periods import Period, next_period, period_for
from meterstack.rules.terms import priced_plan
from meterstack.services.context import ServiceContext, new_id
from meterstack.store.invoices import (
    AccountToClose,
    BillingTerms,
    account_counters,
    accounts_to_close,
    billing_terms,
    finalize,
    insert_invoices,
    take_numbers,
)

DEFAULT_SEQUENCE = "INV"
PERIOD_INVOICE = "period"
UNIT_PRICE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class _Closing:
    account: AccountToClose
    catalog: Catalog
    period: Period
    first: bool


class PeriodClose:
    def __init__(self, ctx: ServiceContext, *, sequence: str = DEFAULT_SEQUENCE) -> None:
        self.ctx = ctx
        self.sequence = sequence

    def close(
        self, *, chunk: int = 500, progress: Callable[[int], None] | None = None
    ) -> list[Invoice]:
        """Close every period that has ended by the clock's now; the invoices created."""
        now = self.ctx.now()
        created: list[Invoice] = []
        after = ""
        while True:
            with self.ctx.store.transaction() as tx:
                accounts = accounts_to_close(tx, after, chunk)
                if not accounts:
                    break
                after = accounts[-1].id
                closings = [
                    closing
                    for account in accounts
                    for closing in self._ended(
                        account, self.ctx.catalog(tx, account.catalog_hash), now
                    )
                ]
                if closings:
                    ids = sorted({c.account.id for c in closings})
                    counters = account_counters(tx, ids, [c.period.key for c in closings])
                    terms = billing_terms(tx, ids)
                    drafts = [_draft(c, counters, terms[c.account.id], now) for c in closings]
                    inserted = insert_invoices(tx, drafts, self.sequence, PERIOD_INVOICE)
                    fresh = [draft for draft in drafts if draft.id in inserted]
                    first = take_numbers(tx, self.sequence, len(fresh)) if fresh else 0
                    numbered = [
                        (draft.id, f"{self.sequence}-{first + offset:06d}")
                        for offset, draft in enumerate(fresh)
                    ]
                    finalize(tx, numbered, now)
                    for draft, (_, number) in zip(fresh, numbered, strict=True):
                        created.append(_finalized(draft, number))
            if progress is not None:
                progress(len(accounts))
        return created

    def _ended(self, account: AccountToClose, catalog: Catalog, now: datetime) -> list[_Closing]:
        kind = catalog.policies.period
        start = account.closed_through or account.created_at
        period = period_for(kind, start, account.period_anchor)
        ended: list[_Closing] = []
        while period.end <= now:
            ended.append(
                _Closing(account, catalog, period, not ended and not account.closed_through)
            )
            period = next_period(kind, period, account.period_anchor)
        return ended


def _draft(
    closing: _Closing,
    counters: dict[tuple[str, str, str], tuple[int, int]],
    terms: BillingTerms,
    now: datetime,
) -> Invoice:
    account, catalog, period = closing.account, closing.catalog, closing.period
    plan = _plan_with_overrides(catalog.plan(account.plan_id), terms)
    lines: list[InvoiceLine] = []
    if closing.first:
        lines += _fee_lines(catalog, plan, account, period, len(lines), first=True)
    usage: dict[str, int] = {}
    recorded: dict[str, int] = {}
    switches: dict[str, bool] = {}
    for item, declared in catalog.items.items():
        used, overage = counters.get((account.id, item, period.key), (0, 0))
        if isinstance(declared, Meter) and (used or item in plan.usage_prices):
            usage[item] = used
            recorded[item] = overage
        elif isinstance(declared, Gauge) and used:
            usage[item] = used  # the period's peak (D3)
            switches[item] = _switch(terms, item, plan)
    rated = rate_usage(
        catalog,
        plan,
        usage,
        packs=terms.packs,
        overage=switches,
        recorded_overage={item: units for item, units in recorded.items() if item in usage},
    )
    for line in rated:
        if line.amount or line.kind == "usage":
            lines.append(_usage_line(catalog, line, period, len(lines) + 1))
    for pack_id, bought in terms.purchases:
        if period.contains(bought):
            lines.append(_pack_note(catalog, pack_id, bought, len(lines) + 1))
    following = next_period(catalog.policies.period, period, account.period_anchor)
    lines += _fee_lines(catalog, plan, account, following, len(lines), first=False)
    total = sum((line.amount for line in lines), Decimal(0))
    return Invoice(
        id=new_id("inv"),
        number=None,
        account_id=account.id,
        status=InvoiceStatus.DRAFT,
        currency=catalog.currency,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        created_at=now,
        lines=tuple(lines),
        total=round_money(total, catalog.currency),
        plan=account.plan_id,
        catalog=catalog.catalog,
    )


def _fee_lines(
    catalog: Catalog,
    plan: Plan,
    account: AccountToClose,
    period: Period,
    position: int,
    *,
    first: bool,
) -> list[InvoiceLine]:
    """The subscription fee of ``period``, in advance (D10); yearly fees once a year."""
    yearly = account.billing_interval == "yearly"
    months = (period.start.year - account.period_anchor.year) * 12 + (
        period.start.month - account.period_anchor.month
    )
    if yearly and not first and months % 12 != 0:
        return []
    fee = period_fee(catalog, plan, account.billing_interval)
    if fee is None or fee == 0:
        return []
    share = Decimal(1)
    note = f"{plan.name} plan, {account.billing_interval} fee for {period.key}, in advance"
    if first and account.created_at > period.start:
        # The account started mid-period: the first fee covers the time left (whole seconds).
        left = int((period.end - account.created_at).total_seconds())
        share = Decimal(left) / Decimal(int(period.length_seconds))
        note = (
            f"{plan.name} plan, {period.key} from {account.created_at.date().isoformat()}: "
            f"{left:,} of {int(period.length_seconds):,} seconds"
        )
    amount = round_money(fee * share, catalog.currency)
    return [
        InvoiceLine(
            position=position + 1,
            kind="subscription",
            description=f"{plan.name} plan, {period.key}"
            + (" (yearly)" if yearly else "")
            + (" (first period)" if first else ""),
            item=None,
            quantity=share.quantize(UNIT_PRICE_PLACES).normalize() if share != 1 else Decimal(1),
            unit_price=fee,
            amount=amount,
            derivation={
                "period": period.key,
                "interval": account.billing_interval,
                "price": str(fee),
                "share": str(share.quantize(UNIT_PRICE_PLACES)),
                "raw_amount": str(fee * share),
                "amount": str(amount),
                "note": note,
            },
        )
    ]


def _usage_line(catalog: Catalog, line: RatedLine, period: Period, position: int) -> InvoiceLine:
    name = catalog.items[line.item].name
    if line.unit_price is not None:
        unit_price = line.unit_price
    elif line.billed_units:
        unit_price = (line.raw_amount / line.billed_units).quantize(UNIT_PRICE_PLACES)
    else:
        unit_price = Decimal(0)
    what = "overage" if line.kind == "overage" else "usage"
    return InvoiceLine(
        position=position,
        kind=line.kind,
        description=f"{name} {what}, {period.key}",
        item=line.item,
        quantity=Decimal(line.billed_units),
        unit_price=unit_price,
        amount=line.amount,
        derivation={
            "model": line.model,
            "used": line.used,
            "included": line.included,
            "hard_limit": line.hard_limit,
            "overage_units": line.overage_units,
            "billed_units": line.billed_units,
            "block_size": line.block_size,
            "block_price": None if line.block_price is None else str(line.block_price),
            "unit_price": None if line.unit_price is None else str(line.unit_price),
            "raw_amount": str(line.raw_amount),
            "amount": str(line.amount),
            "minimum_applied": line.minimum_applied,
            "note": line.note,
        },
    )


def _pack_note(catalog: Catalog, pack_id: str, bought: datetime, position: int) -> InvoiceLine:
    """A pack bought in the period, listed for the reader: it was invoiced on its own."""
    pack = catalog.packs[pack_id]
    zero = round_money(Decimal(0), catalog.currency)
    return InvoiceLine(
        position=position,
        kind="pack",
        description=f"{pack.name}, bought {bought.date().isoformat()} (invoiced when bought)",
        item=pack.item,
        quantity=Decimal(1),
        unit_price=zero,
        amount=zero,
        derivation={
            "pack": pack_id,
            "units": pack.quantity,
            "price": str(pack.price),
            "note": "packs are invoiced and paid when bought (D11); listed here, not charged",
        },
    )


def _plan_with_overrides(plan: Plan, terms: BillingTerms) -> Plan:
    """The plan as this account has it: an operator's limits, grace and prices (D14)."""
    if terms.prices:
        plan = priced_plan(plan, terms.prices)
    if not terms.overrides:
        return plan
    limits = dict(plan.limits)
    grace = dict(plan.item_grace_percent)
    for item, (limit, item_grace) in terms.overrides.items():
        limits[item] = UNLIMITED if limit is None else limit
        if item_grace is not None:
            grace[item] = item_grace
    return plan.model_copy(update={"limits": limits, "item_grace_percent": grace})


def _switch(terms: BillingTerms, item: str, plan: Plan) -> bool:
    switches = terms.switches or {}
    if item in switches:
        return switches[item]
    if "*" in switches:
        return switches["*"]
    offer = plan.overage.get(item)
    return offer is not None and offer.enabled


def _finalized(draft: Invoice, number: str) -> Invoice:
    return Invoice(
        id=draft.id,
        number=number,
        account_id=draft.account_id,
        status=InvoiceStatus.FINALIZED,
        currency=draft.currency,
        period_key=draft.period_key,
        period_start=draft.period_start,
        period_end=draft.period_end,
        created_at=draft.created_at,
        lines=draft.lines,
        total=draft.total,
        plan=draft.plan,
        catalog=draft.catalog,
    )
