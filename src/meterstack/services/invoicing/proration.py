"""An upgrade's settlement and the account's credit, as invoice lines (D10, C7).

The arithmetic is the pure rule ``rules.proration``; this module gives it the account's fees and
paid intervals and writes the result down: one line per settled amount with its derivation, and
the ``account_credit`` line that carries what an invoice leaves negative to the account's credit,
or spends that credit on what it charges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from meterstack.catalog.schema import Catalog, Plan
from meterstack.money import round_money
from meterstack.records.invoicing import ACCOUNT_CREDIT, Invoice, InvoiceLine
from meterstack.rules.periods import Period, period_for
from meterstack.rules.proration import (
    SHARE_PLACES,
    Fee,
    SettlementLine,
    account_credit_line,
    settle_upgrade,
)
from meterstack.rules.rating import period_fee
from meterstack.rules.terms import AccountState, plan_of, priced_plan
from meterstack.store.ports import UnitOfWork
from meterstack.store.rows import AccountRow


@dataclass(frozen=True)
class UpgradeTerms:
    """An upgrade as settled: the account before it, where it moves, and both paid intervals."""

    #: The account's row and state before the change (its plan and interval then).
    account: AccountRow
    state: AccountState
    target: Plan
    interval: str
    #: The interval the old fee paid for, and the new plan's paid interval from the change on.
    old_paid: Period
    new_paid: Period


def upgrade_lines(
    tx: UnitOfWork, catalog: Catalog, terms: UpgradeTerms, now: datetime
) -> list[InvoiceLine]:
    """The lines of an upgrade's invoice: its settlement and the account credit it moves.

    Called under the account's row lock (the caller has changed its plan), so its credit is
    spent once. Both fees are the account's, with an operator's prices (D14), as its invoices
    charge them; a custom price on either side is settled by the contract, not here.
    """
    account, state, target = terms.account, terms.state, terms.target
    billed = _fees_billed_until(tx, catalog, account)
    current = plan_of(catalog, state)
    priced = priced_plan(target, state.prices) if state.prices else target
    old = _fee(catalog, current, account.billing_interval, terms.old_paid, now, billed)
    new = _fee(catalog, priced, terms.interval, terms.new_paid, now, billed)
    lines: list[InvoiceLine] = []
    if old is not None and new is not None:
        settlement = settle_upgrade(
            old, new, now, catalog.currency, prorate=catalog.policies.prorate_upgrades
        )
        lines = settlement_lines(
            settlement, **{"from": current.id, "to": target.id, "interval": terms.interval}
        )
    credit = tx.invoices.credit_balances([account.id]).get(account.id, Decimal(0))
    return with_account_credit(lines, credit, catalog.currency)


def _fee(
    catalog: Catalog, plan: Plan, interval: str, paid: Period, now: datetime, billed: datetime
) -> Fee | None:
    """What ``plan`` charges for ``paid``; None for a custom price.

    Fees are billed in advance, each by the close of the period before its interval, on the plan
    in effect when the interval starts. An interval that starts exactly now and that no close has
    billed yet will be billed that way, on the new plan: neither side settles it here (price 0),
    or a change at the stroke of midnight before the night's close would pay its month twice.
    """
    price = period_fee(catalog, plan, interval)
    if price is None:
        return None
    if paid.start == now and paid.start > billed:
        price = Decimal(0)
    return Fee(plan.name, interval, price, paid)


def _fees_billed_until(tx: UnitOfWork, catalog: Catalog, account: AccountRow) -> datetime:
    """The fees of the paid intervals starting by this instant are billed: by the last closed
    period's end, or else the opening invoice's period."""
    closed = tx.invoices.closed_through(account.id)
    if closed is not None:
        return closed
    return period_for(catalog.policies.period, account.created_at, account.period_anchor).start


def settlement_lines(settlement: Sequence[SettlementLine], **derivation: str) -> list[InvoiceLine]:
    """The settlement of an upgrade as invoice lines; ``derivation`` adds from/to/interval."""
    return [
        InvoiceLine(
            position=position,
            kind=line.kind,
            description=line.description,
            item=None,
            quantity=line.share.quantize(SHARE_PLACES).normalize(),
            unit_price=line.unit_price,
            amount=line.amount,
            derivation={
                **derivation,
                "seconds_left": line.seconds_left,
                "period_seconds": line.period_seconds,
                "raw_amount": str(line.raw_amount),
                "amount": str(line.amount),
                "note": line.note,
            },
        )
        for position, line in enumerate(settlement, start=1)
    ]


def with_account_credit(
    lines: Sequence[InvoiceLine], balance: Decimal, currency: str
) -> list[InvoiceLine]:
    """``lines`` and, when the account's credit moves, the line that moves it.

    An invoice never totals below zero: a negative remainder becomes account credit. A positive
    total is paid from the credit first (``rules.proration.account_credit_line``).
    """
    total = sum((line.amount for line in lines), Decimal(0))
    amount = round_money(account_credit_line(total, balance), currency)
    if amount == 0:
        return list(lines)
    if amount > 0:
        description = "Kept as account credit for the next invoices"
        note = f"the lines above total {total}: {amount} is kept as account credit"
    else:
        description = "Account credit applied"
        note = f"{balance} of account credit pays {-amount} of the {total} due"
    return [
        *lines,
        InvoiceLine(
            position=len(lines) + 1,
            kind=ACCOUNT_CREDIT,
            description=description,
            item=None,
            quantity=Decimal(1),
            unit_price=amount,
            amount=amount,
            derivation={
                "balance_before": str(balance),
                "balance_after": str(balance + amount),
                "amount": str(amount),
                "note": note,
            },
        ),
    ]


def with_checkout_excess(
    lines: Sequence[InvoiceLine], collected: Decimal, currency: str
) -> list[InvoiceLine]:
    """An upgrade's ``lines`` once a hosted checkout collected ``collected`` for it.

    The checkout charged the settlement quoted when it opened; the time until the buyer paid
    lowered it. What was taken beyond the lines is kept as account credit for the next
    invoices, so that the invoice totals what was paid and the credit spends the difference.
    """
    total = sum((line.amount for line in lines), Decimal(0))
    excess = round_money(collected - total, currency)
    if excess <= 0:
        return list(lines)
    return [
        *lines,
        InvoiceLine(
            position=len(lines) + 1,
            kind=ACCOUNT_CREDIT,
            description="Paid at checkout beyond the prorated charge, kept as account credit",
            item=None,
            quantity=Decimal(1),
            unit_price=excess,
            amount=excess,
            derivation={
                "collected": str(collected),
                "amount": str(excess),
                "note": f"the checkout collected {collected} when the lines above total "
                f"{total}: {excess} is kept as account credit",
            },
        ),
    ]


def invoice_with_account_credit(invoice: Invoice, balance: Decimal) -> Invoice:
    """A draft with the account-credit line its total calls for (its total updated)."""
    lines = with_account_credit(invoice.lines, balance, invoice.currency)
    if len(lines) == len(invoice.lines):
        return invoice
    total = sum((line.amount for line in lines), Decimal(0))
    return replace(invoice, lines=tuple(lines), total=round_money(total, invoice.currency))


def credit_moved(invoice: Invoice) -> Decimal:
    """What the invoice added to (positive) or took from (negative) the account's credit."""
    return sum((line.amount for line in invoice.lines if line.kind == ACCOUNT_CREDIT), Decimal(0))
