"""Invoices a checkout paid, mirrored on the provider as paid (B10: the portal lists them).

The mirror used to be made after the payment's transaction, and a failure (Stripe down, a 5xx)
was only logged: the portal then never showed the invoice. So the mirror is recorded as
``pending`` in the transaction that applies the payment, and sent after the commit; a failed
attempt keeps it pending with the provider's reason, visible to the operator
(:meth:`InvoiceMirrors.pending`), and the collections worker asks again on each run. The
provider finds a mirror it made before by the invoice's number (Stripe: the twin's metadata and
idempotency keys), so asking again never mirrors twice; one run asks at a time (the mirror is
claimed for :data:`~meterstack.services.payments.refunds.CLAIM` before the call).
"""

from __future__ import annotations

import logging

from meterstack.errors import MeterstackError
from meterstack.records.invoicing import Invoice
from meterstack.records.payments import InvoiceMirror, PaidInvoiceMirror
from meterstack.services.context import ServiceContext
from meterstack.services.payments.refunds import CLAIM
from meterstack.store.ports import UnitOfWork

log = logging.getLogger(__name__)


class InvoiceMirrors:
    def __init__(self, ctx: ServiceContext, provider: PaidInvoiceMirror | None) -> None:
        self.ctx = ctx
        self.provider = provider

    def record_in(self, tx: UnitOfWork, invoice: Invoice | None) -> None:
        """Mark a paid invoice for mirroring, in the transaction that recorded its payment; an
        invoice with nothing due (an upgrade paid from credit) is not mirrored."""
        if self.provider is None or invoice is None or invoice.number is None:
            return
        if invoice.total <= 0:
            return
        tx.payments.insert_mirror(invoice.number, invoice.account_id, self.ctx.now())

    def send(self, number: str) -> InvoiceMirror | None:
        """Ask the provider for one pending mirror; None when another run holds it or it was
        mirrored before. A failure is recorded on the mirror, not raised."""
        if self.provider is None:
            return None
        now = self.ctx.now()
        with self.ctx.store.transaction() as tx:
            attempt = tx.payments.claim_mirror(number, now, now + CLAIM)
            invoice = tx.invoices.by_number(number) if attempt is not None else None
        if attempt is None or invoice is None:
            return None
        try:
            self.provider.record_paid(invoice)
        except MeterstackError as error:
            log.warning("invoice %s not mirrored (attempt %d): %s", number, attempt, error.message)
            with self.ctx.store.transaction() as tx:
                tx.payments.release_mirror(number, error.message)
        except BaseException:
            with self.ctx.store.transaction() as tx:
                tx.payments.release_mirror(number, "the provider did not answer")
            raise
        else:
            with self.ctx.store.transaction() as tx:
                tx.payments.settle_mirror(number, self.ctx.now())
        with self.ctx.store.transaction() as tx:
            return tx.payments.mirror(number)

    def send_pending(self) -> list[InvoiceMirror]:
        """Ask again for every mirror still pending; the mirrors this run sent or tried."""
        sent = [self.send(mirror.number) for mirror in self.pending()]
        return [mirror for mirror in sent if mirror is not None]

    def pending(self) -> list[InvoiceMirror]:
        """The mirrors the provider does not have yet, with why the last attempt failed."""
        with self.ctx.store.transaction() as tx:
            return tx.payments.mirrors(pending=True)
