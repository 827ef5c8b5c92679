"""Reading invoices and moving them through their states."""

from __future__ import annotations

from dataclasses import replace

from meterstack.errors import ConflictError, NotFoundError
from meterstack.services.context import ServiceContext
from meterstack.services.invoicing.model import (
    PERIOD_INVOICE,
    TRANSITIONS,
    Invoice,
    InvoiceStatus,
    WalletSpend,
)
from meterstack.services.webhooks.announce import announce_invoice_status
from meterstack.store.ports import UnitOfWork


class InvoiceTransitionError(ConflictError):
    """An invoice cannot move from its status to the one asked for."""

    code = "invoice_status_conflict"


def statement(tx: UnitOfWork, invoice: Invoice) -> Invoice:
    """A period close's invoice with its statement's wallet section: what the wallet paid, by
    operation, during the period (D20); other invoices as they are."""
    if invoice.kind != PERIOD_INVOICE:
        return invoice
    spend = tx.wallet.spend_by_operation(
        invoice.account_id, invoice.period_start, invoice.period_end
    )
    return replace(
        invoice,
        wallet_spend=tuple(
            WalletSpend(operation, quantity, amount)
            for operation, (quantity, amount) in sorted(spend.items())
        ),
    )


class Invoices:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def of_account(self, account_id: str) -> list[Invoice]:
        with self.ctx.store.transaction() as tx:
            self.ctx.state(tx, account_id)
            return [statement(tx, invoice) for invoice in tx.invoices.of_account(account_id)]

    def by_number(self, number: str, *, account_id: str | None = None) -> Invoice:
        """The invoice numbered ``number``; with ``account_id``, another account's is 404."""
        with self.ctx.store.transaction() as tx:
            found = tx.invoices.by_number(number)
            if found is None or (account_id is not None and found.account_id != account_id):
                raise NotFoundError(f"no invoice {number!r}", number=number)
            return statement(tx, found)

    def move(self, number: str, status: InvoiceStatus) -> Invoice:
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
        return self.by_number(number)
