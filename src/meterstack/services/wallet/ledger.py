"""Moving money in and out of a wallet outside a charge: deposits, reloads, refunds and
adjustments (D20, D21, D24).

Each movement is one ledger entry and one step on the balance counter, in one transaction. The
entry is written first: an entry of the same kind and reference (the checkout credited, the
reload paid, the charge refunded) exists at most once, so a second delivery of the same
confirmation finds it and moves nothing. A movement that would take the balance below zero is
refused by the counter's floor and the transaction is undone with its entry.
"""

from __future__ import annotations

from decimal import Decimal

from meterstack.errors import RefusedError
from meterstack.rules.wallet import credit_step
from meterstack.services.alerts.service import balance_moved_in
from meterstack.services.wallet.model import LedgerEntry
from meterstack.store.ports import Admission, Applied, Refused, UnitOfWork


class InsufficientBalanceError(RefusedError):
    """The balance does not cover an amount taken off it (D20)."""

    def __init__(self, message: str, *, balance: Decimal, price: Decimal) -> None:
        super().__init__(
            "insufficient_balance", 402, message, balance=str(balance), price=str(price)
        )


def move(tx: UnitOfWork, entry: LedgerEntry) -> Decimal | None:
    """Write ``entry`` and move the balance by its amount; the new balance, or None when an
    entry of its kind and reference was written before (nothing moved)."""
    if not tx.wallet.insert_entry(entry):
        return None
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
