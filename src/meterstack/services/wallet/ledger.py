"""Moving money in and out of a wallet outside a charge: deposits, reloads, refunds and
adjustments (D20, D21, D24).

Each movement is one ledger entry and one step on the balance counter, in one transaction. The
entry is written first: an entry of the same kind and reference (the checkout credited, the
reload paid, the charge refunded) exists at most once, so a second delivery of the same
confirmation finds it and moves nothing. A movement that would take the balance below zero is
refused by the counter's floor and the transaction is undone with its entry.

A deposit, a reload or an operator's credit first pays what a lost dispute left owed: in the
same transaction, a ``debt_settlement`` entry takes it back off the balance (as much as the
credit covers) and the debt goes down by as much. The debt's row is locked before the
balance's counter, the order a dispute takes them in too.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.errors import RefusedError
from meterstack.records.wallet import EntryKind, LedgerEntry
from meterstack.rules.wallet import credit_step
from meterstack.services.alerts.service import balance_moved_in
from meterstack.services.context import new_id
from meterstack.store.ports import Admission, Applied, Refused, UnitOfWork


class InsufficientBalanceError(RefusedError):
    """The balance does not cover an amount taken off it (D20)."""

    def __init__(self, message: str, *, balance: Decimal, price: Decimal) -> None:
        super().__init__(
            "insufficient_balance", 402, message, balance=str(balance), price=str(price)
        )


#: Credits that pay a debt first: money the customer (or the operator) put in.
SETTLING_KINDS = frozenset({EntryKind.DEPOSIT, EntryKind.RELOAD, EntryKind.ADJUSTMENT})


def move(tx: UnitOfWork, entry: LedgerEntry) -> Decimal | None:
    """Write ``entry`` and move the balance by its amount; the new balance, or None when an
    entry of its kind and reference was written before (nothing moved). A credit that pays
    a debt first pays it (the balance answered is after that)."""
    if not tx.wallet.insert_entry(entry):
        return None
    owed = Decimal(0)
    if entry.kind in SETTLING_KINDS and entry.amount > 0:
        owed = tx.movements.owed(entry.account_id, lock=True)
    balance = _apply(tx, entry)
    if owed > 0:
        paid = min(owed, entry.amount)
        settlement = LedgerEntry(
            id=new_id("wle"),
            account_id=entry.account_id,
            book=entry.book,
            kind=EntryKind.DEBT_SETTLEMENT,
            amount=-paid,
            created_at=entry.created_at,
            reference=entry.id,
            memo=f"pays {paid} of the {owed} a lost dispute left owed",
        )
        tx.wallet.insert_entry(settlement)
        tx.movements.add_owed(entry.account_id, -paid)
        tx.accounts.bump_version(entry.account_id)  # a charge reads what is owed with the terms
        balance = _apply(tx, settlement)
    return balance


def _apply(tx: UnitOfWork, entry: LedgerEntry) -> Decimal:
    outcome = tx.counters.apply(Admission.plain(entry.account_id, (credit_step(entry.amount),)))
    if isinstance(outcome, Refused):
        have: Decimal = outcome.totals.used
        raise InsufficientBalanceError(
            f"the balance {have} does not cover {-entry.amount}",
            balance=have,
            price=-entry.amount,
        )
    assert isinstance(outcome, Applied), "steps alone are neither stale nor keyed"
    balance: Decimal = outcome.totals[0].used
    if entry.amount > 0:
        balance_moved_in(tx, entry.account_id, balance, entry.created_at)
    return balance
