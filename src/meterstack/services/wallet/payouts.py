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

Two runs may overlap (a scheduled run and an operator's, on two servers): before asking the
provider a run claims the payout (``claim_payout``: the attempt counted, the row held for
``refunds.CLAIM``), so the other run leaves it alone; a run that died lets its claim lapse and
the next one asks again. Each attempt is numbered: a provider whose idempotency keys expire
(Stripe's, after 24 hours) looks up the transfer made for the payout before a new attempt.
With a provider whose creators must onboard first (Stripe Connect), a creator is paid once the
provider says the account can take payouts; until then the earnings wait in the book.

The audit log keeps who started a run (``payout.run_started``, of no account), and each payout
the provider paid (``payout.paid``) or declined (``payout.failed``) under its creator, in the
transaction that settles or releases it; a run that finds nothing to pay records only its start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from meterstack.errors import PaymentProviderUnavailableError, PaymentsNotConfiguredError
from meterstack.money import round_money
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.payments import (
    Collected,
    CreatorOnboarding,
    MoneyMover,
    PayoutRequest,
)
from meterstack.records.wallet import Book, EntryKind, LedgerEntry, Payout
from meterstack.rules.wallet import payout_amount
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.payments.refunds import CLAIM


class Payouts:
    def __init__(self, ctx: ServiceContext, mover: MoneyMover | None) -> None:
        self.ctx = ctx
        self.mover = mover

    def run(
        self, progress: Callable[[int], None] | None = None, *, actor: Actor = PYTHON
    ) -> list[Payout]:
        """Settle pending payouts, then pay every creator whose earnings reach the minimum."""
        if self.mover is None:
            raise PaymentsNotConfiguredError("no payment provider is configured to pay creators")
        run = _Run(new_id("prun"), actor)
        with self.ctx.store.transaction() as tx:
            record(tx, self.ctx.now(), actor, None, "payout.run_started", after={"run_id": run.id})
        paid = self._settle_pending(run)
        with self.ctx.store.transaction() as tx:
            creators = tx.wallet.creators_to_pay()
        for creator_id in creators:
            payout = self._record(creator_id)
            if payout is not None:
                paid += self._settle([payout], run)
            if progress is not None:
                progress(1)
        return paid

    def _record(self, creator_id: str) -> Payout | None:
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            state = self.ctx.state(tx, creator_id)
            catalog = self.ctx.catalog(tx, state.catalog_hash)
            minimum = Decimal(0) if catalog.wallet is None else catalog.wallet.minimum_payout
            if isinstance(self.mover, CreatorOnboarding):
                account = tx.movements.creator_account(creator_id)
                if account is None or not account.payouts_enabled:
                    return None  # not onboarded yet: the earnings wait in the book
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

    def _settle_pending(self, run: _Run) -> list[Payout]:
        with self.ctx.store.transaction() as tx:
            pending = tx.wallet.pending_payouts()
        return self._settle(pending, run)

    def _settle(self, payouts: list[Payout], run: _Run) -> list[Payout]:
        assert self.mover is not None
        settled = []
        for payout in payouts:
            now = self.ctx.now()
            with self.ctx.store.transaction() as tx:
                state = self.ctx.state(tx, payout.creator_id)
                currency = self.ctx.catalog(tx, state.catalog_hash).currency
                account = tx.movements.creator_account(payout.creator_id)
                attempt = tx.movements.claim_payout(payout.id, now, now + CLAIM)
            if attempt is None:
                continue  # another run is asking for it, or settled it
            request = PayoutRequest(
                payout.creator_id,
                payout.amount,
                currency,
                payout.id,
                attempt=attempt,
                destination=None if account is None else account.provider_account,
            )
            try:
                done = self.mover.pay_out(request)
            except PaymentProviderUnavailableError as error:
                # Pending: the next run asks again; the other creators are paid meanwhile.
                done = Collected(False, payout.id, error.message)
            except BaseException:
                self._release(payout.id)
                raise
            if not done.paid:
                # Stays pending: the next run asks again with the same key.
                self._declined(payout, currency, run, attempt, done.reason or "declined")
                continue
            with self.ctx.store.transaction() as tx:
                if tx.wallet.settle_payout(payout.id, self.ctx.now()):
                    record(
                        tx,
                        self.ctx.now(),
                        run.actor,
                        payout.creator_id,
                        "payout.paid",
                        before=_pending(payout, currency),
                        after={
                            **_pending(payout, currency),
                            "status": "paid",
                            "run_id": run.id,
                            "attempt": attempt,
                        },
                    )
                    settled.append(
                        Payout(
                            payout.id,
                            payout.creator_id,
                            payout.amount,
                            "paid",
                            payout.created_at,
                            attempt,
                        )
                    )
        return settled

    def _release(self, payout_id: str) -> None:
        with self.ctx.store.transaction() as tx:
            tx.movements.release_payout(payout_id)

    def _declined(
        self, payout: Payout, currency: str, run: _Run, attempt: int, reason: str
    ) -> None:
        """The provider did not pay this attempt: release the claim and record the failure."""
        with self.ctx.store.transaction() as tx:
            tx.movements.release_payout(payout.id)
            record(
                tx,
                self.ctx.now(),
                run.actor,
                payout.creator_id,
                "payout.failed",
                before=_pending(payout, currency),
                after={
                    **_pending(payout, currency),
                    "run_id": run.id,
                    "attempt": attempt,
                    "failure": reason,
                },
            )


@dataclass(frozen=True, slots=True)
class _Run:
    """One payout run: its id (in each of its entries) and who started it."""

    id: str
    actor: Actor


def _pending(payout: Payout, currency: str) -> dict[str, object]:
    """A payout waiting for the provider, its amount in the currency's minor units (a fresh
    one and one read back from the store alike)."""
    return {
        "payout_id": payout.id,
        "amount": round_money(payout.amount, currency),
        "status": "pending",
    }
