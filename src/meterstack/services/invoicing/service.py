"""Reading invoices and moving them through their states."""

from __future__ import annotations

from meterstack.errors import ConflictError, NotFoundError
from meterstack.services.audit.log import record
from meterstack.services.audit.model import PYTHON, Actor
from meterstack.services.context import ServiceContext
from meterstack.services.invoicing.model import TRANSITIONS, Invoice, InvoiceStatus
from meterstack.services.webhooks.announce import announce_invoice_status


class InvoiceTransitionError(ConflictError):
    """An invoice cannot move from its status to the one asked for."""

    code = "invoice_status_conflict"


class Invoices:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def of_account(self, account_id: str) -> list[Invoice]:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return tx.invoices.of_account(account_id)

    def by_number(self, number: str, *, account_id: str | None = None) -> Invoice:
        """The invoice numbered ``number``; with ``account_id``, another account's is 404."""
        with self.ctx.store.transaction() as tx:
            found = tx.invoices.by_number(number)
        if found is None or (account_id is not None and found.account_id != account_id):
            raise NotFoundError(f"no invoice {number!r}", number=number)
        return found

    def move(self, number: str, status: InvoiceStatus, *, actor: Actor = PYTHON) -> Invoice:
        """Move a finalized invoice to paid, void or uncollectible (and nothing else)."""
        with self.ctx.store.transaction() as tx:
            invoice = tx.invoices.by_number(number)
            if invoice is None:
                raise NotFoundError(f"no invoice {number!r}", number=number)
            if status not in TRANSITIONS[invoice.status]:
                raise InvoiceTransitionError(
                    f"invoice {number} is {invoice.status}; it cannot become {status}",
                    number=number,
                    status=str(invoice.status),
                )
            if not tx.invoices.set_status(number, invoice.status, status, self.ctx.now()):
                raise InvoiceTransitionError(
                    f"invoice {number} changed meanwhile; read it again", number=number
                )
            announce_invoice_status(tx, invoice, status, self.ctx.now())
            record(
                tx,
                self.ctx.now(),
                actor,
                invoice.account_id,
                f"invoice.{status}",
                before={"number": number, "status": invoice.status},
                after={"number": number, "status": status},
            )
        return self.by_number(number)
