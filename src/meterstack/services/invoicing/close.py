"""Period close: recorded usage -> rating -> one finalized invoice per account and period.

Accounts are closed in chunks, each in one transaction: the chunk's counters and terms are read
in a few statements, every invoice is rated with the same code the catalog examples use
(``rules.rating.rate_usage``), the drafts are inserted with ``ON CONFLICT DO NOTHING`` on
(account, period), and only the drafts actually inserted take numbers, from the sequence row, in
the same transaction. So a second close, or two closes running at once in two processes, create
nothing more, and numbers have no gaps.

An invoice closing period P carries the usage of P in arrears, rated on the plan P ended on
(overage as recorded when consumed or written, D2; storage at P's peak, D3; usage prices), and the
subscription fee of the next period in advance (D10) on the plan in effect from P's end. The
first period's fee is invoiced when the subscription starts (``invoicing.issue``). An account's
credit (what an upgrade left in its favour) pays its invoices first, oldest period first; it is
read under the account's row lock, so two closes, or a close and an upgrade, never spend it twice.

Each account is rated on its own: one that cannot be rated (a price the rating cannot compute,
a fault in its terms) is left unclosed, from that period on, and recorded as a failure with its
reason (``close_failures``, reported in the close's answer); every other account is invoiced.
An operator's ``InvoiceCheck`` (``Engine.open(invoice_check=...)``) sees each account's draft
after its rating; what it refuses is left unclosed and recorded in the same way.
A database that cannot do the work still stops the close (503): nothing of the chunk is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Gauge, Meter, Plan
from meterstack.errors import StoreUnavailableError
from meterstack.money import round_money
from meterstack.records.invoicing import (
    PERIOD_INVOICE,
    Invoice,
    InvoiceCheck,
    InvoiceLine,
    InvoiceStatus,
)
from meterstack.rules.admission import Totals
from meterstack.rules.periods import Period, day_name, next_period, period_for, period_name
from meterstack.rules.rating import RatedLine, rate_usage
from meterstack.rules.terms import priced_plan
from meterstack.services.alerts.service import period_closed_in
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.invoicing.issue import fee_line
from meterstack.services.invoicing.proration import credit_moved, invoice_with_account_credit
from meterstack.services.invoicing.service import statement
from meterstack.services.subscriptions import apply_pending, subscription_interval
from meterstack.services.transactions import percentage_meters
from meterstack.services.webhooks.announce import announce_invoices
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import (
    AccountToClose,
    BillingTerms,
    ClosedPeriod,
    CloseFailure,
    PlanSpell,
)

DEFAULT_SEQUENCE = "INV"
UNIT_PRICE_PLACES = Decimal("0.000001")


class ClosedPeriods(list[Invoice]):
    """The invoices a close created, in order, and the accounts it could not close."""

    def __init__(self, invoices: list[Invoice], failures: list[CloseFailure]) -> None:
        super().__init__(invoices)
        #: One per account left unclosed by this close: the period it stopped at, and why.
        self.failures = failures


@dataclass(frozen=True)
class _Closing:
    account: AccountToClose
    catalog: Catalog
    period: Period


class PeriodClose:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        sequence: str = DEFAULT_SEQUENCE,
        check: InvoiceCheck | None = None,
    ) -> None:
        self.ctx = ctx
        self.sequence = sequence
        #: Sees every draft before it is numbered; what it raises fails that account alone.
        self.check = check

    def close(
        self, *, chunk: int = 500, progress: Callable[[int], None] | None = None
    ) -> ClosedPeriods:
        """Close every period that has ended by the clock's now; the invoices created, and
        the accounts that could not be rated (the others are closed all the same)."""
        now = self.ctx.now()
        # Downgrades and cancellations due by now take effect first (C7), at their own time.
        self.apply_due(now)
        created: list[Invoice] = []
        failures: list[CloseFailure] = []
        after = ""
        while True:
            with self.ctx.store.transaction() as tx:
                accounts = tx.invoices.to_close(after, chunk)
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
                    counters = tx.counters.of_accounts(ids, [c.period.key for c in closings])
                    terms = tx.invoices.billing_terms(ids)
                    spells = tx.subscriptions.history(ids)
                    credits = _credits(tx, ids)

                    def catalog_of(content_hash: str, tx: UnitOfWork = tx) -> Catalog:
                        return self.ctx.catalog(tx, content_hash)

                    def amounts_of(
                        account_id: str, meter: str, period: str, tx: UnitOfWork = tx
                    ) -> list[Decimal]:
                        return tx.history.transactions(account_id, meter, period)

                    drafts, silent, failed = _rated(
                        closings,
                        counters,
                        terms,
                        spells,
                        credits,
                        catalog_of,
                        amounts_of,
                        now,
                        self.check,
                    )
                    tx.invoices.clear_close_failures(sorted(set(ids) - set(failed)))
                    tx.invoices.record_close_failures(list(failed.values()))
                    failures.extend(failed.values())
                    tx.invoices.record_closes(silent, now)
                    inserted = tx.invoices.insert(drafts, self.sequence, PERIOD_INVOICE)
                    fresh = [draft for draft in drafts if draft.id in inserted]
                    first = tx.invoices.take_numbers(self.sequence, len(fresh)) if fresh else 0
                    numbered = [
                        (draft.id, f"{self.sequence}-{first + offset:06d}")
                        for offset, draft in enumerate(fresh)
                    ]
                    tx.invoices.finalize(numbered, now)
                    for draft, (_, number) in zip(fresh, numbered, strict=True):
                        created.append(statement(tx, _finalized(draft, number)))
                    announce_invoices(tx, created[len(created) - len(fresh) :], now)
                    for closing in closings:  # D25: a closed period's alerts resolve
                        period_closed_in(
                            tx, closing.account.id, closing.period.key, closing.period.end
                        )
            if progress is not None:
                progress(len(accounts))
        return ClosedPeriods(created, failures)

    def apply_due(self, now: datetime) -> None:
        with self.ctx.store.transaction() as tx:
            due = tx.subscriptions.due_changes(now)
        for account_id in due:
            with self.ctx.store.transaction() as tx:
                apply_pending(self.ctx, tx, account_id, now)

    def _ended(self, account: AccountToClose, catalog: Catalog, now: datetime) -> list[_Closing]:
        kind = catalog.policies.period
        start = account.closed_through or account.created_at
        period = period_for(kind, start, account.period_anchor)
        ended: list[_Closing] = []
        while period.end <= now:
            ended.append(_Closing(account, catalog, period))
            period = next_period(kind, period, account.period_anchor)
        return ended


def _draft(
    closing: _Closing,
    counters: dict[tuple[str, str, str], Totals[int]],
    terms: BillingTerms,
    spells: list[PlanSpell],
    catalog_of: Callable[[str], Catalog],
    amounts_of: Callable[[str, str, str], list[Decimal]],
    now: datetime,
) -> Invoice:
    account, period = closing.account, closing.period
    # The period's usage is rated on the plan it ended on; the next fee is the plan from its end.
    during = _spell_at(spells, period.end, inclusive=False)
    catalog = catalog_of(during.catalog_hash)
    plan = _priced(catalog.plan(during.plan_id), terms)
    lines: list[InvoiceLine] = []
    usage: dict[str, int] = {}
    recorded: dict[str, int] = {}
    for item, declared in catalog.items.items():
        totals = counters.get((account.id, item, period.key))
        used, overage = (0, 0) if totals is None else (totals.used, totals.overage)
        if isinstance(declared, Meter) and (used or item in plan.usage_prices):
            usage[item] = used
            recorded[item] = overage
        elif isinstance(declared, Gauge) and used:
            # The period's peak (D3), and the highest overage a write announced (D2).
            usage[item] = used
            recorded[item] = overage
    # A meter priced by a percentage is rated on its transactions' amounts, in the order admitted.
    transactions = {
        item: amounts_of(account.id, item, period.key)
        for item in percentage_meters(catalog)
        if item in usage
    }
    rated = rate_usage(
        catalog,
        plan,
        usage,
        packs=terms.packs,
        # Overage of meters and gauges alike was recorded when written (D2); the switches only
        # name the items that had none recorded.
        overage=terms.switches or {},
        recorded_overage=recorded,
        transactions=transactions,
        overrides=terms.overrides,
    )
    for line in rated:
        if line.amount or line.kind == "usage":
            lines.append(_usage_line(catalog, line, period, len(lines) + 1))
    for pack_id, bought in terms.purchases:
        if period.contains(bought):
            lines.append(_pack_note(catalog, pack_id, bought, len(lines) + 1))
    following = next_period(catalog.policies.period, period, account.period_anchor)
    after = _spell_at(spells, period.end, inclusive=True)
    if _fee_due(catalog.policies.period, spells, account.period_anchor, following):
        next_catalog = catalog_of(after.catalog_hash)
        next_plan = _priced(next_catalog.plan(after.plan_id), terms)
        fee = fee_line(
            next_catalog, next_plan, after.billing_interval, following, position=len(lines) + 1
        )
        if fee is not None:
            lines.append(fee)
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
        plan=during.plan_id,
        catalog=catalog.catalog,
    )


def _rated(
    closings: list[_Closing],
    counters: dict[tuple[str, str, str], Totals[int]],
    terms: dict[str, BillingTerms],
    spells: dict[str, list[PlanSpell]],
    credits: dict[str, Decimal],
    catalog_of: Callable[[str], Catalog],
    amounts_of: Callable[[str, str, str], list[Decimal]],
    now: datetime,
    check: InvoiceCheck | None = None,
) -> tuple[list[Invoice], list[ClosedPeriod], dict[str, CloseFailure]]:
    """The chunk's drafts, its periods closed without one, and the accounts that could not be
    rated or that ``check`` refused (each alone: the others are rated all the same)."""
    drafts: list[Invoice] = []
    silent: list[ClosedPeriod] = []
    failed: dict[str, CloseFailure] = {}
    for c in closings:
        if c.account.id in failed:
            continue  # an account's periods close in order: none past a failure
        spelled = spells.get(c.account.id) or [_spell_of(c.account)]
        try:
            draft = _draft(c, counters, terms[c.account.id], spelled, catalog_of, amounts_of, now)
            credit = credits.get(c.account.id, Decimal(0))
            draft = invoice_with_account_credit(draft, credit)
            if check is not None:
                check(draft)
        except StoreUnavailableError:
            raise
        except Exception as error:
            failed[c.account.id] = CloseFailure(c.account.id, c.period.key, now, _reason(error))
            continue
        credits[c.account.id] = credit + credit_moved(draft)
        if _worth_issuing(draft, spelled, c.period):
            drafts.append(draft)
        else:
            silent.append(ClosedPeriod(c.account.id, c.period.key, c.period.end))
    return drafts, silent, failed


def _reason(error: Exception) -> str:
    """Why an account could not be rated, in one line an operator can act on."""
    text = str(error).strip().splitlines()
    detail = text[0] if text else "no message"
    return f"{type(error).__name__}: {detail}"[:500]


def _credits(tx: UnitOfWork, account_ids: list[str]) -> dict[str, Decimal]:
    """The credit of the accounts that have any, re-read under their row locks."""
    balances = tx.invoices.credit_balances(account_ids)
    having = [account for account, credit in balances.items() if credit]
    return tx.invoices.credit_balances(having, lock=True)


def _spell_of(account: AccountToClose) -> PlanSpell:
    """An account without a recorded history (written before it was kept): its plan now."""
    return PlanSpell(
        account.created_at, account.plan_id, account.billing_interval, account.catalog_hash
    )


def _spell_at(spells: list[PlanSpell], instant: datetime, *, inclusive: bool) -> PlanSpell:
    """The plan in effect just before ``instant`` (or at it, with ``inclusive``)."""
    found = spells[0]
    for spell in spells:
        if spell.started_at < instant or (inclusive and spell.started_at == instant):
            found = spell
    return found


def _fee_due(kind: str, spells: list[PlanSpell], anchor: datetime, following: Period) -> bool:
    """Monthly fees every period; a yearly fee when a paid year starts with ``following`` (B12).

    A year that started mid-period had its fee invoiced then (opening or proration invoice);
    one that starts exactly at a period's start (a period-end change) is invoiced here.
    """
    paid = subscription_interval(kind, spells, anchor, following.start)
    return paid.start == following.start


def _worth_issuing(draft: Invoice, spells: list[PlanSpell], period: Period) -> bool:
    """Every month of a monthly plan has its invoice; a month spent on a yearly plan only
    when something is charged (overage, usage, the next year's fee: B12)."""
    during = _spell_at(spells, period.end, inclusive=False)
    return during.billing_interval != "yearly" or any(line.amount for line in draft.lines)


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
        description=f"{name} {what}, {period_name(period.start, period.end)}",
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
        description=f"{pack.name}, bought {day_name(bought)} (invoiced when bought)",
        item=pack.item,
        quantity=Decimal(1),
        unit_price=zero,
        amount=zero,
        derivation={
            "pack": pack_id,
            "units": pack.quantity,
            "price": str(pack.price),
            "note": "a pack is invoiced and paid when bought; listed here, not charged again",
        },
    )


def _priced(plan: Plan, terms: BillingTerms) -> Plan:
    """The plan with this account's prices (D14); its limits come with ``terms.overrides``."""
    return priced_plan(plan, terms.prices) if terms.prices else plan


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
        kind=PERIOD_INVOICE,
    )
