"""Payout runs (B11, D23): creators are paid their earnings in whole cents, never twice.

For each creator with earnings not yet taken by a payout, one transaction (the creator's lock
held) sums the creator's whole earnings book (credits, clawbacks, earlier payouts), and when it
reaches ``minimum_payout`` records a payout of its whole cents, its ledger entry, and marks
every entry it takes; the sub-cent remainder stays in the book for the next run. Only then is
the provider asked, with the payout's id as idempotency key, and the payout settled. A run
killed between the two leaves the payout pending; the next run settles pending payouts first,
asking the provider with the same key, so nothing is paid twice. A refund after a payout claws
the creator's credit back (``wallet.sales``): the book may go negative and is netted against
later sales.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from meterstack.errors import PaymentsNotConfiguredError
from meterstack.rules.wallet import payout_amount
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.payments.port import MoneyMover
from meterstack.services.wallet.model import Book, EntryKind, LedgerEntry, Payout


class Payouts:
    def __init__(self, ctx: ServiceContext, mover: MoneyMover | None) -> None:
        self.ctx = ctx
        self.mover = mover

    def run(self, progress: Callable[[int], None] | None = None) -> list[Payout]:
        """Settle pending payouts, then pay every creator whose earnings reach the minimum."""
        if self.mover is None:
            raise PaymentsNotConfiguredError("no payment provider is configured to pay creators")
        paid = self._settle_pending()
        with self.ctx.store.transaction() as tx:
            creators = tx.wallet.creators_to_pay()
        for creator_id in creators:
            payout = self._record(creator_id)
            if payout is not None:
                paid += self._settle([payout])
            if progress is not None:
                progress(1)
        return paid

    def _record(self, creator_id: str) -> Payout | None:
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, creator_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            minimum = Decimal(0) if catalog.wallet is None else catalog.wallet.minimum_payout
            tx.wallet.lock_creator(creator_id)
            earnings = tx.wallet.total(creator_id, Book.EARNINGS)
            amount = payout_amount(earnings, max(minimum, Decimal("0.01")), catalog.currency)
            if amount <= 0:
                return None
            payout = Payout(new_id("po"), creator_id, amount, "pending", now)
            tx.wallet.insert_payout(payout)
            tx.wallet.take_for_payout(creator_id, payout.id)
            tx.wallet.insert_entry(
                LedgerEntry(
                    id=new_id("wle"),
                    account_id=creator_id,
                    book=Book.EARNINGS,
                    kind=EntryKind.PAYOUT,
                    amount=-amount,
                    created_at=now,
                    reference=payout.id,
                    payout_id=payout.id,
                )
            )
            return payout

    def _settle_pending(self) -> list[Payout]:
        with self.ctx.store.transaction() as tx:
            pending = tx.wallet.pending_payouts()
        return self._settle(pending)

    def _settle(self, payouts: list[Payout]) -> list[Payout]:
        assert self.mover is not None
        settled = []
        for payout in payouts:
            with self.ctx.store.transaction() as tx:
                state = self.ctx.state(tx, payout.creator_id)
                currency = self.ctx.catalog(tx, state.catalog_hash).currency
            done = self.mover.pay_out(payout.creator_id, payout.amount, currency, payout.id)
            if not done.paid:
                continue  # stays pending: the next run asks again with the same key
            with self.ctx.store.transaction() as tx:
                if tx.wallet.settle_payout(payout.id, self.ctx.now()):
                    settled.append(
                        Payout(
                            payout.id, payout.creator_id, payout.amount, "paid", payout.created_at
                        )
                    )
        return settled
