"""Refunds sent to the provider: a deposit's (D24) and a paid invoice's credit note.

What is given back is recorded first, in the transaction that decides it (the deposit's
``refund`` entry, the invoice's void or credit note), as a pending refund; only after the commit
is the provider asked, with the refund's id as idempotency key, and the refund settled. The
provider's answer can be lost (a crash, a timeout): the refund stays pending and
:meth:`Refunds.send_pending` asks again with the same id, numbered as a new attempt. A
provider whose keys expire (Stripe forgets them after 24 hours) looks for the refund it made
under that id before making one, so a retry days later never refunds twice. One run asks for
a refund at a time: it is claimed (the attempt counted) for :data:`CLAIM` before the call.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from meterstack.errors import PaymentProviderUnavailableError, PaymentsNotConfiguredError
from meterstack.records.payments import (
    Collected,
    MoneyMover,
    MoneyRefund,
    RefundRequest,
    RefundStatus,
)
from meterstack.services.context import ServiceContext, new_id
from meterstack.services.webhooks.announce import announce_refund
from meterstack.store.ports import UnitOfWork

#: How long a run holds a refund (or a payout) it is asking the provider for: far longer than a
#: provider's call, so a live run is never overtaken; a dead run's claim lapses after it.
CLAIM = timedelta(minutes=10)


class Refunds:
    def __init__(self, ctx: ServiceContext, mover: MoneyMover | None) -> None:
        self.ctx = ctx
        self.mover = mover

    def require_provider(self) -> MoneyMover:
        if self.mover is None:
            raise PaymentsNotConfiguredError(
                "no payment provider is configured to give the money back"
            )
        return self.mover

    def record_in(
        self,
        tx: UnitOfWork,
        *,
        account_id: str,
        source: str,
        reference: str,
        payment: str,
        amount: Decimal,
        currency: str,
        reason: str | None = None,
    ) -> MoneyRefund:
        """A pending refund, in the transaction that decided it."""
        refund = MoneyRefund(
            id=new_id("rf"),
            account_id=account_id,
            source=source,
            reference=reference,
            payment=payment,
            amount=amount,
            currency=currency,
            status=RefundStatus.PENDING,
            created_at=self.ctx.now(),
            reason=reason,
        )
        tx.movements.insert_refund(refund)
        return refund

    def send(self, refund_id: str) -> MoneyRefund | None:
        """Ask the provider for one pending refund and settle it; None when another run
        holds it or it was settled before."""
        mover = self.require_provider()
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            refund = tx.movements.refund(refund_id)
            attempt = tx.movements.claim_refund(refund_id, now, now + CLAIM)
        if refund is None or attempt is None:
            return None
        request = RefundRequest(
            account_id=refund.account_id,
            source=refund.source,
            payment=refund.payment,
            amount=refund.amount,
            currency=refund.currency,
            key=refund.id,
            attempt=attempt,
            reason=refund.reason,
        )
        try:
            done = mover.refund(request)
        except PaymentProviderUnavailableError as error:
            # Recorded and pending: the next attempt asks again, under the same id.
            done = Collected(False, refund.id, error.message)
        except BaseException:
            with self.ctx.store.transaction() as tx:
                tx.movements.release_refund(refund_id, "the provider did not answer")
            raise
        with self.ctx.store.transaction() as tx:
            if not done.paid:
                failure = done.reason or "refused"
                tx.movements.release_refund(refund_id, failure)
                announce_refund(tx, refund, attempt, failure, self.ctx.now())
                return tx.movements.refund(refund_id)
            if tx.movements.settle_refund(refund_id, RefundStatus.REFUNDED, None, self.ctx.now()):
                announce_refund(tx, refund, attempt, None, self.ctx.now())
            return tx.movements.refund(refund_id)

    def send_pending(self) -> list[MoneyRefund]:
        """Ask again for every refund still pending (a crash or a refusal interrupted it)."""
        with self.ctx.store.transaction() as tx:
            pending = tx.movements.pending_refunds()
        sent = [self.send(refund.id) for refund in pending]
        return [refund for refund in sent if refund is not None]

    def of(self, source: str, reference: str) -> list[MoneyRefund]:
        with self.ctx.store.transaction() as tx:
            return tx.movements.refunds_of(source, reference)
