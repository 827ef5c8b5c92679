"""Lost disputes on deposits and reloads: the money goes back to the cardholder's bank,
whatever was spent.

A deposit (or an automatic reload, which credits the wallet as a deposit does) the wallet has
already spent cannot be taken back from the balance in full, and the
balance never goes below zero (D20). So a lost dispute takes what the balance holds (down to
zero, one ``dispute`` entry whose reference is the dispute, hence once whatever the deliveries),
records the rest as **owed**, and the wallet's charges are refused 402 ``wallet_suspended``
until it is paid: the next deposit, reload or operator credit pays the debt first
(``ledger.move``), and what is left of it reaches the balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from meterstack.errors import InvalidInputError
from meterstack.records.wallet import Book, EntryKind, LedgerEntry
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.wallet.amounts import amount_of
from meterstack.services.wallet.charging import current_balance
from meterstack.services.wallet.ledger import move
from meterstack.store.ports import UnitOfWork


@dataclass(frozen=True)
class LostDispute:
    account_id: str
    #: What the dispute was about: the deposit's checkout, or the reload.
    reference: str
    #: What the bank took back, what the balance gave, and what is owed after it.
    amount: Decimal
    taken: Decimal
    owed: Decimal
    balance: Decimal


class Disputes:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def lost_in(
        self, tx: UnitOfWork, dispute_id: str, payment: str, amount: object
    ) -> LostDispute | None:
        """Apply a lost dispute of ``amount`` on the deposit paid by ``payment``; None when it
        was applied before or the payment is not a deposit (nothing changes)."""
        if not isinstance(dispute_id, str) or not dispute_id:
            raise InvalidInputError("a lost dispute needs its id", field="dispute_id")
        value = amount_of(amount, "amount", positive=True)
        checkout_id = tx.movements.deposit_of_payment(payment)
        if checkout_id is None:
            return None
        found = tx.wallet.deposit(checkout_id)
        assert found is not None, "a deposit's payment names a deposit"
        account_id, deposited = found
        return self.take_back_in(
            tx, dispute_id, account_id, deposited, value, f"checkout {checkout_id}", checkout_id
        )

    def take_back_in(
        self,
        tx: UnitOfWork,
        dispute_id: str,
        account_id: str,
        paid: Decimal,
        value: Decimal,
        what: str,
        reference: str,
    ) -> LostDispute | None:
        """The rule of a lost dispute of ``value`` on ``paid`` that was credited to the wallet
        (a deposit, a reload): the balance gives what it holds, the rest is owed. None when it
        was applied before."""
        if value > paid:
            raise InvalidInputError(
                f"the dispute of {value} is above the payment of {paid}", field="amount"
            )
        if tx.wallet.by_reference(EntryKind.DISPUTE, dispute_id) is not None:
            return None
        owed = tx.movements.owed(account_id, lock=True)
        balance = current_balance(tx, account_id)
        taken = min(balance, value)
        shortfall = value - taken
        entry = LedgerEntry(
            id=new_id("wle"),
            account_id=account_id,
            book=Book.WALLET,
            kind=EntryKind.DISPUTE,
            amount=-taken,
            created_at=self.ctx.now(),
            reference=dispute_id,
            memo=f"lost dispute of {value} on {what}; {shortfall} owed",
        )
        after = move(tx, entry)
        if after is None:
            return None
        if shortfall > 0:
            tx.movements.add_owed(account_id, shortfall)
            tx.accounts.bump_version(account_id)  # a charge reads what is owed with the terms
        return LostDispute(account_id, reference, value, taken, owed + shortfall, after)
