"""Reading invoices, moving them through their states, and giving back what a paid one collected.

meterstack's invoice is the invoice of record (D10) and the provider collected it, so the
provider gives the money back: voiding a paid invoice refunds what it collected and not yet
credited; a **credit note** on a paid invoice refunds part of it (whole minor units, at most what
is left of the invoice's total after earlier credit notes). Each is recorded as a pending refund
in the transaction that decides it, under the invoice's row lock so two credit notes at once
never give back more than was paid, then sent to the provider (``payments.refunds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal

from meterstack.errors import ConflictError, InvalidInputError, NotFoundError
from meterstack.money import minor_units as places_of
from meterstack.money import quantum
from meterstack.records.audit import PYTHON, Actor
from meterstack.records.invoicing import (
    PERIOD_INVOICE,
    TRANSITIONS,
    Invoice,
    InvoiceStatus,
    WalletSpend,
)
from meterstack.records.payments import MoneyRefund
from meterstack.services.audit.log import record
from meterstack.services.context import ServiceContext
from meterstack.services.payments.refunds import Refunds
from meterstack.services.wallet.amounts import amount_of
from meterstack.services.webhooks.announce import announce_invoice_status
from meterstack.store.ports import UnitOfWork

INVOICE = "invoice"
#: Told, in the move's transaction, that an invoice moved (the collections service ends its
#: collection and dunning when it was paid or voided, D29).
OnMoved = Callable[[UnitOfWork, Invoice], None]


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


@dataclass(frozen=True)
class CreditNote:
    """A part of a paid invoice given back, and the refund that carries it to the payer."""

    invoice: str
    amount: Decimal
    reason: str
    refund: MoneyRefund
    #: What the invoice's total still holds after every credit note so far.
    remaining: Decimal


class Invoices:
    def __init__(
        self, ctx: ServiceContext, refunds: Refunds, on_moved: OnMoved | None = None
    ) -> None:
        self.ctx = ctx
        self.refunds = refunds
        self.on_moved = on_moved

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

    def move(self, number: str, status: InvoiceStatus, *, actor: Actor = PYTHON) -> Invoice:
        """Move a finalized invoice to paid, void or uncollectible, or a paid one to void
        (refunding what it collected); nothing else."""
        refund = None
        with self.ctx.store.transaction() as tx:
            invoice = self._locked(tx, number)
            if status not in TRANSITIONS[invoice.status]:
                raise InvoiceTransitionError(
                    f"invoice {number} is {invoice.status}; it cannot become {status}",
                    number=number,
                    status=str(invoice.status),
                )
            if invoice.status is InvoiceStatus.PAID:
                left = invoice.total - _credited(tx, invoice)
                if left > 0:
                    self.refunds.require_provider()
                    refund = self._refund_in(tx, invoice, left, "the invoice was voided")
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
            if self.on_moved is not None:
                moved = tx.invoices.by_number(number)
                assert moved is not None
                self.on_moved(tx, moved)
        if refund is not None:
            self.refunds.send(refund.id)
        return self.by_number(number)

    def credit(
        self, number: str, amount: object, reason: str, *, actor: Actor = PYTHON
    ) -> CreditNote:
        """A credit note on a paid invoice: ``amount`` (whole minor units) given back to the
        payer through the provider, at most what earlier credit notes left of the total."""
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            raise InvalidInputError("give the reason, 1 to 500 characters", field="reason")
        self.refunds.require_provider()
        with self.ctx.store.transaction() as tx:
            invoice = self._locked(tx, number)
            value = _minor_amount(amount, invoice.currency)
            if invoice.status is not InvoiceStatus.PAID:
                raise InvoiceTransitionError(
                    f"invoice {number} is {invoice.status}: a credit note gives back what a "
                    "paid invoice collected (void an unpaid one instead)",
                    number=number,
                    status=str(invoice.status),
                )
            left = invoice.total - _credited(tx, invoice)
            if value > left:
                raise InvalidInputError(
                    f"invoice {number} has {left} {invoice.currency} left to credit, not {value}",
                    field="amount",
                )
            refund = self._refund_in(tx, invoice, value, reason.strip())
            record(
                tx,
                self.ctx.now(),
                actor,
                invoice.account_id,
                "invoice.credited",
                before={"number": number, "credit_left": left},
                after={"number": number, "credited": value, "credit_left": left - value},
            )
        sent = self.refunds.send(refund.id)
        return CreditNote(number, value, reason.strip(), sent or refund, left - value)

    def credit_notes(self, number: str) -> list[MoneyRefund]:
        """The refunds of an invoice (its credit notes, and its void), oldest first."""
        self.by_number(number)
        return self.refunds.of(INVOICE, number)

    def _locked(self, tx: UnitOfWork, number: str) -> Invoice:
        invoice = tx.invoices.by_number(number)
        if invoice is None:
            raise NotFoundError(f"no invoice {number!r}", number=number)
        tx.movements.lock_invoice(invoice.id)
        return invoice

    def _refund_in(
        self, tx: UnitOfWork, invoice: Invoice, amount: Decimal, reason: str
    ) -> MoneyRefund:
        assert invoice.number is not None, "a paid invoice is numbered"
        return self.refunds.record_in(
            tx,
            account_id=invoice.account_id,
            source=INVOICE,
            reference=invoice.number,
            # A checkout's payment is refunded as such; an invoice collected off-session is
            # refunded through the invoice (a provider's credit note).
            payment=tx.payments.invoice_payment(invoice.number) or invoice.number,
            amount=amount,
            currency=invoice.currency,
            reason=reason,
        )


def _credited(tx: UnitOfWork, invoice: Invoice) -> Decimal:
    """What the invoice's refunds gave back so far, in the currency's places."""
    assert invoice.number is not None
    refunds = tx.movements.refunds_of(INVOICE, invoice.number)
    given = sum((refund.amount for refund in refunds), Decimal(0))
    return given.quantize(quantum(places_of(invoice.currency)))


def _minor_amount(amount: object, currency: str) -> Decimal:
    value = amount_of(amount, "amount", positive=True)
    places = places_of(currency)
    if value <= 0 or value != value.quantize(quantum(places)):
        raise InvalidInputError(
            f"amount must be above 0 in whole {currency} minor units ({places} places), "
            f"got {amount!r}",
            field="amount",
        )
    return value.quantize(quantum(places))
